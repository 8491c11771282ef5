"""The storage floor of a campaign: how long the database alone takes to take a stream's rows.

Every decision of a streamed campaign leaves a decision row (with its stored request and facts), its
reason rows and one chained audit record. This writes exactly those rows, built beforehand, through the
same bulk path and in the same transaction size as `POST /v1/decisions/stream`, into a fresh migrated
database on the same disk the suite uses, and nothing else: no HTTP, no parsing, no evaluation, no
hashing. Whatever the rest of Guard does, a 1,000,000-recipient stream cannot take less than this.

Run by hand:  .venv/bin/python -m bench.storage_floor --db sqlite|postgres [--decisions 200000]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import UTC, datetime

from bench.common import fresh_database, production_guard
from guard.core.ids import decision_ids
from guard.core.message import Message
from guard.decisions.campaign import CHUNK
from guard.ledger.chain import AUDIT_COLUMNS, head
from guard.ledger.digests import facts_text, sha
from guard.storage.bulk import DECISION_COLUMNS, REASON_COLUMNS, insert_tuples

Row = tuple[object, ...]
MESSAGE = {"channel": "email", "purpose": "marketing", "campaign_id": "summer", "product_ids": ["P3"],
           "send_at": "2026-03-16T10:00:00Z"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--decisions", type=int, default=200_000)
    parser.add_argument("--documents-by-reference", action="store_true",
                        help="Rows carry a digest instead of the request and facts texts (a design not built: "
                             "what storing a campaign's shared documents once would leave per row).")
    args = parser.parse_args()
    with fresh_database(args.db) as url:
        guard = production_guard(url)
        send_at = datetime(2026, 3, 16, 10, tzinfo=UTC)
        message = Message("cust-0", "email", "marketing", send_at, "summer", ("P3",))
        verdict = guard.evaluator.evaluate_blank(message, "floor")
        facts = facts_text(verdict.facts)
        if args.documents_by_reference:
            facts = sha(facts)
        reasons = [(i, r.rule_id, r.outcome, r.explanation) for i, r in enumerate(verdict.reasons)]
        with guard.db.raw_reads() as sql:
            first_seq = head(sql)[0] + 1
        timings = {"decisions": 0.0, "reasons": 0.0, "audit": 0.0, "commit": 0.0}
        for start in range(0, args.decisions, CHUNK):
            count = min(CHUNK, args.decisions - start)
            decisions, reason_rows, audit = _rows(start, count, first_seq, facts, reasons, send_at,
                                                  args.documents_by_reference)
            with guard.db.raw_transaction() as sql:
                for name, table, columns, rows in (("decisions", "decisions", DECISION_COLUMNS, decisions),
                                                   ("reasons", "decision_reasons", REASON_COLUMNS, reason_rows),
                                                   ("audit", "audit_records", AUDIT_COLUMNS, audit)):
                    began = time.perf_counter()
                    insert_tuples(sql, table, columns, rows)
                    timings[name] += time.perf_counter() - began
                began = time.perf_counter()
            timings["commit"] += time.perf_counter() - began
        _report(args.db + (", documents by reference" if args.documents_by_reference else ""), args.decisions,
                len(facts), len(reasons), timings)


def _rows(start: int, count: int, first_seq: int, facts: str, reasons: list[tuple[int, str, str, str]],
          send_at: datetime, by_reference: bool) -> tuple[list[Row], list[Row], list[Row]]:
    """One chunk's rows as the stream writes them (same sizes; hashes are stand-ins of the right length)."""
    now = datetime.now(UTC)
    decisions, reason_rows, audit = [], [], []
    for offset, decision_id in enumerate(decision_ids(count)):
        pk = start + offset + 1
        customer = f"cust-{pk}"
        request = json.dumps({**MESSAGE, "customer_id": customer}, separators=(",", ":"))
        if by_reference:
            request = sha(request)
        decisions.append((pk, decision_id, customer, MESSAGE["campaign_id"], MESSAGE["channel"], MESSAGE["purpose"],
                          send_at, "allow", None, None, "1", now, None, sha(request), request, facts, "bench",
                          0, None, None, None))  # no idempotency scope; chained one record each (no group)
        reason_rows.extend((pk, *reason) for reason in reasons)
        link = sha(decision_id)
        audit.append((first_seq + pk - 1, "decision", decision_id, now, link, link, link))
    return decisions, reason_rows, audit


def _report(db: str, total: int, facts_bytes: int, reasons: int, timings: dict[str, float]) -> None:
    spent = sum(timings.values())
    per = {name: seconds / total * 1e6 for name, seconds in timings.items()}
    print(f"### storage floor, {db}: {datetime.now(UTC).date()}, {os.cpu_count()} cores")
    print(f"{total:,} decisions in transactions of {CHUNK} (facts text {facts_bytes} bytes, {reasons} reason rows "
          f"each): {spent:.1f} s = {total / spent:,.0f}/s, {spent / total * 1e6:.1f} us per decision "
          f"({', '.join(f'{name} {us:.1f}' for name, us in per.items())}); "
          f"1,000,000 would take {spent / total * 1e6:.0f} s at this rate")


if __name__ == "__main__":
    main()
