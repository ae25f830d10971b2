"""Buying-committee coverage per account: which configured personas are known, which engaged
lately, and the gaps in words ("no economic buyer known", "champion not engaged in 30 days").

Stored as reasons of the score `committee`: one row per (account, required persona), whose points
add up to a coverage of 0–100 (a persona engaged lately counts fully, one known but silent
half, a missing one nothing).
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as idt
import ibis.expr.types as ir
import pyarrow as pa

from abmkit.config.settings import Settings
from abmkit.score.signals import Moment, contacts_with_personas, person_activity
from abmkit.warehouse.engine import Warehouse


def committee_reasons(wh: Warehouse, settings: Settings, as_of: Moment) -> ir.Table:
    """(account_id, score='committee', factor=persona, points, reason) for every account and
    required persona."""
    cfg = settings.committee
    required = cfg.required_personas
    if not required:  # no committee configured: no rows
        acc = wh.table("accounts")
        return acc.select("account_id", score=ibis.literal("committee"),
                          factor=ibis.literal(""), points=ibis.literal(0.0),
                          reason=ibis.literal("")).limit(0)  # fmt: skip
    share = 100.0 / len(required)
    c = contacts_with_personas(wh, settings, narrow=True)
    c = c.filter(c.account_id.notnull() & c.persona.isin(required))
    known = c.group_by(["account_id", "persona"]).agg(known=c.count())
    days = cfg.engaged_days
    t = person_activity(wh, settings, as_of)
    t = t.filter(t._persona.isin(required) & t._last_engaged.notnull())
    engaged = t.group_by(["account_id", t._persona.name("persona")]).agg(
        engaged=t._who.nunique(), last=t._last_engaged.max()
    )
    personas = wh.stage(pa.table({"persona": pa.array(required, pa.string())}), prefix="roles")
    grid = wh.table("accounts").select("account_id").cross_join(personas)
    g = grid.left_join(known, ["account_id", "persona"]).drop("account_id_right",
                                                              "persona_right")  # fmt: skip
    g = g.left_join(engaged, ["account_id", "persona"]).drop("account_id_right", "persona_right")
    label = g.persona.replace("_", " ")
    n = g.known.fill_null(0)
    reason = ibis.cases(
        (n == 0, "no " + label + " known"),
        (g.engaged.fill_null(0) == 0,
         label + " known (" + n.cast(idt.string) + f") but not engaged in {days} days"),
        else_=label + " engaged (" + g.engaged.cast(idt.string) + " of " + n.cast(idt.string)
        + ", last " + g["last"].date().cast(idt.string) + ")",
    )  # fmt: skip
    pts = ibis.cases((n == 0, 0.0), (g.engaged.fill_null(0) == 0, share / 2), else_=share)
    return g.select("account_id", score=ibis.literal("committee"), factor=g.persona,
                    points=pts.round(1), reason=reason)  # fmt: skip


def committee_map(reasons: list[dict], required: list[str]) -> list[dict]:
    """Per required persona of one account, from its `committee` reasons: engaged (full
    points), silent (known but not engaged lately: half) or missing (none known), with the
    reason in words; the gaps are the ones not engaged."""
    share = 100.0 / len(required) if required else 0.0
    found = {r["factor"]: r for r in reasons if r["score"] == "committee"}
    out = []
    for persona in required:
        r = found.get(persona, {"points": 0.0, "reason": f"no {persona.replace('_', ' ')} known"})
        points = float(r["points"] or 0.0)
        status = "missing" if points <= 0 else "silent" if points < share - 0.05 else "engaged"
        out.append({"persona": persona, "status": status, "points": points,
                    "reason": r["reason"]})  # fmt: skip
    return out
