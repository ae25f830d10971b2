"""Users: added from the CLI, signed in with a password kept as an Argon2id hash."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from abmkit.errors import AbmError, NotFoundError
from abmkit.store.db import AppStore, utcnow
from abmkit.store.models import ROLES, User

HASHER = PasswordHasher()
MIN_PASSWORD = 10
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# Verifying against this when the e-mail is unknown takes as long as a real check, so the time
# a failed sign-in takes does not tell which e-mails have accounts.
_DUMMY = HASHER.hash("not a password of anyone")


def add_user(store: AppStore, email: str, password: str, *, role: str, name: str = "",
             owner: str | None = None) -> User:  # fmt: skip
    email = email.strip().lower()
    if not EMAIL.match(email):
        raise AbmError(f"not an e-mail address: {email!r}")
    if role not in ROLES:
        raise AbmError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if role == "sales" and not owner:
        raise AbmError("a sales user needs --owner: the CRM owner whose accounts it sees")
    _check_password(password)
    with Session(store.engine, expire_on_commit=False) as session, session.begin():
        if session.scalar(select(User).where(func.lower(User.email) == email)):
            raise AbmError(f"a user {email} already exists")
        user = User(email=email, name=name or email.split("@")[0], role=role, owner=owner,
                    password_hash=HASHER.hash(password), created_at=utcnow())  # fmt: skip
        session.add(user)
    store.record("user.add", email, "ok", role=role, owner=owner)
    return user


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise AbmError(f"a password needs at least {MIN_PASSWORD} characters")


def list_users(store: AppStore) -> list[User]:
    with Session(store.engine, expire_on_commit=False) as session:
        return list(session.scalars(select(User).order_by(User.email)))


def get_user(store: AppStore, user_id: int) -> User | None:
    with Session(store.engine, expire_on_commit=False) as session:
        return session.get(User, user_id)


def authenticate(store: AppStore, email: str, password: str) -> User | None:
    """The active user with this e-mail and password, or None (never says which was wrong)."""
    with Session(store.engine, expire_on_commit=False) as session, session.begin():
        user = session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
        if user is None or user.disabled_at is not None:
            _verify(_DUMMY, password)
            return None
        if not _verify(user.password_hash, password):
            return None
        if HASHER.check_needs_rehash(user.password_hash):
            user.password_hash = HASHER.hash(password)
        return user


def _verify(hashed: str, password: str) -> bool:
    try:
        return HASHER.verify(hashed, password)
    except (VerificationError, InvalidHashError):
        return False


def set_password(store: AppStore, email: str, password: str) -> None:
    _check_password(password)
    with Session(store.engine) as session, session.begin():
        _by_email(session, email).password_hash = HASHER.hash(password)
    store.record("user.password", email, "ok")


def disable_user(store: AppStore, email: str) -> None:
    """Disable a user: it cannot sign in, and its open sessions end."""
    from abmkit.auth.sessions import end_user_sessions

    with Session(store.engine) as session, session.begin():
        user = _by_email(session, email)
        user.disabled_at = utcnow()
        user_id = user.id
    end_user_sessions(store, user_id)
    store.record("user.disable", email, "ok")


def _by_email(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None:
        raise NotFoundError(f"no user {email!r}; `abm users list` shows them")
    return user
