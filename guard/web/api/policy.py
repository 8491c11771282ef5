"""`/v1/policy/failsafe`: what callers should do with a message when Guard cannot be reached."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from guard.web.shared.auth import require

bp = Blueprint("policy", __name__)

ADVICE = ("When Guard cannot be reached (connection error, timeout, or 503 after retrying as Retry-After says), "
          "send messages whose purpose is 'open' and hold back those whose purpose is 'closed' until Guard "
          "answers again. Cache this answer: it is meant for the moments Guard is gone.")


@bp.get("/v1/policy/failsafe")
@require("decide")
def failsafe() -> Response:
    """The fail-safe per purpose (GUARD_FAILSAFE), for callers to cache and apply when Guard is unreachable."""
    modes = current_app.config["GUARD_SETTINGS"].failsafe
    return jsonify({
        "when_unreachable": dict(modes),
        "fail_closed": sorted(p for p, m in modes.items() if m == "closed"),
        "fail_open": sorted(p for p, m in modes.items() if m == "open"),
        "advice": ADVICE,
    })
