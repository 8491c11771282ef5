"""Stored rule versions, the activation log, and backtest jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from guard.storage.database import Base, UTCDateTime


class RuleVersion(Base):
    """An immutable set of rule files; `number` is what decisions record as their rules version."""

    __tablename__ = "rule_versions"

    number: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    content_hash: Mapped[str] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    parent: Mapped[int | None] = mapped_column(Integer, nullable=True)
    files: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    test_summary: Mapped[dict[str, Any]] = mapped_column(JSON)


class RuleActivation(Base):
    """One activation or rollback; the newest row names the active version for every process."""

    __tablename__ = "rule_activations"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(ForeignKey("rule_versions.number"))
    previous: Mapped[int | None] = mapped_column(Integer, nullable=True)
    kind: Mapped[str] = mapped_column(String(20))  # activate | rollback | seed
    actor: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    activated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class BacktestJob(Base):
    """A backtest run in the background; any worker can report its progress."""

    __tablename__ = "backtest_jobs"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))  # running | done | failed
    total: Mapped[int] = mapped_column(Integer)
    done: Mapped[int] = mapped_column(Integer)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    report: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
