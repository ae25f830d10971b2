"""Tables of the application store."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, DateTime, Integer, String
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
