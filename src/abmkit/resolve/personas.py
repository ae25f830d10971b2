"""Buying-committee persona read from a job title: economic buyer, champion, technical
evaluator, end user, blocker, or none.

The personas are settings (`Settings.personas`; defaults in `config.settings._default_personas`).
Each says which title keywords, departments and seniority levels belong to it and which keywords
keep a title out. The first persona that matches wins, and the match names the rule that decided,
so a UI can explain why a contact is, say, a blocker.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from abmkit.config.settings import Persona, _default_personas
from abmkit.errors import ConfigError
from abmkit.resolve.roles import DEPARTMENT_RULES, department_of, normalize_title, seniority_of

SENIORITIES = ("c_level", "vp", "director", "manager", "individual")
DEPARTMENTS = tuple(name for name, _ in DEPARTMENT_RULES)
_DEFAULTS = tuple(_default_personas())


@dataclass(frozen=True)
class PersonaMatch:
    """The persona of a title, what was read from the title, and the rule that decided."""

    persona: str
    seniority: str | None
    department: str | None
    rule: str  # e.g. "title matches 'head of data'", "department security and seniority vp"


def persona_of(title: str | None, personas: Sequence[Persona] | None = None) -> PersonaMatch | None:
    """`"VP, Finance & Ops"` → economic_buyer (seniority vp); `"Executive Assistant"` → None.

    `personas` defaults to the built-in ones; pass `settings.personas` to use a workspace's.
    """
    if not title:
        return None
    text = normalize_title(title)
    seniority, department = seniority_of(title), department_of(title)
    for persona in _DEFAULTS if personas is None else personas:
        rule = _rule_matched(persona, text, seniority, department)
        if rule:
            return PersonaMatch(persona.name, seniority, department, rule)
    return None


def _rule_matched(
    persona: Persona, text: str, seniority: str | None, department: str | None
) -> str | None:
    """How `persona` takes this title, or None when it does not."""
    _check(persona)
    if any(_keyword(persona.name, k).search(text) for k in persona.exclude_keywords):
        return None
    keyword = next(
        (k for k in persona.title_keywords if _keyword(persona.name, k).search(text)), None
    )
    if keyword is not None:
        return f"title matches {keyword!r}"
    if not (persona.departments or persona.seniorities):
        return None
    if persona.departments and department not in persona.departments:
        return None
    if persona.seniorities and seniority not in persona.seniorities:
        return None
    parts = [f"department {department}"] if persona.departments else []
    parts += [f"seniority {seniority}"] if persona.seniorities else []
    return " and ".join(parts)


def _check(persona: Persona) -> None:
    """A department or seniority no title can have is a typo in the config, not a rule."""
    for field, known in (("departments", DEPARTMENTS), ("seniorities", SENIORITIES)):
        unknown = sorted(set(getattr(persona, field)) - set(known))
        if unknown:
            raise ConfigError(
                f"personas: {persona.name!r} {field} {unknown} are not known; use {list(known)}"
            )


@lru_cache(maxsize=4096)
def _keyword(persona: str, pattern: str) -> re.Pattern[str]:
    """A keyword matches whole words of the normalized title; it may be a regular expression."""
    try:
        return re.compile(rf"\b(?:{pattern})\b", re.IGNORECASE)
    except re.error as exc:
        raise ConfigError(
            f"personas: {persona!r} keyword {pattern!r} is not a valid regular expression: {exc}"
        ) from None
