"""The projector: the reviewers' index of the decision log, built behind the writer.

The writer commits each decision row with its matched rules inline; that row alone is what the next
decision for the customer (frequency caps) and a retried request (idempotency) read, so neither ever waits
for what is built here. The projector reads the decisions after its cursor in id order (commit order, see
`store.allocate_ids`) and writes, in the same transaction that moves its cursor, what reviewers filter by:
a row per matched rule (`decision_rules`), a row per decision sent for a campaign (`decision_campaigns`) and
a sparse time -> id map (`decision_minutes`, a row per minute). A crash (kill -9 included) loses or doubles
nothing: the next projector resumes where the last commit left the cursor.

One projector works at a time per database, however many processes and hosts run one: on PostgreSQL each
batch holds a transaction-level advisory lock (tried, never waited for), on SQLite the write lock; the
cursor is read again under it. Reviewers' reads are "as of" the cursor (`lag`, `projected_upto`).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.exc import OperationalError

from guard.core.errors import GuardError
from guard.core.timeutil import utcnow
from guard.storage.bulk import insert_tuples
from guard.storage.database import Database
from guard.storage.sql import Sql
from guard.storage.tables.decisions import DecisionMinute, Projection

log = logging.getLogger("guard.projector")

NAME = "decisions"
BATCH = 5000  # decisions per transaction: a catch-up after a crash never holds the write lock for long
POLL_SECONDS = 0.1  # how often an idle projector looks for new decisions
RULE_COLUMNS = ("rule_id", "decision_pk", "position")
CAMPAIGN_COLUMNS = ("campaign_id", "decision_pk")
# Any constant will do; it must be the same in every process projecting this database.
_LOCK = 0x70726F6A  # "proj"
_EARLIER = "CASE WHEN excluded.{0} {1} decision_minutes.{0} THEN excluded.{0} ELSE decision_minutes.{0} END"
_MINUTES = ("INSERT INTO decision_minutes (minute, first_pk, last_pk) VALUES (?, ?, ?) ON CONFLICT (minute) "
            f"DO UPDATE SET first_pk = {_EARLIER.format('first_pk', '<')}, "
            f"last_pk = {_EARLIER.format('last_pk', '>')}")


@dataclass(frozen=True)
class Lag:
    """How far reviewers' reads are behind the decision log."""

    behind: int  # decisions committed and not projected yet
    seconds: float  # at most how long the oldest of them has been committed (0 when none)
    as_of: datetime  # every decision committed before this moment is projected

    def to_dict(self) -> dict[str, Any]:
        """As /readyz shows it."""
        return {"behind": self.behind, "lag_seconds": round(self.seconds, 3),
                "as_of": self.as_of.isoformat().replace("+00:00", "Z")}


def projected_upto() -> ColumnElement[int]:
    """The newest projected decision's id, in a query (0 before any): reviewers' reads stop there."""
    return func.coalesce(select(Projection.upto).where(Projection.name == NAME).scalar_subquery(), 0)


def first_since(since: datetime) -> ColumnElement[int]:
    """No decision evaluated at or after `since` has a smaller id than this (null: none projected)."""
    return select(func.min(DecisionMinute.first_pk)).where(DecisionMinute.minute >= minute_of(since)) \
        .scalar_subquery()


def last_before(until: datetime) -> ColumnElement[int]:
    """No decision evaluated before `until` has a larger id than this (null: none projected)."""
    return select(func.max(DecisionMinute.last_pk)).where(DecisionMinute.minute <= minute_of(until)) \
        .scalar_subquery()


def minute_of(when: datetime) -> int:
    """The minute (since the epoch) a time falls in, as decision_minutes keys it."""
    return int(when.timestamp()) // 60


def project_once(db: Database, limit: int = BATCH) -> int:
    """Project up to `limit` decisions after the cursor in one transaction; how many (0: none new, or another
    projector holds the lock)."""
    with db.raw_reads() as sql:
        # Looked at first without the write lock: an idle projector never delays a writer.
        if _newest(sql) <= _upto(sql):
            return 0
    with db.raw_transaction() as sql:
        if sql.postgres and not (sql.first("SELECT pg_try_advisory_xact_lock(?)", (_LOCK,)) or (False,))[0]:
            return 0
        upto = _upto(sql)  # read again under the lock: another projector may have moved it
        read_at = utcnow()  # before the read: whatever committed before it, the read sees
        # The reasons as text: most are "[]" and need no parsing (PostgreSQL's driver would parse every one).
        rows = sql.rows("SELECT id, evaluated_at, campaign_id, CAST(reasons AS TEXT) FROM decisions "
                        "WHERE id > ? ORDER BY id LIMIT ?", (upto, limit))
        if not rows:
            return 0
        _write(sql, rows)
        caught_up = sql.time(read_at) if len(rows) < limit else None  # the read reached the log's end
        sql.run("INSERT INTO projections (name, upto, as_of, caught_up_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) "
                "DO UPDATE SET upto = excluded.upto, as_of = excluded.as_of, "
                "caught_up_at = COALESCE(excluded.caught_up_at, projections.caught_up_at)",
                (NAME, rows[-1][0], rows[-1][1], caught_up))
    return len(rows)


def _write(sql: Sql, rows: list[Any]) -> None:
    """The index rows of these decisions: campaigns, matched rules, the minutes' id ranges."""
    campaigns: list[tuple[Any, ...]] = []
    rules: list[tuple[Any, ...]] = []
    minutes: dict[int, list[int]] = {}
    minute_by_stamp: dict[Any, int] = {}  # the decisions of a batch share their time: parsed once
    for pk, evaluated_at, campaign_id, inline in rows:
        if campaign_id is not None:
            campaigns.append((campaign_id, pk))
        if inline != "[]":  # most match no rule
            rules.extend((r["rule_id"], pk, i) for i, r in enumerate(sql.read_json(inline)))
        minute = minute_by_stamp.get(evaluated_at)
        if minute is None:
            minute = minute_by_stamp[evaluated_at] = minute_of(sql.read_time(evaluated_at))  # type: ignore[arg-type]
        minutes.setdefault(minute, [pk, pk])[1] = pk  # rows come in id order: the first pk is the minute's least
    insert_tuples(sql, "decision_campaigns", CAMPAIGN_COLUMNS, campaigns, prepared=True)
    insert_tuples(sql, "decision_rules", RULE_COLUMNS, rules, prepared=True)
    for minute, (first, last) in minutes.items():
        sql.run(_MINUTES, (minute, first, last))


def catch_up(db: Database, stop: threading.Event | None = None) -> int:
    """Project until nothing is left (or `stop` is set); how many decisions were projected."""
    total = 0
    while stop is None or not stop.is_set():
        done = project_once(db)
        if not done:
            break
        total += done
    return total


def lag(db: Database, now: datetime | None = None) -> Lag:
    """How far the projection is behind the log now.

    Ids are in commit order, so every decision committed before the oldest one not projected yet is projected;
    that one committed after it was evaluated and after the projector last read the log to its end. The later
    of those two moments is when reviewers' reads are complete up to (`as_of`), and `seconds` how long ago."""
    now = now or utcnow()
    with db.raw_reads() as sql:
        row = sql.first("SELECT upto, caught_up_at FROM projections WHERE name = ?", (NAME,))
        upto, caught_up_at = row if row else (0, None)
        oldest = sql.first("SELECT evaluated_at FROM decisions WHERE id > ? ORDER BY id LIMIT 1", (upto,))
        if oldest is None:
            return Lag(0, 0.0, now)
        behind = int((sql.first("SELECT count(*) FROM decisions WHERE id > ?", (upto,)) or (0,))[0])
        since = max(t for t in (sql.read_time(oldest[0]), sql.read_time(caught_up_at)) if t is not None)
    return Lag(behind, max(0.0, (now - since).total_seconds()), min(since, now))


def _newest(sql: Sql) -> int:
    return int((sql.first("SELECT max(id) FROM decisions") or (None,))[0] or 0)


def _upto(sql: Sql) -> int:
    row = sql.first("SELECT upto FROM projections WHERE name = ?", (NAME,))
    return int(row[0]) if row else 0


class Projector:
    """A daemon thread of the server that keeps the projection caught up (every worker runs one; one works
    at a time, so a killed worker or host never leaves the reviewers' index behind for long)."""

    def __init__(self, db: Database, poll: float = POLL_SECONDS) -> None:
        self._db = db
        self._poll = poll
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="guard-projector", daemon=True)

    def start(self) -> Projector:
        """Start projecting; returns itself."""
        self._thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Stop after the current batch."""
        self._stop.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self._poll):
            try:
                catch_up(self._db, self._stop)
            except (OperationalError, GuardError) as exc:  # busy or away: the next round tries again
                log.info("projecting decisions waits: %s", type(exc).__name__)
                self._stop.wait(1.0)
            except Exception:  # nothing is half-done: a batch commits whole with its cursor, or not at all
                log.warning("projecting decisions failed; retrying", exc_info=True)
                self._stop.wait(1.0)
