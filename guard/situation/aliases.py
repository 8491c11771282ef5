"""Identity links: the names other systems give a customer, resolved to the one id Guard keeps."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from guard.situation.models import CustomerAlias


def resolve(session: Session, alias: str) -> str | None:
    """The customer id an alias (`<source>:<vendor id>`, `email:<address>`) is linked to, if any."""
    return session.scalar(select(CustomerAlias.customer_id).where(CustomerAlias.alias == alias))
