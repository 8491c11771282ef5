"""Screening whole campaigns: batches of requests, or an unbounded stream decided chunk by chunk."""

from __future__ import annotations

import json
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from marshmallow import fields, validate

from guard.core.errors import ValidationFailed
from guard.core.schemas import StrictSchema, load
from guard.core.strictjson import Line, parse_line
from guard.core.timeutil import utcnow
from guard.decisions.parallel import Helpers, evaluate_raws, prepare_lines, result_of
from guard.decisions.service import (
    MAX_BATCH,
    Prepared,
    VersionLookup,
    decide_batch,
    decide_evaluated,
    decide_prepared,
    evaluate_ahead,
)
from guard.policy.evaluate import Evaluator
from guard.storage.database import Database

CHUNK = 2000
# A batch shorter than this is decided by the worker alone: handing parts out would cost more than it saves.
SPREAD_FROM = 1000


class BatchSchema(StrictSchema):
    """`POST /v1/decisions/batch`: full requests, or one message for many customers."""

    requests = fields.List(fields.Raw(allow_none=True), validate=validate.Length(min=1, max=MAX_BATCH))
    message = fields.Dict()
    customer_ids = fields.List(fields.Raw(allow_none=True), validate=validate.Length(min=1, max=MAX_BATCH))


def batch_requests(raw: Any) -> list[Any]:
    """The individual decision requests of a batch body; ValidationFailed when its shape is wrong."""
    data = load(BatchSchema(), raw, "batch")
    if ("requests" in data) == ("message" in data or "customer_ids" in data):
        raise ValidationFailed("Give either requests, or message with customer_ids.",
                               {"_schema": ["Either requests, or message with customer_ids."]})
    if "requests" in data:
        return list(data["requests"])
    if "message" not in data or "customer_ids" not in data:
        missing = "message" if "message" not in data else "customer_ids"
        raise ValidationFailed(f"{missing} is required with the other.",
                               {missing: ["Missing data for required field."]})
    if "customer_id" in data["message"]:
        raise ValidationFailed("The shared message has no customer_id.",
                               {"message": {"customer_id": ["Unknown field."]}})
    return [{**data["message"], "customer_id": c} for c in data["customer_ids"]]


def decide_requests(db: Database, evaluator: Evaluator, raw: Any, key_name: str | None,
                    versions: VersionLookup | None = None, key_id: int | None = None,
                    helpers: Helpers | None = None) -> dict[str, Any]:
    """Answer a batch body: results in input order, each a decision or its own error.

    With helpers, a long batch is validated and evaluated in parts, one by the worker and one by each
    helper at once, then recorded by the worker in one transaction, as a batch decided alone would be.
    """
    raws = batch_requests(raw)
    if _spreadable(evaluator, raws, helpers):
        assert helpers is not None
        results = _decide_spread(db, evaluator, raws, key_name, key_id, helpers)
    else:
        results = decide_batch(db, evaluator, raws, key_name, versions, key_id)
    return {"results": results, "summary": summarize(results)}


def _spreadable(evaluator: Evaluator, raws: list[Any], helpers: Helpers | None) -> bool:
    """Helpers evaluate with stored rules versions; dry runs are limited per call, so they stay in one."""
    return (helpers is not None and helpers.available and isinstance(evaluator.version, int)
            and len(raws) >= SPREAD_FROM
            and not any(isinstance(r, dict) and (r.get("dry_run") or "rules_version" in r) for r in raws))


def _decide_spread(db: Database, evaluator: Evaluator, raws: list[Any], key_name: str | None, key_id: int | None,
                   helpers: Helpers) -> list[dict[str, Any]]:
    now = utcnow()
    size = -(-len(raws) // (helpers.count + 1))
    starts = range(0, len(raws), size)
    assert isinstance(evaluator.version, int)
    futures = {start: helpers.submit(evaluate_raws, raws[start:start + size], evaluator.version, now, key_name,
                                     key_id, part, start) for part, start in enumerate(starts) if start}
    items = evaluate_ahead(db, evaluator, raws[:size], key_name, key_id, now)
    for part, start in enumerate(starts):
        if start:
            done = result_of(helpers, futures[start])
            items += done if done is not None else evaluate_ahead(db, evaluator, raws[start:start + size], key_name,
                                                                  key_id, now, part=part, offset=start)
    return decide_evaluated(db, evaluator, items, now)


def summarize(results: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Counts of outcomes, errors and winning rules."""
    tally = Tally()
    for result in results:
        tally.add(result)
    return tally.to_dict()


@dataclass
class Tally:
    """Running summary of a screening."""

    outcomes: Counter[str] = field(default_factory=Counter)
    rules: Counter[str] = field(default_factory=Counter)
    errors: int = 0

    def add(self, result: dict[str, Any] | Prepared) -> None:
        """Count one result."""
        if isinstance(result, Prepared):
            self.outcomes[result.counted[0]] += 1
            if result.counted[1] is not None:
                self.rules[result.counted[1]] += 1
            return
        if "error" in result:
            self.errors += 1
            return
        self.outcomes[result["outcome"]] += 1
        if result["reasons"]:
            self.rules[result["reasons"][0]["rule_id"]] += 1

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"total": sum(self.outcomes.values()) + self.errors, "errors": self.errors,
                "outcomes": dict(self.outcomes), "top_rules": dict(self.rules.most_common(10))}


def screen_stream(db: Database, evaluator_of: Callable[[], Evaluator], lines: Iterable[Line],
                  key_name: str | None, chunk_size: int = CHUNK, key_id: int | None = None,
                  helpers: Helpers | None = None) -> Iterator[dict[str, Any] | Prepared]:
    """Decide a stream of requests (see guard.core.strictjson.ndjson) chunk by chunk; one result per line, in order.

    A line that could not be read or parsed answers with its own error and the stream goes on. Lines may
    come parsed or not (`ndjson(parse=False)`). With helpers, chunks are parsed, validated, evaluated and
    their plain decisions built by them ahead of the writer (this thread), which records each chunk in its
    own transaction, in order; such a decision comes as a `Prepared`, its answer an encoded line (`answer_of`).
    """
    pending: deque[_Ahead] = deque()
    index = 0
    for chunk in _chunks(lines, chunk_size):
        evaluator = evaluator_of()
        if helpers is None or not helpers.available or not isinstance(evaluator.version, int):
            while pending:  # chunks handed out before are answered first: results stay in input order
                yield from pending.popleft().finish(db, helpers)  # type: ignore[arg-type]
            yield from _screen_chunk(db, evaluator, chunk, index, key_name, key_id)
        else:
            pending.append(_Ahead.hand_out(helpers, evaluator, chunk, index, key_name, key_id))
            while len(pending) > helpers.depth:
                yield from pending.popleft().finish(db, helpers)
        index += len(chunk)
    while pending:
        yield from pending.popleft().finish(db, helpers)  # type: ignore[arg-type]


def answer_of(result: dict[str, Any] | Prepared) -> dict[str, Any]:
    """A result of `screen_stream` as a dict (a decision prepared by a helper comes as its encoded line)."""
    return json.loads(result.line) if isinstance(result, Prepared) else result


def _chunks(lines: Iterable[Line], size: int) -> Iterator[list[Line]]:
    chunk: list[Line] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@dataclass
class _Ahead:
    """A chunk handed to a helper, waiting for the writer."""

    evaluator: Evaluator
    chunk: list[Line]
    offset: int
    key_name: str | None
    key_id: int | None
    now: datetime
    future: Future[Any]

    @classmethod
    def hand_out(cls, helpers: Helpers, evaluator: Evaluator, chunk: list[Line], offset: int,
                 key_name: str | None, key_id: int | None) -> _Ahead:
        now = utcnow()
        readable = [(line, offset + position) for position, line in enumerate(chunk) if line.error is None]
        assert isinstance(evaluator.version, int)
        future = helpers.submit(prepare_lines, [line for line, _ in readable], [index for _, index in readable],
                                evaluator.version, now, key_name, key_id)
        return cls(evaluator, chunk, offset, key_name, key_id, now, future)

    def finish(self, db: Database, helpers: Helpers) -> Iterator[dict[str, Any] | Prepared]:
        """Record the chunk (or, its helper lost or the chunk failed, decide it here) and yield its results
        in order."""
        done = result_of(helpers, self.future)
        answers = None
        if done is not None:
            errors, entries = done
            answers = decide_prepared(db, self.evaluator, entries, self.now, self._request, self.key_name,
                                      self.key_id)
        if answers is None:
            yield from _screen_chunk(db, self.evaluator, self.chunk, self.offset, self.key_name, self.key_id)
            return
        decided = iter(answers)
        refused = iter(errors)
        for position, line in enumerate(self.chunk):
            error = line.error if line.error is not None else next(refused)
            if error is not None:
                yield {"index": self.offset + position, "error": error.to_dict()}
            else:
                yield next(decided)

    def _request(self, index: int) -> Any:
        """The request of the chunk's line at `index` of the stream (a line its helper parsed)."""
        return parse_line(self.chunk[index - self.offset]).value


def _screen_chunk(db: Database, evaluator: Evaluator, chunk: list[Line], offset: int, key_name: str | None,
                  key_id: int | None) -> Iterator[dict[str, Any]]:
    chunk = [parse_line(line) for line in chunk]
    answers = iter(decide_batch(db, evaluator, [line.value for line in chunk if line.error is None], key_name,
                                key_id=key_id))
    for position, line in enumerate(chunk):
        if line.error is not None:
            yield {"index": offset + position, "error": line.error.to_dict()}
        else:
            answer = next(answers)
            answer["index"] = offset + position
            yield answer
