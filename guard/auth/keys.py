"""Creating, checking and revoking API keys; keys are stored as SHA-256 hashes only."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from guard.core.errors import Forbidden, NotFound, Unauthenticated, ValidationFailed
from guard.core.timeutil import utcnow
from guard.ledger.chain import Entry, append
from guard.ledger.digests import values_digest
from guard.storage.sql import Sql
from guard.storage.tables.auth import ApiKey

SCOPES = ("decide", "events", "read", "admin")
KEY_PREFIX = "gk_"


def hash_key(token: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def create_key(session: Session, name: str, scopes: Iterable[str]) -> tuple[ApiKey, str]:
    """A new key; the plaintext is returned once and never stored."""
    wanted = sorted(set(scopes))
    unknown = [s for s in wanted if s not in SCOPES]
    if not name.strip() or len(name) > 200:
        raise ValidationFailed("A key needs a name of 1-200 characters.", {"name": ["1-200 characters."]})
    if not wanted or unknown:
        raise ValidationFailed("Unknown or missing scope.", {"scope": [f"One or more of {', '.join(SCOPES)}."]})
    token = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(name=name, prefix=token[:10], key_hash=hash_key(token), scopes=",".join(wanted),
                 created_at=utcnow())
    session.add(key)
    session.flush()
    append(session, [Entry("key", f"{key.id}:created", key.created_at, key_digest(key, "created"))])
    return key, token


@dataclass(frozen=True)
class Caller:
    """The live key behind an API request: its id, name and scopes."""

    id: int
    name: str
    scope_set: frozenset[str]


def authenticate(session: Session, token: str | None) -> ApiKey:
    """The live key for a bearer token, or Unauthenticated."""
    digest = token_digest(token)
    key = session.scalars(select(ApiKey).where(ApiKey.key_hash == digest)).first()
    _check_live(key.key_hash if key else None, digest, key.revoked_at if key else None)
    assert key is not None
    return key


class Rejected(Exception):
    """A key digest that names no live key: `revoked` when it names a revoked one (revocation is final)."""

    def __init__(self, revoked: bool) -> None:
        super().__init__("revoked" if revoked else "unknown")
        self.revoked = revoked


def lookup(sql: Sql, digest: str) -> Caller:
    """The live key whose hash is `digest` (one indexed read, so no ORM), or Rejected."""
    row = sql.first("SELECT id, name, scopes, key_hash, revoked_at FROM api_keys WHERE key_hash = ?", (digest,))
    if row is None or not hmac.compare_digest(row[3], digest):
        raise Rejected(revoked=False)
    if row[4] is not None:
        raise Rejected(revoked=True)
    return Caller(row[0], row[1], frozenset(s for s in row[2].split(",") if s))


def token_digest(token: str | None) -> str:
    """The stored form of a bearer token, or Unauthenticated when there is none."""
    if not token:
        raise Unauthenticated("Send an API key: Authorization: Bearer <key>.")
    return hash_key(token)


def _check_live(stored_hash: str | None, digest: str, revoked_at: object) -> None:
    # The lookup is by hash, so timing reveals nothing of the key; compare again in constant time anyway.
    if stored_hash is None or not hmac.compare_digest(stored_hash, digest) or revoked_at is not None:
        raise Unauthenticated("This API key is not valid.")


def require_scope(scopes: frozenset[str], scope: str) -> None:
    """Forbidden unless the scopes include `scope` (admin implies every scope)."""
    if scope not in scopes and "admin" not in scopes:
        raise Forbidden(f"This key lacks the {scope!r} scope.", {"required_scope": scope})


def list_keys(session: Session) -> list[ApiKey]:
    """Every key, newest first (hashes only)."""
    return list(session.scalars(select(ApiKey).order_by(ApiKey.id.desc())))


def revoke_key(session: Session, key_id: int) -> ApiKey:
    """Revoke a key by id; every process refuses it within a second (guard/auth/known.py)."""
    key = session.get(ApiKey, key_id)
    if key is None:
        raise NotFound(f"No API key {key_id}.")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()
        append(session, [Entry("key", f"{key.id}:revoked", key.revoked_at, key_digest(key, "revoked"))])
    return key


def key_digest(key: ApiKey, action: str) -> str:
    """What the audit chain records of a key's creation or revocation (never the key itself)."""
    when = key.created_at if action == "created" else key.revoked_at
    return values_digest([key.id, action, key.name, key.prefix, key.key_hash, key.scopes, when])
