"""Slack incoming-webhook messages: an owner alert as Slack renders it.

The body is the JSON an incoming webhook accepts: `text` (the notification's fallback) and
`blocks` (a header, the reason, one field per fact, and a link). Slack reads `&`, `<` and
`>` as markup, so every value is escaped first; a link is `<url|label>`.
"""

from __future__ import annotations

from collections.abc import Mapping

FIELDS_PER_SECTION = 10  # Slack's limit for the fields of one section block


def escape(value: object) -> str:
    """`&`, `<` and `>` as Slack's entities (the only characters its markup reads)."""
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def alert(title: str, reason: str, facts: Mapping[str, object], link: str | None = None,
          label: str = "Open the account") -> dict:  # fmt: skip
    """The body of an alert: `title` (e.g. "Acme: pricing page visit, Tier 1"), the `reason`
    in a sentence, `facts` as label → value, and an optional `link`."""
    fields = [{"type": "mrkdwn", "text": f"*{escape(k)}*\n{escape(v)}"}
              for k, v in facts.items() if v is not None and v != ""]  # fmt: skip
    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": escape(reason)}},
    ]
    for start in range(0, len(fields), FIELDS_PER_SECTION):
        blocks.append({"type": "section", "fields": fields[start : start + FIELDS_PER_SECTION]})
    if link:
        blocks.append({"type": "section", "text": {
            "type": "mrkdwn", "text": f"<{link}|{escape(label)}>"}})  # fmt: skip
    return {"text": f"{escape(title)}: {escape(reason)}", "blocks": blocks}
