"""Web domains, e-mail domains and IPv4 addresses, normalized into account keys.

An account's key is its *registrable domain* (eTLD+1, e.g. ``amazon.co.uk``), found from the
Public Suffix List snapshot bundled with ``tldextract`` (``suffix_list_urls=()``,
``cache_dir=None``: no network access and no cache files, ever). The rules are read once into
sets and matched here, about three times faster than calling ``tldextract`` per value; a test
pins the results to ``tldextract``'s own.

Decisions:

* **Private suffixes are honoured.** ``foo.github.io`` stays ``foo.github.io`` (a tenant of a
  hosting platform is not the platform). When a value *is* a private suffix itself
  (``github.io``, ``blogspot.com``) it falls back to the ICANN rules, so it resolves to the
  platform owner's domain instead of ``None``.
* **Country domains are different keys.** ``amazon.co.uk`` and ``amazon.com`` are different
  registrable domains; linking them to one account is the job of name matching, not of
  domain normalization.
* **Internationalized names are stored in IDNA/punycode** (``bücher.de`` → ``xn--bcher-kva.de``)
  so both spellings give one key.
* **Free-mail domains are never account keys**: :func:`account_domain` drops them.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import tldextract

__all__ = [
    "account_domain",
    "email_domain",
    "free_mail_domains",
    "ip_to_int",
    "ips_to_int",
    "is_free_mail",
    "normalize_domain",
    "normalize_domains",
]

FREE_MAIL_FILE = Path(__file__).with_name("freemail.txt")


@dataclass(frozen=True)
class _SuffixRules:
    """Public Suffix List rules in IDNA form: exact rules, ``*.x`` parents, ``!x`` exceptions."""

    exact: frozenset[str]
    wildcard: frozenset[str]
    exception: frozenset[str]
    tails: frozenset[str]


# scheme://  |  mailto:  , then optional user-info (``x@`` of an e-mail or URL), then the host.
# The port, if any, is left out of the host group; IPv4 addresses need no test of their own,
# since no public suffix is numeric.
_HOST = re.compile(r"^(?:[a-z][a-z0-9+.\-]*://|mailto:)?(?:[^@/?#]*@)?([^/?#:]*)")
_VALID_HOST = re.compile(r"^[a-z0-9\-]+(?:\.[a-z0-9\-]+)+$")
_EMAIL = re.compile(r"^\s*(?:mailto:)?[^@\s/]+@([^@\s/]+)\s*$", re.IGNORECASE)
_IPV4 = re.compile(
    r"^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$"
)


def _host_of(value: str) -> str | None:
    """Cut a typed value (URL, e-mail, bare host) down to a lower-case ASCII host name."""
    match = _HOST.match(value.strip().lower())
    host = match.group(1).strip(".") if match else ""
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    return host if _VALID_HOST.match(host) else None


def _ascii_rule(rule: str) -> str | None:
    """A suffix rule with its labels in IDNA form (``рф`` → ``xn--p1ai``), None if unencodable."""
    try:
        return ".".join(
            label if label.isascii() else label.encode("idna").decode("ascii")
            for label in rule.split(".")
        )
    except UnicodeError:
        return None


def _tails(rules: list[str]) -> Iterator[str]:
    """Every right-hand part of every rule: ``a.b.c`` gives ``c``, ``b.c`` and ``a.b.c``."""
    for rule in rules:
        labels = rule.lstrip("!*.").split(".")
        for start in range(len(labels)):
            yield ".".join(labels[start:])


@lru_cache(maxsize=2)
def _suffix_rules(include_private: bool) -> _SuffixRules:
    """Rules from tldextract's bundled snapshot: no suffix-list URLs, no cache directory."""
    extractor = tldextract.TLDExtract(
        suffix_list_urls=(), cache_dir=None, include_psl_private_domains=include_private
    )
    rules = [r for r in map(_ascii_rule, extractor.tlds) if r]
    return _SuffixRules(
        exact=frozenset(r for r in rules if r[0] not in "!*"),
        wildcard=frozenset(r[2:] for r in rules if r.startswith("*.")),
        exception=frozenset(r[1:] for r in rules if r.startswith("!")),
        tails=frozenset(_tails(rules)),
    )


def _suffix_start(labels: list[str], rules: _SuffixRules) -> int | None:
    """Index of the first label of the longest matching public suffix, None when none.

    Walks from the top-level label leftwards while the growing suffix is still the tail of
    some rule, so a typical host costs two or three set lookups.
    """
    found = None
    suffix = ""
    for start in range(len(labels) - 1, -1, -1):
        parent = suffix
        suffix = f"{labels[start]}.{parent}" if parent else labels[start]
        if suffix in rules.exception:
            return start + 1
        if suffix in rules.exact or parent in rules.wildcard:
            found = start
        if suffix not in rules.tails:
            break
    return found


def _registrable_with(labels: list[str], rules: _SuffixRules) -> str | None:
    """Registrable domain under ``rules``: the suffix plus one label, None when impossible."""
    start = _suffix_start(labels, rules)
    return ".".join(labels[start - 1 :]) if start else None


def _registrable(host: str) -> str | None:
    """Registrable domain (eTLD+1) of a clean host; private suffixes first, then ICANN only."""
    labels = host.split(".")
    return _registrable_with(labels, _suffix_rules(True)) or _registrable_with(
        labels, _suffix_rules(False)
    )


def _normalize_domain(value: object) -> str | None:
    """Uncached body of :func:`normalize_domain`."""
    if not isinstance(value, str):
        return None
    host = _host_of(value)
    return _registrable(host) if host else None


@lru_cache(maxsize=65536)
def normalize_domain(value: str | None) -> str | None:
    """Registrable domain (eTLD+1, lower case) of a URL, host, or e-mail address.

    ``"https://www.Amazon.com/"`` → ``"amazon.com"``; ``"shop.amazon.co.uk/x?q=1"`` →
    ``"amazon.co.uk"``; ``"x@Acme.com"`` → ``"acme.com"``. Returns None for blanks, IP
    addresses, ``localhost``, placeholders such as ``n/a``, and hosts without a public suffix.
    """
    return _normalize_domain(value)


def normalize_domains(values: Iterable[str | None]) -> list[str | None]:
    """Normalize many values at once, each distinct value computed once.

    Callers should pass the distinct values of a column; repeated values are still computed
    only once. The result is aligned with the input.
    """
    values = list(values)
    distinct = {value: _normalize_domain(value) for value in dict.fromkeys(values)}
    return [distinct[value] for value in values]


def email_domain(email: str | None) -> str | None:
    """Registrable domain of an e-mail address (``jane@mail.acme.com`` → ``acme.com``).

    Returns None when the value is not shaped like an e-mail address.
    """
    if not isinstance(email, str):
        return None
    match = _EMAIL.match(email)
    return normalize_domain(match.group(1)) if match else None


@lru_cache(maxsize=1)
def free_mail_domains() -> frozenset[str]:
    """The shipped list of free-mail registrable domains (``freemail.txt``)."""
    lines = FREE_MAIL_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(
        line.strip().lower() for line in lines if line.strip() and not line.startswith("#")
    )


def is_free_mail(domain: str | None) -> bool:
    """True when the value's registrable domain is a free-mail provider (gmail.com, …)."""
    registrable = normalize_domain(domain) if isinstance(domain, str) else None
    return registrable is not None and registrable in free_mail_domains()


def account_domain(value: str | None) -> str | None:
    """The account key of a URL, host or e-mail: its registrable domain, unless free-mail."""
    registrable = normalize_domain(value)
    if registrable is None or registrable in free_mail_domains():
        return None
    return registrable


def ip_to_int(ip: str | None) -> int | None:
    """Dotted IPv4 address as an unsigned 32-bit integer; None on anything else.

    Strict: four decimal octets, no leading zeros (``010.0.0.1`` is ambiguous), whitespace
    around the value is ignored.
    """
    if not isinstance(ip, str):
        return None
    text = ip.strip()
    if not _IPV4.match(text):
        return None
    return int.from_bytes(socket.inet_aton(text), "big")


def ips_to_int(values: Iterable[str | None]) -> np.ndarray:
    """Vectorized :func:`ip_to_int`: an ``int64`` array, ``-1`` where a value is not an IPv4."""
    parsed = (ip_to_int(value) for value in values)
    return np.fromiter((-1 if n is None else n for n in parsed), dtype=np.int64)
