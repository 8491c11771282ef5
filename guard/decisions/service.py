"""The decide use case: validate, look at the situation, evaluate, and record the audit in one transaction.

Single and batch requests share one path: situations and histories are loaded set-wise for all customers of
a batch, a customer with no history at all reuses the verdict of an identical message, and the audit
records are inserted in bulk in the same transaction that produces the answers.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from json.encoder import encode_basestring_ascii
from typing import Any, NamedTuple
from weakref import WeakKeyDictionary

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from guard.core.canonical import content_hash
from guard.core.errors import GuardError, IdempotencyConflict, ServiceUnavailable, ValidationFailed
from guard.core.ids import decision_ids
from guard.core.lru import Lru, text_weight
from guard.core.message import Message, PriorDecision, to_message
from guard.core.schemas import MAX_ID, load
from guard.core.strictjson import clean_text
from guard.core.timeutil import iso, utcnow
from guard.decisions import store
from guard.decisions.answer import verdict_body
from guard.decisions.care import CareRequest, tell_care
from guard.decisions.holding import NewHold, held, held_request, hold_expiry, insert_holds, new_hold_id
from guard.decisions.record import Recorder
from guard.decisions.schemas import DecisionRequestSchema
from guard.policy.engine import EngineError
from guard.policy.evaluate import Evaluator, Verdict
from guard.situation.derive import STATE_TYPES, EventRecord, derive
from guard.situation.history import (
    Identities,
    combined,
    events_later,
    history_later,
    history_of,
    identities_later,
    lock_customers_as_asked,
)
from guard.storage.bulk import COPY_FROM
from guard.storage.coalesce import Coalescer
from guard.storage.database import Database
from guard.storage.sql import Pending, Sql

log = logging.getLogger("guard.decisions")

_schema = DecisionRequestSchema()
# A per-item answer for a failure that is Guard's own (the single-request path answers 500 with the same).
INTERNAL_ERROR = {"code": "internal_error", "message": "Guard failed to answer this request; it has been logged.",
                  "details": {}}
_PER_ITEM = ("customer_id", "idempotency_key")
MAX_BATCH = 10_000
# Decisions fewer than COPY_FROM are written with plain INSERTs, so their statements can be pipelined.
PIPELINE_BELOW = COPY_FROM
VersionLookup = Callable[[int], Evaluator]
# Distinct rules versions one request may dry-run against: each one not cached costs a compile.
MAX_CANDIDATES = 2
# Validated request shapes remembered across calls (most a few hundred bytes; bounded in bytes too).
_SHAPES: Lru[str, dict[str, Any]] = Lru(4096, weigh=text_weight)
# One group-commit queue per database of this process.
_COALESCERS: WeakKeyDictionary[Database, Coalescer[tuple[Evaluator, _Item]]] = WeakKeyDictionary()
_COALESCERS_LOCK = threading.Lock()
_FIRST_DAY = datetime(1, 1, 2, tzinfo=UTC)
# One NDJSON answer, as the stream endpoint writes it.
ANSWER_LINE = json.JSONEncoder(separators=(",", ":")).encode


@dataclass
class _Item:
    """One request of a batch on its way to an answer."""

    index: int
    raw: Any
    key_name: str | None
    scope: int  # the id of the API key whose idempotency keys this request's key is among (0: no key)
    data: dict[str, Any] = field(default_factory=dict)
    message: Message | None = None
    request_hash: str = ""
    shape: str | None = None  # everything but customer and key, when the request is plain JSON
    blank_key: str | None = None  # names the verdict of a customer without any situation
    hold_until: datetime | None = None  # the request accepts a hold until then (None: it accepts none)
    result: dict[str, Any] | None = None
    error: GuardError | None = None
    failure: Exception | None = None  # a bug met while deciding this item (and no other)
    # Evaluated ahead of the write (by a helper process): the verdict, the situation it was evaluated
    # against (see _Context.signature) and which call evaluated it. The writer keeps it only when it reads
    # the same situation under its locks (see _ahead_customers).
    verdict: Verdict | None = None
    seen: Any = None
    part: int = -1

    def __getstate__(self) -> dict[str, Any]:
        """What a helper process sends back: the validated data only as far as the writer reads it."""
        state = dict(self.__dict__)
        key = self.data.get("idempotency_key")
        state["data"] = {"idempotency_key": key} if key else {}
        if self.failure is not None:  # logged where it happened; any exception must cross the pipe
            state["failure"] = RuntimeError(f"{type(self.failure).__name__}: {self.failure}")
        return state

    def fail(self, exc: Exception) -> None:
        """This item, and no other, fails: logged with its trace, answered as an internal error."""
        log.error("deciding request %d failed", self.index, exc_info=exc)
        self.result, self.error, self.failure = None, None, exc

    @property
    def pending(self) -> bool:
        """Valid and not answered yet."""
        return self.error is None and self.failure is None and self.result is None


class Prepared(NamedTuple):
    """A decision a helper process evaluated and built ahead of the writer (see `prepare_ahead`): its row,
    reasons, digest and answer line. The writer records it as built when the customer's situation under its
    locks is the one it was evaluated against; otherwise it decides the request itself."""

    position: int  # in the stream
    customer: str
    send_at: datetime
    seen: Any  # the situation it was evaluated against (see _Context.signature)
    part: int
    row: tuple[Any, ...]  # see Recorder.built
    reasons: str  # inline, as the decision row holds them
    digest: str
    line: bytes  # its NDJSON answer, as `_batch_result` would answer it
    counted: tuple[str, str | None]  # outcome and winning rule (None: no reasons), for metrics and summaries


def validate_request(raw: Any) -> dict[str, Any]:
    """A validated decision request, or ValidationFailed with field details."""
    data = load(_schema, raw, "decision request")
    if data.get("rules_version") is not None and not data["dry_run"]:
        raise ValidationFailed("rules_version names a candidate for a dry run only.",
                               {"rules_version": ["Only with dry_run: true."]})
    return data


def decide(db: Database, evaluator: Evaluator, raw: Any, key_name: str | None = None,
           versions: VersionLookup | None = None, key_id: int | None = None) -> dict[str, Any]:
    """Answer one planned send; unless dry_run, the answer and its audit record are committed together.

    Single decisions arriving together on one process are committed as one batch (group commit): the
    same transaction, locks and in-batch ordering as `decide_batch`, each with its own answer.
    """
    now = utcnow()
    item = _validated(0, raw, now, key_name, key_id)
    if item.pending and item.data["dry_run"]:
        _dry_run(db, evaluator, item, now, versions)
    elif item.pending:
        _coalescer(db).submit((evaluator, item))
    if item.failure is not None:
        raise item.failure
    if item.error is not None:
        raise item.error
    assert item.result is not None
    return item.result


def _coalescer(db: Database) -> Coalescer[tuple[Evaluator, _Item]]:
    with _COALESCERS_LOCK:
        coalescer = _COALESCERS.get(db)
        if coalescer is None:
            coalescer = _COALESCERS[db] = Coalescer(partial(_decide_coalesced, db))
        return coalescer


def _decide_coalesced(db: Database, work: list[tuple[Evaluator, _Item]]) -> None:
    """One transaction per evaluator (there are two only while an activation is being picked up)."""
    now = utcnow()
    by_evaluator: dict[int, tuple[Evaluator, list[_Item]]] = {}
    for evaluator, item in work:
        by_evaluator.setdefault(id(evaluator), (evaluator, []))[1].append(item)
    for evaluator, items in by_evaluator.values():
        _decide_live(db, evaluator, items, now)


def decide_batch(db: Database, evaluator: Evaluator, raws: list[Any], key_name: str | None = None,
                 versions: VersionLookup | None = None, key_id: int | None = None) -> list[dict[str, Any]]:
    """Answer many planned sends in input order; a bad item gets its own error and sinks no other."""
    return [_batch_result(item) for item in decide_many(db, evaluator, raws, key_name, versions, key_id)]


def _batch_result(item: _Item) -> dict[str, Any]:
    """One batch answer: its position, the customer when known, then the decision or the error."""
    out: dict[str, Any] = {"index": item.index}
    if item.message is not None:
        out["customer_id"] = item.message.customer_id
    if item.result is not None:
        out.update(item.result)
    else:
        out["error"] = item.error.to_dict() if item.error else dict(INTERNAL_ERROR)
    return out


def decide_many(db: Database, evaluator: Evaluator, raws: list[Any], key_name: str | None = None,
                versions: VersionLookup | None = None, key_id: int | None = None) -> list[_Item]:
    """The shared path: validate all, answer dry runs, then decide and record the rest in one transaction."""
    now = utcnow()
    items = [_validated(i, raw, now, key_name, key_id) for i, raw in enumerate(raws)]
    candidates: set[int] = set()
    for item in items:
        if item.pending and item.data["dry_run"]:
            if _over_candidates(item, candidates):
                continue
            _dry_run(db, evaluator, item, now, versions)
    live = [i for i in items if i.pending]
    if live:
        _decide_live(db, evaluator, live, now)
    return items


def evaluate_ahead(db: Database, evaluator: Evaluator, raws: list[Any], key_name: str | None, key_id: int | None,
                   now: datetime, versions: VersionLookup | None = None, part: int = 0, offset: int = 0
                   ) -> list[_Item]:
    """Validate, answer dry runs, and evaluate the rest against the situation read now, without writing:
    a helper process's share of a stream or batch. The writer (`decide_evaluated`) records them.

    Items are evaluated in input order, each customer's seeing its earlier ones, as in one transaction;
    an item whose key an earlier one holds is left to the writer, as is one the evaluation fails.
    """
    items = [_validated(offset + i, raw, now, key_name, key_id) for i, raw in enumerate(raws)]
    shared: dict[str | None, str | None] = {}
    for item in items:  # one string per shape: sent back to the writer once
        item.shape = shared.setdefault(item.shape, item.shape)
        item.blank_key = shared.setdefault(item.blank_key, item.blank_key)
    candidates: set[int] = set()
    for item in items:
        if item.pending and item.data["dry_run"] and not _over_candidates(item, candidates):
            _dry_run(db, evaluator, item, now, versions)
    keys: set[Any] = set()
    ahead = []
    for item in items:
        key = item.data.get("idempotency_key") if item.pending else None
        if item.pending and key not in keys:
            ahead.append(item)
            if key:
                keys.add(key)
    if not ahead:
        return items
    with db.raw_reads() as sql:
        context = _Context.load(sql, evaluator, [i.message for i in ahead if i.message is not None])
    for item in ahead:
        assert item.message is not None
        item.seen, item.part = context.signature(item.message.customer_id), part
    for item in ahead:
        assert item.message is not None
        try:
            item.verdict = context.evaluate(evaluator, item.message, item.blank_key)
        except Exception:  # the writer evaluates it again, and answers its error there
            continue
        context.remember(item.message, item.verdict, tuple(r.rule_id for r in item.verdict.reasons))
    return items


def decide_evaluated(db: Database, evaluator: Evaluator, items: list[_Item], now: datetime
                     ) -> list[dict[str, Any]]:
    """Record items from `evaluate_ahead` (of one or more calls) in one transaction, in their order."""
    live = [i for i in items if i.pending]
    if live:
        _decide_live(db, evaluator, live, now)
    return [_batch_result(item) for item in items]


def prepare_ahead(db: Database, evaluator: Evaluator, raws: list[Any], indexes: list[int], key_name: str | None,
                  key_id: int | None, now: datetime, versions: VersionLookup | None = None) -> list[_Item | Prepared]:
    """`evaluate_ahead`, then build the plain decisions (no idempotency key, hold or care notification) as
    the writer would record them: a helper process's share of a stream, so the writer only inserts them."""
    items = evaluate_ahead(db, evaluator, raws, key_name, key_id, now, versions)
    for item, index in zip(items, indexes, strict=True):
        item.index = index
    plain = [i for i in items if _plain(i)]
    if not plain:
        return list(items)
    with db.raw_reads() as sql:  # only for how this database stores times
        recorder = Recorder(sql, evaluator.version, now, len(plain))
    built: dict[int, Prepared] = {}
    shared: dict[Any, Any] = {}  # one object per equal value: pickle then sends it once
    for position, item in enumerate(plain):
        assert item.message is not None and item.verdict is not None
        result = recorder.add(item.raw, item.shape, item.message, item.verdict, None, item.request_hash,
                              item.key_name, item.scope)
        row, reasons, digest = recorder.built(position)
        tail = shared.get(id(item.verdict))
        if tail is None:  # the answer after its decision id: the same for every decision of this verdict
            tail = shared[id(item.verdict)] = ANSWER_LINE(
                {k: v for k, v in result.items() if k != "decision_id"})[1:].encode() + b"\n"
        customer = item.message.customer_id
        head = f'{{"index":{item.index},"customer_id":{encode_basestring_ascii(customer)},' \
               f'"decision_id":"{result["decision_id"]}",'
        reasons = shared.setdefault(reasons, reasons)
        winner = item.verdict.reasons[0].rule_id if item.verdict.reasons else None
        counted = (item.verdict.outcome, winner)
        counted = shared.setdefault(counted, counted)
        built[id(item)] = Prepared(item.index, customer, shared.setdefault(item.message.send_at, item.message.send_at),
                                   item.seen, item.part, row, reasons, digest, head.encode() + tail, counted)
    return [built.get(id(item), item) for item in items]


def _plain(item: _Item) -> bool:
    """Evaluated ahead, and recorded with nothing beside its decision row and reasons."""
    return (item.pending and item.verdict is not None and item.message is not None and item.shape is not None
            and not item.data.get("idempotency_key") and item.hold_until is None and item.verdict.notify is None)


def decide_prepared(db: Database, evaluator: Evaluator, entries: list[_Item | Prepared], now: datetime,
                    raw_of: Callable[[int], Any], key_name: str | None, key_id: int | None
                    ) -> list[dict[str, Any] | Prepared] | None:
    """Record a chunk from `prepare_ahead` in one transaction, in input order: a prepared decision as built
    when its customer's verdicts stand (see `_standing`), everything else decided here (`raw_of(index)`: the
    request of a prepared decision that does not stand).

    None when the chunk failed to commit (nothing of it was written): the caller decides it alone, where one
    bad item fails no other.
    """
    try:
        decided = _decide_prepared(db, evaluator, entries, now, raw_of, key_name, key_id)
    except Exception as exc:
        if _unavailable(exc):
            raise
        log.warning("a chunk prepared ahead failed to commit; the worker decides it alone", exc_info=exc)
        return None
    return [entry if isinstance(entry, Prepared) else _batch_result(entry) for entry in decided]


def _decide_prepared(db: Database, evaluator: Evaluator, entries: list[_Item | Prepared], now: datetime,
                     raw_of: Callable[[int], Any], key_name: str | None, key_id: int | None
                     ) -> list[_Item | Prepared]:
    live = [e for e in entries if isinstance(e, _Item) and e.pending]
    ready = [e for e in entries if isinstance(e, Prepared)]
    messages = [i.message for i in live if i.message is not None]
    asked = sorted({m.customer_id for m in messages} | {p.customer for p in ready})
    if not asked:
        return entries
    sends = [m.send_at for m in messages] + [p.send_at for p in ready]
    with db.raw_transaction(small=len(entries) < PIPELINE_BELOW, checkpoint_later=len(entries) >= PIPELINE_BELOW
                            ) as sql:
        # As _decide_together: the earlier decisions under keys, the links, the locks and the situation.
        earlier = _earlier_decisions(sql, live)
        identities = identities_later(sql, asked)
        lock_customers_as_asked(sql, asked)
        context = _Context.load_for(sql, evaluator, asked, min(sends), max(sends), identities)
        fresh, repeats = _resolve_idempotency(live, earlier())
        stands = _standing(context, [*_claims(live, fresh), *((p.customer, True, p.seen, p.part) for p in ready)])
        deciding = {id(item) for item in fresh}
        decided: list[_Item | Prepared] = []
        order: list[_Item | Prepared] = []
        for entry in entries:
            if isinstance(entry, Prepared) and context.identities.of(entry.customer) not in stands:
                entry = _validated(entry.position, raw_of(entry.position), now, key_name, key_id)
                if entry.pending:  # as its helper found it: valid and without a key
                    order.append(entry)
            elif isinstance(entry, Prepared) or id(entry) in deciding:
                order.append(entry)
            decided.append(entry)
        _decide_and_record(sql, evaluator, context, order, now, stands)
    for repeat, first in repeats:
        repeat.result, repeat.error, repeat.failure = first.result, first.error, first.failure
    return decided


def _validated(index: int, raw: Any, now: datetime, key_name: str | None, key_id: int | None) -> _Item:
    item = _Item(index, raw, key_name, key_id or 0)
    try:
        _prepare(item, raw, now)
    except ValidationFailed as exc:
        item.error = exc
    except Exception as exc:  # one item's bug must not fail the others of its batch
        item.fail(exc)
    return item


def _prepare(item: _Item, raw: Any, now: datetime) -> None:
    """Validate one request and build its message."""
    item.data, item.shape = _validate_with_shapes(raw)
    if item.data.get("idempotency_key"):
        # Only a keyed request is ever compared with another: hash it independent of key order and spacing.
        item.request_hash = content_hash({k: v for k, v in raw.items() if k not in ("dry_run", "rules_version")})
    item.message = to_message(item.data, item.data["customer_id"], now)
    item.hold_until = hold_expiry(item.data.get("hold"), now)
    if item.shape is not None:
        # A shape holds everything of the message but the customer, send_at included when it was sent.
        item.blank_key = item.shape if "send_at" in raw else f"{item.shape}@{iso(now)}"


def _validate_with_shapes(raw: Any) -> tuple[dict[str, Any], str | None]:
    """Validate; requests of a campaign (or of one caller) differ only in customer and key: the rest is
    validated once per shape and remembered."""
    if not isinstance(raw, dict) or not isinstance(raw.get("customer_id"), str):
        return validate_request(raw), None
    try:
        shape = json.dumps({k: v for k, v in raw.items() if k not in _PER_ITEM}, sort_keys=True)
    except (TypeError, ValueError):
        return validate_request(raw), None
    known = _SHAPES.get(shape)
    if known is None:
        data = validate_request(raw)
        _SHAPES.put(shape, {k: v for k, v in data.items() if k not in _PER_ITEM})
        return data, shape
    customer, key = raw["customer_id"], raw.get("idempotency_key")
    # The schema's own rules for these two (an Id; the key may be null), checked inline: they are all
    # that differs between a campaign's requests.
    if not _plain_id(customer) or not (key is None or _plain_id(key)):
        return validate_request(raw), None  # the full message lists every problem
    data = dict(known)
    data["customer_id"], data["idempotency_key"] = customer, key
    return data, shape


def _over_candidates(item: _Item, seen: set[int]) -> bool:
    """Whether the item names one rules version more than a request may dry-run (each may cost a compile)."""
    number = item.data.get("rules_version")
    if number is None or number in seen:
        return False
    if len(seen) >= MAX_CANDIDATES:
        item.error = ValidationFailed(f"A request may dry-run at most {MAX_CANDIDATES} rules versions.",
                                      {"rules_version": [f"At most {MAX_CANDIDATES} distinct versions per request."]})
        return True
    seen.add(number)
    return False


def _plain_id(value: Any) -> bool:
    """What the schema's Id accepts: a storable string of 1 to MAX_ID characters."""
    return isinstance(value, str) and 0 < len(value) <= MAX_ID and clean_text(value)


def _dry_run(db: Database, evaluator: Evaluator, item: _Item, now: datetime, versions: VersionLookup | None
             ) -> None:
    number = item.data.get("rules_version")
    try:
        chosen = versions(number) if number is not None and versions else evaluator
    except GuardError as exc:
        item.error = exc
        return
    assert item.message is not None
    with db.raw_reads() as sql:
        context = _Context.load(sql, chosen, [item.message])
    try:
        verdict = context.evaluate(chosen, item.message, item.blank_key)
    except EngineError as exc:
        item.error = _refused(exc)
        return
    hold = None
    if item.hold_until is not None and verdict.release is not None:
        # A dry run keeps nothing: the hold it would make has no id.
        verdict, hold = held(verdict), _hold(item, verdict, "", "").view() | {"hold_id": None}
    item.result = {"decision_id": decision_ids(1)[0],
                   **verdict_body(verdict, chosen.version, iso(now) or "", dry_run=True, hold=hold)}


def _decide_live(db: Database, evaluator: Evaluator, items: list[_Item], now: datetime) -> None:
    """Decide and record `items` in one transaction; a failure of one item never fails the others.

    An item the engine refuses, or whose evaluation fails, gets its own error inside the transaction. Should
    the transaction itself fail for a reason other than the database being unavailable (everything it
    writes was validated, so that is a bug set off by some item), each item is decided again on its own,
    so only the item that sets it off fails.
    """
    try:
        _decide_together(db, evaluator, items, now)
        return
    except Exception as exc:
        if _unavailable(exc):
            raise
        if len(items) == 1:
            items[0].fail(exc)
            return
        log.warning("a group of %d decisions failed to commit; deciding each alone", len(items), exc_info=exc)
    for item in items:
        item.result = item.error = item.failure = None
        try:
            _decide_together(db, evaluator, [item], now)
        except Exception as exc:
            if _unavailable(exc):
                raise
            item.fail(exc)


def _unavailable(exc: Exception) -> bool:
    """The database cannot be reached or is busy: every item would fail alike, so none is retried alone."""
    if isinstance(exc, ServiceUnavailable | OperationalError | PoolTimeout):
        return True
    return isinstance(exc, DBAPIError) and bool(exc.connection_invalidated)


def _decide_together(db: Database, evaluator: Evaluator, items: list[_Item], now: datetime) -> None:
    for attempt in range(3):
        try:
            small = len(items) < PIPELINE_BELOW
            # A chunk of a campaign leaves its WAL checkpoint to a background thread and goes on reading.
            with db.raw_transaction(small=small, checkpoint_later=not small) as sql:
                # The earlier decisions under the items' keys are sent with the situation reads (one round
                # trip on PostgreSQL), so every item's customer is locked and read, repeats' too.
                earlier = _earlier_decisions(sql, items)
                messages = [i.message for i in items if i.message is not None]
                asked = sorted({m.customer_id for m in messages})
                identities = identities_later(sql, asked)
                # Locked under the customer id too: decisions asked under two aliases count each other.
                lock_customers_as_asked(sql, asked)
                context = _Context.load(sql, evaluator, messages, identities)
                fresh, repeats = _resolve_idempotency(items, earlier())
                if fresh:
                    _decide_and_record(sql, evaluator, context, fresh, now, _ahead_customers(context, items, fresh))
            for repeat, first in repeats:
                # The same request as the first with its key: its answer, or its error.
                repeat.result, repeat.error, repeat.failure = first.result, first.error, first.failure
            return
        except IntegrityError:
            # A concurrent request with the same idempotency key won: the retry answers with its decision.
            for item in items:
                item.result = item.error = item.failure = None
            if attempt == 2:
                raise


def _earlier_decisions(sql: Sql, items: list[_Item]) -> Pending[dict[tuple[int, str], store.StoredDecision]]:
    """The decisions recorded earlier under the items' idempotency keys (sent now, read on first use).

    A key belongs to the API key that sent it: the same key from another caller is another request."""
    keys = {(i.scope, i.data["idempotency_key"]) for i in items if i.data.get("idempotency_key")}
    return store.by_idempotency_keys_later(sql, keys) if keys else Pending.done({})


def _resolve_idempotency(items: list[_Item], known: dict[tuple[int, str], store.StoredDecision]
                         ) -> tuple[list[_Item], list[tuple[_Item, _Item]]]:
    """Answer repeats from the log (or 409 them); return the items needing a decision and in-batch repeats."""
    first_in_batch: dict[tuple[int, str], _Item] = {}
    fresh: list[_Item] = []
    repeats: list[tuple[_Item, _Item]] = []
    for item in items:
        key = (item.scope, item.data["idempotency_key"]) if item.data.get("idempotency_key") else None
        if key is None:
            fresh.append(item)
        elif key in known:
            if _same_request(item, known[key].request_hash, known[key].decision_id):
                item.result = dict(known[key].answer)
        elif key in first_in_batch:
            if _same_request(item, first_in_batch[key].request_hash, None):
                repeats.append((item, first_in_batch[key]))
        else:
            first_in_batch[key] = item
            fresh.append(item)
    return fresh, repeats


def _same_request(item: _Item, first_hash: str, first_id: str | None) -> bool:
    """True for a true repeat; otherwise the item gets an idempotency conflict naming the first decision."""
    if first_hash == item.request_hash:
        return True
    details = {"idempotency_key": item.data["idempotency_key"]}
    if first_id:
        details["decision_id"] = first_id
    item.error = IdempotencyConflict("This idempotency_key was used with a different request.", details)
    return False


@dataclass
class _Context:
    """Everything known of a set of customers, loaded with a few set-wise queries."""

    events: dict[str, list[EventRecord]]  # by customer id: the events stored under it and under its aliases
    history: dict[str, list[PriorDecision]]  # by customer id, likewise
    window: timedelta
    identities: Identities

    @classmethod
    def load(cls, sql: Sql, evaluator: Evaluator, messages: list[Message],
             identities: Pending[Identities] | None = None) -> _Context:
        return cls.load_for(sql, evaluator, sorted({m.customer_id for m in messages}),
                            min(m.send_at for m in messages), max(m.send_at for m in messages), identities)

    @classmethod
    def load_for(cls, sql: Sql, evaluator: Evaluator, customers: list[str], earliest: datetime, latest: datetime,
                 identities: Pending[Identities] | None = None) -> _Context:
        """The situation of `customers` (sorted) for messages sent between `earliest` and `latest`."""
        links = identities if identities is not None else identities_later(sql, customers)
        windows = [p.within or 0 for p in evaluator.compiled.probes if p.source == "decisions"]
        window = timedelta(seconds=max(windows, default=0))
        # The names asked about are read before their links are known, so that on PostgreSQL the links, the
        # lock and these reads share one round trip; the few names links add (aliases, siblings) come after.
        events_read = events_later_for(sql, evaluator, customers, earliest, latest)
        history_read = history_later(sql, customers, earliest - window, latest) if windows else None
        known = links()
        events = events_read()
        history = history_read() if history_read is not None else {}
        if known.names:
            added = sorted({n for c in customers for n in known.members(c)} - set(customers))
            if added:
                events = {**events, **events_for(sql, evaluator, added, earliest, latest)}
                if windows:
                    history = {**history, **history_of(sql, added, earliest - window, latest)}
            events = combined(events, known, customers)
            history = combined(history, known, customers)
        return cls(events, history, window, known)

    def evaluate(self, evaluator: Evaluator, message: Message, blank_key: str | None = None) -> Verdict:
        """The verdict for one message; customers with no events and no history share one per message
        (`blank_key` names the message without its customer; by default it is written out here)."""
        key = self.identities.of(message.customer_id)
        events = self.events.get(key, [])
        earlier = self.history.get(key) or []
        history = [p for p in earlier if message.send_at - self.window < p.send_at <= message.send_at]
        if events or history:
            return evaluator.evaluate(message, derive(events, message.send_at), history)
        return evaluator.evaluate_blank(message, blank_key or _message_key(message))

    def signature(self, name: str) -> Any:
        """All that a verdict for `name` depends on beyond the message, as loaded: who it is, its events and
        its earlier decisions (None for a name without links, events or history, like most of a campaign)."""
        key = self.identities.canonical.get(name, name)
        events, history = self.events.get(key), self.history.get(key)
        if not events and not history and key == name and name not in self.identities.names:
            return None
        return key, tuple(self.identities.members(name)), tuple(events or ()), tuple(history or ())

    def remember(self, message: Message, verdict: Verdict, reasons: tuple[str, ...]) -> None:
        """Later items of the same batch see this decision, as they would have in sequence."""
        if self.window:
            self.history.setdefault(self.identities.of(message.customer_id), []).append(
                PriorDecision(message.send_at, message.purpose, message.channel, verdict.outcome,
                              message.campaign_id, reasons))


def events_for(sql: Sql, evaluator: Evaluator, customers: list[str], earliest: datetime, latest: datetime
               ) -> dict[str, list[EventRecord]]:
    """Only the events the rules can ask about (see `events_later_for`)."""
    return events_later_for(sql, evaluator, customers, earliest, latest)()


def events_later_for(sql: Sql, evaluator: Evaluator, customers: list[str], earliest: datetime, latest: datetime
                     ) -> Pending[dict[str, list[EventRecord]]]:
    """Only the events the rules can ask about: every state-bearing one (the situation folds them), every
    one of a type a `last_event` condition names, and those of an `event` condition's type within its
    longest window; a long history of anything else is never read."""
    probes = [(p.kind, p.within if p.source == "event" else None) for p in evaluator.compiled.probes
              if p.source in ("event", "last_event") and p.kind]
    whole = STATE_TYPES | {kind for kind, within in probes if within is None}
    recent = {kind for kind, _ in probes if kind not in whole}
    look_back = max((within or 0 for kind, within in probes if kind in recent), default=0)
    if look_back >= (earliest - _FIRST_DAY).total_seconds():  # a window reaching before the calendar's start
        whole, recent = whole | recent, set()
    return events_later(sql, customers, latest, sorted(whole), sorted(recent),
                        earliest - timedelta(seconds=look_back))


def _message_key(message: Message) -> str:
    """Everything of a message but the customer: what a verdict without history depends on."""
    return json.dumps([message.channel, message.purpose, message.campaign_id, list(message.product_ids),
                       iso(message.send_at), sorted(message.attributes.items())], default=str)


def load_context(sql: Sql, evaluator: Evaluator, messages: list[Message], identities: Identities | None = None
                 ) -> _Context:
    """Everything known of the messages' customers, as the decide use case loads it."""
    known = Pending(lambda: identities) if identities is not None else None
    return _Context.load(sql, evaluator, messages, known)


def _hold(item: _Item, verdict: Verdict, hold_id: str, decision_id: str) -> NewHold:
    """The hold an item that accepts holds gets for a block that says how it clears."""
    assert item.message is not None and item.hold_until is not None and verdict.release is not None
    return NewHold(hold_id, item.message.customer_id, item.message.campaign_id, held_request(item.raw, item.message),
                   decision_id, verdict.reasons[0].rule_id, verdict.release, item.hold_until, item.key_name)


def _ahead_customers(context: _Context, items: list[_Item], fresh: list[_Item]) -> set[str]:
    """The customers whose verdicts evaluated ahead stand (see `_standing`)."""
    if not any(item.verdict is not None for item in fresh):
        return set()
    return _standing(context, _claims(items, fresh))


def _claims(items: list[_Item], fresh: list[_Item]) -> Iterator[tuple[str, bool, Any, int]]:
    """Of each item decided now or evaluated ahead: its customer, whether it is decided now with a verdict
    evaluated ahead, the situation that verdict saw, and which call evaluated it."""
    deciding = {id(item) for item in fresh}
    for item in items:
        if item.message is None or (item.verdict is None and id(item) not in deciding):
            continue
        yield item.message.customer_id, item.verdict is not None and id(item) in deciding, item.seen, item.part


def _standing(context: _Context, claims: Iterable[tuple[str, bool, Any, int]]) -> set[str]:
    """The customers whose verdicts evaluated ahead stand: each of their items decided now was evaluated
    ahead, by one call, against the very situation read now under the locks; none evaluated ahead turned out
    to be an idempotent repeat (its decision, which the later ones saw, is not made)."""
    good: dict[str, bool] = {}
    part: dict[str, int] = {}
    for name, ahead, seen, call in claims:
        key = context.identities.of(name)
        stands = ahead and seen == context.signature(name) and part.setdefault(key, call) == call
        good[key] = stands and good.get(key, True)
    return {key for key, stands in good.items() if stands}


def _decide_and_record(sql: Sql, evaluator: Evaluator, context: _Context, items: Sequence[_Item | Prepared],
                       now: datetime, ahead: set[str] | frozenset[str] = frozenset()) -> None:
    recorder = Recorder(sql, evaluator.version, now, len(items))
    holds: list[NewHold] = []
    care: list[CareRequest] = []
    for item in items:
        if isinstance(item, Prepared):  # built by a helper, its customer's verdicts standing
            recorder.add_ready(item.row, item.reasons, item.digest)
            continue
        assert item.message is not None
        try:
            # The only difference a helper makes: the verdict it evaluated ahead, when it stands.
            customer = item.message.customer_id
            verdict = item.verdict if item.verdict is not None and context.identities.of(customer) in ahead \
                else context.evaluate(evaluator, item.message, item.blank_key)
            holding = item.hold_until is not None and verdict.release is not None
            if holding:
                hold_for = verdict
                verdict = held(verdict)
            item.result = recorder.add(item.raw, item.shape, item.message, verdict,
                                       item.data.get("idempotency_key"), item.request_hash, item.key_name,
                                       item.scope)
            if holding:
                hold = _hold(item, hold_for, new_hold_id(), item.result["decision_id"])
                item.result["hold"] = hold.view()
                holds.append(hold)
        except EngineError as exc:
            item.error = _refused(exc)
            continue
        except Exception as exc:  # the others of the group are still decided and committed
            item.fail(exc)
            continue
        if verdict.notify is not None:
            care.append(CareRequest(context.identities.of(item.message.customer_id), item.message,
                                    item.result["decision_id"], verdict.notify))
        context.remember(item.message, verdict, tuple(r.rule_id for r in verdict.reasons))
    recorder.write()
    insert_holds(sql, holds, now)
    if care:
        tell_care(sql, care, now)


def _refused(exc: EngineError) -> ValidationFailed:
    """The engine's refusal of one request's facts, as that request's own error."""
    return ValidationFailed("The rule engine cannot evaluate this request.", {"_schema": [str(exc)]})
