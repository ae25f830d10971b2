"""Identity primitives: domain, e-mail, IP and company-name normalization; fuzzy name matching."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tldextract
from hypothesis import given, settings
from hypothesis import strategies as st

from abmkit.resolve.domains import (
    account_domain,
    email_domain,
    free_mail_domains,
    ip_to_int,
    ips_to_int,
    is_free_mail,
    normalize_domain,
    normalize_domains,
)
from abmkit.resolve.fuzzy import NameMatch, find_duplicate_pairs, match_names
from abmkit.resolve.names import name_key, normalize_company_name

# --- domains -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://www.Amazon.com/", "amazon.com"),
        ("http://shop.amazon.co.uk/path?q=1", "amazon.co.uk"),
        ("AMAZON.COM", "amazon.com"),
        ("amazon.com.", "amazon.com"),
        (" www.acme.io ", "acme.io"),
        ("mailto:x@acme.com", "acme.com"),
        ("x@Acme.com", "acme.com"),
        ("acme.com:8080", "acme.com"),
        ("http://user:pw@www.acme.com:443/x#top", "acme.com"),
        ("HTTPS://WWW.ACME.COM", "acme.com"),
        ("foo.github.io", "foo.github.io"),  # private suffix honoured
        ("www.foo.github.io", "foo.github.io"),
        ("github.io", "github.io"),  # a private suffix itself falls back to ICANN rules
        ("bücher.de", "xn--bcher-kva.de"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("a.b.c.example.com.au", "example.com.au"),
        ("", None),
        ("   ", None),
        (None, None),
        ("n/a", None),
        ("-", None),
        ("none", None),
        ("localhost", None),
        ("http://localhost:8000/", None),
        ("1.2.3.4", None),
        ("http://192.168.0.1/admin", None),
        ("[::1]", None),
        ("co.uk", None),
        ("acme", None),
        ("Amazon Inc", None),
        ("foo bar.com", None),
        ("example.invalidtld", None),
    ],
)
def test_normalize_domain(value: str | None, expected: str | None) -> None:
    assert normalize_domain(value) == expected


def test_normalize_domain_non_string_is_none() -> None:
    assert normalize_domain(42) is None  # type: ignore[arg-type]


def test_normalize_domains_is_aligned_with_input() -> None:
    values = ["www.acme.com", None, "n/a", "www.acme.com", "shop.amazon.co.uk"]
    assert normalize_domains(values) == ["acme.com", None, None, "acme.com", "amazon.co.uk"]
    assert normalize_domains(iter([])) == []


def test_suffix_rules_agree_with_tldextract() -> None:
    extract = tldextract.TLDExtract(
        suffix_list_urls=(), cache_dir=None, include_psl_private_domains=True
    )
    hosts = [
        "www.amazon.co.uk",
        "a.b.example.com.au",
        "foo.github.io",
        "x.www.ck",
        "www.ck",
        "a.b.ck",
        "deep.sub.s3.amazonaws.com",
        "shop.acme.com",
        "example.xn--p1ai",
        "acme.kawasaki.jp",
        "city.kawasaki.jp",
        "a.city.kawasaki.jp",
        "b.acme.kawasaki.jp",
    ]
    for host in hosts:
        parts = extract.extract_str(host)
        expected = f"{parts.domain}.{parts.suffix}" if parts.domain and parts.suffix else None
        assert normalize_domain(host) == expected, host


def test_no_network_and_no_cache_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    import abmkit.resolve.domains as domains

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("TLDEXTRACT_CACHE", str(tmp_path / "tld"))
    domains._suffix_rules.cache_clear()
    try:
        assert domains._registrable("www.example.co.uk") == "example.co.uk"
    finally:
        domains._suffix_rules.cache_clear()
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("email", "expected"),
    [
        ("jane.doe@acme.com", "acme.com"),
        ("Jane.Doe@Mail.Acme.co.uk", "acme.co.uk"),
        ("mailto:jane@acme.io", "acme.io"),
        ("jane@gmail.com", "gmail.com"),
        ("acme.com", None),
        ("https://acme.com", None),
        ("jane@", None),
        ("@acme.com", None),
        ("jane@localhost", None),
        ("a@b@c.com", None),
        (None, None),
    ],
)
def test_email_domain(email: str | None, expected: str | None) -> None:
    assert email_domain(email) == expected


@pytest.mark.parametrize(
    "domain",
    [
        "gmail.com",
        "googlemail.com",
        "yahoo.co.uk",
        "mail.yahoo.com",
        "hotmail.fr",
        "outlook.com",
        "icloud.com",
        "proton.me",
        "gmx.de",
        "web.de",
        "mail.ru",
        "yandex.ru",
        "qq.com",
        "163.com",
        "btinternet.com",
        "comcast.net",
        "verizon.net",
        "hey.com",
        "jane@GMAIL.com",
    ],
)
def test_free_mail_domains_are_recognised(domain: str) -> None:
    assert is_free_mail(domain)
    assert account_domain(domain) is None


@pytest.mark.parametrize("domain", ["acme.com", "amazon.com", "google.com", "microsoft.com", None])
def test_business_domains_are_not_free_mail(domain: str | None) -> None:
    assert not is_free_mail(domain)


def test_account_domain_keeps_business_domains() -> None:
    assert account_domain("https://www.Acme.com/about") == "acme.com"
    assert account_domain("jane@shop.acme.co.uk") == "acme.co.uk"
    assert account_domain("n/a") is None


def test_free_mail_list_is_registrable_domains() -> None:
    listed = free_mail_domains()
    assert len(listed) > 300
    assert all(normalize_domain(domain) == domain for domain in listed)


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        ("0.0.0.0", 0),
        ("1.2.3.4", 16909060),
        (" 10.0.0.1 ", 167772161),
        ("255.255.255.255", 2**32 - 1),
        ("256.1.1.1", None),
        ("01.2.3.4", None),
        ("1.2.3", None),
        ("1.2.3.4.5", None),
        ("::1", None),
        ("abc", None),
        ("", None),
        (None, None),
    ],
)
def test_ip_to_int(ip: str | None, expected: int | None) -> None:
    assert ip_to_int(ip) == expected


def test_ips_to_int_marks_garbage_minus_one() -> None:
    result = ips_to_int(["1.2.3.4", "x", None, "255.255.255.255"])
    assert result.dtype == np.int64
    assert result.tolist() == [16909060, -1, -1, 2**32 - 1]


@given(st.ip_addresses(v=4))
def test_ip_to_int_matches_ipaddress(address: object) -> None:
    assert ip_to_int(str(address)) == int(address)  # type: ignore[call-overload]


_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9\-]{0,10}[a-z0-9])?", fullmatch=True)
_TLD = st.sampled_from(["com", "co.uk", "io", "de", "com.au", "github.io", "net", "gmail.com"])


@given(st.lists(_LABEL, min_size=1, max_size=3), _TLD, st.sampled_from(["", "https://", "WWW."]))
def test_normalize_domain_is_idempotent_on_hosts(labels: list[str], tld: str, prefix: str) -> None:
    once = normalize_domain(prefix + ".".join(labels) + "." + tld)
    assert once is not None
    assert normalize_domain(once) == once


@given(st.text(max_size=40))
def test_normalize_domain_is_idempotent_on_any_text(value: str) -> None:
    once = normalize_domain(value)
    assert once is None or normalize_domain(once) == once


@given(st.one_of(st.text(max_size=40), st.builds(lambda a, t: f"{a}@{t}", _LABEL, _TLD)))
def test_account_domain_never_returns_free_mail(value: str) -> None:
    assert account_domain(value) not in free_mail_domains()


# --- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Amazon.com, Inc.", "amazon"),
        ("AMAZON.COM, INC.", "amazon"),
        ("The Walt Disney Company", "walt disney"),
        ("Procter & Gamble Co.", "procter and gamble"),
        ("Alphabet Inc.", "alphabet"),
        ("Société Générale S.A.", "societe generale"),
        ("3M Company", "3m"),
        ("AT&T Inc.", "at and t"),
        ("AT and T", "at and t"),
        ("AT & T", "at and t"),
        ("Acme Corporation", "acme"),
        ("ACME Corp.", "acme"),
        ("Acme L.L.C.", "acme"),
        ("Acme Pty Ltd", "acme"),
        ("Acme GmbH & Co. KG", "acme"),
        ("Grupo Bimbo S.A. de C.V.", "grupo bimbo"),
        ("Siemens AG", "siemens"),
        ("Nokia Oyj", "nokia"),
        ("UnitedHealth Group", "unitedhealth"),
        ("Goldman Sachs Group, Inc.", "goldman sachs"),
        ("Group 1 Automotive", "group 1 automotive"),
        ("Holdings", "holdings"),
        ("The Company", "company"),
        ("Smith & Co.", "smith"),
        ("McDonald's Corporation", "mcdonalds"),
        ("J.P. Morgan Chase & Co.", "jp morgan chase"),
        ("Coca-Cola Company", "coca cola"),
        ("Estée Lauder", "estee lauder"),
        ("  The   Home Depot,  Inc. ", "home depot"),
        ("www.amazon.com", "amazon"),
        ("", None),
        ("  ", None),
        ("!!!", None),
        (None, None),
    ],
)
def test_normalize_company_name(name: str | None, expected: str | None) -> None:
    assert normalize_company_name(name) == expected


def test_noise_words_are_configurable() -> None:
    assert normalize_company_name("UnitedHealth Group", frozenset()) == "unitedhealth group"
    assert normalize_company_name("Acme Partners", frozenset({"partners"})) == "acme"


@given(st.text(max_size=40))
@settings(max_examples=500)
def test_normalize_company_name_is_idempotent(name: str) -> None:
    once = normalize_company_name(name)
    assert once is None or normalize_company_name(once) == once


_WORDS = st.sampled_from(
    [
        "acme",
        "the",
        "inc",
        "co",
        "and",
        "&",
        "a",
        "b",
        "group",
        "s.a.",
        "l.l.c.",
        "amazon.com",
        "société",
        "holdings",
        ",",
        "ltd",
        "pty",
        "de",
        "c.v.",
        "x",
    ]
)


@given(st.lists(_WORDS, max_size=8))
@settings(max_examples=500)
def test_normalize_company_name_is_idempotent_on_name_like_text(words: list[str]) -> None:
    once = normalize_company_name(" ".join(words))
    assert once is None or normalize_company_name(once) == once


def test_name_key() -> None:
    assert name_key("at and t") == "ata"
    assert name_key("3m") == "3m"
    assert name_key("acme", 1) == "a"
    assert name_key("") is None
    assert name_key(None) is None


# --- fuzzy ---------------------------------------------------------------------------------


def test_match_names_after_normalization() -> None:
    queries = [normalize_company_name("Acme Corporation"), normalize_company_name("Apex")]
    choices = [normalize_company_name("ACME Corp."), "globex"]
    assert match_names(queries, choices) == [NameMatch(0, 0, 100.0)]


def test_match_names_rejects_acme_vs_apex() -> None:
    assert match_names(["acme"], ["apex"]) == []
    assert match_names(["acme"], ["apex"], threshold=50.0) == [NameMatch(0, 0, 50.0)]


def test_match_names_fuzzy_best_choice_and_ties() -> None:
    choices = ["procter and gamble", "proctor and gamble", "general motors", "procter and gamble"]
    result = match_names(["procter and gambel", "general motor", "zzz", None, ""], choices)
    assert [(m.query_index, m.choice_index) for m in result] == [(0, 0), (1, 2)]
    assert all(90.0 <= m.score < 100.0 for m in result)


def test_match_names_threshold_is_inclusive() -> None:
    score = match_names(["abcdefghij"], ["abcdefghiz"], threshold=0.0)[0].score
    assert match_names(["abcdefghij"], ["abcdefghiz"], threshold=score)[0].score == score
    assert match_names(["abcdefghij"], ["abcdefghiz"], threshold=score + 0.01) == []


def test_match_names_blocks_on_two_keys() -> None:
    # The first letter differs, but the alphabetically first word still starts alike.
    result = match_names(["xlobal acme"], ["global acme"], threshold=85.0)
    assert [(m.query_index, m.choice_index) for m in result] == [(0, 0)]


def test_match_names_one_word_first_letter_typo_needs_no_blocking() -> None:
    assert match_names(["xmazonas"], ["amazonas"], threshold=85.0) == []
    result = match_names(["xmazonas"], ["amazonas"], threshold=85.0, block_key=None)
    assert [(m.query_index, m.choice_index) for m in result] == [(0, 0)]


def test_match_names_word_order_and_other_scorers() -> None:
    assert match_names(["gamble procter"], ["procter gamble"])[0].score == 100.0
    assert match_names(["procter"], ["procter gamble"], scorer="token_set_ratio")[0].score == 100
    with pytest.raises(ValueError, match="unknown rapidfuzz scorer"):
        match_names(["a"], ["a"], scorer="no_such_scorer")


def test_match_names_repeated_queries_all_answered() -> None:
    result = match_names(["acme", "acme", "acmee"], ["globex", "acme"], threshold=85.0)
    assert [(m.query_index, m.choice_index) for m in result] == [(0, 1), (1, 1), (2, 1)]


def test_find_duplicate_pairs() -> None:
    names = ["acme", "globex", "acme", "acmee", None, "initech", "globexx", ""]
    pairs = find_duplicate_pairs(names, threshold=85.0)
    assert [(p.i, p.j) for p in pairs] == [(0, 2), (0, 3), (1, 6), (2, 3)]
    assert pairs[0].score == 100.0
    assert all(p.i < p.j for p in pairs)


def test_find_duplicate_pairs_rejects_dissimilar() -> None:
    assert find_duplicate_pairs(["acme", "apex", "initech"]) == []


_NAMES = st.sampled_from(["acme", "acmee", "apex", "globex", "globx", "", "ab acme", "acme ab"])


@given(st.lists(_NAMES, max_size=12))
def test_duplicate_pairs_agree_with_brute_force(names: list[str]) -> None:
    from rapidfuzz import fuzz

    expected = {
        (i, j)
        for i in range(len(names))
        for j in range(i + 1, len(names))
        if names[i] and names[j] and fuzz.token_sort_ratio(names[i], names[j]) >= 80.0
    }
    got = {(p.i, p.j) for p in find_duplicate_pairs(names, threshold=80.0)}
    assert got == expected
