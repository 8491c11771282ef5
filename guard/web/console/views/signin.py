"""Signing in and out of the console."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from werkzeug.wrappers import Response

from guard.core.errors import Forbidden, Unauthenticated
from guard.web.console import auth
from guard.web.console.blueprint import bp
from guard.web.console.forms import SignInForm, SignOutForm
from guard.web.console.views.common import page


def _safe_next(target: str | None) -> str:
    """Only a console path: a sign-in link must not send people to another site."""
    if target and target.startswith("/console") and not target.startswith("//"):
        return target
    return url_for("console.overview")


@bp.get("/")
def root() -> Response:
    """The console is Guard's home page."""
    return redirect(url_for("console.overview"))


@bp.route("/console/signin", methods=["GET", "POST"])
def signin() -> Response | tuple[str, int]:
    """Sign in with an API key of scope read (review) or admin (rules)."""
    form = SignInForm()
    if form.validate_on_submit():
        try:
            key = auth.sign_in(form.key.data or "")
        except Unauthenticated:
            form.key.errors = ["This API key is not valid (unknown or revoked)."]
        except Forbidden:
            form.key.errors = ["This key may not read the audit log: use a key with scope read or admin."]
        else:
            flash(f"Signed in as {key.name}.", "ok")
            return redirect(_safe_next(request.args.get("next")))
    status = 401 if form.errors else 200
    return page("signin.html", status, form=form)


@bp.post("/console/signout")
def signout() -> Response:
    """Sign out and go back to the sign-in page."""
    SignOutForm().validate_on_submit()
    auth.sign_out()
    flash("Signed out.", "ok")
    return redirect(url_for("console.signin"))
