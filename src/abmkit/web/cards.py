"""Shaping stored rows into what a page shows: an action's card with its exact payload, an
account's committee map and timeline, a play in words, settings as read-only rows.

Nothing here computes a score or decides anything; it only arranges what the services returned
(and turns an edit form's text back into payload values).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel

from abmkit.config.settings import Settings
from abmkit.decide.inbox import EDITABLE
from abmkit.decide.plays import Play
from abmkit.errors import AbmError
from abmkit.measure.formatting import format_kind
from abmkit.measure.overview import STATUS_LABELS
from abmkit.store.models import Action

SCORE_ORDER = ("priority", "fit", "intent", "engagement", "committee")
SCORE_TITLES = {"priority": "Priority", "fit": "Fit (ICP)", "intent": "Intent",
                "engagement": "Engagement", "committee": "Buying committee"}  # fmt: skip
KIND_LABELS = {"web_visit": "Web visit", "email_open": "E-mail opened",
               "email_click": "E-mail link clicked", "email_reply": "E-mail reply",
               "email_sent": "E-mail sent", "ad_impression": "Ad shown", "ad_click": "Ad clicked",
               "form_fill": "Form filled", "meeting": "Meeting", "call": "Call",
               "event": "Event", "direct_mail": "Direct mail", "webinar": "Webinar",
               "content_download": "Content download"}  # fmt: skip


CHANNEL_LABELS = {"linkedin_audience": "LinkedIn audience",
                  "google_audience": "Google Ads audience", "meta_audience": "Meta audience",
                  "email": "E-mail",
                  "sequence": "Outreach sequence", "task": "BDR task", "owner_alert": "Owner alert",
                  "slack": "Slack alert", "webhook": "Webhook", "crm_update": "CRM update",
                  "direct_mail": "Direct mail"}  # fmt: skip


def channel(key: str) -> str:
    return CHANNEL_LABELS.get(key, label(key))


def label(key: str) -> str:
    text = str(key).replace("_", " ")
    return text[:1].upper() + text[1:]


# -- an account ----------------------------------------------------------------------------------
def reasons_by_score(reasons: list[dict]) -> list[tuple[str, list[dict]]]:
    """The score reasons grouped per score, in reading order (priority first)."""
    groups: dict[str, list[dict]] = {}
    for r in reasons:
        groups.setdefault(str(r["score"]), []).append(r)
    order = [s for s in SCORE_ORDER if s in groups] + sorted(set(groups) - set(SCORE_ORDER))
    return [(SCORE_TITLES.get(s, label(s)), groups[s]) for s in order]


STATES = {"engaged": "Engaged", "silent": "Known, silent", "missing": "Gap"}


def committee_seats(committee: list[dict], people: list[dict]) -> dict[str, Any]:
    """The committee map (`scoped.AccountPage.committee`: each required persona engaged,
    silent or missing) with the people known in each seat, the people in no required seat,
    and the missing personas by name."""
    by_persona: dict[str, list[dict]] = {}
    for c in people:
        by_persona.setdefault(str(c.get("persona") or "none"), []).append(c)
    seats = [seat | {"label": label(seat["persona"]), "state": STATES[seat["status"]],
                     "people": by_persona.get(seat["persona"], [])}
             for seat in committee]  # fmt: skip
    required = {seat["persona"] for seat in committee}
    others = [c for p, cs in by_persona.items() if p not in required for c in cs]
    gaps = [seat["label"] for seat in seats if seat["status"] == "missing"]
    return {"seats": seats, "others": others, "gaps": gaps}


def timeline(events: list[dict], actions: list[Action], limit: int = 40) -> list[dict]:
    """What happened to the account, newest first: its warehouse events
    (`score.views.account_events`: touches, stage and tier changes, opportunities) in words,
    and the agent's decisions, one entry per pass and play."""
    shown = [_touch(e) if e["kind"] == "touch" else _event(e) for e in events]
    shown += _decisions(actions)
    shown.sort(key=lambda e: _moment(e["at"]), reverse=True)
    return shown[:limit]


def _decisions(actions: list[Action]) -> list[dict]:
    """One event per agent pass and play: how many actions it decided and where they stand."""
    passes: dict[tuple[Any, str], list[Action]] = {}
    for a in actions:
        passes.setdefault((a.created_at, a.play), []).append(a)
    events = []
    for (at, play), done in passes.items():
        counts = Counter(STATUS_LABELS.get(a.status, a.status).lower() for a in done)
        channels = sorted({channel(a.channel) for a in done})
        events.append({"at": at, "kind": "agent",
                       "title": f"Agent decided {len(done)} action{'s' * (len(done) != 1)} "
                       f"(play {play})", "detail": f"{', '.join(channels)}: " +
                       ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))})  # fmt: skip
    return events


def _event(e: dict) -> dict:
    summary = str(e["summary"])
    return {"at": e["at"], "kind": e["kind"], "title": summary[:1].upper() + summary[1:],
            "detail": ""}  # fmt: skip


def _touch(e: dict) -> dict:
    t = e["detail"]
    where = urlsplit(t.get("url") or "").path if t.get("url") else ""
    who = t.get("email") or "someone not yet known"
    detail = " · ".join(x for x in (label(t.get("channel") or ""), where, who) if x)
    return {"at": e["at"], "kind": "touch", "detail": detail,
            "title": KIND_LABELS.get(t["kind"], label(t["kind"]))}  # fmt: skip


def _moment(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    return dt.datetime.fromisoformat(str(value)).replace(tzinfo=None)


# -- an action -----------------------------------------------------------------------------------
def action_card(a: Action, names: dict[str, str]) -> dict[str, Any]:
    """An action as the inbox shows it: what, for whom, when, why, and the exact payload."""
    d = a.decision or {}
    payload = dict(a.payload or {})
    return {
        "id": a.id, "status": a.status, "status_label": STATUS_LABELS.get(a.status, a.status),
        "play": a.play, "step": a.step, "channel": a.channel, "channel_label": channel(a.channel),
        "account_id": a.account_id, "account": names.get(a.account_id, a.account_id),
        "contact": a.contact_id, "tier": a.tier, "leaves": a.not_before, "created": a.created_at,
        "cost": f"${a.cost:,.2f}",
        "value": format_kind("dollars", d.get("expected_value")),
        "reasons": d.get("reasons", []), "signal": d.get("signal", {}),
        "flags": [v for v in d.get("verdicts", []) if v.get("outcome") != "pass"],
        "rechecks": d.get("recheck", []), "edits": d.get("edits", []),
        "payload": payload, "email": a.channel == "email",
        "editable": editable_fields(a), "waiting": a.status == "pending_approval",
        "reviewed_by": a.reviewed_by, "reviewed_at": a.reviewed_at, "note": a.review_note,
        "error": a.last_error,
    }  # fmt: skip


def editable_fields(a: Action) -> list[dict[str, Any]]:
    """The payload fields a reviewer may change for this channel, as form fields: text as it
    is, anything else as JSON."""
    payload = a.payload or {}
    fields = []
    for name in EDITABLE.get(a.channel, ()):
        value = payload.get(name)
        plain = isinstance(value, str) or value is None
        text = (value or "") if plain else json.dumps(value, indent=2, ensure_ascii=False)
        fields.append({"name": name, "label": label(name), "value": text, "json": not plain,
                       "long": not plain or name in ("text", "body")})  # fmt: skip
    return fields


def parse_edit(a: Action, sent: dict[str, str]) -> dict[str, Any]:
    """The changed payload fields from an edit form (JSON fields parsed); an error names the
    field that does not parse, and an edit that changes nothing is refused."""
    changes: dict[str, Any] = {}
    for f in editable_fields(a):
        if f["name"] not in sent:
            continue
        text = sent[f["name"]].replace("\r\n", "\n")
        if f["json"]:
            try:
                value: Any = json.loads(text)
            except json.JSONDecodeError as exc:
                raise AbmError(
                    f"{f['name']}: not valid JSON ({exc.msg}, line {exc.lineno})"
                ) from None
        else:
            value = text
        if value != (a.payload or {}).get(f["name"], "" if not f["json"] else None):
            changes[f["name"]] = value
    if not changes:
        raise AbmError("nothing changed: edit a field before saving")
    return changes


# -- plays, guardrails, settings -----------------------------------------------------------------
TRIGGERS = {
    "intent_surge": "third-party intent surges on at least {min_topics} relevant topic(s)",
    "key_page_visit": "someone visits a key page{pages}",
    "engagement_spike": "this week's engagement is {min_spike_pct:.0f}% above the weeks before",
    "stalled_opportunity": "an open opportunity has gone {stalled_days} days without a touch",
    "new_committee_member": "a new buying-committee member appears",
    "customer_expansion": "a customer shows new intent on at least {min_topics} topic(s)",
}


def play_card(play: Play, source: str, done: dict[str, int]) -> dict[str, Any]:
    t = play.trigger
    pages = f" ({', '.join(t.pages)})" if t.pages else ""
    when = TRIGGERS[t.signal].format(
        min_topics=t.min_topics, pages=pages, min_spike_pct=t.min_spike_pct,
        stalled_days=t.stalled_days)  # fmt: skip
    a = play.audience
    who = ", ".join(f"Tier {n}" for n in a.tiers) + (" customers" if a.customers else "")
    if a.stages:
        who += f" in {', '.join(a.stages)}"
    return {"play": play, "source": source, "when": f"When {when}, within {t.within_hours:g} h",
            "audience": who, "personas": [label(p) for p in a.personas],
            "steps": [{"channel": channel(s.channel), "after": s.after,
                       "tiers": ", ".join(f"Tier {n}" for n in s.tiers) or "every tier",
                       "template": s.template or "", "sla": s.sla_hours} for s in play.steps],
            "done": [(STATUS_LABELS.get(s, s), n) for s, n in sorted(done.items())]}  # fmt: skip


def guardrail_rows(settings: Settings, shown: dict[str, Any]) -> list[dict[str, str]]:
    """The guardrails as (name, value, what it means) rows."""
    return _rows(type(settings.guardrails), shown["guardrails"], "")


def settings_sections(settings: BaseModel, shown: dict[str, Any]) -> list[dict[str, Any]]:
    """One read-only table per top-level settings section: the values as
    `config.redact.shown_settings` gives them (no secret), the help from the settings model."""
    out = []
    for name, field in type(settings).model_fields.items():
        if name not in shown:
            continue
        model = _model_of(field.annotation)
        rows = (_rows(model, shown[name], "") if model and isinstance(shown[name], dict)
                else [{"name": name, "value": text(shown[name]), "help": ""}])  # fmt: skip
        out.append({"key": name, "title": label(name), "help": field.description or "",
                    "rows": rows})  # fmt: skip
    return out


def _model_of(annotation: Any) -> type[BaseModel] | None:
    return (
        annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    )


def _rows(model: type[BaseModel], values: dict[str, Any], prefix: str) -> list[dict[str, str]]:
    rows = []
    for name, field in model.model_fields.items():
        if name not in values:  # a setting whose name says secret is never shown
            continue
        nested = _model_of(field.annotation)
        if nested and isinstance(values[name], dict):
            rows += _rows(nested, values[name], f"{prefix}{name}.")
        else:
            rows.append({"name": prefix + name, "value": text(values[name]),
                         "help": field.description or ""})  # fmt: skip
    return rows


def text(value: Any) -> str:
    """A setting's value as text."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, default=str) if value else "—"
    return "—" if value is None or value == "" else str(value)
