"""A draft: the text of one message, task, alert, ad or landing-page variant, and where it came
from.

Each kind of content has its own fields: an e-mail a subject and a body, an ad a headline, an
intro text and a call to action, a landing-page variant a headline, a sub-headline, a call to
action and a proof point. Fields a kind does not have stay empty.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal, cast

from abmkit.errors import AbmError

Kind = Literal["email", "task", "owner_alert", "ad", "landing", "letter"]
Source = Literal["template", "llm"]

FIELDS: dict[str, tuple[str, ...]] = {
    "email": ("subject", "body"),
    "task": ("subject", "body"),
    "owner_alert": ("subject", "body"),
    "ad": ("headline", "intro", "cta"),
    "landing": ("headline", "subheadline", "cta", "proof"),
    "letter": ("body",),
}
"""The fields each kind has; every one of them is required."""

MULTILINE = frozenset({"body"})
"""Fields that keep their line breaks; the others are one line."""

KIND_BY_CHANNEL: dict[str, Kind] = {
    "email": "email",
    "sequence": "email",
    "task": "task",
    "owner_alert": "owner_alert",
    "linkedin_audience": "ad",
    "google_audience": "ad",
    "meta_audience": "ad",
    "direct_mail": "letter",
}


class ContentError(AbmError):
    """A template is missing, invalid, or was not given a fact it needs."""


def kind_for_channel(channel: str) -> Kind:
    """The kind of content a play step on `channel` carries."""
    try:
        return KIND_BY_CHANNEL[channel]
    except KeyError:
        raise ContentError(
            f"channel {channel!r} carries no content; content is written for "
            f"{', '.join(KIND_BY_CHANNEL)}"
        ) from None


def check_kind(kind: str) -> Kind:
    """`kind` itself, when it is a kind of content."""
    if kind not in FIELDS:
        raise ContentError(f"unknown content kind {kind!r}; one of {', '.join(FIELDS)}")
    return cast(Kind, kind)


@dataclass(frozen=True)
class Draft:
    """One piece of content. `source` says whether the LLM wrote it or the template did;
    `problems` says why an LLM output was not used (empty when it was, or when no LLM was
    asked)."""

    kind: Kind
    template: str
    source: Source = "template"
    subject: str = ""
    body: str = ""
    headline: str = ""
    subheadline: str = ""
    intro: str = ""
    cta: str = ""
    proof: str = ""
    problems: tuple[str, ...] = ()

    @classmethod
    def of(cls, kind: Kind, template: str, texts: Mapping[str, str],
           source: Source = "template") -> Draft:  # fmt: skip
        """A draft of `kind` with its fields from `texts` (name → text)."""
        unknown = set(texts) - set(FIELDS[kind])
        if unknown:
            raise ContentError(f"{kind} has no field(s) {sorted(unknown)}")
        changes: dict[str, Any] = dict(texts)
        return replace(cls(kind=kind, template=template, source=source), **changes)

    def texts(self) -> dict[str, str]:
        """The kind's fields, name → text."""
        return {name: getattr(self, name) for name in FIELDS[self.kind]}

    @property
    def fell_back(self) -> bool:
        """An LLM was asked and its output was not used."""
        return self.source == "template" and bool(self.problems)
