"""Adding, listing and removing webhook subscriptions; every change is chained in the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from guard.core.errors import NotFound, ValidationFailed
from guard.core.schemas import load
from guard.core.timeutil import iso, utcnow
from guard.core.vault import seal, unseal
from guard.ledger.chain import Entry, append
from guard.ledger.digests import values_digest
from guard.outbound.client import private_target
from guard.outbound.schemas import SubscriptionInput
from guard.outbound.signing import new_secret
from guard.storage.database import Database
from guard.storage.tables.outbound import WebhookDelivery, WebhookSubscription

KIND = "subscription"  # its records in the audit chain
MAX_ROW_ID = 2**31 - 1  # the largest id an INTEGER column holds on PostgreSQL: larger ones name nothing
_input = SubscriptionInput()


def vault_name(subscription_id: int) -> str:
    """What a subscription's secret is sealed for (no source name has a colon, so the two never mix)."""
    return f"subscription:{subscription_id}"


def add_subscription(db: Database, audit_key: bytes, raw: Any, actor: str, public_only: bool = False
                     ) -> dict[str, Any]:
    """Validate and store a subscription with its secret encrypted; the answer carries `secret` only when Guard
    generated it (shown this once, never again). `public_only`: a URL whose host is at a private address is
    refused now rather than failing every delivery later."""
    data = load(_input, raw, "subscription")
    refused = private_target(data["url"]) if public_only else None
    if refused:
        raise ValidationFailed("The subscription is not valid.", {"url": [refused]})
    generated = new_secret() if data["secret"] is None else None
    secret: str = data["secret"] or generated or ""
    with db.transaction() as session:
        subscription = WebhookSubscription(url=data["url"], events=sorted(set(data["events"])), secret_box="",
                                           created_by=actor[:200], created_at=utcnow())
        session.add(subscription)
        session.flush()  # the id the secret is bound to
        subscription.secret_box = seal(audit_key, vault_name(subscription.id), secret)
        session.flush()
        append(session, [Entry(KIND, f"{subscription.id}:created", subscription.created_at,
                               subscription_digest(subscription, "created"))])
        return {**describe(subscription), "secret": generated}


def list_subscriptions(session: Session) -> list[WebhookSubscription]:
    """Every live subscription, oldest first."""
    return list(session.scalars(select(WebhookSubscription).where(WebhookSubscription.removed_at.is_(None))
                                .order_by(WebhookSubscription.id)))


def get_subscription(session: Session, subscription_id: int) -> WebhookSubscription:
    """The live subscription of that id, or NotFound."""
    subscription = session.get(WebhookSubscription, subscription_id) if 0 < subscription_id <= MAX_ROW_ID else None
    if subscription is None or subscription.removed_at is not None:
        raise NotFound(f"No subscription {subscription_id}.", {"id": subscription_id})
    return subscription


def remove_subscription(db: Database, subscription_id: int) -> dict[str, Any]:
    """Stop sending to a subscription: its pending deliveries are cancelled; the row stays for the audit chain."""
    with db.transaction() as session:
        subscription = get_subscription(session, subscription_id)
        subscription.removed_at = utcnow()
        session.execute(update(WebhookDelivery)
                        .where(WebhookDelivery.subscription_id == subscription.id,
                               WebhookDelivery.status == "pending")
                        .values(status="cancelled", last_error="the subscription was removed"))
        session.flush()
        append(session, [Entry(KIND, f"{subscription.id}:removed", subscription.removed_at,
                               subscription_digest(subscription, "removed"))])
        return describe(subscription)


def signing_secret(audit_key: bytes, subscription_id: int, secret_box: str) -> str:
    """The subscription's `whsec_...` secret (SecretUnreadable when the audit key changed)."""
    return unseal(audit_key, vault_name(subscription_id), secret_box)


def describe(subscription: WebhookSubscription) -> dict[str, Any]:
    """A subscription as the API, CLI and console show it: never its secret."""
    return {"id": subscription.id, "url": subscription.url, "events": list(subscription.events),
            "created_at": iso(subscription.created_at), "created_by": subscription.created_by,
            "removed_at": iso(subscription.removed_at)}


def subscription_digest(subscription: WebhookSubscription, action: str) -> str:
    """What the audit chain records of a subscription's creation or removal (the secret only as its ciphertext)."""
    when = subscription.created_at if action == "created" else subscription.removed_at
    return values_digest([subscription.id, action, subscription.url, " ".join(subscription.events),
                          subscription.secret_box, subscription.created_by, when])
