"""Stored events: the customer's situation is always derived from them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from guard.storage.database import Base, UTCDateTime


class Event(Base):
    """One event as received, with a hash of its content to recognise repeats."""

    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_customer_occurred", "customer_id", "occurred_at"),
        # A decision reads only the types its rules ask about: found by type, not by scanning a whole history.
        Index("ix_events_customer_type", "customer_id", "type", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), unique=True)
    customer_id: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    content_hash: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Suppression(Base):
    """A consent withdrawal that outlives the customer's erasure, under their keyed digest only."""

    __tablename__ = "suppressions"
    __table_args__ = (Index("ix_suppressions_customer", "customer_digest"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_digest: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(20))
    purpose: Mapped[str] = mapped_column(String(20))
    since: Mapped[datetime] = mapped_column(UTCDateTime())
    erasure_id: Mapped[int] = mapped_column(Integer)


class CustomerAlias(Base):
    """Another system's name for a customer (`shop:7890123456789`, `email:ann@example.com`): one person."""

    __tablename__ = "customer_aliases"
    __table_args__ = (Index("ix_customer_aliases_customer", "customer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    alias: Mapped[str] = mapped_column(String(200), unique=True)
    customer_id: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CustomerLockBucket(Base):
    """One of the buckets customers hash to, locked FOR UPDATE to serialise their decisions (PostgreSQL only;
    filled by its migration, never written afterwards: see guard.situation.history.LOCK_TABLE)."""

    __tablename__ = "customer_lock_buckets"

    bucket: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
