"""Brand rules: what every output is checked against before it may leave.

`check` returns the rules a draft breaks, one sentence each: a banned phrase, a subject, body or
headline too long, a required line missing, or a number that is not among the facts. A number is
a run of digits with optional thousands separators, decimals and a percent sign (`1,000`,
`12.5`, `20%`), not glued to a letter (so `B2B` and `Q3` are words); `1,000` and `1000` are the
same number, and `20%` is the number 20.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from abmkit.content.draft import Draft
from abmkit.content.settings import BrandSettings

NUMBER = re.compile(r"(?<![^\W\d])(?<!\w\.)(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?%?")


def numbers(text: str) -> list[str]:
    """The numbers written in `text`, as written."""
    return [m.group(0) for m in NUMBER.finditer(text)]


def value(number: str) -> Decimal:
    return Decimal(number.rstrip("%").replace(",", ""))


def fact_numbers(facts: Any) -> set[Decimal]:
    """Every number among the facts: numeric values, and numbers written inside text values, at
    any depth of mappings and lists."""
    found: set[Decimal] = set()
    for scalar in _scalars(facts):
        if isinstance(scalar, bool):
            continue
        if isinstance(scalar, int | float | Decimal):
            try:
                found.add(Decimal(str(scalar)))
            except InvalidOperation:  # nan, inf
                continue
        found.update(value(n) for n in numbers(str(scalar)))
    return found


def _scalars(facts: Any) -> Iterator[Any]:
    if isinstance(facts, Mapping):
        for item in facts.values():
            yield from _scalars(item)
    elif isinstance(facts, list | tuple | set | frozenset):
        for item in facts:
            yield from _scalars(item)
    elif facts is not None:
        yield facts


def check(draft: Draft, facts: Mapping[str, Any], brand: BrandSettings) -> list[str]:
    """The brand rules `draft` breaks, given the `facts` it was written from (empty: none)."""
    texts = draft.texts()
    problems = [p for name, text in texts.items() for p in _phrases(name, text, brand)]
    problems += _lengths(draft, brand)
    if draft.kind == "email":
        problems += _required_lines(draft.body, brand)
    if brand.no_invented_numbers:
        known = fact_numbers(facts)
        problems += [
            f"number {n} in {name} is not among the facts"
            for name, text in texts.items()
            for n in numbers(text)
            if value(n) not in known
        ]
    return problems


def _phrases(name: str, text: str, brand: BrandSettings) -> Iterator[str]:
    for phrase in brand.banned_phrases:
        if re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text, re.IGNORECASE):
            yield f"banned phrase {phrase!r} in {name}"


def _lengths(draft: Draft, brand: BrandSettings) -> list[str]:
    problems = []
    if draft.kind == "email" and len(draft.subject) > brand.max_subject_chars:
        problems.append(
            f"subject has {len(draft.subject)} characters, more than {brand.max_subject_chars}"
        )
    words = len(draft.body.split())
    if draft.kind in {"email", "letter"} and words > brand.max_body_words:
        problems.append(f"body has {words} words, more than {brand.max_body_words}")
    if draft.kind == "ad" and len(draft.headline) > brand.max_headline_chars:
        problems.append(
            f"headline has {len(draft.headline)} characters, more than {brand.max_headline_chars}"
        )
    return problems


def _required_lines(body: str, brand: BrandSettings) -> list[str]:
    flat = " ".join(body.split())
    return [
        f"body lacks the required line {line!r}"
        for line in brand.required_lines
        if " ".join(line.split()) not in flat
    ]
