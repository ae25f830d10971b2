"""Measurement: attribution over journeys (and, to come, account-level KPIs and holdout lift)."""
