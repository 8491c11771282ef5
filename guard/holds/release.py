"""Releasing held messages: reschedule holds when their cases change, and decide each due hold again, once.

Every change to a hold happens in one transaction with what it causes: the new decision (audited, chained),
the hold's status and its outbox message. A due hold is claimed inside that transaction (on PostgreSQL with
FOR UPDATE SKIP LOCKED, on SQLite under the writer lock), so several workers or a restart never release a
hold twice, and a hold whose transaction did not commit is still due afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from guard.core.timeutil import iso
from guard.decisions.redecide import decide_again
from guard.holds.schedule import CASE_EVENT_TYPES, case_events, release_at
from guard.outbound.outbox import enqueue
from guard.policy.evaluate import Evaluator
from guard.situation.history import identities_of
from guard.storage.database import Database
from guard.storage.sql import Sql, chunks, member_of

log = logging.getLogger("guard.holds")

_FIELDS = ("id", "hold_id", "customer_id", "campaign_id", "request", "decision_id", "waiting_kind", "waiting_case_id",
           "waiting_after", "release_at", "expires_at")
_DUE = (f"SELECT {', '.join(_FIELDS)} FROM holds WHERE status = 'waiting' "
        "AND ((release_at IS NOT NULL AND release_at <= ?) OR expires_at <= ?) ORDER BY id LIMIT 1")
_UPDATE = "UPDATE holds SET status = ?, resolution_decision_id = ?, updated_at = ? WHERE id = ?"
# Released: the message may go now (allow) or at its defer time (defer).
RELEASING = ("allow", "defer")
# A hold that failed to settle is tried again this much later (or at the next full reschedule).
RETRY = timedelta(minutes=5)


@dataclass(frozen=True)
class HeldRow:
    """A waiting hold as the worker reads it."""

    pk: int
    hold_id: str
    customer_id: str
    campaign_id: str | None
    request: dict[str, Any]
    decision_id: str
    kind: str
    case_id: str
    after: int
    release_at: datetime | None
    expires_at: datetime

    @classmethod
    def of(cls, sql: Sql, row: Sequence[Any]) -> HeldRow:
        """From a row of `_FIELDS`."""
        pk, hold_id, customer, campaign, request, decision_id, kind, case_id, after, release, expires = row
        return cls(pk, hold_id, customer, campaign, sql.read_json(request), decision_id, kind, case_id, after,
                   sql.read_time(release), sql.read_time(expires))  # type: ignore[arg-type]

    def message_data(self, outcome: str | None = None) -> dict[str, Any]:
        """What every hold webhook says: which hold, whose, which message."""
        data = {"hold_id": self.hold_id, "customer_id": self.customer_id, "campaign_id": self.campaign_id,
                "held_decision_id": self.decision_id, "request": self.request}
        if outcome is not None:
            data["outcome"] = outcome
        return data


def release_due(db: Database, evaluator: Callable[[], Evaluator], now: Callable[[], datetime], limit: int = 100
                ) -> int:
    """Handle up to `limit` due holds (released, ended, expired or waiting on), one transaction each."""
    handled = 0
    if not _any_due(db, now()):
        return 0  # the usual turn: nothing due, and no write transaction (on SQLite, no writer lock) taken
    while handled < limit:
        claimed: list[HeldRow] = []
        try:
            with db.raw_transaction() as sql:
                at = now()
                lock = " FOR UPDATE SKIP LOCKED" if sql.postgres else ""
                row = sql.first(_DUE + lock, (sql.time(at), sql.time(at)))
                if row is None:
                    return handled
                claimed.append(HeldRow.of(sql, row))
                handle(sql, claimed[0], evaluator(), at)
        except Exception as exc:
            if not claimed or _unavailable(exc):
                raise
            _put_off(db, claimed[0], now(), exc)
        handled += 1
    return handled


def _put_off(db: Database, hold: HeldRow, now: datetime, exc: Exception) -> None:
    """One hold that cannot be settled (its request no longer decides) must not stop the others: it is tried
    again later, and expires like any other once its time is up."""
    with db.raw_transaction() as sql:
        state = sql.first("SELECT status FROM holds WHERE id = ?" + (" FOR UPDATE" if sql.postgres else ""),
                          (hold.pk,))
        if state is None or state[0] != "waiting":
            return  # settled meanwhile (another worker, a cancel)
        if hold.expires_at <= now:
            log.error("hold %s could not be settled; it expires", hold.hold_id, exc_info=exc)
            _expire(sql, hold, now)
            return
        log.error("hold %s could not be settled; trying again in %s", hold.hold_id, RETRY, exc_info=exc)
        sql.run("UPDATE holds SET release_at = ? WHERE id = ? AND status = 'waiting'", (sql.time(now + RETRY), hold.pk))


def _unavailable(exc: Exception) -> bool:
    """The database is gone or busy: every hold would fail alike, so none is put off."""
    return isinstance(exc, OperationalError | PoolTimeout) or (
        isinstance(exc, DBAPIError) and bool(exc.connection_invalidated))


def _any_due(db: Database, at: datetime) -> bool:
    with db.raw_reads() as sql:
        return sql.first(_DUE, (sql.time(at), sql.time(at))) is not None


def handle(sql: Sql, hold: HeldRow, evaluator: Evaluator, now: datetime) -> str:
    """Settle one claimed hold at `now`: released, ended, expired, or waiting (rescheduled); returns which."""
    events = case_events(sql, [hold.customer_id])[hold.customer_id]
    due = release_at(events, hold.kind, hold.case_id, hold.after)
    if due is not None and due <= now and due <= hold.expires_at:
        return _decide(sql, hold, evaluator, now)
    if hold.expires_at <= now:
        _expire(sql, hold, now)
        return "expired"
    # Reopened (or never closed) since it was scheduled: it waits on.
    sql.run("UPDATE holds SET release_at = ?, updated_at = ? WHERE id = ?", (sql.time(due), sql.time(now), hold.pk))
    return "waiting"


def _expire(sql: Sql, hold: HeldRow, now: datetime) -> None:
    """The hold's time is up: it expires, and subscribers hear of it."""
    sql.run("UPDATE holds SET status = 'expired', updated_at = ? WHERE id = ? AND status = 'waiting'",
            (sql.time(now), hold.pk))
    enqueue(sql, "hold.expired", {**hold.message_data(), "expires_at": iso(hold.expires_at)}, now)


def _decide(sql: Sql, hold: HeldRow, evaluator: Evaluator, now: datetime) -> str:
    """Decide the held message again; release it, end it, or let it wait for whatever blocks it now."""
    result = decide_again(sql, evaluator, hold.hold_id, hold.request, hold.expires_at, now)
    decision_id = result.answer["decision_id"]
    release = result.verdict.release
    if release is not None:
        sql.run("UPDATE holds SET waiting_kind = ?, waiting_case_id = ?, waiting_after = ?, release_at = NULL, "
                "updated_at = ? WHERE id = ?", (release.kind, release.case_id, release.after, sql.time(now), hold.pk))
        return "waiting"
    outcome = result.verdict.outcome
    status = "released" if outcome in RELEASING else "ended"
    sql.run(_UPDATE, (status, decision_id, sql.time(now), hold.pk))
    data = {**hold.message_data(outcome), "decision_id": decision_id, "decision": result.answer}
    enqueue(sql, f"hold.{status}", data, now)
    return status


def reschedule(db: Database, customers: Sequence[str], now: datetime) -> int:
    """Set the release instant of the waiting holds of these customers (by any of their names) from their case
    events: close + delay, or none while the case is open. Returns how many changed."""
    if not customers:
        return 0
    with db.raw_reads() as sql:
        identities = identities_of(sql, customers)
        names = sorted({n for c in customers for n in identities.members(c)})
        if not _waiting_among(sql, names):
            return 0  # most case events are of customers with nothing held: no write transaction
    changed = 0
    with db.raw_transaction() as sql:
        for chunk in chunks(names):
            member, params = member_of(sql, "customer_id", chunk)
            rows = [HeldRow.of(sql, r) for r in sql.rows(
                f"SELECT {', '.join(_FIELDS)} FROM holds WHERE status = 'waiting' AND {member} ORDER BY id", params)]
            events = case_events(sql, sorted({r.customer_id for r in rows}))
            for hold in rows:
                due = release_at(events.get(hold.customer_id, []), hold.kind, hold.case_id, hold.after)
                if due != hold.release_at:
                    sql.run("UPDATE holds SET release_at = ?, updated_at = ? WHERE id = ? AND status = 'waiting'",
                            (sql.time(due), sql.time(now), hold.pk))
                    changed += 1
    return changed


def after_events(db: Database, events: Iterable[dict[str, Any]], now: datetime) -> None:
    """Right after events were stored: reschedule the waiting holds of the customers whose cases changed, so
    `release_at` is known at once (the worker settles due holds within its next turn). Best effort: the
    events are stored, and the worker's watch on new case events reschedules them all the same."""
    customers = sorted({str(e.get("customer_id")) for e in events if e.get("type") in CASE_EVENT_TYPES})
    try:
        reschedule(db, customers, now)
    except Exception:
        log.warning("rescheduling holds after events failed; the hold worker will", exc_info=True)


def _waiting_among(sql: Sql, names: Sequence[str]) -> bool:
    for chunk in chunks(names):
        member, params = member_of(sql, "customer_id", chunk)
        if sql.first(f"SELECT 1 FROM holds WHERE status = 'waiting' AND {member} LIMIT 1", params):
            return True
    return False


def case_event_customers(db: Database, after_pk: int, limit: int = 1000) -> tuple[list[str], int]:
    """The customers of the case events stored after event row `after_pk`, and the last row seen."""
    with db.raw_reads() as sql:
        kinds, params = member_of(sql, "type", CASE_EVENT_TYPES)
        rows = sql.rows(f"SELECT id, customer_id FROM events WHERE id > ? AND {kinds} ORDER BY id LIMIT ?",
                        [after_pk, *params, limit])
    if not rows:
        return [], after_pk
    return sorted({customer for _, customer in rows}), rows[-1][0]


def waiting_customers(db: Database, after_pk: int, limit: int = 1000) -> tuple[list[str], int]:
    """A page of the customers with waiting holds (for the periodic full reschedule), and where it ended."""
    with db.raw_reads() as sql:
        rows = sql.rows("SELECT id, customer_id FROM holds WHERE status = 'waiting' AND id > ? ORDER BY id LIMIT ?",
                        (after_pk, limit))
    if not rows:
        return [], after_pk
    return sorted({customer for _, customer in rows}), rows[-1][0]


def last_event_pk(db: Database) -> int:
    """The newest event row, where watching for new case events starts."""
    with db.raw_reads() as sql:
        row = sql.first("SELECT max(id) FROM events")
    return int(row[0] or 0) if row else 0
