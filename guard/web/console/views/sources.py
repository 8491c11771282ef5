"""Sources (admins): the vendors whose webhooks Guard accepts; add and remove them through the API's use cases."""

from __future__ import annotations

from flask import flash, redirect, url_for
from werkzeug.wrappers import Response

from guard.core.errors import GuardError
from guard.sources.usecases import add_source, describe, list_sources, remove_source
from guard.web.console.auth import admin_only, current_key
from guard.web.console.blueprint import bp
from guard.web.console.forms import RemoveSourceForm, SourceForm
from guard.web.console.views.common import page
from guard.web.shared.context import current_guard


@bp.get("/console/sources")
@admin_only
def sources() -> tuple[str, int]:
    """Every live source with the path to give its vendor, and the form to add one."""
    return _page(SourceForm())


def _page(form: SourceForm, status: int = 200) -> tuple[str, int]:
    with current_guard().db.sessions() as session:
        found = [describe(s) for s in list_sources(session)]
    return page("sources.html", status, sources=found, form=form, remove_form=RemoveSourceForm())


@bp.post("/console/sources")
@admin_only
def add() -> Response | tuple[str, int]:
    """Add a source; field errors are shown with the form (the secret is never echoed back)."""
    form = SourceForm()
    if not form.validate_on_submit():
        return _page(form, 422)
    guard = current_guard()
    data = {"name": form.name.data, "kind": form.kind.data, "secret": form.secret.data,
            "customer_field": form.customer_field.data or None}
    try:
        added = add_source(guard.db, guard.settings.audit_key, data, f"console:{current_key().name}")
    except GuardError as exc:
        details = exc.details if isinstance(exc.details, dict) else {}
        for field, messages in details.items():
            if field in form and field != "secret":
                getattr(form, field).errors = list(messages) if isinstance(messages, list) else [str(messages)]
        flash(f"Nothing was added: {exc.message}", "error")
        return _page(form, 409 if exc.code == "conflict" else 422)
    flash(f"Added source {added['name']}: point the vendor's webhooks at {added['path']}.", "ok")
    return redirect(url_for("console.sources"))


@bp.post("/console/sources/<name>/remove")
@admin_only
def remove(name: str) -> Response:
    """Remove a source: its deliveries are refused from now on."""
    if not RemoveSourceForm().validate_on_submit():
        flash("The form expired; try again.", "error")
        return redirect(url_for("console.sources"))
    try:
        remove_source(current_guard().db, name)
    except GuardError as exc:
        flash(f"Nothing was removed: {exc.message}", "error")
        return redirect(url_for("console.sources"))
    flash(f"Removed source {name}: its deliveries are refused from now on.", "ok")
    return redirect(url_for("console.sources"))
