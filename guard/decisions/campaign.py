"""Screening whole campaigns: batches of requests, or an unbounded stream decided chunk by chunk."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from marshmallow import fields, validate

from guard.core.errors import ValidationFailed
from guard.core.schemas import StrictSchema, load
from guard.core.strictjson import Line
from guard.decisions.service import MAX_BATCH, VersionLookup, decide_batch
from guard.policy.evaluate import Evaluator
from guard.storage.database import Database

CHUNK = 2000


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
                    versions: VersionLookup | None = None, key_id: int | None = None) -> dict[str, Any]:
    """Answer a batch body: results in input order, each a decision or its own error."""
    results = decide_batch(db, evaluator, batch_requests(raw), key_name, versions, key_id)
    return {"results": results, "summary": summarize(results)}


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

    def add(self, result: dict[str, Any]) -> None:
        """Count one result."""
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
                  key_name: str | None, chunk_size: int = CHUNK, key_id: int | None = None
                  ) -> Iterator[dict[str, Any]]:
    """Decide a stream of requests (see guard.core.strictjson.ndjson) chunk by chunk; one result per line, in order.

    A line that could not be read or parsed answers with its own error and the stream goes on.
    """
    chunk: list[Line] = []
    index = 0
    for line in lines:
        chunk.append(line)
        if len(chunk) >= chunk_size:
            yield from _screen_chunk(db, evaluator_of(), chunk, index, key_name, key_id)
            index += len(chunk)
            chunk = []
    if chunk:
        yield from _screen_chunk(db, evaluator_of(), chunk, index, key_name, key_id)


def _screen_chunk(db: Database, evaluator: Evaluator, chunk: list[Line], offset: int, key_name: str | None,
                  key_id: int | None) -> Iterator[dict[str, Any]]:
    answers = iter(decide_batch(db, evaluator, [line.value for line in chunk if line.error is None], key_name,
                                key_id=key_id))
    for position, line in enumerate(chunk):
        if line.error is not None:
            yield {"index": offset + position, "error": line.error.to_dict()}
        else:
            answer = next(answers)
            answer["index"] = offset + position
            yield answer
