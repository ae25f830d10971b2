"""Sign-in sessions: a random token in an HttpOnly cookie, its SHA-256 in the store, a CSRF token
per session, an idle timeout and an absolute lifetime."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import delete
from sqlalchemy.orm import Session

from abmkit.store.db import AppStore, utcnow
from abmkit.store.models import LoginSession, User

IDLE = dt.timedelta(hours=2)
"""A session not used for this long ends; `server.session_hours` caps its whole life."""


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(store: AppStore, user: User, hours: float) -> tuple[str, LoginSession]:
    """A new session for `user`: the token for the cookie (never stored) and the row."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    row = LoginSession(token_hash=digest(token), user_id=user.id, csrf=secrets.token_urlsafe(32),
                       created_at=now, seen_at=now,
                       expires_at=now + dt.timedelta(hours=hours))  # fmt: skip
    with Session(store.engine, expire_on_commit=False) as session, session.begin():
        session.execute(delete(LoginSession).where(LoginSession.expires_at < now))
        session.add(row)
    store.record("session.start", user.email, "ok")
    return token, row


def find_session(store: AppStore, token: str) -> tuple[LoginSession, User] | None:
    """The live session of a cookie token and its user (None when unknown, expired, idle too
    long or its user was disabled); a hit moves its idle clock."""
    now = utcnow()
    with Session(store.engine, expire_on_commit=False) as session, session.begin():
        row = session.get(LoginSession, digest(token))
        if row is None:
            return None
        user = session.get(User, row.user_id)
        if row.expires_at <= now or row.seen_at + IDLE <= now or user is None \
                or user.disabled_at is not None:  # fmt: skip
            session.delete(row)
            return None
        if now - row.seen_at > dt.timedelta(minutes=1):  # one write a minute, not one a request
            row.seen_at = now
        return row, user


def end_session(store: AppStore, token: str) -> None:
    with Session(store.engine) as session, session.begin():
        session.execute(delete(LoginSession).where(LoginSession.token_hash == digest(token)))


def end_user_sessions(store: AppStore, user_id: int) -> None:
    with Session(store.engine) as session, session.begin():
        session.execute(delete(LoginSession).where(LoginSession.user_id == user_id))
