"""Content from an OpenAI-compatible LLM, kept only when it keeps the brand rules.

`write` renders the template draft first; with the LLM enabled it sends that draft, the facts and
the brand rules as one chat-completions request (`POST {base_url}/chat/completions`, the OpenAI
wire format, `Authorization: Bearer <ABM_SECRET_LLM_API_KEY>` when that is set) and asks for a
JSON object with the kind's fields. The reply replaces the template draft only when it arrives in
time, parses, has every field and breaks no brand rule; otherwise the template draft is returned
with the reasons in `problems`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from abmkit.content.brand import check
from abmkit.content.draft import FIELDS, MULTILINE, Draft, Kind
from abmkit.content.settings import BrandSettings, ContentSettings
from abmkit.content.templates import context, render, tidy

API_KEY = "LLM_API_KEY"
"""The secret's name: the key is read from `ABM_SECRET_LLM_API_KEY`."""

FENCE = re.compile(r"^```[a-zA-Z]*\s*\n?(.*?)\n?```\s*$", re.DOTALL)


class ReplyError(ValueError):
    """The LLM's reply is not a usable draft."""


def write(kind: Kind, template: str, facts: Mapping[str, Any], settings: ContentSettings,
          workspace: Path | None = None, client: httpx.Client | None = None) -> Draft:  # fmt: skip
    """The content for `facts`: the LLM's rewrite of the template draft when the LLM is enabled
    and its output keeps the brand rules, else the template draft (with `problems` saying why
    the LLM's was not used). `client` lets a caller reuse connections; the timeout is
    `settings.llm.timeout_s` either way."""
    draft = render(kind, template, facts, settings, workspace=workspace)
    if not settings.llm.enabled:
        return draft
    known = {**context(facts, settings), "template_draft": draft.texts()}
    try:
        reply = _complete(request(draft, known, settings), settings, client)
        candidate = parse_reply(reply, draft)
    except (httpx.HTTPError, ReplyError) as exc:
        return _fall_back(draft, [_describe(exc, settings)])
    problems = check(candidate, known, settings.brand)
    return _fall_back(draft, problems) if problems else candidate


def _fall_back(draft: Draft, problems: list[str]) -> Draft:
    return replace(draft, problems=tuple(problems))


def _describe(exc: Exception, settings: ContentSettings) -> str:
    if isinstance(exc, httpx.TimeoutException):
        return f"LLM: no reply within {settings.llm.timeout_s:g} s"
    if isinstance(exc, httpx.HTTPStatusError):
        return f"LLM: HTTP {exc.response.status_code} from {exc.request.url}"
    if isinstance(exc, httpx.HTTPError):
        return f"LLM: request failed: {exc}"
    return f"LLM: unusable reply: {exc}"


def _complete(body: dict[str, Any], settings: ContentSettings,
              client: httpx.Client | None) -> str:  # fmt: skip
    url = settings.llm.base_url.rstrip("/") + "/chat/completions"
    if client is None:
        with httpx.Client() as own:
            return _post(own, url, body, settings)
    return _post(client, url, body, settings)


def _post(client: httpx.Client, url: str, body: dict[str, Any], settings: ContentSettings) -> str:
    response = client.post(url, json=body, headers=_headers(), timeout=settings.llm.timeout_s)
    response.raise_for_status()
    try:
        return str(response.json()["choices"][0]["message"]["content"])
    except (ValueError, LookupError, TypeError) as exc:
        raise ReplyError(f"not a chat-completions response ({exc!r})") from None


def _headers() -> dict[str, str]:
    # imported here: the workspace module imports the settings tree, which imports this package
    from abmkit.config.workspace import secret

    key = secret(API_KEY)
    return {"Authorization": f"Bearer {key}"} if key else {}


def request(draft: Draft, facts: Mapping[str, Any], settings: ContentSettings) -> dict[str, Any]:
    """The chat-completions request body for rewriting `draft` from `facts`."""
    llm = settings.llm
    user = {"facts": facts, "draft": draft.texts()}
    return {
        "model": llm.model,
        "messages": [
            {"role": "system", "content": instructions(draft.kind, settings.brand)},
            {"role": "user", "content": json.dumps(user, ensure_ascii=False, default=str)},
        ],
        "max_tokens": llm.max_tokens,
        "temperature": llm.temperature,
    }


def instructions(kind: Kind, brand: BrandSettings) -> str:
    """The system message: the task, the reply format and the brand rules."""
    fields = ", ".join(FIELDS[kind])
    lines = [
        f"You write B2B marketing copy: one {kind.replace('_', ' ')}. You get the facts about the "
        "account and the person, and a draft written from them. Improve the draft for this "
        "reader; use only the facts given.",
        f"Reply with one JSON object with exactly these string fields: {fields}. No other text.",
        "Brand rules:",
    ]
    lines += _rules(kind, brand)
    return "\n".join(lines)


def _rules(kind: Kind, brand: BrandSettings) -> list[str]:
    rules = []
    if brand.banned_phrases:
        rules.append("- Never use these words or phrases: " + "; ".join(brand.banned_phrases))
    if kind == "email":
        rules.append(f"- The subject has at most {brand.max_subject_chars} characters.")
        rules += [f"- The body contains this line word for word: {line}"
                  for line in brand.required_lines]  # fmt: skip
    if kind in {"email", "letter"}:
        rules.append(f"- The body has at most {brand.max_body_words} words.")
    if kind == "ad":
        rules.append(f"- The headline has at most {brand.max_headline_chars} characters.")
    if brand.no_invented_numbers:
        rules.append("- Write no number that does not appear in the facts or the draft.")
    return rules


def parse_reply(reply: str, draft: Draft) -> Draft:
    """The draft in the LLM's `reply`: a JSON object, perhaps in a code fence or with words
    around it, with every field of the draft's kind as a non-empty string."""
    data = _json_object(reply.strip())
    values = {}
    for name in FIELDS[draft.kind]:
        raw = data.get(name)
        if not isinstance(raw, str) or not raw.strip():
            raise ReplyError(f"no {name!r} text in the reply")
        values[name] = tidy(raw, multiline=name in MULTILINE)
    return Draft.of(draft.kind, draft.template, values, source="llm")


def _json_object(text: str) -> dict[str, Any]:
    fenced = FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ReplyError("no JSON object in the reply")
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise ReplyError(f"the JSON does not parse ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ReplyError("the JSON is not an object")
    return data
