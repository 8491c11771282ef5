"""Exporting a filtered audit log as CSV or NDJSON, streamed in keyset pages so memory stays bounded."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

from guard.core.timeutil import iso
from guard.decisions.answer import stored_answer
from guard.decisions.queries import filtered
from guard.storage.database import Database
from guard.storage.tables.decisions import Decision

FORMATS = {"csv": "text/csv; charset=utf-8", "ndjson": "application/x-ndjson"}
PAGE = 1000
CSV_COLUMNS = (
    "decision_id", "evaluated_at", "customer_id", "campaign_id", "channel", "purpose", "send_at", "outcome",
    "route", "defer_until", "rules_version", "winning_rule", "explanation", "matched_rules", "api_key_name",
)
_COLUMNS = (
    Decision.id, Decision.decision_id, Decision.evaluated_at, Decision.customer_id, Decision.campaign_id,
    Decision.channel, Decision.purpose, Decision.send_at, Decision.outcome, Decision.route, Decision.defer_until,
    Decision.rules_version, Decision.api_key_name, Decision.idempotency_key, Decision.matched,
)
_DOCUMENTS = (Decision.request, Decision.facts)


def records(db: Database, filters: dict[str, Any], page: int = PAGE, documents: bool = True
            ) -> Iterator[dict[str, Any]]:
    """Every decision matching the filters, newest first, as audit records; `page` rows in memory at a time.

    Without `documents`, the request and facts (the bulk of a record, JSON to parse) are left out.
    """
    columns = (*_COLUMNS, *_DOCUMENTS) if documents else _COLUMNS
    last: int | None = None
    while True:
        with db.sessions() as session:
            query = filtered(filters, last).with_only_columns(*columns)
            rows = session.execute(query.limit(page)).all()
            if not rows:
                return
        for row in rows:
            yield _record(row, row.matched or [], documents)
        last = rows[-1].id



def _record(row: Any, reasons: list[dict[str, str]], documents: bool) -> dict[str, Any]:
    """The same fields, in the same order, as the audit record of GET /v1/decisions/<id>."""
    return {
        **stored_answer(row.decision_id, row.outcome, row.route, row.defer_until, reasons, row.rules_version,
                        row.evaluated_at),
        "customer_id": row.customer_id,
        "campaign_id": row.campaign_id,
        "channel": row.channel,
        "purpose": row.purpose,
        "send_at": iso(row.send_at),
        "request": row.request if documents else None,
        "facts": row.facts if documents else None,
        "api_key_name": row.api_key_name,
        "idempotency_key": row.idempotency_key,
    }


def ndjson_lines(db: Database, filters: dict[str, Any], page: int = PAGE) -> Iterator[str]:
    """One JSON audit record per line."""
    for record in records(db, filters, page):
        yield json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def csv_row(record: dict[str, Any]) -> list[str]:
    """One decision as a CSV row: the winning reason in its own columns, every matched rule in one."""
    winner = record["reasons"][0] if record["reasons"] else {}
    values = {**record, "winning_rule": winner.get("rule_id"), "explanation": winner.get("explanation"),
              "matched_rules": " ".join(r["rule_id"] for r in record["reasons"])}
    return ["" if values[c] is None else _cell(str(values[c])) for c in CSV_COLUMNS]


def _cell(text: str) -> str:
    # A cell that a spreadsheet would read as a formula is prefixed with a quote (CSV injection).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def csv_lines(db: Database, filters: dict[str, Any], page: int = PAGE) -> Iterator[str]:
    """A header line, then one line per decision; each chunk holds up to `page` lines."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    pending = 0
    for record in records(db, filters, page, documents=False):
        writer.writerow(csv_row(record))
        pending += 1
        if pending >= page:
            yield _drain(buffer)
            pending = 0
    yield _drain(buffer)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def lines(db: Database, filters: dict[str, Any], fmt: str, page: int = PAGE) -> Iterator[str]:
    """The export in format `fmt` (csv or ndjson)."""
    return csv_lines(db, filters, page) if fmt == "csv" else ndjson_lines(db, filters, page)


def filename(fmt: str, stamp: str) -> str:
    """The download's file name, e.g. decisions-20260304T101500Z.csv."""
    return f"decisions-{stamp}.{fmt}"
