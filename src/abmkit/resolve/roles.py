"""Seniority and department read from a job title, for buying-committee coverage.

Keyword rules, first match wins; titles that match nothing get None rather than a guess.
"""

from __future__ import annotations

import re
from functools import lru_cache

SENIORITY_RULES: tuple[tuple[str, str], ...] = (
    ("c_level", r"\b(chief|c[etfimos]o|cxo|president|founder|owner|partner)\b"),
    ("vp", r"\b(svp|evp|vp|vice president|head of)\b"),
    ("director", r"\b(director|dir\.?)\b"),
    ("manager", r"\b(manager|mgr|lead|supervisor|principal)\b"),
    ("individual", r"\b(engineer|analyst|specialist|developer|architect|associate|"
                   r"representative|coordinator|consultant|administrator|scientist|designer|"
                   r"accountant|counsel|officer|executive|rep|bdr|sdr)\b"),
)  # fmt: skip

DEPARTMENT_RULES: tuple[tuple[str, str], ...] = (
    ("security", r"\b(security|ciso|infosec)\b"),
    ("procurement", r"\b(procurement|purchasing|sourcing|buyer)\b"),
    ("legal", r"\b(legal|counsel|attorney|compliance)\b"),
    ("finance", r"\b(finance|financial|cfo|controller|accounting|accountant|treasur\w*|fp&a)\b"),
    ("marketing", r"\b(marketing|cmo|demand gen\w*|brand|growth|content|abm)\b"),
    ("sales", r"\b(sales|account executive|bdr|sdr|revenue|cro|business development)\b"),
    ("engineering", r"\b(engineer\w*|developer|cto|software|devops|architect|platform)\b"),
    ("data", r"\b(data|analytics|bi|machine learning|ml)\b"),
    ("it", r"\b(it|cio|information technology|infrastructure|systems|network)\b"),
    ("operations", r"\b(operations|ops|coo|supply chain|logistics)\b"),
    ("hr", r"\b(hr|human resources|people|talent|recruit\w*|chro)\b"),
    ("product", r"\b(product)\b"),
    ("executive", r"\b(ceo|president|founder|owner|managing director|general manager)\b"),
)  # fmt: skip

_SENIORITY = [(name, re.compile(rx, re.I)) for name, rx in SENIORITY_RULES]
_DEPARTMENT = [(name, re.compile(rx, re.I)) for name, rx in DEPARTMENT_RULES]


@lru_cache(maxsize=100_000)
def seniority_of(title: str | None) -> str | None:
    """`"VP of Marketing"` → `"vp"`; `"Senior Data Engineer"` → `"individual"`."""
    if not title:
        return None
    return next((name for name, rx in _SENIORITY if rx.search(title)), None)


@lru_cache(maxsize=100_000)
def department_of(title: str | None) -> str | None:
    """`"Director, IT Security"` → `"security"`; `"CFO"` → `"finance"`."""
    if not title:
        return None
    return next((name for name, rx in _DEPARTMENT if rx.search(title)), None)
