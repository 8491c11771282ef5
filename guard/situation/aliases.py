"""Identity links: the names other systems give a customer, resolved to the one id Guard keeps.

A link is flat: an alias (`shop:7890123456789`, `email:ann@example.com`) names one customer id, and a
customer id is never itself an alias, so every name resolves in one step and a decision's situation is
read with one indexed query (see `guard.situation.history.identities_of`). Every link and unlink is a
chained audit record of kind `alias`; the alias and the customer enter its digest only as keyed customer
digests, so erasing a customer removes the links without leaving personal data in the chain.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session

from guard.core.errors import AliasesNotChainable, AliasTaken, NotFound, TooManyAliases
from guard.core.timeutil import iso, utcnow
from guard.ledger.chain import Entry, append
from guard.ledger.digests import customer_digest, values_digest
from guard.situation.history import lock_customers
from guard.storage.sql import Sql
from guard.storage.tables.situation import CustomerAlias

MAX_ALIASES = 100  # per customer: bounds the names one decision's situation is read under
KIND = "alias"  # the audit records' kind; refs `<row id>:linked` and `<row id>:unlinked`


@dataclass(frozen=True)
class Identity:
    """A name as Guard knows it: the customer id it stands for and that customer's aliases."""

    customer_id: str
    aliases: list[str]


def normal(alias: str) -> str:
    """The one spelling an alias is stored in: `email:` addresses lowercased, as inbound webhooks look them up
    (`guard.sources.receive.alias_of`); any other alias exactly as given."""
    prefix, _, value = alias.partition(":")
    return f"email:{value.strip().lower()}" if prefix == "email" else alias


def resolve(session: Session, alias: str) -> str | None:
    """The customer id an alias (`<source>:<vendor id>`, `email:<address>`) is linked to, if any."""
    return session.scalar(select(CustomerAlias.customer_id).where(CustomerAlias.alias == alias))


def identity(session: Session, name: str) -> Identity:
    """The customer a name stands for (itself when it is no alias) with all their aliases, oldest first."""
    customer_id = resolve(session, name) or name
    aliases = list(session.scalars(select(CustomerAlias.alias).where(CustomerAlias.customer_id == customer_id)
                                   .order_by(CustomerAlias.id)))
    return Identity(customer_id, aliases)


def names_of(who: Identity) -> list[str]:
    """Every name a customer's events and decisions are stored under."""
    return [who.customer_id, *who.aliases]


def list_aliases(session: Session, customer_id: str) -> dict[str, Any]:
    """A customer id's aliases with when each was linked (an alias asked about: NotFound naming none)."""
    rows = session.scalars(select(CustomerAlias).where(CustomerAlias.customer_id == customer_id)
                           .order_by(CustomerAlias.id))
    return {"customer_id": customer_id,
            "aliases": [{"alias": r.alias, "linked_at": iso(r.created_at)} for r in rows]}


def link(session: Session, customer_id: str, aliases: list[str]) -> dict[str, Any]:
    """Link the aliases to the customer id, all or none; a link that exists already is a duplicate."""
    wanted = list(dict.fromkeys(normal(a) for a in aliases))
    # PostgreSQL: taken before reading, so two requests linking one alias cannot both pass the checks.
    _lock(session, [customer_id, *wanted])
    if resolve(session, customer_id) is not None:
        raise AliasesNotChainable(f"{customer_id!r} is itself an alias: link to the customer id it names.",
                                  {"customer_id": ["An alias of another customer."]})
    existing = dict(session.execute(select(CustomerAlias.alias, CustomerAlias.customer_id)
                                    .where(CustomerAlias.alias.in_(wanted))).all())
    taken = sorted(a for a, owner in existing.items() if owner != customer_id)
    if taken:
        raise AliasTaken("Some aliases are linked to another customer: unlink them there first.",
                         {"aliases": {a: ["Linked to another customer."] for a in taken}})
    parents = sorted(set(session.scalars(select(CustomerAlias.customer_id)
                                         .where(CustomerAlias.customer_id.in_(wanted)))))
    if parents:
        raise AliasesNotChainable("Some aliases are customer ids with aliases of their own: link those aliases "
                                  "to this customer instead.",
                                  {"aliases": {a: ["A customer id with aliases."] for a in parents}})
    new = [a for a in wanted if a not in existing]
    count = session.scalar(select(func.count()).select_from(CustomerAlias)
                           .where(CustomerAlias.customer_id == customer_id)) or 0
    if count + len(new) > MAX_ALIASES:
        raise TooManyAliases(f"A customer keeps at most {MAX_ALIASES} aliases ({count} linked now).",
                             {"aliases": [f"At most {MAX_ALIASES} per customer."]})
    now = utcnow()
    rows = [CustomerAlias(alias=a, customer_id=customer_id, created_at=now) for a in new]
    session.add_all(rows)
    session.flush()
    append(session, [Entry(KIND, f"{r.id}:linked", now, link_digest(r)) for r in rows])
    return {"customer_id": customer_id,
            "results": [{"alias": a, "status": "duplicate" if a in existing else "created"} for a in wanted],
            "created": len(new)}


def unlink(session: Session, customer_id: str, alias: str) -> dict[str, Any]:
    """Remove one link of the customer id (NotFound when the alias is not linked to it)."""
    alias = normal(alias)
    _lock(session, [customer_id, alias])
    row = session.scalars(select(CustomerAlias).where(CustomerAlias.alias == alias,
                                                      CustomerAlias.customer_id == customer_id)).first()
    if row is None:
        raise NotFound(f"{alias!r} is not an alias of customer {customer_id!r}.",
                       {"customer_id": customer_id, "alias": alias})
    remove(session, [row], utcnow())
    return {"customer_id": customer_id, "alias": alias, "status": "deleted"}


def remove(session: Session, rows: list[CustomerAlias], at: datetime) -> None:
    """Delete links and chain an unlink record for each (also what an erasure does with them)."""
    if not rows:
        return
    ids = [r.id for r in rows]
    session.execute(delete(CustomerAlias).where(CustomerAlias.id.in_(ids)))
    append(session, [Entry(KIND, f"{i}:unlinked", at, unlink_digest(i)) for i in ids])


def links_of(session: Session, name: str) -> list[CustomerAlias]:
    """Every link a name takes part in: its aliases when it is a customer id, its own link when an alias."""
    return list(session.scalars(select(CustomerAlias).where(
        or_(CustomerAlias.customer_id == name, CustomerAlias.alias == name)).order_by(CustomerAlias.id)))


def link_digest(row: CustomerAlias) -> str:
    """What the chain records of a link: the row, with both names only as keyed customer digests."""
    return values_digest(["linked", row.id, customer_digest(row.alias), customer_digest(row.customer_id),
                          row.created_at])


def unlink_digest(row_id: int) -> str:
    """What the chain records of an unlink: which link ended (the record's own time says when)."""
    return values_digest(["unlinked", row_id])


def _lock(session: Session, names: list[str]) -> None:
    """Serialise link changes (and decisions) per name; see `lock_customers`."""
    lock_customers(Sql.of_session(session), set(names))
