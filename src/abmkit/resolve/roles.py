"""Seniority and department read from a job title, for buying-committee coverage.

A title is first normalized (`normalize_title`): lower case, the part before a `|` (LinkedIn
headlines), punctuation as spaces, common abbreviations spelled out ("Sr. Dir." → "senior
director", "Mktg" → "marketing"). Then keyword rules run in order, first match wins.

Seniority: people who are not on a company's ladder (students, interns, board members, investors,
retirees) get None; so does a blank or placeholder title ("n/a"). Any other title without a rank
word is an individual contributor. Department: titles that match no rule get None, not a guess.
"""

from __future__ import annotations

import re
from functools import lru_cache

ABBREVIATIONS: dict[str, str] = {
    "sr": "senior", "snr": "senior", "jr": "junior", "dir": "director", "mgr": "manager",
    "mgmt": "management", "mktg": "marketing", "eng": "engineering", "engr": "engineer",
    "asst": "assistant", "exec": "executive", "acct": "account", "coord": "coordinator",
    "ops": "operations", "admin": "administrator", "sys": "systems", "rep": "representative",
    "dev": "developer", "swe": "software engineer", "sre": "site reliability engineer",
    "ml": "machine learning", "bi": "business intelligence", "ux": "user experience",
    "fp&a": "fpa", "l&d": "learning and development", "r&d": "research and development",
}  # fmt: skip

# Not on the ladder: these people have no seniority (and, by default, no buying-committee role).
NOT_ON_LADDER = (r"\b(student|intern|internship|trainee|candidate|board|investor(?! relations)|"
                 r"volunteer|non executive|looking for|seeking|open to work)\b|"
                 r"^(retired|former|ex)\b")  # fmt: skip
# "Executive Assistant", "Assistant to the CFO"; not "Assistant Manager" (a rank below manager).
ASSISTANT_ROLE = r"\bassistant\b(?! (vp|director|manager|controller|general counsel))"

SENIORITY_RULES: tuple[tuple[str, str], ...] = (
    ("individual", ASSISTANT_ROLE),
    ("c_level", r"\b(chief|ceo|cfo|cio|coo|cto|cmo|cro|cdo|cpo|cco|cso|ciso|chro|cxo|president|"
                r"co founder|founder|(?<!product )owner|chairman|managing director|"
                r"managing partner|geschäftsführer|directeur (financier|general|général))\b|"
                r"^((senior|founding|equity) )?partner\b(?! (manager|marketing|success|sales))"),
    ("vp", r"\b(vp|svp|evp|head|general manager|gm|country manager|leiter|jefe)\b|"
           r"^general counsel\b"),
    ("director", r"\b(director|directeur|directora?)\b"),
    # "manager" in these titles names the work, not a team: they are individual contributors
    ("individual", r"\b(account|customer success|product|project) manager\b"),
    ("manager", r"\b(manager|supervisor|lead(?! gen)|leader|controller|comptroller|responsable|"
                r"gerente)\b"),
)  # fmt: skip

DEPARTMENT_RULES: tuple[tuple[str, str], ...] = (
    ("administration", r"\b(executive assistant|administrative assistant|personal assistant|"
                       r"office assistant|assistant to|receptionist|office administrator|"
                       r"office manager)\b"),
    ("security", r"\b(security|ciso|infosec|cyber\w*|soc|grc)\b"),
    ("procurement", r"\b(procurement|purchasing|sourcing|buyer|vendor|compras|einkauf|achats)\b"),
    ("legal", r"\b(legal|counsel|attorney|lawyer|compliance|privacy|contracts|data protection)\b"),
    ("finance", r"\b(finance|financial|financier|cfo|controller|comptroller|accounting|"
                r"accountant|accounts (payable|receivable)|treasur\w*|fpa|tax|billing|payroll|"
                r"audit\w*)\b"),
    ("marketing", r"\b(marketing|cmo|demand gen\w*|lead gen\w*|brand|growth|content|abm|seo|"
                  r"copywriter|communications|pr|social media|events?|graphic|martech)\b"),
    ("sales", r"\b(sales|account executive|account manager|bdr|sdr|revenue|cro|"
              r"business development|partnerships?|channel|commercial|ventas|vertrieb)\b"),
    ("customer_success", r"\b(customer (success|support|service|experience|care)|"
                         r"client (services|success)|chief customer)\b"),
    ("hr", r"\b(hr|human resources|people|talent|recruit\w*|chro|learning (and )?development)\b"),
    ("data", r"\b(data|analytics|business intelligence|machine learning|ai)\b"),
    ("it", r"\b(it|cio|information technology|information officer|infrastructure|systems?|"
           r"network|help desk|desktop|database|dba|enterprise architect)\b"),
    ("engineering", r"\b(engineer\w*|developer|development|software|devops|architect|platform|"
                    r"cto|technology officer|site reliability|qa|tech|programmer)\b"),
    ("product", r"\b(product|user experience|ui|design\w*)\b"),
    ("operations", r"\b(operations|operating|coo|supply chain|logistics|warehouse|"
                   r"project manag\w*)\b"),
    ("executive", r"\b(ceo|chief executive|president|founder|owner|managing director|"
                  r"managing partner|general manager|gm|country manager|geschäftsführer|"
                  r"directeur general|directeur général)\b"),
)  # fmt: skip

_PLACEHOLDER = re.compile(r"(n a|na|none|null|unknown|other|tbd|test|x+|\d*)")
_NOT_ON_LADDER = re.compile(NOT_ON_LADDER)
_SENIORITY = [(name, re.compile(rx)) for name, rx in SENIORITY_RULES]
_DEPARTMENT = [(name, re.compile(rx)) for name, rx in DEPARTMENT_RULES]
_SPECIAL = re.compile(
    r"(?<!\w)(" + "|".join(re.escape(k) for k in ABBREVIATIONS if not k.isalpha()) + r")(?!\w)"
)


@lru_cache(maxsize=100_000)
def normalize_title(title: str) -> str:
    """`"Sr. Dir., IT Infrastructure | EMEA"` → `"senior director it infrastructure"`."""
    text = _SPECIAL.sub(lambda m: ABBREVIATIONS[m.group()], title.split("|")[0].lower())
    words = re.sub(r"[\W_]+", " ", text).split()
    text = " ".join(ABBREVIATIONS.get(word, word) for word in words)
    return text.replace("vice president", "vp")


@lru_cache(maxsize=100_000)
def seniority_of(title: str | None) -> str | None:
    """`"VP of Marketing"` → `"vp"`; `"Senior Data Engineer"` → `"individual"`."""
    text = normalize_title(title) if title else ""
    if _PLACEHOLDER.fullmatch(text) or _NOT_ON_LADDER.search(text):
        return None
    return next((name for name, rx in _SENIORITY if rx.search(text)), "individual")


@lru_cache(maxsize=100_000)
def department_of(title: str | None) -> str | None:
    """`"Director, IT Security"` → `"security"`; `"CFO"` → `"finance"`."""
    text = normalize_title(title) if title else ""
    return next((name for name, rx in _DEPARTMENT if rx.search(text)), None)
