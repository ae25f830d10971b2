"""Link records to accounts inside the warehouse, as Ibis joins.

The order of evidence, strongest first: the source's own account ID (followed through merges) →
the contact's account (by contact ID, then e-mail) → the registrable domain (of the record or of
a business e-mail) → an IP range the user loaded → the exact normalized company name → a fuzzy
name match at or above `resolve.name_match_threshold`. Each linked row keeps how it was matched
and a score (100 for exact evidence, the fuzzy score otherwise).
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
import pyarrow as pa

from abmkit.config.settings import Settings
from abmkit.resolve.fuzzy import match_names
from abmkit.resolve.names import normalize_company_name
from abmkit.warehouse.engine import Warehouse
from abmkit.warehouse.lookups import map_distinct
from abmkit.warehouse.schemas import TableSpec

NULL_ID = ibis.null(dt.string)
LINK_COLUMNS = ["account_id", "match_method", "match_score"]


def one_per_key(table: ir.Table, key: str, value: str, prefer: list) -> ir.Table:
    """A lookup `key → value` with one row per key; ties broken by `prefer` (ascending)."""
    rows = table.filter(table[key].notnull())
    ranked = rows.mutate(_rank=ibis.row_number().over(group_by=rows[key], order_by=prefer))
    return ranked.filter(ranked._rank == 0).select(key, value)


def account_lookups(wh: Warehouse) -> dict[str, ir.Table]:
    """Unique lookups from the current warehouse: alias, domain, name_key, contact, email, ip."""
    acc = wh.table("accounts")
    top_first = [ibis._.parent_account_id.notnull(), "account_id"]
    contacts = wh.table("contacts").filter(lambda c: c.account_id.notnull())
    merges = wh.table("account_merges")
    return {
        "alias": merges.select(key=merges.from_account_id, account_id=merges.into_account_id),
        "domain": one_per_key(acc, "domain", "account_id", top_first).rename(key="domain"),
        "name": one_per_key(acc, "name_key", "account_id", top_first).rename(key="name_key"),
        "contact": contacts.select(key=contacts.contact_id, account_id=contacts.account_id),
        "email": one_per_key(contacts, "email", "account_id", ["contact_id"]).rename(key="email"),
    }


def _via(t: ir.Table, lookup: ir.Table, column: str, out: str) -> ir.Table:
    """Left-join `lookup` on `t[column]`, adding its account_id as `out`."""
    if column not in t.columns:
        return t.mutate(**{out: NULL_ID})
    lk = lookup.rename({f"_k_{out}": "key", out: "account_id"})
    return t.left_join(lk, t[column] == lk[f"_k_{out}"]).drop(f"_k_{out}")


def _via_ip(wh: Warehouse, staged: ir.Table, t: ir.Table) -> ir.Table:
    """Account of the narrowest loaded IP range containing each distinct visitor IP of `staged`,
    joined onto `t`."""
    if "ip" not in staged.columns:
        return t.mutate(_by_ip=NULL_ID)
    ranges = wh.table("ip_ranges").filter(lambda r: r.account_id.notnull())
    ips = staged.select("ip").filter(staged.ip.notnull()).distinct()
    # Small tables of distinct visitor IPs, materialized so that no engine evaluates the range
    # join inside the big one or recomputes IP numbers per comparison.
    ips = wh.con.create_table(ibis.util.gen_name("ips"), ips.mutate(_num=_ip_number(ips.ip)),
                              temp=True)  # fmt: skip
    hits = ips.join(ranges, (ips._num >= ranges.start_num) & (ips._num <= ranges.end_num))
    hits = hits.mutate(_width=hits.end_num - hits.start_num)
    best = one_per_key(hits, "ip", "account_id", ["_width", "account_id"]).rename(key="ip")
    lookup = wh.con.create_table(ibis.util.gen_name("ip_links"), best, temp=True)
    return _via(t, lookup, "ip", "_by_ip")


def _ip_number(ip: ir.StringValue) -> ir.IntegerValue:
    """Dotted IPv4 → integer, in the engine (NULL when not four octets)."""
    parts = [ip.split(".")[i].try_cast(dt.int64) for i in range(4)]
    ok = ip.re_search(r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$")
    number = ((parts[0] * 256 + parts[1]) * 256 + parts[2]) * 256 + parts[3]
    return ibis.cases((ok, number), else_=ibis.null(dt.int64))


def link_records(wh: Warehouse, spec: TableSpec, staged: ir.Table, settings: Settings) -> ir.Table:
    """`staged` with account_id, match_method and match_score from the strongest evidence."""
    lk = account_lookups(wh)
    t = staged
    given = t.account_id if "account_id" in t.columns else NULL_ID
    t = t.mutate(_given=given)
    t = _via(t, lk["alias"], "_given", "_alias")
    t = _via(t, lk["contact"], "contact_id", "_by_contact") if spec.name != "contacts" else (
        t.mutate(_by_contact=NULL_ID))  # fmt: skip
    t = _via(t, lk["email"], "email", "_by_email") if spec.name != "contacts" else (
        t.mutate(_by_email=NULL_ID))  # fmt: skip
    t = _via(t, lk["domain"], "domain", "_by_domain")
    t = _via_ip(wh, staged, t) if settings.resolve.use_ip_ranges else t.mutate(_by_ip=NULL_ID)
    t = _with_name_key(t)
    t = _via(t, lk["name"], "_name_key", "_by_name")
    t = _fuzzy(wh, t, settings.resolve.name_match_threshold)
    evidence = [
        ("id", t._alias.fill_null(t._given)), ("contact", t._by_contact),
        ("contact_email", t._by_email), ("domain", t._by_domain), ("ip", t._by_ip),
        ("name", t._by_name), ("fuzzy_name", t._by_fuzzy),
    ]  # fmt: skip
    account = ibis.coalesce(*[v for _, v in evidence])
    method = ibis.cases(*[(v.notnull(), name) for name, v in evidence], else_=ibis.null(dt.string))
    score = ibis.cases((t._by_fuzzy.notnull() & (method == "fuzzy_name"), t._fuzzy_score),
                       (account.notnull(), 100.0), else_=ibis.null(dt.float64))  # fmt: skip
    return t.mutate(account_id=account, match_method=method, match_score=score.cast(dt.float64))[
        [c for c in staged.columns if c not in LINK_COLUMNS] + LINK_COLUMNS
    ]


def _with_name_key(t: ir.Table) -> ir.Table:
    if "_name_key" in t.columns:
        return t
    if "account_name_key" in t.columns:
        return t.mutate(_name_key=t.account_name_key)
    return t.mutate(_name_key=NULL_ID)


def _fuzzy(wh: Warehouse, t: ir.Table, threshold: float) -> ir.Table:
    """Fuzzy name matches for rows that nothing else linked (distinct names only)."""
    unlinked = ibis.and_(*[t[c].isnull() for c in
                           ("_given", "_by_contact", "_by_email", "_by_domain", "_by_ip",
                            "_by_name")])  # fmt: skip
    pending = t.filter(unlinked & t._name_key.notnull()).select("_name_key").distinct()
    queries = pending.to_pyarrow()["_name_key"].to_pylist()
    if not queries:
        return t.mutate(_by_fuzzy=NULL_ID, _fuzzy_score=ibis.null(dt.float64))
    acc = wh.table("accounts").filter(lambda a: a.name_key.notnull())
    choices = acc.select("name_key", "account_id").to_pyarrow()
    names = choices["name_key"].to_pylist()
    ids = choices["account_id"].to_pylist()
    found = match_names(queries, names, threshold)
    table = pa.table({
        "_fk": pa.array([queries[m.query_index] for m in found], pa.string()),
        "_by_fuzzy": pa.array([ids[m.choice_index] for m in found], pa.string()),
        "_fuzzy_score": pa.array([m.score for m in found], pa.float64()),
    })  # fmt: skip
    matches = wh.stage(table, prefix="fuzzy")
    return t.left_join(matches, t._name_key == matches._fk).drop("_fk")


def assign_account_ids(wh: Warehouse, staged: ir.Table) -> ir.Table:
    """Accounts keep the source's ID; without one they take the ID of the existing account with
    the same domain, else the same normalized name, else a new ID minted from domain or name."""
    lk = account_lookups(wh)
    t = staged.mutate(_given=staged.account_id if "account_id" in staged.columns else NULL_ID)
    t = _via(t, lk["alias"], "_given", "_alias")
    t = _via(t, lk["domain"], "domain", "_by_domain")
    t = (
        _via(t, lk["name"], "name_key", "_by_name")
        if "name_key" in t.columns
        else t.mutate(_by_name=NULL_ID)
    )
    domain = t.domain if "domain" in t.columns else NULL_ID
    name = t.name_key if "name_key" in t.columns else NULL_ID
    minted = ibis.coalesce("acc_" + domain, "acc_n_" + name.replace(" ", "-"))
    account = ibis.coalesce(t._alias, t._given, t._by_domain, t._by_name, minted)
    t = t.mutate(account_id=account)
    ranked = t.mutate(_first=ibis.row_number().over(group_by=t.account_id, order_by=t["__row"]))
    return ranked.filter(ranked._first == 0)[
        [c for c in staged.columns if c != "account_id"] + ["account_id"]
    ]


def parent_links(wh: Warehouse) -> ir.Table:
    """Accounts whose parent is known only by name, with the parent's ID found by that name."""
    acc = wh.table("accounts")
    pending = acc.filter(acc.parent_account_id.isnull() & acc.parent_name.notnull())
    named = map_distinct(pending, "parent_name", normalize_company_name, "_pkey", wh.stage)
    parents = one_per_key(acc, "name_key", "account_id", ["account_id"]).rename(
        _pk="name_key", _parent="account_id"
    )
    joined = named.join(parents, named._pkey == parents._pk)
    joined = joined.filter(joined._parent != joined.account_id)
    return joined.select("account_id", parent_account_id=joined._parent)
