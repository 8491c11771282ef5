"""Configured webhook sources."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from guard.storage.database import Base, UTCDateTime


class Source(Base):
    """A vendor that sends webhooks to `/v1/inbound/<name>`; removed sources keep their row for the audit chain."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    # The name while the source is live, NULL once removed: unique, so a name is live at most once.
    live_name: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    # AES-GCM ciphertext of the vendor's signing secret (guard.core.vault); never returned.
    secret_box: Mapped[str] = mapped_column(Text)
    customer_field: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
