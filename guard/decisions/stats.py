"""Aggregates of the audit log for the overview: decisions over time by outcome and by rule, top campaigns;
as of the projection (its time map picks the ids, its rule rows the winners: guard.decisions.projector)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import DateTime, case, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from guard.core.timeutil import as_utc, utcnow
from guard.decisions.projector import first_since, last_before, projected_upto
from guard.storage.tables.decisions import Decision, DecisionRule

# A period name → how far back it looks and the width of one bar.
PERIODS: dict[str, tuple[timedelta, str]] = {
    "24h": (timedelta(hours=24), "hour"),
    "7d": (timedelta(days=7), "day"),
    "30d": (timedelta(days=30), "day"),
}
STEPS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
TOP_CAMPAIGNS = 10
NO_CAMPAIGN = "(none)"


class time_bucket(FunctionElement[datetime]):
    """The start of the hour or day (UTC) a time falls in, computed by the database."""

    type = DateTime()
    name = "time_bucket"
    inherit_cache = True
    unit = "hour"


class hour_bucket(time_bucket):
    """The start of the hour a time falls in."""

    inherit_cache = True  # the unit is in the class, so the statement cache tells hours and days apart


class day_bucket(time_bucket):
    """The start of the day (UTC) a time falls in."""

    inherit_cache = True
    unit = "day"


@compiles(time_bucket, "sqlite")
def _bucket_sqlite(element: time_bucket, compiler: Any, **kw: Any) -> str:
    pattern = "%Y-%m-%d %H:00:00" if element.unit == "hour" else "%Y-%m-%d 00:00:00"
    return f"strftime('{pattern}', {compiler.process(element.clauses, **kw)})"


@compiles(time_bucket, "postgresql")
def _bucket_postgresql(element: time_bucket, compiler: Any, **kw: Any) -> str:
    return f"date_trunc('{element.unit}', ({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC')"


@dataclass(frozen=True)
class Window:
    """A period of the overview: [since, until) cut into buckets of one hour or one day."""

    name: str
    since: datetime
    until: datetime
    unit: str

    @property
    def buckets(self) -> list[datetime]:
        """The start of every bucket, oldest first."""
        step, at, out = STEPS[self.unit], self.since, []
        while at < self.until:
            out.append(at)
            at += step
        return out


def window(name: str, now: datetime | None = None) -> Window:
    """The period `name` (24h, 7d, 30d) ending with the current bucket."""
    span, unit = PERIODS[name]
    now = as_utc(now or utcnow())
    end = _truncate(now, unit) + STEPS[unit]
    return Window(name, end - span, end, unit)


def _truncate(when: datetime, unit: str) -> datetime:
    when = as_utc(when).replace(minute=0, second=0, microsecond=0)
    return when.replace(hour=0) if unit == "day" else when


def _as_bucket(value: Any) -> datetime:
    """A bucket as the database returned it (text on SQLite, a naive UTC timestamp on PostgreSQL)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _bucket(win: Window) -> ColumnElement[datetime]:
    return hour_bucket(Decision.evaluated_at) if win.unit == "hour" else day_bucket(Decision.evaluated_at)


def _in(query: Any, win: Window) -> Any:
    return query.where(Decision.id >= first_since(win.since), Decision.id <= last_before(win.until),
                       Decision.id <= projected_upto(),
                       Decision.evaluated_at >= win.since, Decision.evaluated_at < win.until)


def _series(rows: Any, win: Window) -> dict[str, list[int]]:
    """Counts per key per bucket as one list per key, aligned with win.buckets (empty buckets are 0)."""
    index = {b: i for i, b in enumerate(win.buckets)}
    series: dict[str, list[int]] = defaultdict(lambda: [0] * len(index))
    for bucket, key, count in rows:
        position = index.get(_as_bucket(bucket))
        if position is not None:
            series[key][position] += int(count)
    return dict(sorted(series.items()))


def outcomes_over_time(session: Session, win: Window) -> dict[str, list[int]]:
    """Decisions per outcome per bucket."""
    bucket = _bucket(win)
    query = _in(select(bucket, Decision.outcome, func.count()), win).group_by(bucket, Decision.outcome)
    return _series(session.execute(query), win)


def rules_over_time(session: Session, win: Window) -> dict[str, list[int]]:
    """Decisions per winning rule per bucket (decisions no rule matched are left out)."""
    bucket = _bucket(win)
    query = _in(
        select(bucket, DecisionRule.rule_id, func.count())
        .join(DecisionRule, (DecisionRule.decision_pk == Decision.id) & (DecisionRule.position == 0)),
        win,
    ).group_by(bucket, DecisionRule.rule_id)
    return _series(session.execute(query), win)


def top_campaigns(session: Session, win: Window, limit: int = TOP_CAMPAIGNS) -> list[dict[str, Any]]:
    """The campaigns with the most blocked or rerouted sends in the period, with their totals."""
    blocked = func.sum(case((Decision.outcome == "block", 1), else_=0))
    rerouted = func.sum(case((Decision.outcome == "reroute", 1), else_=0))
    stopped = blocked + rerouted
    query = _in(select(Decision.campaign_id, blocked, rerouted, func.count()), win) \
        .group_by(Decision.campaign_id).having(stopped > 0) \
        .order_by(stopped.desc(), Decision.campaign_id.asc().nulls_last()).limit(limit)
    return [{"campaign_id": campaign or NO_CAMPAIGN, "campaign": campaign, "blocked": int(b or 0),
             "rerouted": int(r or 0), "total": int(total)}
            for campaign, b, r, total in session.execute(query)]


def overview(session: Session, name: str, now: datetime | None = None) -> dict[str, Any]:
    """Everything the overview page shows for the period `name`."""
    win = window(name, now)
    outcomes = outcomes_over_time(session, win)
    return {
        "period": win.name,
        "since": win.since,
        "until": win.until,
        "unit": win.unit,
        "buckets": win.buckets,
        "outcomes": outcomes,
        "rules": rules_over_time(session, win),
        "campaigns": top_campaigns(session, win),
        "totals": {outcome: sum(counts) for outcome, counts in outcomes.items()},
    }
