"""Personalization: the variant of each page slot (headline, sub-headline, call to action, proof
point) a visitor's account sees, chosen by ordered rules over tier, cluster, persona, buying
stage and industry, with a default per slot.

For each slot, the first rule that applies to the account and the visitor's persona, that fills
the slot, and whose variant renders and keeps the brand rules wins; a rule that fails to render
or breaks a brand rule is passed over for the next one (and counted), so a page never shows a
broken or off-brand text. No rule: the slot's default, or nothing (the page keeps its own text).
Variants come from the landing templates of `abmkit.content` (or the workspace's own) or from
inline text rendered in Jinja2's sandbox. Choices are cached per account and persona until the
account's card or the settings change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from abmkit.config.realtime import SLOTS, TEXT_ENVIRONMENT, Conditions, PersonalizationSettings
from abmkit.config.realtime import SlotRule as Rule
from abmkit.content import brand, templates
from abmkit.content.draft import ContentError, Draft
from abmkit.content.settings import ContentSettings
from abmkit.content.templates import tidy
from abmkit.resolve.visitors import AccountCard

CACHE_SIZE = 50_000
"""Choices kept in memory (account × persona); past it the cache starts afresh."""


@dataclass(frozen=True)
class Variant:
    """What one slot shows, and which rule chose it (None: the slot's default)."""

    text: str
    rule: str | None = None


def applies(when: Conditions, card: AccountCard, persona: str | None) -> bool:
    """Every condition given holds for the account (and the visitor's persona)."""
    checks: list[tuple[list[Any], Any]] = [
        (when.tier, card.tier), (when.cluster, card.cluster), (when.persona, persona),
        (when.stage, card.buying_stage),
    ]  # fmt: skip
    if any(wanted and value not in wanted for wanted, value in checks):
        return False
    industries = {i.lower() for i in when.industry}
    return not industries or card.industry.lower() in industries


def facts(card: AccountCard, persona: str | None) -> dict[str, Any]:
    """What a variant may say: the account's fields (topics without their scores) and the
    visitor's persona."""
    account = {"name": card.name or card.domain, "domain": card.domain, "tier": card.tier,
               "industry": card.industry, "buying_stage": card.buying_stage,
               "journey_stage": card.journey_stage, "cluster_label": card.cluster_label,
               "top_topics": re.sub(r"\s*\(\d+\)", "", card.top_topics)}  # fmt: skip
    return {"account": account, "persona": persona}


@dataclass
class Personalizer:
    """The rules of one settings version, with the choices made so far."""

    settings: PersonalizationSettings
    content: ContentSettings
    workspace: Path | None = None
    passed_over: dict[str, int] = field(default_factory=dict)
    """Per rule, how often it applied but did not render within the brand rules."""
    _cache: dict[tuple[str, str | None], dict[str, Variant]] = field(default_factory=dict)

    def choose(self, card: AccountCard | None, persona: str | None = None) -> dict[str, Variant]:
        """The variant of every slot that has one, for a visitor of `card`'s account (None:
        an unknown visitor, who sees the defaults)."""
        if card is None:
            return self.defaults()
        key = (card.account_id, persona)
        found = self._cache.get(key)
        if found is None:
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            found = self._cache[key] = self._chosen(card, persona)
        return found

    def forget(self, account_ids: Iterable[str]) -> None:
        """Drop the cached choices of accounts whose cards changed."""
        gone = set(account_ids)
        for key in list(self._cache):  # a snapshot: the server's requests add choices meanwhile
            if key[0] in gone:
                self._cache.pop(key, None)

    def warm(self) -> None:
        """Compile every rule's template and text now, so that the first visitor after a start
        or a settings change does not wait for it (a rule that does not compile is passed
        over when it is used)."""
        sample = facts(AccountCard("warm-up", name="Example", tier=1), None)
        for rule in self.settings.rules:
            self._render(rule, sample)  # compiles the template with its bases and macros

    def defaults(self) -> dict[str, Variant]:
        return {slot: Variant(text) for slot, text in self.settings.defaults.items() if text}

    def _chosen(self, card: AccountCard, persona: str | None) -> dict[str, Variant]:
        out = self.defaults()
        open_slots = set(SLOTS)
        for rule in self.settings.rules:
            wanted = [s for s in rule.fills() if s in open_slots]
            if not wanted or not applies(rule.when, card, persona):
                continue
            texts = self._render(rule, facts(card, persona))
            if texts is None:
                self.passed_over[rule.name] = self.passed_over.get(rule.name, 0) + 1
                continue
            for slot in (s for s in wanted if s in texts):
                out[slot] = Variant(texts[slot], rule.name)
                open_slots.discard(slot)
            if not open_slots:
                break
        return out

    def _render(self, rule: Rule, given: dict[str, Any]) -> dict[str, str] | None:
        """The rule's variant per slot, or None when it cannot be rendered or breaks a brand
        rule."""
        try:
            draft = self._draft(rule, given)
        except (ContentError, jinja2.TemplateError):
            return None
        if brand.check(draft, templates.context(given, self.content), self.content.brand):
            return None
        return {s: v for s, v in draft.texts().items() if v}

    def _draft(self, rule: Rule, given: dict[str, Any]) -> Draft:
        if rule.template:
            return templates.render("landing", rule.template, given, self.content,
                                    workspace=self.workspace)  # fmt: skip
        context = templates.context(given, self.content)
        texts: dict[str, str] = {slot: tidy(_compiled(source).render(context), multiline=False)
                                 for slot, source in rule.text.items()}  # fmt: skip
        return Draft.of("landing", rule.name, texts)


_COMPILED: dict[str, jinja2.Template] = {}


def _compiled(source: str) -> jinja2.Template:
    """An inline variant compiled once in the sandbox."""
    if source not in _COMPILED:
        _COMPILED[source] = TEXT_ENVIRONMENT.from_string(source)
    return _COMPILED[source]
