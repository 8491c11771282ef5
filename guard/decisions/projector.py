"""The projector: the reviewers' index of the decision log, built behind the writer.

The writer commits each decision row with its matched rules inline; that row alone is what the next
decision for the customer (frequency caps) and a retried request (idempotency) read, so neither ever
waits for what is built here. The projector reads the decisions after its cursor, in id order (which is
commit order, see `store.allocate_ids`), and writes each one's reason rows (`decision_reasons`: filter by
rule) and facet row (`decision_facets`: campaign, evaluation time, outcome, winning rule) in the same
transaction that moves its cursor: a crash (kill -9 included) loses or doubles nothing, and the next
projector resumes where the last commit left it.

One projector works at a time per database, however many processes run one: on PostgreSQL each batch
holds a transaction-level advisory lock (an erasure takes it too, so no explanation is copied after it was
scrubbed); on SQLite the writer lock. Reviewers' reads are "as of" the cursor (`lag`).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy.exc import OperationalError

from guard.core.errors import GuardError
from guard.core.timeutil import utcnow
from guard.storage.bulk import REASON_COLUMNS, insert_tuples
from guard.storage.database import Database
from guard.storage.sql import Sql

log = logging.getLogger("guard.projector")

NAME = "decisions"
BATCH = 5000  # decisions per transaction: a catch-up after a crash never holds the writer lock for long
POLL_SECONDS = 0.1  # how often an idle projector looks for new decisions
FACET_COLUMNS = ("decision_pk", "evaluated_at", "campaign_id", "outcome", "rule_id")
# Any constant will do; it must be the same in every process projecting this database.
_LOCK = 0x70726F6A  # "proj"
# This process's projector's last look at the log: (when, the newest id then). Every decision with a larger
# id committed after that moment (ids are in commit order), which bounds the lag from below (see `lag`).
_LOOKS: WeakKeyDictionary[Database, tuple[datetime, int]] = WeakKeyDictionary()


@dataclass(frozen=True)
class Lag:
    """How far reviewers' reads are behind the decision log."""

    behind: int  # decisions committed and not projected yet
    seconds: float  # how long ago the oldest of them was decided (0 when none)
    as_of: datetime | None  # when the newest projected decision was decided (none: nothing projected)

    def to_dict(self) -> dict[str, Any]:
        """As /readyz shows it."""
        return {"behind": self.behind, "lag_seconds": round(self.seconds, 3),
                "as_of": self.as_of.isoformat().replace("+00:00", "Z") if self.as_of else None}


def lock_projection(sql: Sql) -> None:
    """Wait until no projector batch runs, and keep others out to the end of this transaction (PostgreSQL;
    on SQLite the writer lock already does): whoever rewrites decisions (erasure) takes it."""
    if sql.postgres:
        sql.run("SELECT pg_advisory_xact_lock(?)", (_LOCK,))


def project_once(db: Database, limit: int = BATCH) -> int:
    """Project up to `limit` decisions after the cursor in one transaction; how many (0: none new, or another
    projector holds the lock)."""
    with db.raw_reads() as sql:
        # Looked at first without the writer lock: an idle projector never delays a writer.
        upto = _cursor(sql)[0]
        newest = _look(db, sql)
    if newest <= upto:
        return 0
    with db.raw_transaction() as sql:
        if sql.postgres and not (sql.first("SELECT pg_try_advisory_xact_lock(?)", (_LOCK,)) or (False,))[0]:
            return 0
        upto = _cursor(sql)[0]  # read again under the lock: another projector may have moved it
        read_at = utcnow()  # before the read: whatever committed before it, the read sees
        # The reasons as text: most are "[]" and need no parsing (PostgreSQL's driver would parse every one).
        rows = sql.rows("SELECT id, evaluated_at, campaign_id, outcome, CAST(reasons AS TEXT) FROM decisions "
                        "WHERE id > ? ORDER BY id LIMIT ?", (upto, limit))
        if not rows:
            return 0
        facets: list[tuple[Any, ...]] = []
        reasons: list[tuple[Any, ...]] = []
        for pk, evaluated_at, campaign_id, outcome, inline in rows:
            matched = [] if inline == "[]" else sql.read_json(inline) or []  # most match no rule
            facets.append((pk, evaluated_at, campaign_id, outcome, matched[0]["rule_id"] if matched else None))
            reasons.extend((pk, i, r["rule_id"], r["outcome"], r["explanation"]) for i, r in enumerate(matched))
        # Times pass through as the driver returned them, which is how it stores them.
        insert_tuples(sql, "decision_facets", FACET_COLUMNS, facets, prepared=True)
        insert_tuples(sql, "decision_reasons", REASON_COLUMNS, reasons)
        caught_up = sql.time(read_at) if len(rows) < limit else None  # the read reached the log's end
        sql.run("INSERT INTO projections (name, upto, as_of, caught_up_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) "
                "DO UPDATE SET upto = excluded.upto, as_of = excluded.as_of, "
                "caught_up_at = COALESCE(excluded.caught_up_at, projections.caught_up_at)",
                (NAME, rows[-1][0], rows[-1][1], caught_up))
    return len(rows)


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

    The lag is an upper bound of how long ago the oldest decision not projected yet was committed (what a
    reviewer waits for; a batch of 10,000 is evaluated long before it commits, and nobody could have seen
    it before): it committed after it was evaluated, after the projector last read the log to its end, and,
    when its id is above the newest this process's projector last saw, after that look."""
    look = _LOOKS.get(db)
    with db.raw_reads() as sql:
        _look(db, sql)  # for the next call: probes asking often get a tight bound
        row = sql.first("SELECT upto, as_of, caught_up_at FROM projections WHERE name = ?", (NAME,))
        upto, as_of, caught_up_at = row if row else (0, None, None)
        behind = int((sql.first("SELECT count(*) FROM decisions WHERE id > ?", (upto,)) or (0,))[0])
        oldest = sql.first("SELECT id, evaluated_at FROM decisions WHERE id > ? ORDER BY id LIMIT 1", (upto,))
        projected_at = sql.read_time(as_of)
        if oldest is None:
            return Lag(behind, 0.0, projected_at)
        bounds = [sql.read_time(oldest[1]), sql.read_time(caught_up_at)]
    if look is not None and oldest[0] > look[1]:
        bounds.append(look[0])
    since = max(t for t in bounds if t is not None)
    return Lag(behind, max(0.0, ((now or utcnow()) - since).total_seconds()), projected_at)


def _look(db: Database, sql: Sql) -> int:
    """The newest decision id now, remembered with the moment before it was read."""
    looked_at = utcnow()
    newest = int((sql.first("SELECT max(id) FROM decisions") or (None,))[0] or 0)
    _LOOKS[db] = (looked_at, newest)
    return newest


def _cursor(sql: Sql) -> tuple[int, Any]:
    row = sql.first("SELECT upto, as_of FROM projections WHERE name = ?", (NAME,))
    return (int(row[0]), row[1]) if row else (0, None)


class Projector:
    """A daemon thread of the server that keeps the projection caught up (every worker may run one)."""

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
