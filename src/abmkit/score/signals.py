"""Intent and engagement as of a moment, per account, as Ibis expressions with their reasons.

**Intent** has two sources. Third-party topic scores (Bombora semantics: 0–100, 50 = the
company's average, ≥ `thresholds.surge_score` surging), for relevant topics only: each surging
topic has a strength (score − 50) ÷ 50, decayed by the age of its week (half-life per source);
a topic's strength is its strongest week; the account's third-party intent is a noisy-OR over its
topics, 100 × (1 − Π(1 − strength)), so several surges add up but never pass 100. First-party
intent is the decayed page weight of web visits in the last `first_party_days` (pricing, demo and
comparison pages weigh more), saturating: 100 × (1 − e^(−points/scale)). Intent combines both
the same way, and its reasons split the points: third-party first, then what first-party adds.
**Momentum** per source: the latest week's raw signal against the mean of the weeks before, as a
percent change (NULL when there was nothing before).

**Engagement** is Demandbase-style minutes: points per touch kind plus URL rules (they add up),
times multipliers for persona, seniority and tier (they multiply; 0 excludes), decayed by age,
capped per contact (and for anonymous activity) so one person cannot carry an account, then
saturated to 0–100. Breadth is the number of engaged contacts and personas.
"""

from __future__ import annotations

import datetime as dt
from typing import TypeAlias

import ibis
import ibis.expr.datatypes as idt
import ibis.expr.types as ir
import pyarrow as pa

from abmkit.config.settings import Settings
from abmkit.resolve.personas import persona_of
from abmkit.score.incremental import memoized
from abmkit.warehouse.engine import Warehouse
from abmkit.warehouse.lookups import lookup_rows

DAY_SECONDS = 86_400.0
LN2 = 0.6931471805599453

Moment: TypeAlias = dt.datetime | ir.TimestampScalar
"""The moment scores are computed as of: a datetime, or an Ibis timestamp value (a refresh
that reuses its compiled statements reads it from a one-row table, so that their text does not
change when the moment does)."""


def moment(as_of: Moment) -> ir.TimestampScalar:
    """`as_of` as an Ibis value: every date window below is computed by the engine from it."""
    return as_of if isinstance(as_of, ir.Expr) else ibis.literal(as_of, idt.timestamp)


def days_earlier(as_of: Moment, days: float) -> ir.TimestampScalar:
    """The moment `days` (fractional) before `as_of`."""
    return moment(as_of) - ibis.interval(seconds=round(days * DAY_SECONDS))


def day_of(as_of: Moment, days: float = 0) -> ir.DateScalar:
    """The calendar day `days` before `as_of` (its date: the time of day dropped)."""
    return (days_earlier(as_of, days) if days else moment(as_of)).date()


def url_path(url: ir.StringValue) -> ir.StringValue:
    """`https://www.x.com/pricing?a=1` → `/pricing`; a bare path stays as it is; no URL → `/`.
    (Most touches have no URL: they skip the regular expressions.)"""
    path = url.re_extract(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*([^?#]*)", 1)
    bare = url.re_extract(r"^(/[^?#]*)", 1)
    found = ibis.cases((path != "", path), (bare != "", bare), else_=ibis.literal("/")).lower()
    return ibis.cases((url.isnull() | (url == ""), ibis.literal("/")), else_=found)


def prefix_weight(path: ir.StringValue, weights: dict[str, float], default: float) -> ir.Value:
    """Weight of the longest prefix of `weights` that `path` starts with, else `default`."""
    ordered = sorted(weights.items(), key=lambda kv: -len(kv[0]))
    cases = [(path.startswith(p.lower()), float(w)) for p, w in ordered]
    return ibis.cases(*cases, else_=float(default)) if cases else ibis.literal(float(default))


def key_page(path: ir.StringValue, settings: Settings) -> ir.BooleanValue:
    """Whether a URL path is a key page: one weighing more than the default in
    `intent.page_weights` (pricing, demo, comparison…)."""
    cfg = settings.intent
    keys = [p for p, w in cfg.page_weights.items() if w > cfg.default_page_weight]
    if not keys:
        return ibis.literal(False)
    return ibis.or_(*[path.startswith(p.lower()) for p in keys])


def prefix_points(path: ir.StringValue, points: dict[str, float]) -> ir.Value:
    """Sum of the points of every prefix `path` starts with (URL rules add up)."""
    total: ir.Value = ibis.literal(0.0)
    for p, w in points.items():
        total = total + ibis.cases((path.startswith(p.lower()), float(w)), else_=0.0)
    return total


def decay(age_days: ir.NumericValue, half_life: float) -> ir.FloatingValue:
    """0.5^(age / half-life): 1 now, ½ after one half-life; ages below zero count as now."""
    return (ibis.greatest(age_days, 0) * (-LN2 / half_life)).exp()


def days_before(as_of: Moment, ts: ir.TimestampValue) -> ir.FloatingValue:
    """Days from `ts` to `as_of` (fractional; negative when `ts` is later)."""
    seconds = moment(as_of).epoch_seconds() - ts.epoch_seconds()
    return seconds.cast(idt.float64) / DAY_SECONDS


def saturate(points: ir.NumericValue, scale: float) -> ir.FloatingValue:
    return 100.0 * (1.0 - (-(points.cast(idt.float64)) / scale).exp())


# -- intent ------------------------------------------------------------------------------------
def third_party_intent(wh: Warehouse, settings: Settings, as_of: Moment) -> ir.Table:
    """(account_id, intent_3p, topics_surging, top_topics, momentum_3p) for accounts with
    relevant surging topics in the lookback window."""
    cfg = settings.intent
    t = wh.table("intent").filter(ibis._.account_id.notnull())
    # A week's scores exist once the week is over: as of `as_of`, only weeks that ended by then
    # count (no peeking into a week still running), and a signal's age runs from its week's end.
    last_start = day_of(as_of, 7)
    start = day_of(as_of, 7 * (cfg.lookback_weeks + 1))
    t = t.filter((t.week > start) & (t.week <= last_start))
    if cfg.relevant_topics:
        t = t.filter(t.topic.lower().isin([x.lower() for x in cfg.relevant_topics]))
    half = cfg.half_life_days.get("third_party", 25.0)
    surge = settings.thresholds.surge_score
    age = days_before(as_of, t.week.cast(idt.timestamp)) - 7.0
    strength = ((t.score - 50).cast(idt.float64) / 50.0) * decay(age, half)
    t = t.mutate(_strength=ibis.cases((t.score >= surge, ibis.least(strength, 0.99)),
                                      else_=0.0), _raw=ibis.greatest(t.score - 50, 0))  # fmt: skip
    topics = t.group_by(["account_id", "topic"]).agg(
        _s=t._strength.max(), _best=t.score.max(), _last=t.week.max()
    )
    topics = topics.filter(topics._s > 0)
    label = topics.topic + " (" + topics._best.cast(idt.string) + ")"
    per_account = topics.group_by("account_id").agg(
        _log=(1.0 - topics._s).ln().sum(),
        topics_surging=topics.count(),
        top_topics=label.group_concat(", ", order_by=[ibis.desc(topics._s), topics.topic]),
    )
    scores = per_account.select(
        "account_id", "topics_surging", "top_topics",
        intent_3p=100.0 * (1.0 - per_account._log.exp()),
    )  # fmt: skip
    ended = t.mutate(_ended=(t.week.cast(idt.timestamp) + ibis.interval(days=7)))
    momentum = _weekly_momentum(ended, as_of, cfg.momentum_weeks, "_raw", "_ended")
    joined = scores.left_join(momentum, "account_id").drop("account_id_right")
    return joined.rename(momentum_3p="momentum")


def _weekly_momentum(t: ir.Table, as_of: Moment, weeks: int, value: str,
                     when: str) -> ir.Table:  # fmt: skip
    """(account_id, momentum): the last 7 days' sum of `value` vs the mean of the `weeks` weeks
    before, in percent; NULL when the weeks before had nothing."""
    age = days_before(as_of, t[when].cast(idt.timestamp))
    bucket = (age / 7.0).floor().cast(idt.int64)
    t = t.mutate(_bucket=bucket).filter((bucket >= 0) & (bucket <= weeks))
    agg = t.group_by("account_id").agg(
        _now=t[value].sum(where=t._bucket == 0).fill_null(0),
        _before=t[value].sum(where=t._bucket > 0).fill_null(0),
    )
    prior = agg._before.cast(idt.float64) / weeks
    momentum = ibis.cases((prior > 0, 100.0 * (agg._now - prior) / prior),
                          else_=ibis.null(idt.float64))  # fmt: skip
    return agg.select("account_id", momentum=momentum.round(0))


def first_party_intent(wh: Warehouse, settings: Settings, as_of: Moment) -> ir.Table:
    """(account_id, intent_1p, key_page_visits, momentum_1p) from web visits."""
    cfg = settings.intent
    t = wh.table("touches").filter(ibis._.account_id.notnull() & ibis._.url.notnull())
    t = t.filter(t.kind == "web_visit")
    window = max(cfg.first_party_days, 7 * (cfg.momentum_weeks + 1))
    t = t.filter((t.ts > days_earlier(as_of, window)) & (t.ts <= moment(as_of)))
    t = t.mutate(_path=url_path(t.url))  # once per row: every page rule below reads it
    path = t._path
    weight = prefix_weight(path, cfg.page_weights, cfg.default_page_weight)
    age = days_before(as_of, t.ts)
    recent = age <= cfg.first_party_days
    half = cfg.half_life_days.get("first_party", 14.0)
    is_key = key_page(path, settings)
    t = t.mutate(_pts=ibis.cases((recent, weight * decay(age, half)), else_=0.0), _w=weight,
                 _key=ibis.cases((is_key & recent, 1), else_=0))  # fmt: skip
    agg = t.group_by("account_id").agg(_points=t._pts.sum(), key_page_visits=t._key.sum())
    scores = agg.select("account_id", "key_page_visits",
                        intent_1p=saturate(agg._points, cfg.first_party_scale))  # fmt: skip
    momentum = _weekly_momentum(t, as_of, cfg.momentum_weeks, "_w", "ts")
    return (
        scores.left_join(momentum, "account_id")
        .drop("account_id_right")
        .rename(momentum_1p="momentum")
    )


# -- engagement --------------------------------------------------------------------------------
def engagement(wh: Warehouse, settings: Settings, as_of: Moment,
               tiers: ir.Table | None = None) -> tuple[ir.Table, ir.Table]:  # fmt: skip
    """Per account: (account_id, engagement_minutes, anonymous_minutes, engagement,
    engaged_contacts, engaged_personas); and per (account, contact): (account_id, contact_id,
    persona, minutes) after the cap (contact_id NULL = anonymous activity)."""
    cfg = settings.engagement
    t = person_activity(wh, settings, as_of)
    t = t.filter(t._touches > 0)  # the people with a touch in the engagement window
    minutes = t._minutes
    if tiers is not None and cfg.tier_weights:
        # the tier's multiplier is the account's: the same for each of its touches
        tier_of = tiers.select(_tid="account_id", _tier="tier")
        t = t.left_join(tier_of, t.account_id == tier_of._tid).drop("_tid")
        minutes = t._minutes * _lookup(t._tier.cast(idt.string), cfg.tier_weights)
    t = t.mutate(_m=minutes)
    per_contact = t.group_by(["account_id", t._who.name("contact_id")]).agg(
        _raw=t._m.sum(), persona=t._persona.max()
    )
    cap = ibis.cases((per_contact.contact_id.isnull(), cfg.cap_anonymous),
                     else_=cfg.cap_per_contact)  # fmt: skip
    per_contact = per_contact.select(
        "account_id", "contact_id", "persona", minutes=ibis.least(per_contact._raw, cap)
    )
    engaged = per_contact.minutes > 0
    known = engaged & per_contact.contact_id.notnull()
    accounts = per_contact.group_by("account_id").agg(
        engagement_minutes=per_contact.minutes.sum(),
        anonymous_minutes=per_contact.minutes.sum(where=per_contact.contact_id.isnull()),
        engaged_contacts=per_contact.contact_id.nunique(where=known),
        engaged_personas=per_contact.persona.nunique(where=known & (per_contact.persona != "none")),
    )
    accounts = accounts.mutate(engagement=saturate(accounts.engagement_minutes, cfg.scale))
    return accounts, per_contact


def earns_minutes(kind: ir.StringValue, settings: Settings) -> ir.BooleanValue:
    """Whether a touch of this kind earns engagement minutes (outbound kinds do not)."""
    points = settings.engagement.points
    if settings.engagement.default_points > 0:
        return ~kind.isin([k for k, v in points.items() if v == 0])
    return kind.isin([k for k, v in points.items() if v > 0])


TOUCH_COLUMNS = ("account_id", "ts", "kind", "url", "contact_id", "email")
"""The columns of a touch that engagement and the buying committee read (`person_activity`)."""


def person_activity(wh: Warehouse, settings: Settings, as_of: Moment) -> ir.Table:
    """What engagement and the buying committee read of the touches, in one pass over them:
    per account, person (`_who`, see `people_of`) and persona (`_persona`), over the touches
    of the longest window either needs,

    * `_touches`: how many fall in the engagement window;
    * `_minutes`: their engagement minutes, decayed, before the tier multiplier (the
      account's) and the cap per person;
    * `_last_engaged`: the last touch that earns minutes in the committee's `engaged_days`
      (NULL: none).

    A person's touches are summed, not kept: a refresh reads a few hundred thousand rows here
    instead of millions of touches (computed once per refresh)."""
    cfg = settings.engagement
    longest = max(cfg.window_days, settings.committee.engaged_days)

    def build() -> ir.Table:
        touches = wh.table("touches").select(*TOUCH_COLUMNS)
        t = touches.filter(touches.account_id.notnull())
        t = t.filter((t.ts > days_earlier(as_of, longest)) & (t.ts <= moment(as_of)))
        t = people_of(wh, t, settings)
        base = ibis.cases(*[(t.kind == k, float(v)) for k, v in cfg.points.items()],
                          else_=float(cfg.default_points))  # fmt: skip
        if cfg.url_points:
            base = base + prefix_points(url_path(t.url), cfg.url_points)
        weight = (_lookup(t._persona, cfg.persona_weights)
                  * _lookup(t._seniority, cfg.seniority_weights))  # fmt: skip
        minutes = base * weight * decay(days_before(as_of, t.ts), cfg.half_life_days)
        counted = t.ts > days_earlier(as_of, cfg.window_days)
        committee = (t.ts > days_earlier(as_of, settings.committee.engaged_days)) & earns_minutes(
            t.kind, settings)  # fmt: skip
        return t.group_by(["account_id", "_who", "_persona"]).agg(
            _touches=t.count(where=counted),
            _minutes=minutes.sum(where=counted).fill_null(0.0),
            _last_engaged=t.ts.max(where=committee),
        )

    return memoized(wh, "activity", build)


PEOPLE_COLUMNS = ("contact_id", "account_id", "email", "persona", "seniority")
"""What the scores read of a contact (`contacts_with_personas(..., narrow=True)`)."""


def contacts_with_personas(wh: Warehouse, settings: Settings, *,
                           narrow: bool = False) -> ir.Table:  # fmt: skip
    """Contacts with `persona`: the one the file gave, else read from the title by the
    workspace's persona rules ("none" when no persona takes it), at every refresh, so a changed
    rule applies to everyone. `narrow`: only PEOPLE_COLUMNS (a refresh keeps half a million
    contacts at hand, and carries only what it reads)."""
    rules = settings.personas

    def persona(title: str) -> str:
        found = persona_of(title, rules)
        return found.persona if found else "none"

    def build() -> ir.Table:
        c = wh.table("contacts")
        titles = c.filter(c.title.notnull()).select("title").distinct()

        def read() -> pa.Table:  # once per distinct title
            return lookup_rows(wh.arrow(titles).column(0).to_pylist(), persona, "_read_persona")

        lookup = wh.derived("personas", ibis.schema({"_v": "string", "_read_persona": "string"}),
                            read)  # fmt: skip
        c = c.left_join(lookup, c.title == lookup._v).drop("_v")
        c = c.mutate(persona=ibis.coalesce(c.persona, c._read_persona)).drop("_read_persona")
        return c.select(*PEOPLE_COLUMNS) if narrow else c

    return memoized(wh, "people" if narrow else "contacts_personas", build)


def people_of(wh: Warehouse, t: ir.Table, settings: Settings) -> ir.Table:
    """Touches with the person behind them: `_who` (contact ID, else the e-mail; NULL when
    anonymous), `_persona` and `_seniority` (found by contact ID, else by e-mail)."""
    c = contacts_with_personas(wh, settings, narrow=True)
    by_id = c.select(_cid="contact_id", _p1="persona", _s1="seniority")
    mail = c.filter(c.email.notnull())
    mail = mail.mutate(_n=ibis.row_number().over(group_by="email", order_by="contact_id"))
    by_mail = mail.filter(mail._n == 0).select(_mail="email", _cid2="contact_id",
                                               _p2="persona", _s2="seniority")  # fmt: skip
    t = t.left_join(by_id, t.contact_id == by_id._cid)
    t = t.left_join(by_mail, t.email == by_mail._mail)
    return t.mutate(_who=ibis.coalesce(t._cid, t._cid2, t.email),
                    _persona=ibis.coalesce(t._p1, t._p2),
                    _seniority=ibis.coalesce(t._s1, t._s2)).drop(
        "_cid", "_cid2", "_mail", "_p1", "_p2", "_s1", "_s2")  # fmt: skip


def _lookup(value: ir.StringValue, weights: dict[str, float]) -> ir.FloatingValue:
    """Multiplier of `value` in `weights`; 1.0 when unlisted or NULL."""
    if not weights:
        return ibis.literal(1.0)
    return ibis.cases(*[(value == k, float(v)) for k, v in weights.items()], else_=1.0)
