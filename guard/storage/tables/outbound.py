"""The outbox: messages for webhook subscribers, written in the transaction of the change that causes them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from guard.storage.database import Base, UTCDateTime


class OutboxMessage(Base):
    """One event for subscribers (e.g. `care.requested`), its Standard Webhooks body as sent."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    # `webhook-id`: the same for every attempt, so receivers can drop repeats (delivery is at least once).
    message_id: Mapped[str] = mapped_column(String(40), unique=True)
    type: Mapped[str] = mapped_column(String(100), index=True)
    body: Mapped[str] = mapped_column(Text)  # the JSON body {"type", "timestamp", "data"}, byte for byte
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
