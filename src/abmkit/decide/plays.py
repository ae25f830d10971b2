"""Plays: a trigger (a signal condition), an audience (accounts and which buying-committee
personas), and steps across channels with delays, varying by tier.

Plays are YAML files, one play each. A small library ships with abmkit (`decide/library/`);
a workspace adds its own in `plays/`, and one of the same name replaces the built-in (copy one
with `abm plays copy NAME`, then edit it). Every file is validated on load: an unknown key, a
wrong value or a step for a tier the audience leaves out is an error naming the file and the
field.
"""

from __future__ import annotations

import datetime as dt
import re
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from abmkit.config.base import Section
from abmkit.errors import ConfigError, NotFoundError

if TYPE_CHECKING:
    from abmkit.app import Abm

LIBRARY = "library"  # the built-in plays, in this package
PLAYS_DIR = "plays"  # a workspace's own plays
BUYING_STAGES = ("Target", "Awareness", "Consideration", "Decision", "Purchase")
Signal = Literal["intent_surge", "key_page_visit", "engagement_spike", "stalled_opportunity",
                 "new_committee_member", "customer_expansion"]  # fmt: skip
Channel = Literal["linkedin_audience", "google_audience", "meta_audience", "email", "sequence",
                  "task", "owner_alert", "slack", "webhook", "crm_update",
                  "direct_mail"]  # fmt: skip
DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhd])\s*$")
UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def delay(text: str) -> dt.timedelta:
    """`30m`, `4h`, `2d` as a time span."""
    found = DELAY.match(text)
    if not found:
        raise ValueError(f"{text!r} is not a delay like 30m, 4h or 2d")
    return dt.timedelta(**{UNITS[found[2]]: float(found[1])})


class Trigger(Section):
    """The signal that starts the play for an account."""

    signal: Signal = Field(
        description="intent_surge, key_page_visit, engagement_spike, "
        "stalled_opportunity, new_committee_member or customer_expansion."
    )
    min_topics: int = Field(
        1, ge=1, description="intent_surge, customer_expansion: relevant topics surging at least."
    )
    pages: list[str] = Field(
        default_factory=list,
        description="key_page_visit: URL path "
        "prefixes (empty: the key pages of intent.page_weights).",
    )
    min_spike_pct: float = Field(
        50.0,
        gt=0,
        description="engagement_spike: this week's engagement above the weeks before, in percent.",
    )
    stalled_days: int = Field(
        30,
        ge=1,
        description="stalled_opportunity: days an open opportunity has gone without a touch.",
    )
    within_hours: float = Field(24.0, gt=0, description="How recent the signal must be.")


class Audience(Section):
    """Which accounts the play runs for, and whom in their buying committee it reaches."""

    tiers: list[int] = Field(default_factory=lambda: [1, 2, 3], description="Tiers (1–3).")
    stages: list[str] = Field(default_factory=list, description="Buying stages (empty: any).")
    clusters: list[int] = Field(default_factory=list, description="Tier 2 clusters (empty: any).")
    customers: bool = Field(
        False, description="Run for customers (expansion) instead of prospects."
    )
    personas: list[str] = Field(
        default_factory=list,
        description="Committee personas the people-level steps reach (empty: the account only).",
    )

    @field_validator("tiers")
    @classmethod
    def _tiers(cls, tiers: list[int]) -> list[int]:
        if not tiers or any(t not in (1, 2, 3) for t in tiers):
            raise ValueError(f"tiers must be some of 1, 2, 3, got {tiers}")
        return tiers

    @field_validator("stages")
    @classmethod
    def _stages(cls, stages: list[str]) -> list[str]:
        unknown = [s for s in stages if s not in BUYING_STAGES]
        if unknown:
            raise ValueError(f"unknown buying stage(s) {unknown}; one of {list(BUYING_STAGES)}")
        return stages


class Step(Section):
    """One action of the play, on one channel, some time after the trigger."""

    channel: Channel = Field(description="Where the action goes.")
    after: str = Field("0h", description="Delay after the trigger: 30m, 4h, 2d.")
    tiers: list[int] = Field(
        default_factory=list,
        description="Only for these tiers (empty: every tier of the audience).",
    )
    template: str | None = Field(None, description="Content template for the message or ad.")
    sla_hours: float | None = Field(
        None, gt=0, description="task, owner_alert: hours the owner has to act."
    )

    @field_validator("after")
    @classmethod
    def _after(cls, after: str) -> str:
        delay(after)
        return after.strip()


class Play(Section):
    """A coordinated multi-channel play."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$", description="Short name (a-z, 0-9, -).")
    description: str = Field(description="What the play is for, in a sentence.")
    trigger: Trigger
    audience: Audience = Field(default_factory=Audience)
    steps: list[Step] = Field(min_length=1)
    approval_first_run: bool = Field(True, description="Its first actions wait for approval.")
    enabled: bool = Field(True, description="Off: loaded and validated, never run.")

    @model_validator(mode="after")
    def _steps_fit_the_audience(self) -> Play:
        for n, step in enumerate(self.steps):
            outside = [t for t in step.tiers if t not in self.audience.tiers]
            if outside:
                raise ValueError(f"steps.{n}.tiers: tier(s) {outside} are not in the "
                                 f"audience's tiers {self.audience.tiers}")  # fmt: skip
        return self


def load_play(path: Path, text: str | None = None) -> Play:
    """One play file, validated; errors name the file and the field."""
    try:
        data = yaml.safe_load(text if text is not None else path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a play file holds one play, as a mapping")
    try:
        return Play.model_validate(data)
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'play'}: "
                            + e["msg"].removeprefix("Value error, ")
                            for e in exc.errors())  # fmt: skip
        raise ConfigError(f"{path}: invalid play: {details}") from None


def library() -> dict[str, Play]:
    """The built-in plays, by name."""
    folder = resources.files("abmkit.decide") / LIBRARY
    plays = [load_play(Path(f"{LIBRARY}/{f.name}"), f.read_text(encoding="utf-8"))
             for f in sorted(folder.iterdir(), key=lambda f: f.name)
             if f.name.endswith(".yaml")]  # fmt: skip
    return {p.name: p for p in plays}


def load_plays(workspace: Path, personas: list[str]) -> dict[str, tuple[Play, str]]:
    """Every play of a workspace by name, with where it comes from ("built-in" or its file):
    the library, then the workspace's own files (a name that repeats replaces the built-in;
    twice in the workspace is an error). `personas`: the workspace's persona names, which the
    audiences must use."""
    plays = {name: (play, "built-in") for name, play in library().items()}
    seen: dict[str, Path] = {}
    for path in sorted((workspace / PLAYS_DIR).glob("*.y*ml")):
        play = load_play(path)
        if play.name in seen:
            raise ConfigError(f"{path}: play {play.name!r} is also in {seen[play.name]}")
        seen[play.name] = path
        plays[play.name] = (play, str(path))
    for play, source in plays.values():
        unknown = [p for p in play.audience.personas if p not in personas]
        if unknown:
            raise ConfigError(f"{source} (play {play.name!r}): audience.personas: unknown "
                              f"persona(s) {unknown}; the workspace's: {personas}")  # fmt: skip
    return plays


def copy_play(workspace: Path, name: str) -> Path:
    """Copy a built-in play into the workspace's `plays/` to edit it there."""
    folder = resources.files("abmkit.decide") / LIBRARY
    source = folder / f"{name}.yaml"
    if not source.is_file():
        raise ConfigError(f"no built-in play {name!r}; built-in: {', '.join(library())}")
    target = workspace / PLAYS_DIR / f"{name}.yaml"
    if target.exists():
        raise ConfigError(f"{target} exists already; edit it there")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    return target


def play_named(abm: Abm, name: str) -> tuple[Play, str]:
    """One play of the workspace (built-in or its own), validated, with where it comes from."""
    found = abm.plays()
    if name not in found:
        raise NotFoundError(f"no play {name!r}; known: {', '.join(sorted(found)) or 'none'}")
    return found[name]
