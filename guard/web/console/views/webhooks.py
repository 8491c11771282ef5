"""Webhooks (admins): receivers of Guard's outbound webhooks and how their deliveries went; redeliver one."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request, url_for
from werkzeug.wrappers import Response

from guard.core.errors import GuardError
from guard.outbound.deliveries import list_deliveries, redeliver
from guard.outbound.schemas import STATUSES
from guard.outbound.subscriptions import add_subscription, describe, list_subscriptions, remove_subscription
from guard.web.console.auth import admin_only, current_key
from guard.web.console.blueprint import bp
from guard.web.console.forms import PlainForm, SubscriptionForm
from guard.web.console.views.common import page
from guard.web.shared.context import current_guard

SHOWN = 100


@bp.get("/console/webhooks")
@admin_only
def webhooks() -> tuple[str, int]:
    """The subscriptions, the newest deliveries (of one status, when asked), and the form to subscribe."""
    return _page(SubscriptionForm())


def _page(form: SubscriptionForm, status: int = 200, secret: str | None = None) -> tuple[str, int]:
    wanted = request.args.get("status")
    wanted = wanted if wanted in STATUSES else None
    with current_guard().db.sessions() as session:
        subscriptions = [describe(s) for s in list_subscriptions(session)]
        deliveries = list_deliveries(session, {"status": wanted, "limit": SHOWN})
    return page("webhooks.html", status, subscriptions=subscriptions, deliveries=deliveries, form=form,
                button=PlainForm(), statuses=STATUSES, wanted=wanted, secret=secret)


@bp.post("/console/webhooks")
@admin_only
def webhooks_add() -> Response | tuple[str, int]:
    """Subscribe a receiver; a generated secret is shown on the page answered now, and never again."""
    form = SubscriptionForm()
    if not form.validate_on_submit():
        return _page(form, 422)
    guard = current_guard()
    data: dict[str, Any] = {"url": form.url.data, "events": (form.events.data or "").replace(",", " ").split(),
                            "secret": form.secret.data or None}
    try:
        added = add_subscription(guard.db, guard.settings.audit_key, data, f"console:{current_key().name}",
                                 public_only=guard.settings.webhooks_public_only)
    except GuardError as exc:
        details = exc.details if isinstance(exc.details, dict) else {}
        for field, messages in details.items():
            if field in form and field != "secret":
                getattr(form, field).errors = list(messages) if isinstance(messages, list) else [str(messages)]
        if "secret" in details:
            form.secret.errors = ["Not a whsec_ secret of 24 to 64 base64 bytes."]
        flash(f"Nothing was added: {exc.message}", "error")
        return _page(form, 422)
    flash(f"Subscribed {added['url']} to {', '.join(added['events'])} (subscription {added['id']}).", "ok")
    if added["secret"]:  # shown in this answer only: never put in a cookie or a redirect
        return _page(SubscriptionForm(formdata=None), 201, secret=added["secret"])
    return redirect(url_for("console.webhooks"))


@bp.post("/console/webhooks/<int:subscription_id>/remove")
@admin_only
def webhooks_remove(subscription_id: int) -> Response:
    """Stop sending to a subscription; its pending deliveries are cancelled."""
    if not PlainForm().validate_on_submit():
        flash("The form expired; try again.", "error")
        return redirect(url_for("console.webhooks"))
    try:
        remove_subscription(current_guard().db, subscription_id)
    except GuardError as exc:
        flash(f"Nothing was removed: {exc.message}", "error")
        return redirect(url_for("console.webhooks"))
    flash(f"Removed subscription {subscription_id}: its pending deliveries are cancelled.", "ok")
    return redirect(url_for("console.webhooks"))


@bp.post("/console/webhooks/deliveries/<int:delivery_id>/redeliver")
@admin_only
def webhooks_redeliver(delivery_id: int) -> Response:
    """Send a delivery again within seconds, with a new retry window."""
    if not PlainForm().validate_on_submit():
        flash("The form expired; try again.", "error")
        return redirect(url_for("console.webhooks"))
    guard = current_guard()
    try:
        redeliver(guard.db, delivery_id, guard.settings.webhook_retry_for)
    except GuardError as exc:
        flash(f"Not sent again: {exc.message}", "error")
        return redirect(url_for("console.webhooks"))
    flash(f"Delivery {delivery_id} will be sent again within seconds.", "ok")
    return redirect(url_for("console.webhooks"))
