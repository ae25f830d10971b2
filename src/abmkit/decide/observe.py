"""Observe: what the agent reads from the warehouse — the scored accounts, their people, and the
signals that arrived since its last pass (each one from rows loaded after a watermark, so a pass
never reads the same rows twice and a load that lands during a pass is read by the next)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import ibis
import ibis.expr.types as ir

from abmkit.config.settings import AgentSettings, Settings
from abmkit.decide.agent import Account, Person, Signal
from abmkit.resolve.personas import persona_of
from abmkit.score.signals import contacts_with_personas
from abmkit.warehouse.engine import Warehouse

KEY_PAGE_WEIGHT = 4.0
"""A page weighing at least this much in intent.page_weights is a key page (pricing, demo,
comparison pages by default)."""
SIZE_BANDS = (0, 200, 1000)


def key_pages(settings: Settings) -> list[str]:
    weights = settings.intent.page_weights
    return sorted(p for p, w in weights.items() if w >= KEY_PAGE_WEIGHT)


def size_band(employees: int | None) -> int:
    return sum(1 for edge in SIZE_BANDS[1:] if (employees or 0) >= edge)


def deal_sizes(wh: Warehouse) -> dict[int, float]:
    """Median opportunity amount by company size band (under 200, 200–999, 1000+ employees),
    from the CRM history: the expected deal of an account of that size."""
    opps = wh.table("opportunities")
    acc = wh.table("accounts").select("account_id", "employees")
    t = opps.filter(opps.amount > 0).join(acc, "account_id")
    band = ibis.cases((t.employees >= 1000, 2), (t.employees >= 200, 1), else_=0)
    rows = (t.mutate(band=band).group_by("band").aggregate(median=lambda s: s.amount.median())
            .to_pyarrow().to_pylist())  # fmt: skip
    return {int(r["band"]): float(r["median"]) for r in rows if r["median"] is not None}


def pipeline_per_dollar(wh: Warehouse, now: dt.datetime, days: int = 365) -> float | None:
    """The program's pipeline per dollar over the last `days`: the amounts of opportunities
    created ÷ what was spent (campaigns' actual costs, else the touches' costs); None without
    both."""
    since = (now - dt.timedelta(days=days)).date()
    pipeline = wh.scalar(_created(wh, since, now).amount.sum())
    spent = program_spend(wh, since)
    if not pipeline or not spent:
        return None
    return float(pipeline) / spent


def cost_per_opportunity(wh: Warehouse, now: dt.datetime, days: int = 365) -> float | None:
    """What one opportunity cost the program over the last `days`: spend ÷ opportunities."""
    since = (now - dt.timedelta(days=days)).date()
    count = wh.scalar(_created(wh, since, now).count())
    spent = program_spend(wh, since)
    return spent / float(count) if spent and count else None


def _created(wh: Warehouse, since: dt.date, now: dt.datetime) -> ir.Table:
    o = wh.table("opportunities")
    return o.filter((o.created_at >= since) & (o.created_at <= now.date()))


def program_spend(wh: Warehouse, since: dt.date, until: dt.date | None = None) -> float:
    """What the program spent from `since` (to `until`, inclusive, when given): the actual
    costs of the campaigns that started then, else the touches' costs."""
    c = wh.table("campaigns")
    started = c.start_date >= since
    if until is not None:
        started &= c.start_date <= until
    spent = wh.scalar(c.filter(started).actual_cost.sum())
    if not spent:
        t = wh.table("touches")
        when = t.ts >= since
        if until is not None:
            when &= t.ts < until + dt.timedelta(days=1)
        spent = wh.scalar(t.filter(when).cost.sum())
    return float(spent or 0.0)


def value_settings(wh: Warehouse, settings: Settings, now: dt.datetime) -> AgentSettings:
    """The agent's settings with min_value_ratio filled from the workspace's history when the
    settings leave it empty."""
    agent = settings.agent
    if agent.min_value_ratio is not None:
        return agent
    ratio = pipeline_per_dollar(wh, now)
    return agent.model_copy(update={"min_value_ratio": ratio}) if ratio else agent


def accounts(wh: Warehouse, ids: ir.Table | None = None,
             deals: dict[int, float] | None = None) -> dict[str, Account]:  # fmt: skip
    """Every scored account as the agent sees it (or those in `ids`, a table of account_id;
    `deals`: the expected deal sizes when the caller has them already)."""
    scores = wh.table("account_scores")
    if ids is not None:
        scores = scores.semi_join(ids, "account_id")
    acc = wh.table("accounts").select("account_id", "name", "domain", "industry", "employees",
                                      "country", "owner", "account_type")  # fmt: skip
    rows = wh.arrow(scores.join(acc, "account_id")).to_pylist()
    deals = deal_sizes(wh) if deals is None else deals
    return {r["account_id"]: _account(r, deals) for r in rows}


def _account(r: dict, deals: dict[int, float]) -> Account:
    return Account(
        account_id=r["account_id"], name=r["name"] or "", domain=r["domain"] or "",
        tier=int(r["tier"] or 3), buying_stage=r["buying_stage"] or "Target",
        journey_stage=r["journey_stage"] or "", cluster=r["cluster"],
        cluster_label=r["cluster_label"] or "", priority=float(r["priority"] or 0),
        propensity=r["propensity"], owner=r["owner"] or "", industry=r["industry"] or "",
        is_customer=(r["account_type"] or "").lower() == "customer"
        or r["journey_stage"] == "Customer",
        country=r["country"] or "", top_topics=r["top_topics"] or "",
        deal_size=deals.get(size_band(r["employees"])),
    )  # fmt: skip


def people(wh: Warehouse, settings: Settings) -> dict[str, list[Person]]:
    """The people of each account with a persona, with their opt-out and consent."""
    with wh.temporary():
        c = contacts_with_personas(wh, settings)
        c = c.filter(c.account_id.notnull() & c.persona.notnull() & (c.persona != "none"))
        rows = wh.arrow(c.select(*PERSON_COLUMNS)).to_pylist()
    consent = _consents(wh, settings.guardrails.consent_attribute)
    return _people(rows, consent)


PERSON_COLUMNS = ("contact_id", "account_id", "email", "first_name", "last_name", "title",
                  "persona", "country", "email_opt_out")  # fmt: skip


def people_of(wh: Warehouse, settings: Settings, ids: ir.Table) -> dict[str, list[Person]]:
    """The people with a persona of the accounts in `ids` (a table of account_id): what
    `people` gives for them, reading only their contacts (a persona read from the title here,
    by the same rules, when the file gave none)."""
    c = wh.table("contacts").semi_join(ids, "account_id")
    rows = wh.arrow(c.select(*PERSON_COLUMNS)).to_pylist()
    for r in rows:
        if r["persona"] is None:
            found = persona_of(r["title"], settings.personas)
            r["persona"] = found.persona if found else None
    rows = [r for r in rows if r["persona"] not in (None, "none")]
    contacts = c.select(entity_id="contact_id")
    consent = _consents(wh, settings.guardrails.consent_attribute, contacts)
    return _people(rows, consent)


def _people(rows: list[dict], consent: dict[str, bool]) -> dict[str, list[Person]]:
    out: dict[str, list[Person]] = defaultdict(list)
    for r in rows:
        out[r["account_id"]].append(Person(
            contact_id=r["contact_id"], account_id=r["account_id"], email=r["email"] or "",
            first_name=r["first_name"] or "", last_name=r["last_name"] or "",
            title=r["title"] or "", persona=r["persona"], country=r["country"] or "",
            opted_out=bool(r["email_opt_out"]), consent=consent.get(r["contact_id"]),
        ))  # fmt: skip
    return dict(out)


def _consents(wh: Warehouse, name: str, contacts: ir.Table | None = None) -> dict[str, bool]:
    a = wh.table("attributes")
    a = a.filter((a.entity == "contact") & (a.name.lower() == name.lower()))
    if contacts is not None:
        a = a.semi_join(contacts, "entity_id")
    rows = wh.arrow(a.select("entity_id", "value")).to_pylist()
    return {r["entity_id"]: (r["value"] or "").strip().lower() in ("true", "yes", "1", "y")
            for r in rows}  # fmt: skip


def signals(wh: Warehouse, settings: Settings, loads: list[str], scored_since: dt.datetime,
            now: dt.datetime) -> list[Signal]:  # fmt: skip
    """Signals as of `now`: key-page visits, intent surges (and, for customers, expansion
    intent) and new buying-committee members in the rows of `loads` (the loads not read
    before); engagement spikes of accounts scored after `scored_since`; opportunities stalled
    now."""
    found = [*_spikes(wh, scored_since), *_stalled(wh, now)]
    if loads:
        found += [*_visits(wh, settings, loads), *_surges(wh, settings, loads),
                  *_new_members(wh, loads)]  # fmt: skip
    return found


def _in_loads(t: ir.Table, loads: list[str] | ir.Table) -> ir.Table:
    if isinstance(loads, ir.Table):
        return t.semi_join(loads, "load_id")
    return t.filter(t.load_id.isin(loads))


def _visits(wh: Warehouse, settings: Settings, loads: list[str] | ir.Table,
            since: dt.datetime | None = None) -> list[Signal]:  # fmt: skip
    t = wh.table("touches")
    if since is not None:  # the engine skips older row groups by their time stamps
        t = t.filter(t.ts >= since)
    t = _in_loads(t, loads)
    pages = key_pages(settings)
    if not pages:
        return []
    path = t.url.re_extract(r"^[a-z]+://[^/]+(/[^?#]*)", 1)
    t = t.mutate(path=path).filter(t.account_id.notnull())
    t = t.filter(ibis.or_(*[t.path.startswith(p) for p in pages]))
    first = t.group_by(["account_id", t.ts.date().name("day")]).aggregate(
        at=t.ts.min(), path=t.path.argmin(t.ts), views=t.count()
    )
    return [Signal("key_page_visit", r["account_id"], r["at"], f"visit:{r['day']}",
                   {"path": r["path"], "views": int(r["views"])},
                   strength=min(1.0 + 0.25 * (r["views"] - 1), 2.0))
            for r in wh.arrow(first).to_pylist()]  # fmt: skip


def _surges(wh: Warehouse, settings: Settings, loads: list[str]) -> list[Signal]:
    t = _in_loads(wh.table("intent"), loads)
    t = t.filter(t.account_id.notnull() & (t.score >= settings.thresholds.surge_score))
    relevant = [x.lower() for x in settings.intent.relevant_topics]
    if relevant:
        t = t.filter(t.topic.lower().isin(relevant))
    acc = wh.table("accounts").select("account_id", "account_type")
    t = t.join(acc, "account_id", how="left")
    # A week's file is complete when the week ends: the signal is then, or when it was loaded
    # if that is earlier (a provider publishing mid-week).
    week_end = t.week.cast("timestamp") + ibis.interval(days=7)
    t = t.mutate(at=ibis.least(t.loaded_at, week_end))
    g = t.group_by(["account_id", "week", "account_type"]).aggregate(
        topics=t.topic.nunique(), at=t.at.min(), top=t.score.max()
    )
    out = []
    for r in g.to_pyarrow().to_pylist():
        customer = (r["account_type"] or "").lower() == "customer"
        kind = "customer_expansion" if customer else "intent_surge"
        out.append(Signal(kind, r["account_id"], r["at"], f"surge:{r['week']}",
                          {"topics": int(r["topics"]), "top_score": int(r["top"])},
                          strength=min(0.5 + 0.25 * r["topics"], 2.0)))  # fmt: skip
    return out


def signals_of(wh: Warehouse, settings: Settings, loads: ir.Table, ids: ir.Table,
               since: dt.datetime) -> list[Signal]:  # fmt: skip
    """The signals a few new touches can bring: key-page visits in the rows of `loads` (a
    table of load_id) at or after `since`, and the engagement spikes of the accounts in `ids`
    (a table of account_id)."""
    return [*_visits(wh, settings, loads, since), *_spikes(wh, dt.datetime.min, ids)]


def _spikes(wh: Warehouse, since: dt.datetime, ids: ir.Table | None = None) -> list[Signal]:
    s = wh.table("account_scores")
    if ids is not None:
        s = s.semi_join(ids, "account_id")
    s = s.filter((s.scored_at > since) & (s.momentum_1p > 0))
    rows = wh.arrow(s.select("account_id", "scored_at", "momentum_1p")).to_pylist()
    return [Signal("engagement_spike", r["account_id"], r["scored_at"],
                   f"spike:{r['scored_at']:%G-W%V}", {"spike_pct": float(r["momentum_1p"])})
            for r in rows]  # fmt: skip


def _stalled(wh: Warehouse, now: dt.datetime) -> list[Signal]:
    o = wh.table("opportunities")
    o = o.filter(~o.is_closed.fill_null(False) & o.account_id.notnull())
    t = wh.table("touches")
    last = t.group_by("account_id").aggregate(last=t.ts.max())
    j = o.join(last, "account_id", how="left")
    rows = j.select("opportunity_id", "account_id", "last", "created_at").to_pyarrow().to_pylist()
    out = []
    for r in rows:
        last_at = r["last"] or dt.datetime.combine(r["created_at"] or now.date(), dt.time())
        days = (now - last_at).days
        if days >= 1:
            out.append(Signal("stalled_opportunity", r["account_id"], now,
                              f"stalled:{r['opportunity_id']}:{last_at:%Y-%m-%d}",
                              {"days": days, "opportunity_id": r["opportunity_id"]}))  # fmt: skip
    return out


def _new_members(wh: Warehouse, loads: list[str]) -> list[Signal]:
    c = _in_loads(wh.table("contacts"), loads)
    c = c.filter(c.account_id.notnull() & c.persona.notnull())
    rows = c.select("contact_id", "account_id", "persona", "loaded_at").to_pyarrow().to_pylist()
    return [Signal("new_committee_member", r["account_id"], r["loaded_at"],
                   f"member:{r['contact_id']}", {"persona": r["persona"]})
            for r in rows]  # fmt: skip
