"""API keys for machines: `abm_<id>_<secret>`, shown once, stored as a SHA-256, scoped,
revocable."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from abmkit.auth.roles import check_scopes
from abmkit.errors import AbmError, NotFoundError
from abmkit.store.db import AppStore, _actor, utcnow
from abmkit.store.models import ApiKey

PREFIX = "abm_"


def create_key(store: AppStore, name: str, scopes: list[str], *,
               owner: str | None = None) -> tuple[str, ApiKey]:  # fmt: skip
    """A new key: the plaintext (to show once) and its stored row."""
    if not name.strip():
        raise AbmError("an API key needs a name (what uses it)")
    key_id = secrets.token_hex(6)
    plaintext = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    row = ApiKey(id=key_id, name=name.strip(), key_hash=_digest(plaintext),
                 scopes=check_scopes(scopes), owner=owner, created_by=_actor(),
                 created_at=utcnow())  # fmt: skip
    with Session(store.engine, expire_on_commit=False) as session, session.begin():
        session.add(row)
    store.record("key.create", key_id, "ok", name=row.name, scopes=row.scopes, owner=owner)
    return plaintext, row


def _digest(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def find_key(store: AppStore, plaintext: str) -> ApiKey | None:
    """The live key for a presented plaintext, or None (unknown, malformed or revoked)."""
    if not plaintext.startswith(PREFIX) or plaintext.count("_") < 2:
        return None
    key_id = plaintext[len(PREFIX) :].split("_", 1)[0]
    with Session(store.engine, expire_on_commit=False) as session, session.begin():
        row = session.get(ApiKey, key_id)
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(row.key_hash, _digest(plaintext)):
            return None
        now = utcnow()
        if row.last_used_at is None or now - row.last_used_at > dt.timedelta(minutes=1):
            row.last_used_at = now
        return row


def list_keys(store: AppStore) -> list[ApiKey]:
    with Session(store.engine, expire_on_commit=False) as session:
        return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at)))


def revoke_key(store: AppStore, key_id: str) -> ApiKey:
    key_id = key_id.removeprefix(PREFIX).split("_", 1)[0]
    with Session(store.engine, expire_on_commit=False) as session, session.begin():
        row = session.get(ApiKey, key_id)
        if row is None:
            raise NotFoundError(f"no API key {key_id!r}; `abm keys list` shows them")
        if row.revoked_at is None:
            row.revoked_at = utcnow()
    store.record("key.revoke", key_id, "ok", name=row.name)
    return row
