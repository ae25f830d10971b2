"""Settings of the real-time path: how the beacon's events are queued and processed, which
variant of each page slot a visitor sees (personalization), and whom a hand-off goes to
(routing). The server re-reads the personalization and routing sections when `abmkit.yaml`
changes, without a restart."""

from __future__ import annotations

from typing import Literal

import jinja2
from jinja2.sandbox import SandboxedEnvironment
from pydantic import Field, field_validator, model_validator

from abmkit.config.base import Section

SLOTS = ("headline", "subheadline", "cta", "proof")
"""The page slots a website marks with `data-abm-slot` (the fields of a landing variant)."""
Slot = Literal["headline", "subheadline", "cta", "proof"]


class BeaconSettings(Section):
    """How page views and form events from the website become touches: queued durably when they
    arrive, then processed by the server's worker in small batches (resolved to an account,
    stored, the account re-scored and the plays' triggers checked)."""

    batch: int = Field(
        200, ge=1, le=10_000, description="Most events the worker processes together."
    )
    max_events_per_request: int = Field(
        50, ge=1, le=1000, description="Most events one POST /v1/events may carry."
    )
    idle_poll_s: float = Field(
        1.0, gt=0, le=60, description="Seconds between looks at the queue when no arriving "
        "event woke the worker (an event wakes it at once)."
    )  # fmt: skip
    keep_days: float = Field(
        30.0, ge=1, description="Days a processed event stays in the queue, so that the same "
        "event sent again is recognized and ignored; older ones are deleted."
    )  # fmt: skip
    store_unresolved: bool = Field(
        True, description="Keep page views that no account is found for, as touches without "
        "an account (loading IP ranges later and running `abm resolve` links them); false "
        "drops them."
    )  # fmt: skip
    known_contact_days: int = Field(
        180, ge=1, description="How long the known-contact token of an e-mail link identifies "
        "its person."
    )  # fmt: skip
    email_link: str = Field(
        "", description="Your website's address that e-mails link to, e.g. "
        "https://www.example.com/; each e-mail then ends with it, carrying the recipient's "
        "signed known-contact token (abm_ct=…), which the snippet keeps in a first-party "
        "cookie. Empty: e-mails carry no link."
    )  # fmt: skip
    settings_check_s: float = Field(
        2.0, gt=0, description="Seconds between checks of abmkit.yaml for changed "
        "personalization and routing settings."
    )  # fmt: skip

    @field_validator("email_link")
    @classmethod
    def _link(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) address")
        return value


class Conditions(Section):
    """When a rule applies: every condition given must hold (empty lists: any value)."""

    tier: list[int] = Field(default_factory=list, description="Tiers (1–3).")
    cluster: list[int] = Field(default_factory=list, description="Tier 2 clusters.")
    persona: list[str] = Field(
        default_factory=list, description="Personas of the visitor (known from an e-mail link)."
    )
    stage: list[str] = Field(default_factory=list, description="Buying stages of the account.")
    industry: list[str] = Field(
        default_factory=list, description="Industries of the account (any case)."
    )


class SlotRule(Section):
    """One personalization rule: when it applies, and the variant it gives the slots it
    fills: a landing-page template's fields, or inline text (both Jinja2, with the account's
    fields)."""

    name: str = Field(..., min_length=1, description="How the rule is named in the docs and logs.")
    when: Conditions = Field(default_factory=Conditions, description="When the rule applies.")
    template: str = Field(
        "", description="A landing template (built-in or the workspace's, e.g. "
        "key_page_follow_up) whose headline, subheadline, cta and proof fill the slots."
    )  # fmt: skip
    text: dict[Slot, str] = Field(
        default_factory=dict, description="Inline variants per slot, Jinja2 over account "
        "(name, tier, industry, buying_stage, cluster_label, top_topics), persona and seller."
    )  # fmt: skip
    slots: list[Slot] = Field(
        default_factory=list, description="The slots this rule fills (empty: every slot its "
        "template or text gives)."
    )  # fmt: skip

    @model_validator(mode="after")
    def _one_source(self) -> SlotRule:
        if bool(self.template) == bool(self.text):
            raise ValueError(f"rule {self.name!r}: give either template or text")
        for slot, source in self.text.items():
            try:
                TEXT_ENVIRONMENT.parse(source)
            except jinja2.TemplateSyntaxError as exc:
                raise ValueError(f"rule {self.name!r}, text.{slot}: {exc.message}") from None
        return self

    def fills(self) -> tuple[str, ...]:
        given = SLOTS if self.template else tuple(s for s in SLOTS if s in self.text)
        return tuple(s for s in given if not self.slots or s in self.slots)


TEXT_ENVIRONMENT = SandboxedEnvironment(undefined=jinja2.StrictUndefined, autoescape=False)
"""Inline variants are rendered in Jinja2's sandbox: a rule can read the account's fields and
nothing else."""


def _default_rules() -> list[SlotRule]:
    """Target accounts see the landing variant of their buying stage; everyone else the
    defaults."""
    targets = [1, 2, 3]
    return [
        SlotRule(name="deciding", when=Conditions(tier=targets, stage=["Decision", "Purchase"]),
                 template="key_page_follow_up"),
        SlotRule(name="considering", when=Conditions(tier=targets, stage=["Consideration"]),
                 template="surge_follow_up"),
        SlotRule(name="target", when=Conditions(tier=targets), template="surge_intro"),
    ]  # fmt: skip


class PersonalizationSettings(Section):
    """What `GET /v1/personalize` answers: for each slot, the variant of the first rule (in
    order) that applies to the visitor's account and fills that slot and renders within the
    brand rules; else the slot's default."""

    defaults: dict[Slot, str] = Field(
        default_factory=dict, description="The variant per slot when no rule applies "
        "(unknown visitors too); a slot without one keeps the page's own text."
    )  # fmt: skip
    rules: list[SlotRule] = Field(
        default_factory=_default_rules, description="Rules in order; the first that applies "
        "to a slot fills it."
    )  # fmt: skip


class RoutingSettings(Section):
    """What `POST /v1/route` answers for a chat or form hand-off: the account's owner (or the
    fallback), its tier, the time within which someone should answer, and a first line."""

    fallback_owner: str = Field(
        "sales-team", min_length=1, description="Who gets hand-offs of unknown accounts and of "
        "accounts without an owner (a queue, a group, a channel)."
    )  # fmt: skip
    sla_hours: dict[int, float] = Field(
        default_factory=lambda: {1: 1.0, 2: 4.0, 3: 24.0},
        description="Hours within which a hand-off of each tier should be answered.",
    )
    untiered_sla_hours: float = Field(
        48.0, gt=0, description="Hours for accounts in no tier and unknown visitors."
    )
    lookback_days: int = Field(
        14, ge=1, le=365, description="Days of the account's activity the first line reads "
        "(key pages visited)."
    )  # fmt: skip

    @field_validator("sla_hours")
    @classmethod
    def _tiers(cls, value: dict[int, float]) -> dict[int, float]:
        wrong = [t for t, h in value.items() if t not in (1, 2, 3) or h <= 0]
        if wrong:
            raise ValueError(f"tiers are 1–3 with hours above 0; wrong: {wrong}")
        return value
