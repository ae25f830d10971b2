"""Columns each canonical table derives from what a file gave: normalized domains and names,
e-mail domains, IP numbers, won/closed flags from stage names, and natural keys.

Python-only normalizers (public-suffix rules, name folding) run once per distinct value
(`warehouse.lookups.map_distinct`).
"""

from __future__ import annotations

from collections.abc import Callable

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow as pa

from abmkit.config.settings import Settings
from abmkit.resolve.domains import account_domain, email_domain, ip_to_int
from abmkit.resolve.names import normalize_company_name
from abmkit.resolve.roles import department_of, seniority_of
from abmkit.warehouse import lookups
from abmkit.warehouse.schemas import TableSpec

TOUCH_CONTENT = ("ts", "account_id", "contact_id", "email", "domain", "ip", "channel", "kind",
                 "campaign_id", "url", "session_id", "source")  # fmt: skip


def map_distinct(
    engine: ibis.BaseBackend,
    t: ir.Table,
    column: str,
    fn: Callable[[str], object],
    out: str,
    out_type: dt.DataType = dt.string,
) -> ir.Table:
    """Add `out` = fn(column) in the scratch engine, once per distinct value."""

    def stage(table: pa.Table) -> ir.Table:
        return engine.create_table(ibis.util.gen_name("map"), table, temp=True)

    return lookups.map_distinct(t, column, fn, out, stage, out_type)


def derive(engine: ibis.BaseBackend, spec: TableSpec, t: ir.Table, settings: Settings) -> ir.Table:
    """Add the derived columns of `spec` to a typed table."""
    return _DERIVERS.get(spec.name, lambda e, t, s: t)(engine, t, settings)


def _replace(engine, t: ir.Table, column: str, fn, out_type=dt.string) -> ir.Table:
    if column not in t.columns:
        return t
    tmp = f"_{column}_norm"
    t = map_distinct(engine, t, column, fn, tmp, out_type)
    return t.drop(column).rename({column: tmp})


def _accounts(engine, t: ir.Table, settings: Settings) -> ir.Table:
    t = _replace(engine, t, "domain", account_domain)
    if "name" in t.columns:
        t = map_distinct(engine, t, "name", normalize_company_name, "name_key")
    return t


def _contacts(engine, t: ir.Table, settings: Settings) -> ir.Table:
    if "email" in t.columns:
        t = t.mutate(email=t.email.lower().strip())
        t = map_distinct(engine, t, "email", email_domain, "domain")
        if "contact_id" not in t.columns:
            t = t.mutate(contact_id=t.email)
        else:
            t = t.mutate(contact_id=t.contact_id.fill_null(t.email))
    if "name" not in t.columns and {"first_name", "last_name"} <= set(t.columns):
        full = (t.first_name.fill_null("") + " " + t.last_name.fill_null("")).strip()
        t = t.mutate(name=ibis.cases((full == "", ibis.null(dt.string)), else_=full))
    t = _account_name_key(engine, t)
    if "title" in t.columns:
        if "seniority" not in t.columns:
            t = map_distinct(engine, t, "title", seniority_of, "seniority")
        if "department" not in t.columns:
            t = map_distinct(engine, t, "title", department_of, "department")
    return t


def _account_name_key(engine, t: ir.Table) -> ir.Table:
    if "account_name" not in t.columns:
        return t
    return map_distinct(engine, t, "account_name", normalize_company_name, "account_name_key")


def _touches(engine, t: ir.Table, settings: Settings) -> ir.Table:
    if "email" in t.columns:
        t = t.mutate(email=t.email.lower().strip())
    t = _replace(engine, t, "domain", account_domain)
    if "email" in t.columns:  # a business e-mail tells the company when no domain was given
        t = map_distinct(engine, t, "email", _business_domain, "_email_domain")
        domain = t.domain if "domain" in t.columns else ibis.null(dt.string)
        t = t.mutate(domain=ibis.coalesce(domain, t._email_domain)).drop("_email_domain")
    if "url" in t.columns and "kind" not in t.columns:
        t = t.mutate(kind=ibis.literal("web_visit"))
    if "kind" in t.columns:
        t = t.mutate(kind=t.kind.lower().strip().re_replace(r"[\s-]+", "_"))
    if "channel" in t.columns:
        t = t.mutate(channel=t.channel.lower().strip())
    elif "url" in t.columns:
        t = t.mutate(channel=ibis.literal("web"))
    if "touch_id" not in t.columns:
        parts = [t[c].cast(dt.string).fill_null("") for c in TOUCH_CONTENT if c in t.columns]
        t = t.mutate(touch_id="t_" + ibis.literal("|").join(parts).hexdigest("md5"))
    return t


def _intent(engine, t: ir.Table, settings: Settings) -> ir.Table:
    t = _replace(engine, t, "domain", account_domain)
    t = t.mutate(topic=t.topic.strip())
    source = t.source if "source" in t.columns else ibis.literal("intent")
    if "source" not in t.columns:
        t = t.mutate(source=source)
    key = ibis.literal("|").join(
        [t.week.cast(dt.string), t.source, t.domain.fill_null(""), t.topic.lower()]
    )
    return t.mutate(intent_id=key)


def _business_domain(email: str) -> str | None:
    return account_domain(email_domain(email))


def _opportunities(engine, t: ir.Table, settings: Settings) -> ir.Table:
    t = _account_name_key(engine, t)
    if "stage" not in t.columns:
        return t
    stage = t.stage.lower().strip()
    won = [s.lower() for s in settings.crm.won_stages]
    lost = [s.lower() for s in settings.crm.lost_stages]
    if "is_won" not in t.columns:
        t = t.mutate(is_won=ibis.cases((stage.isin(won), True), (stage.isin(lost), False),
                                       else_=ibis.null(dt.boolean)))  # fmt: skip
    if "is_closed" not in t.columns:
        t = t.mutate(is_closed=stage.isin(won + lost))
    return t


def _campaigns(engine, t: ir.Table, settings: Settings) -> ir.Table:
    return t


def _ip_ranges(engine, t: ir.Table, settings: Settings) -> ir.Table:
    end = t.end_ip if "end_ip" in t.columns else ibis.null(dt.string)
    t = t.mutate(end_ip=end.fill_null(t.start_ip))  # a blank end: a single address
    t = map_distinct(engine, t, "start_ip", ip_to_int, "start_num", dt.int64)
    t = map_distinct(engine, t, "end_ip", ip_to_int, "end_num", dt.int64)
    t = _replace(engine, t, "domain", account_domain)
    return t.mutate(range_id=t.start_ip + "-" + t.end_ip)


_DERIVERS = {
    "accounts": _accounts,
    "contacts": _contacts,
    "touches": _touches,
    "intent": _intent,
    "opportunities": _opportunities,
    "campaigns": _campaigns,
    "ip_ranges": _ip_ranges,
}
