"""Recorded facts and reasons as a reviewer reads them: clock times, plain strings, whole days, and each
history question once with the rules that asked it. The stored facts stay as they are (the API serves them)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from guard.core.vocabulary import WEEKDAYS
from guard.policy.ast import Ref, SetClause, Test, WhereTest, walk_clauses
from guard.policy.compiler import CompiledRuleSet

DAY_NAMES = dict(zip(WEEKDAYS, ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
                     strict=True))
LABELS = {"channel": "Channel", "purpose": "Purpose", "campaign_id": "Campaign", "consent": "Consent"}
# Engine helpers a person does not need: shown merged (local time) or as history questions (the counts).
HIDDEN = {"product_ids_count", "timezone", "local_minutes", "local_weekday", "guard_request"}
ATTRIBUTE_PREFIXES = ("a_s__", "a_n__", "a_b__")
SOURCES = {"open_case": "Open {kind} case", "event": "Events of type {kind}",
           "last_event": "The last event of type {kind}", "decisions": "Earlier decisions"}
COMPARE = {"gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "eq": "=", "ne": "≠", "in": "in", "not_in": "not in",
           "contains": "contains", "intersects": "shares an item with", "exists": "exists"}


@dataclass
class Question:
    """One history query of the rules: what it asked, what it found and which rules asked it."""

    asked: str
    window: str
    count: int
    times: list[str]
    rules: list[str] = field(default_factory=list)


def duration(seconds: float | None) -> str:
    """Seconds as people say them: `30 days`, `1 day 12 hours`, `90 minutes`."""
    if not seconds:
        return "—"
    rest = int(seconds)
    parts = []
    for name, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        count, rest = divmod(rest, size)
        if count:
            parts.append(f"{count} {name}{'' if count == 1 else 's'}")
    return " ".join(parts[:2])


def plain(value: Any) -> str:
    """A fact value without JSON quoting: strings as they are, lists comma-separated, whole floats whole."""
    if value is None or value == []:
        return "—"
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def local_time(fields: dict[str, Any]) -> str | None:
    """`22:00 (Europe/Berlin), Wednesday` from the engine's minutes after local midnight."""
    minutes = fields.get("local_minutes")
    if not isinstance(minutes, int | float):
        return None
    text = f"{int(minutes) // 60:02d}:{int(minutes) % 60:02d} ({fields.get('timezone') or 'UTC'})"
    day = DAY_NAMES.get(str(fields.get("local_weekday")))
    return f"{text}, {day}" if day else text


def fact_rows(fields: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) for every fact a person reads, in a stable order."""
    rows: list[tuple[str, str]] = []
    clock = local_time(fields)
    if clock:
        rows.append(("Customer's local time", clock))
    for name in ("channel", "purpose", "campaign_id", "consent"):
        if name in fields:
            rows.append((LABELS[name], plain(fields[name])))
    if "product_ids" in fields:
        rows.append(("Products in the message", plain(fields["product_ids"])))
    if "tenure_days" in fields:
        years = fields.get("tenure_years", 0)
        days = plain(fields["tenure_days"])
        rows.append(("Customer for", f"{plain(years)} year{'' if years == 1 else 's'} ({days} days)"))
    for name in sorted(fields):
        if name.startswith(ATTRIBUTE_PREFIXES):
            rows.append((f"attributes.{name[5:]}", plain(fields[name])))
        elif name not in HIDDEN and name not in LABELS and name not in ("product_ids", "tenure_days",
                                                                          "tenure_years") and not _count(name):
            rows.append((name, plain(fields[name])))
    return rows


def _count(name: str) -> bool:
    return name.startswith("p") and name.endswith("_count") and name[1:-6].isdigit()


def _test(test: Test | None, subject: str) -> str:
    if test is None:
        return ""
    if test.op == "between" and isinstance(test.value, list | tuple) and len(test.value) == 2:
        return f", {subject} between {duration(test.value[0])} and {duration(test.value[1])}"
    return f", {subject} {COMPARE.get(test.op, test.op)} {duration(test.value)}"


def _where(test: WhereTest) -> str:
    value = test.test.value
    operand = value.path if isinstance(value, Ref) else plain(value)
    if test.test.op == "exists":
        return f"{test.field} {'exists' if value else 'is missing'}"
    return f"{test.field} {COMPARE.get(test.test.op, test.test.op)} {operand}"


def questions(history: list[dict[str, Any]], compiled: CompiledRuleSet | None) -> list[Question]:
    """Each recorded history query once, described with its conditions and the rules that asked it when
    the rules version that decided is known (its probes are the recorded ones, in the same order)."""
    probes = compiled.probes if compiled is not None and len(compiled.probes) == len(history) else None
    askers: dict[tuple[Any, ...], list[str]] = {}
    if probes is not None and compiled is not None:
        for rule in compiled.ruleset.rules:
            clauses = walk_clauses((*rule.when, *(c for case in rule.cases for c in case.when)))
            for clause in clauses:
                if isinstance(clause, SetClause):
                    names = askers.setdefault(clause.probe_key(), [])
                    if rule.id not in names:
                        names.append(rule.id)
    out = []
    for index, item in enumerate(history):
        kind = item.get("kind") or item.get("type") or "any"
        asked = SOURCES.get(str(item.get("source")), str(item.get("source")) + " {kind}").format(kind=kind)
        probe = probes[index] if probes is not None else None
        if probe is not None and (probe.source, probe.kind) == (item.get("source"), item.get("kind")):
            asked += _test(probe.age, "age")
            if probe.where:
                asked += ", where " + " and ".join(_where(w) for w in probe.where)
            rules = askers.get(probe.probe_key(), [])
        else:
            rules = []
        out.append(Question(asked, duration(item.get("within_seconds")),
                            int(item.get("count") or 0), list(item.get("times") or []), rules))
    return out


def reason_routes(reasons: list[dict[str, Any]], compiled: CompiledRuleSet | None) -> dict[str, str]:
    """rule id → the route its matching outcome sends to, when the rules version names exactly one
    (the audit log stores only the winner's route)."""
    if compiled is None:
        return {}
    rules = {rule.id: rule for rule in compiled.ruleset.rules}
    routes: dict[str, str] = {}
    for reason in reasons:
        rule = rules.get(reason.get("rule_id", ""))
        if rule is None:
            continue
        cases = [case for case in rule.cases if case.outcome == reason.get("outcome") and case.route]
        found = {case.route for case in cases if case.route}
        if len(found) > 1:  # several routes: the case whose explanation produced the recorded one
            found = {case.route for case in cases
                     if case.route and _produced(case.explanation, reason.get("explanation", ""))}
        if len(found) == 1:
            routes[rule.id] = found.pop()
    return routes


def _produced(template: str, text: str) -> bool:
    """Whether filling the template's `{placeholders}` can give `text`."""
    parts = re.split(r"\{[^{}]*\}", template)
    return re.fullmatch(".*?".join(re.escape(part) for part in parts), text, re.S) is not None


def shortened(text: str, limit: int = 90) -> str:
    """A one-line excerpt of an explanation, cut at a word."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + "…"
