"""Open the application store, upgrading its schema to the latest migration first."""

from __future__ import annotations

import datetime as dt
import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from abmkit.errors import EngineError, NotFoundError
from abmkit.store.models import AgentState, AuditEvent, ModelVersion

MIGRATIONS = Path(__file__).parent / "migrations"


def upgrade(engine: Engine) -> None:
    """Bring the schema to the latest migration (a no-op when it already is)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def utcnow() -> dt.datetime:
    """Now in UTC without a time zone, as the application store keeps times."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class AppStore:
    """The application store of one workspace."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def record(self, action: str, target: str, outcome: str, **detail: Any) -> None:
        """Append one audit event (never updated, never deleted)."""
        event = AuditEvent(
            at=utcnow(),
            actor=_actor(),
            action=action,
            target=target,
            outcome=outcome,
            detail=detail,
        )
        with Session(self.engine) as session, session.begin():
            session.add(event)

    def events(self, action: str | None = None, limit: int = 100) -> list[AuditEvent]:
        query = select(AuditEvent).order_by(AuditEvent.id.desc()).limit(limit)
        if action:
            query = query.where(AuditEvent.action == action)
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.scalars(query))

    # -- the agent's state -------------------------------------------------------------------
    def state(self, name: str) -> dict:
        """A named value the agent keeps between passes ({} when none was saved)."""
        with Session(self.engine) as session:
            row = session.get(AgentState, name)
            return dict(row.value) if row else {}

    def save_state(self, name: str, value: dict) -> None:
        with Session(self.engine) as session, session.begin():
            row = session.get(AgentState, name)
            if row is None:
                session.add(AgentState(name=name, value=value, updated_at=utcnow()))
            else:
                row.value, row.updated_at = value, utcnow()

    # -- the model registry ----------------------------------------------------------------
    def add_model(self, model: ModelVersion) -> None:
        with Session(self.engine) as session, session.begin():
            session.add(model)

    def models(self) -> list[ModelVersion]:
        with Session(self.engine, expire_on_commit=False) as session:
            query = select(ModelVersion).order_by(ModelVersion.created_at.desc())
            return list(session.scalars(query))

    def model(self, version: str | None = None) -> ModelVersion | None:
        """A version by name; without one, the active version (None when none is)."""
        with Session(self.engine, expire_on_commit=False) as session:
            if version:
                return session.get(ModelVersion, version)
            return session.scalars(select(ModelVersion).where(ModelVersion.active)).first()

    def activate(self, version: str) -> ModelVersion:
        """Make `version` the only active model, in one transaction."""
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            chosen = session.get(ModelVersion, version)
            if chosen is None:
                known = ", ".join(m.version for m in session.scalars(select(ModelVersion)))
                raise NotFoundError(f"no model version {version!r}; known: {known or 'none'}")
            for m in session.scalars(select(ModelVersion).where(ModelVersion.active)):
                m.active = False
            chosen.active = True
            return chosen

    def close(self) -> None:
        self.engine.dispose()


ACTOR: ContextVar[str | None] = ContextVar("abmkit_actor", default=None)
"""Who is acting, when someone other than the OS user is (the server sets it per request to
the signed-in user or the API key, so the audit log and reviews name them)."""


@contextmanager
def acting_as(actor: str) -> Iterator[None]:
    token = ACTOR.set(actor)
    try:
        yield
    finally:
        ACTOR.reset(token)


def _actor() -> str:
    if (who := ACTOR.get()) is not None:
        return who
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "unknown"


def open_app_store(url: str) -> AppStore:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(url)
        upgrade(engine)
    except Exception as exc:
        raise EngineError(f"cannot open application store {url!r}: {exc}") from exc
    return AppStore(engine)
