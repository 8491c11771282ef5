"""Held messages (issue 15): a block the sender agreed to wait out, released when the awaited case clears."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from guard.storage.database import Base, UTCDateTime


class Hold(Base):
    """One held message: what it waits for, when it is due, and how it ended."""

    __tablename__ = "holds"
    __table_args__ = (
        Index("ix_holds_customer_status", "customer_id", "status"),
        # The worker's two questions: which waiting holds are due (release or expiry), cheaply.
        Index("ix_holds_status_release", "status", "release_at"),
        Index("ix_holds_status_expires", "status", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hold_id: Mapped[str] = mapped_column(String(40), unique=True)
    customer_id: Mapped[str] = mapped_column(String(200))
    campaign_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # The held request as it was decided (validated fields, send_at made explicit), decided again on release.
    request: Mapped[dict[str, Any]] = mapped_column(JSON)
    decision_id: Mapped[str] = mapped_column(String(36), unique=True)  # the decision that created the hold
    rule_id: Mapped[str] = mapped_column(String(64))  # the block it waits out
    waiting_kind: Mapped[str] = mapped_column(String(20))
    waiting_case_id: Mapped[str] = mapped_column(String(200))
    waiting_after: Mapped[int] = mapped_column(Integer)  # seconds after the case closes
    release_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # null while the case is open
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(10))  # one of guard.core.vocabulary.HOLD_STATUSES
    resolution_decision_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    api_key_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
