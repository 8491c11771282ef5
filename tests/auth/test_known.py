"""Remembered keys: served from memory for at most FRESH_FOR, a revocation seen within it, refusals kept apart."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import event
from sqlalchemy.pool import Pool

from guard.auth.keys import create_key, hash_key, revoke_key
from guard.auth.known import FRESH_FOR, KnownKeys, known_keys
from guard.core.errors import Unauthenticated
from guard.storage.database import Database


class Clock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def checkouts() -> Iterator[list[int]]:
    """Counts connections taken from any pool: each key read takes one."""
    taken = [0]

    def count(*_args: object) -> None:
        taken[0] += 1

    event.listen(Pool, "checkout", count)
    yield taken
    event.remove(Pool, "checkout", count)


def _key(db: Database, *scopes: str, revoked: bool = False) -> tuple[int, str]:
    with db.transaction() as session:
        key, token = create_key(session, "known", scopes or ("decide",))
        if revoked:
            revoke_key(session, key.id)
        return key.id, token


def _revoke(db: Database, key_id: int) -> None:
    with db.transaction() as session:
        revoke_key(session, key_id)


def test_a_verified_key_is_remembered_for_less_than_a_second_then_read_again(db: Database, checkouts):
    clock = Clock()
    known = KnownKeys(db, clock=clock)
    key_id, token = _key(db, "decide", "read")
    caller = known.identify(hash_key(token))
    assert (caller.id, caller.scope_set) == (key_id, frozenset({"decide", "read"}))
    read = checkouts[0]
    clock.now += FRESH_FOR * 0.99
    assert known.identify(hash_key(token)) == caller
    assert checkouts[0] == read, "a fresh entry is served without a read"
    clock.now += FRESH_FOR * 0.02
    assert known.identify(hash_key(token)) == caller
    assert checkouts[0] == read + 1, "a stale entry is read again"


def test_a_revocation_is_refused_once_what_was_read_before_it_is_a_second_old(db: Database):
    clock = Clock()
    known = KnownKeys(db, clock=clock)
    key_id, token = _key(db)
    known.identify(hash_key(token))
    _revoke(db, key_id)
    clock.now += FRESH_FOR / 2
    known.identify(hash_key(token))  # still remembered: the promise is "within a second", not "at once"
    clock.now += FRESH_FOR / 2
    with pytest.raises(Unauthenticated):
        known.identify(hash_key(token))


def test_a_revoked_key_is_refused_from_memory_for_good(db: Database, checkouts):
    clock = Clock()
    known = KnownKeys(db, clock=clock)
    _, token = _key(db, revoked=True)
    with pytest.raises(Unauthenticated):
        known.identify(hash_key(token))
    read = checkouts[0]
    for step in range(1000):
        clock.now += step
        with pytest.raises(Unauthenticated):
            known.identify(hash_key(token))
    assert checkouts[0] == read, "hammering with a revoked key never reads the database again"


def test_an_unknown_token_is_refused_from_memory_for_a_second_only(db: Database, checkouts):
    clock = Clock()
    known = KnownKeys(db, clock=clock)
    digest = hash_key("gk_made-up")
    with pytest.raises(Unauthenticated):
        known.identify(digest)
    read = checkouts[0]
    with pytest.raises(Unauthenticated):
        known.identify(digest)
    assert checkouts[0] == read
    clock.now += FRESH_FOR
    with pytest.raises(Unauthenticated):
        known.identify(digest)
    assert checkouts[0] == read + 1


def test_made_up_tokens_never_push_a_good_key_out_and_memory_stays_bounded(db: Database, checkouts):
    clock = Clock()
    known = KnownKeys(db, clock=clock)
    _, token = _key(db)
    known.identify(hash_key(token))
    for n in range(5000):  # more than the refusals kept
        with pytest.raises(Unauthenticated):
            known.identify(hash_key(f"gk_garbage-{n}"))
    read = checkouts[0]
    assert known.identify(hash_key(token)).name == "known"
    assert checkouts[0] == read
    assert known.weight <= 3 * 1024 * 1024


def test_each_database_has_its_own_memory(db: Database):
    assert known_keys(db) is known_keys(db)
    other = Database(db.url)
    try:
        assert known_keys(other) is not known_keys(db)
    finally:
        other.dispose()
