"""`/v1/subscriptions` (admin): receivers of Guard's outbound webhooks, and their deliveries."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from guard.outbound.deliveries import list_deliveries, redeliver
from guard.outbound.schemas import DeliveryFilter
from guard.outbound.subscriptions import add_subscription, describe, list_subscriptions, remove_subscription
from guard.web.shared.auth import key_name, require
from guard.web.shared.body import json_body
from guard.web.shared.context import current_guard
from guard.web.shared.schemas import query

bp = Blueprint("subscriptions", __name__)


@bp.post("/v1/subscriptions")
@require("admin")
def create() -> tuple[Response, int]:
    """Subscribe a receiver; the answer carries the secret only when Guard generated it (this once)."""
    guard = current_guard()
    return jsonify(add_subscription(guard.db, guard.settings.audit_key, json_body(), key_name() or "unknown",
                                    public_only=guard.settings.webhooks_public_only)), 201


@bp.get("/v1/subscriptions")
@require("admin")
def index() -> Response:
    """Every live subscription (never its secret)."""
    with current_guard().db.sessions() as session:
        return jsonify({"subscriptions": [describe(s) for s in list_subscriptions(session)]})


@bp.delete("/v1/subscriptions/<int:subscription_id>")
@require("admin")
def delete(subscription_id: int) -> Response:
    """Stop sending to a subscription; its pending deliveries are cancelled."""
    return jsonify(remove_subscription(current_guard().db, subscription_id))


@bp.get("/v1/subscriptions/deliveries")
@require("admin")
def deliveries() -> Response:
    """The newest deliveries, optionally of one status."""
    wanted = query(DeliveryFilter())
    with current_guard().db.sessions() as session:
        return jsonify({"deliveries": list_deliveries(session, wanted)})


@bp.post("/v1/subscriptions/deliveries/<int:delivery_id>/redeliver")
@require("admin")
def redeliver_one(delivery_id: int) -> Response:
    """Send a delivery again as soon as a worker is free, with a new retry window."""
    guard = current_guard()
    return jsonify(redeliver(guard.db, delivery_id, guard.settings.webhook_retry_for))
