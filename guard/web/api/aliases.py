"""`/v1/customers/<id>/aliases`: identity links, the names the shop, the helpdesk or the CRM give a customer."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from guard.core.errors import ValidationFailed
from guard.core.schemas import MAX_ID, load
from guard.situation.aliases import link, list_aliases, normal, unlink
from guard.situation.schemas import AliasesSchema
from guard.web.shared.auth import require
from guard.web.shared.body import json_body
from guard.web.shared.context import current_guard

bp = Blueprint("aliases", __name__)


def _customer(customer_id: str, field: str = "customer_id") -> str:
    """A name from the path, bounded like every id Guard stores."""
    if not 0 < len(customer_id) <= MAX_ID or "\x00" in customer_id:
        raise ValidationFailed(f"The {field.replace('_', ' ')} is not valid.",
                               {field: [f"1 to {MAX_ID} characters, no NUL."]})
    return customer_id


@bp.post("/v1/customers/<path:customer_id>/aliases")
@require("events")
def post_aliases(customer_id: str) -> tuple[Response, int]:
    """Link aliases to the customer id, all or none (201 when one was new, 200 when all existed)."""
    customer_id = _customer(customer_id)
    aliases = load(AliasesSchema(), json_body(), "request")["aliases"]
    if customer_id in aliases or normal(customer_id) in map(normal, aliases):
        raise ValidationFailed("A customer id cannot be its own alias.",
                               {"aliases": ["The customer id itself is not an alias."]})
    with current_guard().db.transaction() as session:
        result = link(session, customer_id, aliases)
    return jsonify(result), 201 if result["created"] else 200


@bp.get("/v1/customers/<path:customer_id>/aliases")
@require("read")
def get_aliases(customer_id: str) -> Response:
    """The customer id's aliases, oldest first (none: an empty list)."""
    customer_id = _customer(customer_id)
    with current_guard().db.sessions() as session:
        return jsonify(list_aliases(session, customer_id))


@bp.delete("/v1/customers/<path:customer_id>/aliases/<path:alias>")
@require("events")
def delete_alias(customer_id: str, alias: str) -> Response:
    """Unlink one alias (404 when it is not linked to this customer id)."""
    customer_id, alias = _customer(customer_id), _customer(alias, "alias")
    with current_guard().db.transaction() as session:
        return jsonify(unlink(session, customer_id, alias))
