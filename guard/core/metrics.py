"""Prometheus metrics of one process; under `guard serve` every worker writes to PROMETHEUS_MULTIPROC_DIR.

The metric names and labels are part of Guard's interface (README, "Metrics"). Label values are bounded:
routes are Flask's templates (never raw paths), rules are rule ids of the active rule files, codes are
Guard's error codes.
"""

from __future__ import annotations

import os
from collections import Counter as CountOf
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

# prometheus_client picks single- or multi-process storage when it is first imported; whoever imported
# it first may have done so before `guard serve` set the directory, so choose again now.
values.ValueClass = values.get_value_class()

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

REQUEST_SECONDS = Histogram(
    "guard_http_request_duration_seconds", "Time to answer an HTTP request, by route and status.",
    ("method", "route", "status"), buckets=LATENCY_BUCKETS)
DECISIONS = Counter(
    "guard_decisions", "Decisions recorded, by outcome and winning rule (none: no rule matched).",
    ("outcome", "rule"))
EVENTS = Counter("guard_events_ingested", "Events received, by result (created, duplicate, error).", ("status",))
UNKNOWN_EVENT_TYPES = Counter(
    "guard_events_unknown_type", "Events stored whose type neither Guard nor the active rules use (misspelt?).")
ERRORS = Counter("guard_http_errors", "Error answers, by status and error code.", ("status", "code"))
# Sources are named by admins (a bounded set); a name nobody configured is counted as `(unknown)`.
INBOUND = Counter("guard_inbound_deliveries", "Vendor webhook deliveries, by source, kind and result.",
                  ("source", "kind", "result"))

WEBHOOK_DELIVERIES = Counter(
    "guard_webhook_deliveries", "Outbound webhook delivery attempts, by result (delivered, retrying, failed).",
    ("status",))


def count_decisions(results: Iterable[Mapping[str, Any]]) -> None:
    """Count answered (non-dry-run) decisions; items that carry an error are not decisions."""
    counts: CountOf[tuple[str, str | None]] = CountOf()
    for result in results:
        if "outcome" not in result or result.get("dry_run"):
            continue
        reasons = result.get("reasons") or []
        counts[(result["outcome"], reasons[0].get("rule_id", "none") if reasons else "none")] += 1
    count_outcomes(counts)


def count_outcomes(counts: Mapping[tuple[str, str | None], int]) -> None:
    """Count decisions already tallied by (outcome, winning rule; None: no reasons)."""
    for (outcome, winner), count in counts.items():
        DECISIONS.labels(outcome, winner or "none").inc(count)


def count_events(statuses: Iterable[str], unknown_types: int = 0) -> None:
    """Count events by what happened to them, and those of an unknown type (no label: types are unbounded)."""
    for status in statuses:
        EVENTS.labels(status).inc()
    if unknown_types:
        UNKNOWN_EVENT_TYPES.inc(unknown_types)


def count_inbound(source: str, kind: str, result: str) -> None:
    """Count one vendor delivery (an unknown source is counted as `(unknown)`: its name is the caller's text)."""
    INBOUND.labels(source, kind, result).inc()


def count_webhook_attempt(status: str) -> None:
    """Count one delivery attempt of an outbound webhook by its result (delivered, retrying or failed)."""
    WEBHOOK_DELIVERIES.labels(status).inc()


def exposition() -> bytes:
    """The text exposition of every worker's metrics (or of this process outside `guard serve`)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory and os.path.isdir(directory):
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)
        return generate_latest(registry)
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY)


class _Snapshot:
    """A collector of gauges whose values were read just now (from the database, not from a worker)."""

    def __init__(self, gauges: Iterable[tuple[str, str, float]]) -> None:
        self._gauges = list(gauges)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        for name, documentation, value in self._gauges:
            yield GaugeMetricFamily(name, documentation, value=value)


def gauges_text(gauges: Iterable[tuple[str, str, float]]) -> bytes:
    """The text exposition of gauges (name, help, value) read at scrape time, the same from every worker."""
    registry = CollectorRegistry()
    registry.register(_Snapshot(gauges))
    return generate_latest(registry)
