"""Signed webhooks: HMAC-SHA256 over the time stamp and the body, checked in constant time."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from abmkit.act.webhooks import hmac_sha256, signature, verify
from abmkit.errors import ConnectorError

BODY = b'{"action": "alert", "account": "acme.com"}'


def test_hmac_matches_rfc_4231():
    # RFC 4231, test case 2
    assert hmac_sha256("Jefe", b"what do ya want for nothing?") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


def test_the_signature_covers_the_time_stamp_and_the_body():
    header = signature("s3cret", BODY, 1_763_800_000)
    expected = hmac.new(b"s3cret", b"1763800000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1763800000,v1={expected}"
    verify("s3cret", BODY, header, now=1_763_800_100)  # accepted: no exception


@pytest.mark.parametrize(("secret", "body", "now", "message"), [
    ("other", BODY, 1_763_800_000, "does not match"),
    ("s3cret", BODY + b" ", 1_763_800_000, "does not match"),
    ("s3cret", BODY, 1_763_800_301, "301 s old"),
])  # fmt: skip
def test_a_wrong_secret_a_changed_body_or_a_stale_time_stamp_is_refused(secret, body, now,
                                                                         message):  # fmt: skip
    header = signature("s3cret", BODY, 1_763_800_000)
    with pytest.raises(ConnectorError, match=message):
        verify(secret, body, header, now=now)


@pytest.mark.parametrize("header", ["", "v1=abc", "t=soon,v1=abc", "t=1763800000"])
def test_a_malformed_header_is_refused(header):
    with pytest.raises(ConnectorError, match="malformed"):
        verify("s3cret", BODY, header, now=1_763_800_000)


@given(st.binary(max_size=2000), st.text(min_size=1, max_size=64), st.integers(0, 2**33))
def test_every_signed_body_verifies_and_no_other_does(body, secret, timestamp):
    header = signature(secret, body, timestamp)
    verify(secret, body, header, now=timestamp)
    with pytest.raises(ConnectorError):
        verify(secret, body + b"x", header, now=timestamp)
