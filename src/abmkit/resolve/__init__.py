"""Identity resolution: domains, names, fuzzy matches, links to accounts, duplicates."""
