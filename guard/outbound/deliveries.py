"""The deliveries as admins see them (newest first, by status), and redelivering one."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from guard.core.errors import Conflict, NotFound
from guard.core.schemas import load
from guard.core.timeutil import iso, utcnow
from guard.outbound.schemas import DeliveryFilter
from guard.outbound.subscriptions import MAX_ROW_ID
from guard.storage.database import Database
from guard.storage.tables.outbound import OutboxMessage, WebhookDelivery, WebhookSubscription

_filter = DeliveryFilter()
Row = tuple[WebhookDelivery, OutboxMessage, WebhookSubscription]


def list_deliveries(session: Session, raw: Any) -> list[dict[str, Any]]:
    """The newest deliveries (`status` and `limit` as in DeliveryFilter)."""
    wanted = load(_filter, raw, "filter")
    query = (select(WebhookDelivery, OutboxMessage, WebhookSubscription)
             .join(OutboxMessage, OutboxMessage.id == WebhookDelivery.outbox_id)
             .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
             .order_by(WebhookDelivery.id.desc()).limit(wanted["limit"]))
    if wanted["status"]:
        query = query.where(WebhookDelivery.status == wanted["status"])
    return [describe(*row) for row in session.execute(query)]


def redeliver(db: Database, delivery_id: int, retry_for: float) -> dict[str, Any]:
    """Send a delivery again as soon as a worker is free, with a new retry window (whatever its status was)."""
    if not 0 < delivery_id <= MAX_ROW_ID:
        raise NotFound(f"No delivery {delivery_id}.", {"id": delivery_id})
    with db.transaction() as session:
        row = session.execute(
            select(WebhookDelivery, OutboxMessage, WebhookSubscription)
            .join(OutboxMessage, OutboxMessage.id == WebhookDelivery.outbox_id)
            .join(WebhookSubscription, WebhookSubscription.id == WebhookDelivery.subscription_id)
            .where(WebhookDelivery.id == delivery_id)).first()
        if row is None:
            raise NotFound(f"No delivery {delivery_id}.", {"id": delivery_id})
        delivery, message, subscription = row
        if subscription.removed_at is not None:
            raise Conflict(f"Subscription {subscription.id} was removed: its deliveries are not sent again.",
                           {"id": delivery_id, "subscription_id": subscription.id})
        now = utcnow()
        delivery.status, delivery.next_attempt_at = "pending", now
        delivery.give_up_at = now + timedelta(seconds=retry_for)
        delivery.claimed_until = delivery.claim = None  # an attempt in flight no longer counts
        session.flush()
        return describe(delivery, message, subscription)


def describe(delivery: WebhookDelivery, message: OutboxMessage, subscription: WebhookSubscription) -> dict[str, Any]:
    """One delivery: which message to which subscription, and how its attempts went."""
    return {"id": delivery.id, "message_id": message.message_id, "type": message.type,
            "subscription_id": subscription.id, "url": subscription.url, "status": delivery.status,
            "attempts": delivery.attempts, "last_status": delivery.last_status, "last_error": delivery.last_error,
            "next_attempt_at": iso(delivery.next_attempt_at) if delivery.status == "pending" else None,
            "last_attempt_at": iso(delivery.last_attempt_at), "delivered_at": iso(delivery.delivered_at),
            "created_at": iso(delivery.created_at)}
