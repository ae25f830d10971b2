"""Tables of the application store."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, DateTime, Float, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class AuditEvent(Base):
    """One thing that happened to the workspace: who did what to which object, and how it ended."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100), index=True)
    target: Mapped[str] = mapped_column(String(1000))
    outcome: Mapped[str] = mapped_column(String(40))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)


class ModelVersion(Base):
    """One trained propensity model: its data window, settings, back-test metrics and artifact.
    Exactly one version is active at a time (or none); activating another is a rollback."""

    __tablename__ = "model_versions"

    version: Mapped[str] = mapped_column(String(40), primary_key=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    kind: Mapped[str] = mapped_column(String(40))
    horizon_days: Mapped[int] = mapped_column(Integer)
    train_from: Mapped[dt.datetime] = mapped_column(DateTime)
    train_to: Mapped[dt.datetime] = mapped_column(DateTime)
    test_from: Mapped[dt.datetime] = mapped_column(DateTime)
    test_to: Mapped[dt.datetime] = mapped_column(DateTime)
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    metrics: Mapped[dict] = mapped_column(JSON, default=dict)
    features: Mapped[list] = mapped_column(JSON, default=list)
    artifact: Mapped[str] = mapped_column(String(1000))
    active: Mapped[bool] = mapped_column(Boolean, default=False)


ACTION_STATUSES = (
    "blocked",  # a guardrail refused it: logged with the verdicts, never sent
    "pending_approval",  # waits for a person (`abm actions approve|reject|edit`)
    "rejected",  # a person said no
    "queued",  # in the outbox: the executor sends it at or after not_before
    "sending",  # claimed by an executor until lease_until
    "sent",  # delivered (receipt in `receipt`)
    "dry_run",  # its connector is not enabled: the payload was written, nothing left
    "dead",  # gave up after the retries, the reason in last_error
)


class Action(Base):
    """One decision of the agent and, once allowed, one row of the transactional outbox.

    Every candidate the agent weighed is kept, with the signal behind it, its reasons, expected
    value and each guardrail's verdict (`decision`); those a guardrail refused stay `blocked`.
    `key` is the idempotency key: the same play step for the same account, person and signal is
    never queued twice, and connectors hand it to the receiver (Idempotency-Key header,
    Message-ID) so a send retried after a crash is recognized there.
    """

    __tablename__ = "actions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    run_id: Mapped[str] = mapped_column(String(40), index=True)
    play: Mapped[str] = mapped_column(String(100), index=True)
    step: Mapped[int] = mapped_column(Integer)
    account_id: Mapped[str] = mapped_column(String(100), index=True)
    contact_id: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    channel: Mapped[str] = mapped_column(String(40), index=True)
    tier: Mapped[int | None] = mapped_column(Integer, nullable=True)
    cost: Mapped[float] = mapped_column(Float, default=0.0)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    decision: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), index=True)
    not_before: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(String(2000), nullable=True)
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True, index=True)
    receipt: Mapped[dict] = mapped_column(JSON, default=dict)
    reviewed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    review_note: Mapped[str | None] = mapped_column(String(2000), nullable=True)


class AgentState(Base):
    """Small named values the agent keeps between passes (watermarks, the last cycle)."""

    __tablename__ = "agent_state"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict] = mapped_column(JSON, default=dict)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime)


class HoldoutAssignment(Base):
    """One target account's group in one holdout scope (`tier:2`, `play:<name>`), recorded once
    and never changed, so lift compares the same accounts however the settings move later.
    `share` and `salt` are the settings the group was drawn with (`abmkit.measure.holdout`)."""

    __tablename__ = "holdout_assignments"

    scope: Mapped[str] = mapped_column(String(120), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)
    group: Mapped[str] = mapped_column(String(10), index=True)
    share: Mapped[float] = mapped_column(Float)
    salt: Mapped[str] = mapped_column(String(200))
    assigned_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)


ROLES = ("admin", "marketer", "sales")


class User(Base):
    """A person who signs in to the web UI or the API. `owner` ties a sales user to the accounts
    whose CRM owner it is (the value of `accounts.owner`); the password is kept only as an
    Argon2id hash."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20))
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class LoginSession(Base):
    """One signed-in browser. The cookie carries a random token; only its SHA-256 is stored, so
    a copy of the store opens no session. `csrf` is the token forms and scripts send back."""

    __tablename__ = "login_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    seen_at: Mapped[dt.datetime] = mapped_column(DateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)


class ApiKey(Base):
    """A key a machine sends (`Authorization: Bearer abm_…`). Shown once when created; stored
    as the SHA-256 of the whole key (it is 256 random bits, so a fast hash is enough), with the
    scopes it grants. A revoked key is kept, refused, for the audit trail."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list] = mapped_column(JSON, default=list)
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class BeaconEvent(Base):
    """One event from a website (a page view or a form), queued when it arrives — committed
    before the server answers 202 — and processed later by the server's worker. `key` is
    unique: the same event sent twice is stored once. `processed_at` is empty until the worker
    has stored its touch, re-scored its account and run the agent on it; after a crash the
    worker resumes the unprocessed ones."""

    __tablename__ = "beacon_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    site: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[dt.datetime] = mapped_column(DateTime, index=True)
    event: Mapped[dict] = mapped_column(JSON, default=dict)
    processed_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True, index=True)
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    account_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
