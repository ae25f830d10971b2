"""Company names normalized into comparable strings and short blocking keys.

:func:`normalize_company_name` turns the many spellings of one company into one string:

* case-folded, accents stripped (``Société Générale`` → ``societe generale``);
* ``&`` becomes ``and`` everywhere, so ``AT&T``, ``AT & T`` and ``AT and T`` all give
  ``at and t`` (the word is kept rather than dropped so ``S&P`` ≠ ``SP``);
* a web suffix glued to a word is noise: ``Amazon.com, Inc.`` → ``amazon``;
* apostrophes and dots join (``McDonald's`` → ``mcdonalds``, ``S.A.`` → ``sa``), any other
  punctuation separates words; runs of single letters join (``J. P. Morgan`` → ``jp morgan``);
* a leading ``the`` and trailing legal forms (``Inc``, ``Co``, ``GmbH``, ``Pty Ltd`` …) and
  trailing noise words (``group``, ``holdings`` by default) are dropped repeatedly, but never
  the last remaining word (``The Company`` → ``company``).

The function is idempotent: normalizing a normalized name returns it unchanged.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = [
    "DEFAULT_NOISE_WORDS",
    "LEGAL_SUFFIXES",
    "name_key",
    "normalize_company_name",
]

# Legal forms as they look once punctuation is gone; "_" joins the words of a multi-word form.
_LEGAL_FORMS = (
    "inc incorporated corp corporation co company cos companies llc lc pllc lp llp ltd "
    "limited plc gmbh mbh ag kg kgaa se sa sas sarl sae sca sl slu bv nv vof oy oyj ab as "
    "asa aps spa srl sro sp zoo kk pty pte bhd sdn ltda lda cv nl "
    "sa_de_cv sab_de_cv s_de_rl co_kg pty_ltd"
)

#: Legal forms dropped from the end of a name, as word tuples (after punctuation is removed).
LEGAL_SUFFIXES: frozenset[tuple[str, ...]] = frozenset(
    tuple(form.split("_")) for form in _LEGAL_FORMS.split()
)

#: Words dropped from the end of a name by default, when other words remain.
DEFAULT_NOISE_WORDS: frozenset[str] = frozenset({"group", "holdings", "holding"})

_WEB_SUFFIX = re.compile(r"(?<=\w)\.(?:com|net|org|io|co|ai|biz|info|us)(?![\w])")
_JOINERS = re.compile(r"['’`.]")
_SEPARATORS = re.compile(r"[\W_]+")
_LONGEST_FORM = max(len(form) for form in LEGAL_SUFFIXES)


def _fold(text: str) -> str:
    """Case-fold and strip accents (NFKD, combining marks removed)."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _words(text: str) -> list[str]:
    """Split folded text into words: web suffixes and ``&`` handled, punctuation removed."""
    text = _WEB_SUFFIX.sub("", text.replace("&", " and "))
    text = _JOINERS.sub("", text.removeprefix("www."))
    return _SEPARATORS.sub(" ", text).split()


def _join_single_letters(words: list[str]) -> list[str]:
    """Join runs of one-letter words: ``["j", "p", "morgan"]`` → ``["jp", "morgan"]``."""
    out: list[str] = []
    run = ""
    for word in words + [""]:
        if len(word) == 1:
            run += word
            continue
        if run:
            out.append(run)
            run = ""
        if word:
            out.append(word)
    return out


def _trailing_form(words: list[str]) -> int:
    """Number of trailing words forming a legal suffix (longest first), 0 when none."""
    for size in range(min(_LONGEST_FORM, len(words) - 1), 0, -1):
        if tuple(words[-size:]) in LEGAL_SUFFIXES:
            return size
    return 0


def _strip_noise(words: list[str], noise: frozenset[str]) -> list[str]:
    """Drop a leading ``the`` and trailing legal forms / noise words, keeping one word."""
    while len(words) > 1 and words[0] == "the":
        words = words[1:]
    while len(words) > 1:
        size = _trailing_form(words) or (1 if words[-1] in noise else 0)
        if not size:
            break
        words = words[:-size]
        while len(words) > 1 and words[-1] == "and":  # "Smith & Co" → "smith"
            words = words[:-1]
    return words


@lru_cache(maxsize=65536)
def normalize_company_name(
    name: str | None, noise_words: frozenset[str] = DEFAULT_NOISE_WORDS
) -> str | None:
    """Comparable form of a company name (see the module docstring), None when blank.

    ``"Amazon.com, Inc."`` → ``"amazon"``; ``"The Walt Disney Company"`` → ``"walt disney"``;
    ``"Procter & Gamble Co."`` → ``"procter and gamble"``; ``"AT&T Inc."`` → ``"at and t"``.
    ``noise_words`` are dropped from the end like legal forms; pass ``frozenset()`` to keep
    ``group``/``holdings``.
    """
    if not isinstance(name, str):
        return None
    words = _strip_noise(_join_single_letters(_words(_fold(name))), noise_words)
    return " ".join(words) or None


def name_key(name: str | None, length: int = 3) -> str | None:
    """Short blocking key of a *normalized* name: its first ``length`` non-space characters."""
    if not name:
        return None
    return name.replace(" ", "")[:length] or None
