"""Turns a message and a situation into the flat facts the engine sees, and the bindings explanations use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from guard.core import vocabulary as F
from guard.core.message import Message, PriorDecision
from guard.core.schemas import MAX_ID, MAX_LIST, MAX_TEXT
from guard.core.timeutil import age_phrase, iso
from guard.core.vocabulary import CHANNELS, PURPOSES
from guard.policy.ast import Ref, SetClause, Test, WhereTest
from guard.policy.compiler import GUARD_FACT, CompiledRuleSet
from guard.situation.derive import CASE_ID_FIELD, EventRecord, OpenCase, Situation


@dataclass(frozen=True)
class ProbeResult:
    """What one history query found: matching items, oldest first, each with its time and data."""

    items: tuple[tuple[datetime, dict[str, Any]], ...]


@dataclass(frozen=True)
class Facts:
    """The engine's fact document and the probe results behind its counts."""

    document: dict[str, Any]
    probes: tuple[ProbeResult, ...]
    local: datetime
    zone: ZoneInfo
    customer_since: date | None = None


def build_facts(
    compiled: CompiledRuleSet, message: Message, situation: Situation, history: list[PriorDecision]
) -> Facts:
    """All facts for one evaluation; probes run only for the history queries the rules use."""
    zone = _zone(situation.timezone)
    local = message.send_at.astimezone(zone)
    doc: dict[str, Any] = {
        GUARD_FACT: 1,
        "channel": message.channel,
        "purpose": message.purpose,
        "product_ids": list(message.product_ids),
        "product_ids_count": len(message.product_ids),
        "consent": situation.consent_status(message.channel, message.purpose),
        "timezone": situation.timezone or "UTC",
        "local_minutes": local.hour * 60 + local.minute,
        "local_weekday": F.WEEKDAYS[local.weekday()],
    }
    if message.campaign_id is not None:
        doc["campaign_id"] = message.campaign_id
    for name, value in message.attributes.items():
        # Attributes no rule tests stay out: the engine holds a bounded number of properties per fact.
        if name in compiled.attributes:
            doc[F.attribute_fact(name, value)] = ("true" if value else "false") if isinstance(value, bool) else value
    if situation.customer_since is not None:
        days = max(0, (message.send_at.date() - situation.customer_since).days)
        doc["tenure_days"] = days
        doc["tenure_years"] = _whole_years(situation.customer_since, message.send_at.date())
    probes = _run_probes(compiled.probes, message, situation, history)
    for name, result in zip(_probe_facts(len(probes)), probes, strict=True):
        doc[name] = len(result.items)
    return Facts(doc, probes, local, zone, situation.customer_since)


@lru_cache(maxsize=64)
def _probe_facts(count: int) -> tuple[str, ...]:
    return tuple(F.probe_fact(index) for index in range(count))


def worst_case_document(compiled: CompiledRuleSet) -> dict[str, Any]:
    """The largest fact document these rules can make: every fact present, each text and list at its longest.

    Validation asserts it through the engine, so a rule set whose facts the engine cannot hold is refused
    before it is stored rather than failing every decision once active.
    """
    at = datetime(2026, 3, 10, 12, 0, tzinfo=ZoneInfo("UTC"))
    message = Message(
        customer_id="c" * MAX_ID, channel=CHANNELS[0], purpose=PURPOSES[0], send_at=at,
        campaign_id="k" * MAX_ID, product_ids=tuple(f"{i:03d}".ljust(MAX_ID, "p") for i in range(MAX_LIST)),
        attributes={name: "v" * MAX_TEXT for name in compiled.attributes})
    situation = Situation(at=at, customer_since=date(2000, 1, 1), timezone="America/Argentina/ComodRivadavia")
    return build_facts(compiled, message, situation, []).document


@lru_cache(maxsize=1024)
def _zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (KeyError, ValueError):  # validated on ingestion; stay safe for old data
        return ZoneInfo("UTC")


def _whole_years(since: Any, today: Any) -> int:
    years = today.year - since.year - ((today.month, today.day) < (since.month, since.day))
    return max(0, years)


def run_probe(
    probe: SetClause, message: Message, situation: Situation, history: list[PriorDecision]
) -> ProbeResult:
    """Evaluate one history query at the message's send_at."""
    if probe.source == "open_case":
        return _case_probe(probe, message, situation.cases(probe.kind or ""))
    if probe.source == "decisions":
        return _decision_probe(probe, message, history)
    return _event_probe(probe, message, [e for e in situation.events if e.type == probe.kind])


def _run_probes(
    probes: tuple[SetClause, ...], message: Message, situation: Situation, history: list[PriorDecision]
) -> tuple[ProbeResult, ...]:
    """Every probe, as run_probe would compute it, with the events grouped by type once for all of them."""
    by_type: dict[str, list[EventRecord]] = {}
    for event in situation.events:
        by_type.setdefault(event.type, []).append(event)
    out = []
    for probe in probes:
        if probe.source == "open_case":
            out.append(_case_probe(probe, message, situation.cases(probe.kind or "")))
        elif probe.source == "decisions":
            out.append(_decision_probe(probe, message, history))
        else:
            out.append(_event_probe(probe, message, by_type.get(probe.kind, ()) if probe.kind is not None else ()))
    return tuple(out)


# Most customers have nothing a given query finds.
_NOTHING = ProbeResult(())
Item = tuple[datetime, dict[str, Any]]


def _case_probe(probe: SetClause, message: Message, cases: Sequence[OpenCase]) -> ProbeResult:
    if not cases:
        return _NOTHING
    at = message.send_at
    items = [(c.opened_at, {**c.data, "id": c.id}) for c in cases]
    if probe.where:
        items = [i for i in items if _where(probe.where, i[1], message)]
    if probe.age is not None:
        items = [i for i in items if _age_ok(probe.age, at - i[0])]
    return _result(items)


def _decision_probe(probe: SetClause, message: Message, history: Sequence[PriorDecision]) -> ProbeResult:
    if not history:
        return _NOTHING
    at = message.send_at
    start = at - timedelta(seconds=probe.within or 0)
    # A decision exactly `within` old no longer counts: that is the moment a cap releases.
    items = [(d.send_at, _decision_fields(d)) for d in history if start < d.send_at <= at]
    if probe.where:
        items = [i for i in items if _where(probe.where, i[1], message)]
    return _result(items)


def _event_probe(probe: SetClause, message: Message, events: Sequence[EventRecord]) -> ProbeResult:
    """`events` are the situation's events of the probe's type, in the situation's order."""
    if not events:
        return _NOTHING
    at = message.send_at
    start = None if probe.within is None else at - timedelta(seconds=probe.within)
    items = [(e.occurred_at, {**e.data, "__event_id": e.event_id}) for e in events
             if e.occurred_at <= at and (start is None or e.occurred_at >= start)]
    if probe.where:
        items = [i for i in items if _where(probe.where, i[1], message)]
    if probe.source == "last_event":
        items = items[-1:]
        if probe.age is not None:
            items = [i for i in items if _age_ok(probe.age, at - i[0])]
    return _result(items)


def _result(items: list[Item]) -> ProbeResult:
    if not items:
        return _NOTHING
    if len(items) > 1:
        items.sort(key=lambda i: i[0])
    return ProbeResult(tuple(items))


def _decision_fields(decision: PriorDecision) -> dict[str, Any]:
    return {name: decision.field(name) for name in F.DECISION_FIELDS}


def _age_ok(test: Test | None, age: timedelta) -> bool:
    return test is None or compare(test.op, age.total_seconds(), test.value)


def _where(tests: tuple[WhereTest, ...], data: dict[str, Any], message: Message) -> bool:
    for where in tests:
        test = where.test
        value = data.get(where.field)
        if test.op == "eq" and type(test.value) is str and type(value) is str:
            # The common filter, a text field equal to a text (`purpose: marketing`), decided here.
            if value != test.value:
                return False
        elif not _where_one(test, value, where.field in data, message):
            return False
    return True


def _resolve(operand: Any, message: Message) -> Any:
    if isinstance(operand, Ref):
        name = operand.path.removeprefix("message.")
        value = getattr(message, name)
        return tuple(value) if isinstance(value, tuple | list) else value
    return operand


def _where_one(test: Test, value: Any, present: bool, message: Message) -> bool:
    operand = _resolve(test.value, message)
    if test.op == "exists":
        return present == bool(operand)
    if not present:
        return test.op in ("ne", "not_in")
    if test.op == "intersects":
        mine = value if isinstance(value, list | tuple) else [value]
        theirs = operand if isinstance(operand, tuple | list) else [operand]
        return any(_same(a, b) for a in mine for b in theirs)
    if test.op == "contains":
        return isinstance(value, list | tuple) and any(_same(v, operand) for v in value)
    if isinstance(value, list | tuple):
        # A list field equals a value when it holds it: `product_ids: P1` reads naturally.
        return any(compare(test.op, v, operand) for v in value) if test.op != "ne" else not any(
            _same(v, operand) for v in value)
    return compare(test.op, value, operand)


def _same(a: Any, b: Any) -> bool:
    return (type(a) is type(b) and a == b) or (_number(a) and _number(b) and a == b)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def compare(op: str, value: Any, operand: Any) -> bool:
    """Typed comparison: numbers only order against numbers, never against text."""
    if op == "eq":
        return _same(value, operand)
    if op == "ne":
        return not _same(value, operand)
    if op == "in":
        return any(_same(value, o) for o in operand)
    if op == "not_in":
        return not any(_same(value, o) for o in operand)
    if not (_number(value) and _number(operand)):
        return False
    return {"gt": value > operand, "gte": value >= operand, "lt": value < operand, "lte": value <= operand}[op]


def binding_values(clause: SetClause, result: ProbeResult, message: Message) -> dict[str, Any]:
    """The attributes a bound history condition offers to explanations and defer times."""
    at = message.send_at
    items = result.items
    values: dict[str, Any] = {"count": len(items)}
    if not items:
        return values
    if clause.source == "open_case":
        opened_at, data = items[0]  # the oldest open case speaks for the customer's wait
        values.update(_data_values(data))
        values.update(id=data["id"], kind=clause.kind, opened_at=opened_at)
        values[CASE_ID_FIELD.get(clause.kind or "", "id")] = data["id"]
        values.update(_ages(at - opened_at))
        return values
    first_at, last_at = items[0][0], items[-1][0]
    values.update(first_at=first_at, last_at=last_at)
    if clause.source == "decisions":
        values["release_at"] = _release_at(clause, [t for t, _ in items])
        return values
    latest_data = items[-1][1]
    values.update(_data_values(latest_data))
    values.update(event_id=latest_data.get("__event_id"), type=clause.kind, occurred_at=last_at)
    values.update(_ages(at - last_at))
    if clause.within is not None:
        values["release_at"] = _release_at(clause, [t for t, _ in items])
    return values


def _data_values(data: dict[str, Any]) -> dict[str, Any]:
    return {f"data.{k}": v for k, v in data.items() if not k.startswith("__")}


def _ages(age: timedelta) -> dict[str, Any]:
    seconds = int(age.total_seconds())
    return {"age_days": seconds // 86400, "age_hours": seconds // 3600, "age": age_phrase(seconds)}


def _release_at(clause: SetClause, times: list[datetime]) -> datetime:
    """When the window count next falls below the clause's threshold."""
    within = timedelta(seconds=clause.within or 0)
    threshold = {"gte": clause.count.value, "gt": clause.count.value + 1}.get(clause.count.op)
    if not isinstance(threshold, int) or threshold < 1 or threshold > len(times):
        return times[-1] + within
    return times[len(times) - threshold] + within


def render_time(value: Any) -> Any:
    """Times in explanations and facts are ISO-8601 UTC."""
    return iso(value) if isinstance(value, datetime) else value
