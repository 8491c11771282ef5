"""Purging the outbox: old messages whose every delivery is settled go with their deliveries; a message that may
still be sent (not fanned out yet, or a delivery pending) stays whatever its age, so delivery stays at least once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, exists, or_, select
from sqlalchemy.orm import Session, aliased

from guard.storage.database import deleted_rows
from guard.storage.tables.outbound import OutboxMessage, WebhookDelivery


def purge_settled(session: Session, before: datetime) -> tuple[int, int]:
    """Delete the messages created before `before` that were fanned out and whose deliveries all settled
    (delivered, failed or cancelled) before it, and those deliveries; returns (messages, deliveries)."""
    other = aliased(WebhookDelivery)
    # A delivery attempted (or made) since `before` went on after the date: it and its message stay, so a
    # failure of yesterday can still be redelivered.
    unsettled = or_(other.status == "pending", other.created_at >= before, other.last_attempt_at >= before)
    settled = select(OutboxMessage.id).where(
        OutboxMessage.created_at < before, OutboxMessage.fanned_out_at.is_not(None),
        ~exists().where(other.outbox_id == OutboxMessage.id, unsettled))
    # The status is checked again on each row deleted: a delivery redelivered meanwhile (pending again, committed
    # before this statement reached it) stays, and so does its message (the next statement finds it).
    deliveries = deleted_rows(session, delete(WebhookDelivery).where(
        WebhookDelivery.outbox_id.in_(settled), WebhookDelivery.status != "pending"))
    messages = deleted_rows(session, delete(OutboxMessage).where(
        OutboxMessage.id.in_(settled),
        ~exists().where(WebhookDelivery.outbox_id == OutboxMessage.id)))
    return messages, deliveries
