"""Identity resolution on real company names and domains: precision, recall, throughput.

Run from the repository root: ``.venv/bin/python benchmarks/bench_identity.py``.

Ground truth is (clean company, clean domain) from the Fortune 500 lists and the Bombora
samples in ``../shared/data``; 20% of the companies are held out of the reference accounts, so
every variant of a held-out company that resolves to any account is a false positive.
Messy variants are drawn with a seeded RNG, one per company and family:

* ``url``, ``subdomain``, ``email``: the domain typed as a URL, a sub-domain, an address;
* ``country``: the domain under another country suffix (``amazon.co.uk`` for ``amazon.com``)
  *plus* the clean name. A country domain is a different registrable domain, so the domain step
  cannot resolve it; it counts as a hit only when the name resolves it to the same account;
* ``name_caps_suffix`` (``AMAZON.COM, INC.``), ``name_suffix`` (``Acme Holdings, Ltd.``),
  ``name_typo`` (one edit), ``name_and`` (``&`` ↔ ``and``), ``name_alias`` (the other list's
  name for the same domain, e.g. ``UnitedHealth`` vs ``UnitedHealth Group``);
* ``free_mail``: an address at a free-mail provider and no name: must never resolve.

Resolution: exact normalized domain; else exact normalized name; else fuzzy name (token sort
ratio ≥ threshold). Writes ``benchmarks/results/identity.json``.
"""

from __future__ import annotations

import csv
import glob
import json
import random
import string
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from abmkit.resolve.domains import (
    account_domain,
    free_mail_domains,
    ips_to_int,
    normalize_domains,
)
from abmkit.resolve.fuzzy import match_names
from abmkit.resolve.names import normalize_company_name

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results" / "identity.json"
SEED = 20240601
HOLDOUT = 0.2
THRESHOLD = 90.0
SWEEP = (80.0, 85.0, 90.0, 95.0)
console = Console()


@dataclass
class Company:
    """One true entity: its clean domain, its clean name and another list's name for it."""

    domain: str
    name: str | None
    alias: str | None = None


@dataclass
class Record:
    """One messy input row and the company it truly belongs to (an index), or None."""

    family: str
    domain: str | None
    name: str | None
    truth: int | None


# --- ground truth ---------------------------------------------------------------------------


def _fortune(path: Path, encoding: str, name_col: int, site_col: int) -> list[tuple[str, str]]:
    """(company, website) rows; the website is counted from the end where commas broke rows."""
    with path.open(encoding=encoding, newline="") as handle:
        rows = list(csv.reader(handle))[1:]
    return [(row[name_col].strip(), row[site_col].strip()) for row in rows if len(row) > 4]


def _bombora() -> list[tuple[str, str]]:
    """(company name or "", domain) from the header-less Bombora samples."""
    pairs = []
    for path in sorted(glob.glob(str(DATA / "bombora" / "*.csv"))):
        with open(path, encoding="utf-8", errors="replace", newline="") as handle:
            pairs += [
                (row[0].strip(), row[1].strip()) for row in csv.reader(handle) if len(row) > 1
            ]
    return pairs


def load_companies() -> list[Company]:
    """One company per clean registrable domain; free-mail and unparseable domains dropped."""
    firm = DATA / "firmographics"
    stablemap = _fortune(firm / "stablemap_fortune500Raw.csv", "utf-8", 1, -4)
    jobbot = _fortune(firm / "jobbot_fortune1000.csv", "cp1252", 1, 7)
    companies: dict[str, Company] = {}
    for name, site in stablemap + jobbot + _bombora():
        domain = account_domain(site)
        if domain is None:
            continue
        known = companies.setdefault(domain, Company(domain, name or None))
        if known.name is None:
            known.name = name or None
        elif name and name != known.name and known.alias is None:
            known.alias = name
    return list(companies.values())


# --- messy variants -------------------------------------------------------------------------

LEGAL = [", Inc.", " Inc", " Corp.", " Corporation", " LLC", ", Co.", " Company", " Ltd.", " PLC"]
COUNTRY = [".co.uk", ".de", ".fr", ".com.au", ".ca", ".co.jp", ".com.br"]


def _typo(rng: random.Random, text: str) -> str:
    """One random edit (substitute, insert, delete or transpose) of a letter."""
    for _ in range(20):
        i = rng.randrange(len(text))
        op = rng.choice("sidt")
        letter = rng.choice(string.ascii_lowercase)
        if op == "s":
            out = text[:i] + letter + text[i + 1 :]
        elif op == "i":
            out = text[:i] + letter + text[i:]
        elif op == "d" and len(text) > 1:
            out = text[:i] + text[i + 1 :]
        else:
            out = text[:i] + text[i + 1 : i + 2] + text[i : i + 1] + text[i + 2 :]
        if out.lower() != text.lower():
            return out
    return text + "x"


def _country(rng: random.Random, domain: str) -> str:
    """The same second-level label under another country suffix."""
    label = domain.split(".")[0]
    return label + rng.choice([c for c in COUNTRY if not domain.endswith(c)])


def _domain_variants(rng: random.Random, c: Company) -> dict[str, tuple[str | None, str | None]]:
    """Family → (domain, name) variants built from the clean domain."""
    x = c.domain
    url = rng.choice([f"https://www.{x}/", f"http://{x}/about", f"WWW.{x.upper()}", f"{x}."])
    variants = {
        "url": (url, None),
        "subdomain": (f"{rng.choice(['shop', 'mail', 'eu', 'app'])}.{x}", None),
        "email": (f"jane.doe@{rng.choice(['', 'mail.'])}{x}", None),
        "free_mail": (f"jane.doe@{rng.choice(sorted(free_mail_domains()))}", None),
    }
    if c.name:
        variants["country"] = (_country(rng, x), c.name)
    return variants


def _name_variants(rng: random.Random, c: Company) -> dict[str, tuple[str | None, str | None]]:
    """Family → (domain, name) variants built from the clean name (none without a name)."""
    if not c.name:
        return {}
    name = c.name
    variants = {
        "name_caps_suffix": (None, (name + rng.choice(LEGAL)).upper()),
        "name_suffix": (None, name + rng.choice([" Holdings", " Group"]) + rng.choice(LEGAL)),
        "name_typo": (None, _typo(rng, name)),
    }
    if "&" in name or " and " in name.lower():
        swapped = name.replace(" & ", " and ") if "&" in name else name.replace(" and ", " & ")
        variants["name_and"] = (None, swapped.replace("&", " and ") if swapped == name else swapped)
    if c.alias:
        variants["name_alias"] = (None, c.alias)
    return variants


def make_records(rng: random.Random, companies: list[Company], held_out: set[int]) -> list[Record]:
    """All variants of all companies; variants of held-out companies have no true account."""
    records = []
    for index, company in enumerate(companies):
        truth = None if index in held_out else index
        variants = _domain_variants(rng, company) | _name_variants(rng, company)
        for family, (domain, name) in variants.items():
            records.append(Record(family, domain, name, None if family == "free_mail" else truth))
    return records


# --- resolution and scoring -----------------------------------------------------------------


def resolve(
    records: list[Record], companies: list[Company], reference: list[int], threshold: float
):
    """Account (company index) per record via domain → exact name → fuzzy name, and the step."""
    by_domain = {companies[i].domain: i for i in reference}
    ref_names = [normalize_company_name(companies[i].name) for i in reference]
    by_name: dict[str, int] = {}
    for i, key in zip(reference, ref_names, strict=True):
        if key:
            by_name.setdefault(key, i)
    domains = normalize_domains(r.domain for r in records)
    free = free_mail_domains()
    names = [normalize_company_name(r.name) for r in records]
    found: list[int | None] = [None] * len(records)
    steps = ["none"] * len(records)
    for k, (domain, name) in enumerate(zip(domains, names, strict=True)):
        if domain and domain not in free and domain in by_domain:
            found[k], steps[k] = by_domain[domain], "domain"
        elif name and name in by_name:
            found[k], steps[k] = by_name[name], "name"
    pending = [k for k in range(len(records)) if found[k] is None and names[k]]
    for m in match_names([names[k] for k in pending], ref_names, threshold):
        found[pending[m.query_index]] = reference[m.choice_index]
        steps[pending[m.query_index]] = "fuzzy"
    return found, steps


def score(records: list[Record], found: list[int | None]) -> dict[str, dict[str, float]]:
    """Precision, recall and counts per family and overall."""
    tally: dict[str, Counter] = {}
    for record, got in zip(records, found, strict=True):
        for key in (record.family, "OVERALL"):
            t = tally.setdefault(key, Counter())
            t["count"] += 1
            t["positives"] += record.truth is not None
            t["tp"] += got is not None and got == record.truth
            t["fp"] += got is not None and got != record.truth
    return {key: _rates(t) for key, t in sorted(tally.items(), key=lambda kv: kv[0] == "OVERALL")}


def _rates(t: Counter) -> dict[str, float]:
    """Precision and recall from a tally (NaN-free: an empty denominator gives 1.0)."""
    predicted = t["tp"] + t["fp"]
    return {
        "count": t["count"],
        "positives": t["positives"],
        "negatives": t["count"] - t["positives"],
        "true_positives": t["tp"],
        "false_positives": t["fp"],
        "precision": round(t["tp"] / predicted, 4) if predicted else 1.0,
        "recall": round(t["tp"] / t["positives"], 4) if t["positives"] else 1.0,
    }


# --- throughput -----------------------------------------------------------------------------


def _rate(func, values) -> float:
    """Rows per second of one call over ``values``."""
    start = time.perf_counter()
    func(values)
    return len(values) / (time.perf_counter() - start)


def throughput(rng: random.Random) -> dict[str, float]:
    """Rows/s of the normalizers and fuzzy matching on synthetic, all-distinct inputs."""
    n = 1_000_000
    forms = ["https://www.{}.com/p?q=1", "WWW.{}.CO.UK", "jane@mail.{}.io", "{}.de.", "shop.{}.net"]
    domains = [forms[i % 5].format(f"firm{i}x") for i in range(n)]
    ips = [f"{i % 223 + 1}.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" for i in range(n)]
    words = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(3, 9))) for _ in range(5000)]
    names = [" ".join(rng.choices(words, k=rng.randint(1, 3))) + " Inc." for _ in range(200_000)]
    queries, choices = names[:100_000], names[100_000:]
    normalized = [normalize_company_name(x) for x in names]
    start = time.perf_counter()
    match_names(normalized[:100_000], normalized[100_000:])
    fuzzy_seconds = time.perf_counter() - start
    return {
        "normalize_domains_rows_per_s_1M_distinct": round(_rate(normalize_domains, domains)),
        "ips_to_int_rows_per_s_1M": round(_rate(ips_to_int, ips)),
        "normalize_company_name_rows_per_s_200k_distinct": round(
            _rate(lambda xs: [normalize_company_name.__wrapped__(x) for x in xs], names)
        ),
        "match_names_100k_x_100k_seconds": round(fuzzy_seconds, 2),
        "match_names_queries": len(queries),
        "match_names_choices": len(choices),
    }


# --- report ---------------------------------------------------------------------------------


def _table(title: str, metrics: dict[str, dict[str, float]]) -> Table:
    """A Rich table of per-family metrics."""
    table = Table(title=title)
    for column in ("family", "count", "positives", "negatives", "TP", "FP", "precision", "recall"):
        table.add_column(column, justify="left" if column == "family" else "right")
    for family, m in metrics.items():
        table.add_row(
            family,
            *(str(m[k]) for k in ("count", "positives", "negatives")),
            str(m["true_positives"]),
            str(m["false_positives"]),
            f"{m['precision']:.3f}",
            f"{m['recall']:.3f}",
        )
    return table


def main() -> int:
    """Run the benchmark; exit 0 with a message when the shared data is absent."""
    if not (DATA / "firmographics").is_dir():
        console.print(f"[yellow]skipped: {DATA} not found (shared data is not in a clone)")
        return 0
    started = time.perf_counter()
    rng = random.Random(SEED)
    companies = load_companies()
    order = list(range(len(companies)))
    rng.shuffle(order)
    held_out = set(order[: int(len(order) * HOLDOUT)])
    reference = [i for i in range(len(companies)) if i not in held_out]
    records = make_records(rng, companies, held_out)
    sweep = {}
    for threshold in SWEEP:
        found, steps = resolve(records, companies, reference, threshold)
        sweep[threshold] = score(records, found)
        if threshold == THRESHOLD:
            main_metrics, main_steps = sweep[threshold], Counter(steps)
    console.print(
        f"{len(companies)} companies ({sum(c.name is not None for c in companies)} named), "
        f"{len(reference)} reference accounts, {len(held_out)} held out, {len(records)} variants"
    )
    console.print(_table(f"Identity resolution at threshold {THRESHOLD:g}", main_metrics))
    console.print("resolution steps:", dict(main_steps))
    for threshold, metrics in sweep.items():
        o = metrics["OVERALL"]
        console.print(
            f"threshold {threshold:g}: precision {o['precision']:.3f} recall {o['recall']:.3f}"
        )
    speed = throughput(rng)
    for key, value in speed.items():
        console.print(f"{key}: {value:,}")
    result = {
        "seed": SEED,
        "holdout": HOLDOUT,
        "threshold": THRESHOLD,
        "companies": len(companies),
        "reference_accounts": len(reference),
        "records": len(records),
        "metrics": main_metrics,
        "steps": dict(main_steps),
        "sweep": {str(t): m["OVERALL"] for t, m in sweep.items()},
        "throughput": speed,
        "seconds": round(time.perf_counter() - started, 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {RESULTS.relative_to(ROOT)} in {result['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
