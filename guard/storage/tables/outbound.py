"""The outbox: messages for webhook subscribers, written in the transaction of the change that causes them;
the subscriptions, and one delivery per message and matching subscription."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
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
    # When its deliveries were made (one per subscription then live for its type); NULL: not yet.
    fanned_out_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)


class WebhookSubscription(Base):
    """A receiver of outbound webhooks: its URL, the event types it wants and its signing secret (encrypted)."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON)
    # AES-GCM ciphertext of the `whsec_...` secret (guard.core.vault), bound to the subscription's id.
    secret_box: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class WebhookDelivery(Base):
    """One message to one subscription: attempted until delivered, or until its retry window ends (failed)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("outbox_id", "subscription_id"),
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    outbox_id: Mapped[int] = mapped_column(ForeignKey("outbox.id"))
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscriptions.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))  # pending | delivered | failed | cancelled
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Retried until then (a redelivery starts a new window).
    give_up_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # A worker sending it holds it until then; a worker killed mid-attempt lets it go when this passes.
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    claim: Mapped[str | None] = mapped_column(String(40), nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the receiver's HTTP status
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
