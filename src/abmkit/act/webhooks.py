"""Signed webhooks: the receiver can tell that a body comes from this workspace, unaltered, and
recently.

Each request carries one header, `ABM-Signature: t=<unix seconds>,v1=<hex>`, where `<hex>` is the
HMAC-SHA256, under the secret shared with the receiver, of the time stamp, a period and the raw
body (`b"<t>." + body`). Signing the time stamp with the body lets the receiver refuse replays:
`verify` recomputes the HMAC, compares it in constant time, and rejects a time stamp further
than `tolerance` seconds (default 300) from its own clock.
"""

from __future__ import annotations

import hashlib
import hmac

from abmkit.errors import ConnectorError

HEADER = "ABM-Signature"
TOLERANCE_S = 300


def hmac_sha256(secret: str | bytes, message: bytes) -> str:
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def signature(secret: str | bytes, body: bytes, timestamp: int) -> str:
    """The value of the `ABM-Signature` header for `body` sent at `timestamp`."""
    return f"t={timestamp},v1={hmac_sha256(secret, f'{timestamp}.'.encode() + body)}"


def verify(secret: str | bytes, body: bytes, header: str, now: int,
           tolerance: int = TOLERANCE_S) -> None:  # fmt: skip
    """Raise ConnectorError unless `header` signs `body` with `secret`, recently enough."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    if not parts.get("t", "").isdigit() or "v1" not in parts:
        raise ConnectorError(f"malformed {HEADER} header: {header!r}")
    timestamp = int(parts["t"])
    if abs(now - timestamp) > tolerance:
        raise ConnectorError(f"{HEADER} is {abs(now - timestamp)} s old (more than {tolerance})")
    expected = signature(secret, body, timestamp).split("v1=", 1)[1]
    if not hmac.compare_digest(expected, parts["v1"]):
        raise ConnectorError(f"{HEADER} does not match the body")
