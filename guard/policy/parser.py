"""Reads rule files (YAML) into the rule model, collecting every error with file, line and column."""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import math
import re
from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

import yaml

from guard.core import vocabulary as F
from guard.core.schemas import EARLIEST, LATEST
from guard.core.timeutil import as_utc
from guard.core.vocabulary import CASE_KINDS, NOTIFY_EVENTS, OUTCOMES, RELEASE_WHEN, RULE_OUTCOMES
from guard.policy.ast import (
    AnyClause,
    Case,
    Clause,
    DeferSpec,
    FieldClause,
    Location,
    Ref,
    ReleaseSpec,
    Rule,
    RuleError,
    RuleSet,
    RuleSource,
    RuleTestCase,
    SetClause,
    Test,
    WhereTest,
    walk_clauses,
)
from guard.policy.checks import never_matching
from guard.policy.durations import parse_clock, parse_duration

MAX_FILE_BYTES = 512 * 1024
MAX_FILES = 100
MAX_RULES = 500
MAX_DEPTH = 20
# A route is stored with each decision it wins (decisions.route), so it fits that column.
MAX_ROUTE = 200
# YAML tags a rule file may use, written or implied: plain scalars, lists and mappings. Anything else
# (`!x`, `!!python/...`, `!!binary`, `!!set`) is refused before any value is built.
_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "timestamp", "seq", "map")}
RULE_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
BINDING = re.compile(r"^[a-z_][a-z0-9_]{0,31}$")
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
RESERVED_BINDINGS = {"message", "profile", "attributes", "local_time", "consent", "rule"}
COMPARISONS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists", "contains", "between")
WHERE_OPS = ("eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists", "contains", "intersects")
SET_SOURCES = ("open_case", "event", "last_event", "decisions")
RULE_KEYS = ("id", "description", "priority", "exempt", "when", "cases", *("outcome", "route"), "defer_until",
             "explanation", "release", "notify")
CASE_KEYS = ("when", "outcome", "route", "defer_until", "explanation", "release", "notify")
# The longest wait a release may add after its case closes: a hold lives a year at most anyway.
MAX_RELEASE_AFTER = 365 * 86400
TEST_KEYS = ("name", "events", "decisions", "message", "expect")
BINDING_ATTRIBUTES = {
    "open_case": {"id", "case_id", "refund_id", "opened_at", "age", "age_days", "age_hours", "count", "kind"},
    "event": {"event_id", "occurred_at", "age", "age_days", "age_hours", "count", "first_at", "last_at", "type"},
    "last_event": {"event_id", "occurred_at", "age", "age_days", "age_hours", "count", "type"},
    "decisions": {"count", "first_at", "last_at", "release_at"},
}
TIME_ATTRIBUTES = {"opened_at", "occurred_at", "first_at", "last_at", "release_at"}
CONTEXT_PLACEHOLDERS = {
    "message.channel", "message.purpose", "message.campaign_id", "message.send_at", "message.product_ids",
    "profile.tenure_years", "profile.tenure_days", "profile.timezone", "profile.customer_since",
    "local_time", "consent", "rule.id",
}


class _Collector:
    """Gathers errors for one file, tagging each with the rule it belongs to."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.rule_id: str | None = None
        self.errors: list[RuleError] = []

    def at(self, node: yaml.Node) -> Location:
        mark = node.start_mark
        return Location(self.file, mark.line + 1, mark.column + 1)

    def error(self, node: yaml.Node, message: str, severity: str = "error") -> None:
        loc = self.at(node)
        self.errors.append(RuleError(self.file, loc.line, loc.column, self.rule_id, message, severity))


class _Invalid(Exception):
    """Raised inside the walk to abandon one construct after its error was collected."""


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _plain(node: yaml.Node) -> Any:
    """The Python value of a node built only from safe scalars, lists and mappings."""
    if isinstance(node, yaml.ScalarNode):
        return _scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return [_plain(item) for item in node.value]
    return {_scalar(k) if isinstance(k, yaml.ScalarNode) else str(k): _plain(v) for k, v in node.value}


def _scalar(node: yaml.ScalarNode) -> Any:
    constructor = yaml.SafeLoader("")
    try:
        return constructor.construct_object(node, deep=True)
    finally:
        constructor.dispose()


class _FileParser:
    """Walks one file's YAML node tree into rules and tests."""

    def __init__(self, source: RuleSource) -> None:
        self.source = source
        self.c = _Collector(source.name)
        self.rules: list[Rule] = []
        self.tests: list[RuleTestCase] = []

    # -- structure helpers -------------------------------------------------------------------------
    def mapping(self, node: yaml.Node, what: str, allowed: Iterable[str] | None = None) -> dict[str, yaml.Node]:
        if not isinstance(node, yaml.MappingNode):
            self.c.error(node, f"{what} must be a mapping")
            raise _Invalid
        out: dict[str, yaml.Node] = {}
        allowed = tuple(allowed) if allowed is not None else None
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            if not isinstance(key, str):
                self.c.error(key_node, f"{what} keys must be plain names")
                continue
            if key in out:
                self.c.error(key_node, f"{key!r} is given twice in {what}")
                continue
            if allowed is not None and key not in allowed:
                self.c.error(key_node, f"unknown key {key!r} in {what}{_suggest(key, allowed)}")
                continue
            out[key] = value_node
        return out

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            self.c.error(node, f"{what} must be a list")
            raise _Invalid
        return list(node.value)

    def string(self, node: yaml.Node, what: str) -> str:
        value = _scalar(node) if isinstance(node, yaml.ScalarNode) else None
        if not isinstance(value, str) or not value.strip():
            self.c.error(node, f"{what} must be a non-empty text")
            raise _Invalid
        return value

    def duration(self, node: yaml.Node, what: str) -> int:
        try:
            return parse_duration(_scalar(node) if isinstance(node, yaml.ScalarNode) else None)
        except ValueError as exc:
            self.c.error(node, f"{what}: {exc}")
            raise _Invalid from None

    # -- file --------------------------------------------------------------------------------------
    def parse(self) -> None:
        root = self.compose()
        if root is None:
            return
        try:
            top = self.mapping(root, "a rule file", ("rules", "tests"))
        except _Invalid:
            return
        if "rules" in top:
            self.each(top["rules"], "rules", self.rule)
        if "tests" in top:
            self.c.rule_id = None
            self.each(top["tests"], "tests", self.test_case)

    def compose(self) -> yaml.Node | None:
        text = self.source.text
        if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
            self.c.errors.append(RuleError(self.c.file, 1, 1, None, f"file is larger than {MAX_FILE_BYTES} bytes"))
            return None
        undecodable = _first_undecodable(text)
        if undecodable is not None:
            line, column, byte = undecodable
            self.c.errors.append(RuleError(self.c.file, line, column, None,
                                           f"the file is not UTF-8 text (byte 0x{byte:02x}); save it as UTF-8"))
            return None
        try:
            root = yaml.compose(text, Loader=_NoAliasLoader)
        except _AliasUsed as exc:
            self.c.errors.append(RuleError(self.c.file, exc.line, exc.column, None,
                                           "anchors and aliases are not allowed in rule files"))
            return None
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            self.c.errors.append(RuleError(self.c.file, line, col, None, f"YAML syntax: {exc.problem or exc}"))
            return None
        except (yaml.YAMLError, RecursionError) as exc:
            self.c.errors.append(RuleError(self.c.file, 1, 1, None, f"YAML cannot be read: {exc}"))
            return None
        if root is None:
            self.c.errors.append(RuleError(self.c.file, 1, 1, None, "the file is empty", "warning"))
            return None
        if _depth(root) > MAX_DEPTH:
            self.c.errors.append(RuleError(self.c.file, 1, 1, None, f"nesting deeper than {MAX_DEPTH} levels"))
            return None
        return root if self.values_ok(root) else None

    def values_ok(self, root: yaml.Node) -> bool:
        """Whether every node has a plain tag and every scalar a value; each one that does not is an error.

        Values are built lazily later; checking them all here means none can fail half-way through a rule.
        """
        ok = True
        stack: list[tuple[yaml.Node, str]] = [(root, "the file")]
        while stack:
            node, where = stack.pop()
            problem = _value_problem(node)
            if problem:
                self.c.error(node, f"{where}: {problem}")
                ok = False
            elif isinstance(node, yaml.SequenceNode):
                stack.extend((item, where) for item in node.value)
            elif isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    name = key.value if isinstance(key, yaml.ScalarNode) else where
                    stack.extend(((key, where), (value, str(name)[:64])))
        return ok

    def each(self, node: yaml.Node, what: str, parse_one: Any) -> None:
        try:
            items = self.sequence(node, what)
        except _Invalid:
            return
        for item in items:
            with contextlib.suppress(_Invalid):
                parse_one(item)

    # -- rules -------------------------------------------------------------------------------------
    def rule(self, node: yaml.Node) -> None:
        self.c.rule_id = _peek_id(node)  # so that errors in the rule's keys name it too
        m = self.mapping(node, "a rule", RULE_KEYS)
        if "id" not in m:
            self.c.error(node, "a rule needs an id")
            raise _Invalid
        rule_id = self.string(m["id"], "id")
        if not RULE_ID.match(rule_id):
            self.c.error(m["id"], "a rule id is 1-64 lower-case letters, digits, '.', '_' or '-'")
        self.c.rule_id = rule_id
        description = self.string(m["description"], "description") if "description" in m else ""
        if not description:
            self.c.error(node, "a rule needs a description: say what the customer would feel")
        priority = self.integer(m["priority"], "priority") if "priority" in m else 0
        exempt = self.boolean(m["exempt"], "exempt") if "exempt" in m else False
        when = self.clauses(m["when"]) if "when" in m else ()
        cases = self.rule_cases(node, m, exempt)
        rule = Rule(rule_id, description, priority, exempt, when, cases, self.c.at(node))
        for case in cases:
            self.check_references(rule, case)
        self.rules.append(rule)

    def integer(self, node: yaml.Node, what: str) -> int:
        value = _scalar(node) if isinstance(node, yaml.ScalarNode) else None
        if isinstance(value, bool) or not isinstance(value, int) or not -10**6 <= value <= 10**6:
            self.c.error(node, f"{what} must be a whole number between -1000000 and 1000000")
            raise _Invalid
        return value

    def boolean(self, node: yaml.Node, what: str) -> bool:
        value = _scalar(node) if isinstance(node, yaml.ScalarNode) else None
        if not isinstance(value, bool):
            self.c.error(node, f"{what} must be true or false")
            raise _Invalid
        return value

    def rule_cases(self, node: yaml.Node, m: dict[str, yaml.Node], exempt: bool) -> tuple[Case, ...]:
        inline = {k: v for k, v in m.items()
                  if k in ("outcome", "route", "defer_until", "explanation", "release", "notify")}
        if "cases" in m:
            if inline:
                self.c.error(node, "write either cases or outcome/route/defer_until/explanation/release/notify, "
                                   "not both")
            cases = []
            for item in self.sequence(m["cases"], "cases"):
                with contextlib.suppress(_Invalid):
                    cases.append(self.case(item, self.mapping(item, "a case", CASE_KEYS), exempt))
            if not cases:
                self.c.error(m["cases"], "cases must list at least one case")
            return tuple(cases)
        if exempt and "outcome" not in inline:
            return (self.case(node, inline, exempt, default_outcome="allow"),)
        return (self.case(node, inline, exempt),)

    def case(self, node: yaml.Node, m: dict[str, yaml.Node], exempt: bool, default_outcome: str = "") -> Case:
        when = self.clauses(m["when"]) if "when" in m else ()
        outcome = self.string(m["outcome"], "outcome") if "outcome" in m else default_outcome
        if not outcome:
            self.c.error(node, "an outcome is needed: allow, block, defer or reroute")
            raise _Invalid
        if outcome == "hold":
            self.c.error(m["outcome"], "a rule does not hold: write outcome: block with a release "
                                       "(e.g. release: {when: case_closed, after: 3d})")
            raise _Invalid
        if outcome not in RULE_OUTCOMES:
            self.c.error(m["outcome"], f"unknown outcome {outcome!r}{_suggest(outcome, RULE_OUTCOMES)}")
            raise _Invalid
        if exempt and outcome != "allow":
            self.c.error(m.get("outcome", node), "an exempt rule always allows: its outcome must be allow")
        route = self.string(m["route"], "route") if "route" in m else None
        if route is not None and len(route) > MAX_ROUTE:
            self.c.error(m["route"], f"a route is at most {MAX_ROUTE} characters")
        if outcome == "reroute" and not route:
            self.c.error(node, "a reroute needs a route (e.g. route: care)")
        if outcome != "reroute" and route:
            self.c.error(m["route"], "only a reroute takes a route")
        defer = self.defer(m["defer_until"]) if "defer_until" in m else None
        if outcome == "defer" and defer is None:
            self.c.error(node, "a defer needs defer_until")
        if outcome != "defer" and "defer_until" in m:
            self.c.error(m["defer_until"], "only a defer takes defer_until")
        release = self.release(m["release"]) if "release" in m else None
        if release is not None and outcome != "block":
            self.c.error(m["release"], "only a block takes a release (it says when the block clears)")
        explanation = self.string(m["explanation"], "explanation") if "explanation" in m else ""
        if not explanation:
            self.c.error(node, "an explanation is needed: it is what reviewers and customers read")
        notify = self.notify(m["notify"], outcome) if "notify" in m else None
        return Case(when, outcome, route, defer, explanation, self.c.at(node),
                    self.c.at(m["explanation"]) if "explanation" in m else None,
                    self.c.at(m["defer_until"]) if "defer_until" in m else None,
                    release, self.c.at(m["release"]) if "release" in m else None, notify)

    def release(self, node: yaml.Node) -> ReleaseSpec:
        """`release: {when: case_closed, after: 3d}`: the matched open case closes, plus an optional delay."""
        m = self.mapping(node, "release", ("when", "after"))
        if "when" not in m:
            self.c.error(node, f"release needs `when` ({', '.join(RELEASE_WHEN)})")
            raise _Invalid
        after = self.release_after(m["after"]) if "after" in m else 0
        when = self.string(m["when"], "release when")
        if when not in RELEASE_WHEN:
            self.c.error(m["when"], f"release when must be one of {', '.join(RELEASE_WHEN)}, not {when!r}"
                                    f"{_suggest(when, RELEASE_WHEN)}")
            raise _Invalid
        if after is None:
            raise _Invalid
        return ReleaseSpec(when, after)

    def release_after(self, node: yaml.Node) -> int | None:
        """The delay after the close (None once its error is collected)."""
        try:
            after = self.duration(node, "release after")
        except _Invalid:
            return None
        if after > MAX_RELEASE_AFTER:
            self.c.error(node, f"release after is at most {MAX_RELEASE_AFTER // 86400}d")
            return None
        return after

    def notify(self, node: yaml.Node, outcome: str) -> str | None:
        """The event a reroute emits (`notify: care.requested`); any other outcome is sent on, nobody told."""
        event = self.string(node, "notify")
        if event not in NOTIFY_EVENTS:
            self.c.error(node, f"unknown event {event!r} to notify; use one of {', '.join(NOTIFY_EVENTS)}"
                               f"{_suggest(event, NOTIFY_EVENTS)}")
            return None
        if outcome != "reroute":
            self.c.error(node, f"only a reroute takes notify (this case's outcome is {outcome})")
            return None
        return event

    def defer(self, node: yaml.Node) -> DeferSpec:
        m = self.mapping(node, "defer_until", ("at", "plus", "next_local_time"))
        if ("at" in m) == ("next_local_time" in m):
            self.c.error(node, "defer_until takes either at (with an optional plus) or next_local_time")
            raise _Invalid
        if "next_local_time" in m:
            if "plus" in m:
                self.c.error(m["plus"], "plus goes with at, not with next_local_time")
            try:
                return DeferSpec(None, 0, parse_clock(self.string(m["next_local_time"], "next_local_time")))
            except ValueError as exc:
                self.c.error(m["next_local_time"], str(exc))
                raise _Invalid from None
        plus = self.duration(m["plus"], "plus") if "plus" in m else 0
        return DeferSpec(self.string(m["at"], "at"), plus, None)

    # -- clauses -----------------------------------------------------------------------------------
    def clauses(self, node: yaml.Node) -> tuple[Clause, ...]:
        out = []
        for item in self.sequence(node, "when"):
            with contextlib.suppress(_Invalid):
                out.append(self.clause(item))
        return tuple(out)

    def clause(self, node: yaml.Node) -> Clause:
        m = self.mapping(node, "a condition")
        binding_node = m.pop("as", None)
        if len(m) != 1:
            self.c.error(node, "a condition has exactly one subject, e.g. `message.purpose: marketing`")
            raise _Invalid
        (subject, value), = m.items()
        binding = self.binding(binding_node) if binding_node is not None else None
        if subject == "any":
            if binding:
                self.c.error(binding_node or node, "`as` names a history condition, not `any`")
            inner = self.clauses(value)
            if not inner and isinstance(value, yaml.SequenceNode) and not value.value:
                self.c.error(value, "`any` needs at least one condition (an empty `any` never holds)")
                raise _Invalid
            return AnyClause(inner, self.c.at(node))
        if subject in SET_SOURCES:
            return self.set_clause(node, subject, value, binding)
        if binding_node is not None:
            self.c.error(binding_node, "`as` names a history condition (open_case, event, last_event, decisions)")
        return self.field_clause(node, subject, value)

    def binding(self, node: yaml.Node) -> str:
        name = self.string(node, "as")
        if not BINDING.match(name) or name in RESERVED_BINDINGS:
            self.c.error(node, f"{name!r} cannot name a condition: use lower-case letters, digits and '_' "
                               f"and not {sorted(RESERVED_BINDINGS)}")
            raise _Invalid
        return name

    def field_clause(self, node: yaml.Node, path: str, value: yaml.Node) -> FieldClause:
        attribute = F.attribute_name(path)
        if attribute is not None:
            if not F.ATTRIBUTE_NAME.match(attribute):
                self.c.error(node, f"{attribute!r} is not a valid attribute name")
                raise _Invalid
            field_type, values = "attribute", cast(tuple[str, ...], ())
        elif path in F.FIELDS:
            spec = F.FIELDS[path]
            field_type, values = spec.type, spec.values
        else:
            known = [*F.FIELDS, "attributes.<name>", *SET_SOURCES, "any"]
            self.c.error(node, f"unknown field {path!r}{_suggest(path, known)}")
            raise _Invalid
        test = self.test(value, field_type, values)
        return FieldClause(path, test, self.c.at(node))

    def test(self, node: yaml.Node, field_type: str, values: tuple[str, ...]) -> Test:
        if isinstance(node, yaml.MappingNode):
            m = self.mapping(node, "a comparison", COMPARISONS)
            if len(m) != 1:
                self.c.error(node, "a comparison has exactly one operator, e.g. {gte: 3}")
                raise _Invalid
            (op, operand), = m.items()
        else:
            op, operand = ("contains" if field_type == "list" else "eq"), node
        if op not in F.OPERATORS[field_type]:
            article = "an" if field_type[0] in "aeiou" else "a"
            self.c.error(node, f"operator {op!r} does not apply to {article} {field_type} field; "
                               f"use one of {', '.join(F.OPERATORS[field_type])}")
            raise _Invalid
        return Test(op, self.operand(operand, op, field_type, values))

    def operand(self, node: yaml.Node, op: str, field_type: str, values: tuple[str, ...]) -> Any:
        raw = _plain(node)
        if op == "exists":
            if not isinstance(raw, bool):
                self.c.error(node, "exists takes true or false")
                raise _Invalid
            return raw
        if op in ("in", "not_in"):
            if not isinstance(raw, list) or not raw:
                self.c.error(node, f"{op} takes a non-empty list")
                raise _Invalid
            return tuple(self.literal(node, item, op, field_type, values) for item in raw)
        if op == "between":
            if not isinstance(raw, list) or len(raw) != 2:
                self.c.error(node, "between takes two times of day, e.g. ['21:00', '08:00']")
                raise _Invalid
            return tuple(self.literal(node, item, op, field_type, values) for item in raw)
        return self.literal(node, raw, op, field_type, values)

    def literal(self, node: yaml.Node, raw: Any, op: str, field_type: str, values: tuple[str, ...]) -> Any:
        ok: bool
        if field_type == "clock":
            try:
                return parse_clock(raw)
            except ValueError as exc:
                self.c.error(node, str(exc))
                raise _Invalid from None
        if field_type == "number" or (field_type == "attribute" and op in ("gt", "gte", "lt", "lte")):
            ok = isinstance(raw, int | float) and not isinstance(raw, bool)
            expected = "a number"
        elif field_type == "attribute":
            ok = isinstance(raw, str | int | float | bool)
            expected = "a text, number or true/false"
        else:
            ok = isinstance(raw, str)
            expected = "a text"
        if not ok or (isinstance(raw, float) and not math.isfinite(raw)):
            self.c.error(node, f"expected {expected}, got {raw!r}")
            raise _Invalid
        if values and raw not in values:
            self.c.error(node, f"{raw!r} is not one of {', '.join(values)}{_suggest(str(raw), values)}")
            raise _Invalid
        return raw

    def set_clause(self, node: yaml.Node, source: str, value: yaml.Node, binding: str | None) -> SetClause:
        allowed = {
            "open_case": ("kind", "age", "where", "count"),
            "event": ("type", "within", "where", "count"),
            "last_event": ("type", "age", "where"),
            "decisions": ("within", "where", "count"),
        }[source]
        m = self.mapping(value, source, allowed)
        kind = self.set_kind(node, source, m)
        within = self.duration(m["within"], "within") if "within" in m else None
        if source in ("event", "decisions") and within is None:
            self.c.error(value, f"{source} needs `within`, e.g. within: 30d")
        age = self.age(m["age"]) if "age" in m else None
        where = self.where(m["where"], source) if "where" in m else ()
        count = self.test(m["count"], "number", ()) if "count" in m else Test("gte", 1)
        return SetClause(source, kind, within, age, where, count, binding, self.c.at(node))

    def set_kind(self, node: yaml.Node, source: str, m: dict[str, yaml.Node]) -> str | None:
        if source == "decisions":
            return None
        key = "kind" if source == "open_case" else "type"
        if key not in m:
            self.c.error(node, f"{source} needs `{key}`")
            raise _Invalid
        kind = self.string(m[key], key)
        if source == "open_case" and kind not in CASE_KINDS:
            self.c.error(m[key], f"case kind must be one of {', '.join(CASE_KINDS)}{_suggest(kind, CASE_KINDS)}")
            raise _Invalid
        if source != "open_case" and kind not in F.KNOWN_EVENT_TYPES:
            hint = _suggest(kind, F.KNOWN_EVENT_TYPES)
            if hint:
                self.c.error(m[key], f"unknown event type {kind!r}{hint}", "warning")
        return kind

    def age(self, node: yaml.Node) -> Test:
        m = self.mapping(node, "age", ("gt", "gte", "lt", "lte"))
        if len(m) != 1:
            self.c.error(node, "age takes one comparison, e.g. {gte: 14d}")
            raise _Invalid
        (op, operand), = m.items()
        return Test(op, self.duration(operand, f"age {op}"))

    def where(self, node: yaml.Node, source: str) -> tuple[WhereTest, ...]:
        m = self.mapping(node, "where")
        out = []
        for name, value in m.items():
            if source == "decisions" and name not in F.DECISION_FIELDS:
                self.c.error(value, f"earlier decisions can be filtered on {', '.join(F.DECISION_FIELDS)}, "
                                    f"not {name!r}{_suggest(name, F.DECISION_FIELDS)}")
                continue
            with contextlib.suppress(_Invalid):
                out.append(WhereTest(name, self.where_test(value, F.DECISION_FIELDS.get(name, ()))))
        return tuple(out)

    def where_test(self, node: yaml.Node, values: tuple[str, ...]) -> Test:
        if isinstance(node, yaml.MappingNode):
            m = self.mapping(node, "a comparison", WHERE_OPS)
            if len(m) != 1:
                self.c.error(node, "a comparison has exactly one operator")
                raise _Invalid
            (op, operand_node), = m.items()
        else:
            op, operand_node = "eq", node
        operand = _plain(operand_node)
        if isinstance(operand, str) and operand.startswith("message."):
            if operand not in ("message.product_ids", "message.campaign_id", "message.channel", "message.purpose"):
                self.c.error(operand_node, f"unknown message field {operand!r}")
                raise _Invalid
            return Test(op, Ref(operand))
        if op in ("in", "not_in", "intersects"):
            if not isinstance(operand, list) or not operand:
                self.c.error(operand_node, f"{op} takes a non-empty list or a message field")
                raise _Invalid
            operand = tuple(operand)
        elif op == "exists" and not isinstance(operand, bool):
            self.c.error(operand_node, "exists takes true or false")
            raise _Invalid
        elif op in ("gt", "gte", "lt", "lte") and (isinstance(operand, bool) or not isinstance(operand, int | float)):
            self.c.error(operand_node, f"{op} takes a number")
            raise _Invalid
        elif isinstance(operand, dict | list) and op not in ("contains",):
            self.c.error(operand_node, f"{op} takes a single value")
            raise _Invalid
        for item in operand if isinstance(operand, tuple) else (operand,):
            if values and item not in values:
                self.c.error(operand_node, f"{item!r} is not one of {', '.join(values)}{_suggest(str(item), values)}")
                raise _Invalid
        return Test(op, operand)

    # -- references --------------------------------------------------------------------------------
    def check_references(self, rule: Rule, case: Case) -> None:
        sources = {c.binding: c.source for c in walk_clauses((*rule.when, *case.when))
                   if isinstance(c, SetClause) and c.binding}
        self.check_duplicate_bindings(rule, case)
        for placeholder in PLACEHOLDER.findall(case.explanation):
            problem = _placeholder_problem(placeholder.strip(), sources)
            if problem:
                loc = case.explanation_location or case.location
                self.c.errors.append(RuleError(self.c.file, loc.line, loc.column, rule.id,
                                               f"explanation placeholder {{{placeholder}}}: {problem}"))
        if case.defer_until and case.defer_until.at:
            problem = _time_reference_problem(case.defer_until.at, sources) or _found_problem(
                case.defer_until.at.partition(".")[0], (*rule.when, *case.when))
            if problem:
                loc = case.defer_location or case.location
                self.c.errors.append(RuleError(self.c.file, loc.line, loc.column, rule.id,
                                               f"defer_until at {case.defer_until.at!r}: {problem}"))
        if case.release is not None and case.outcome == "block":
            problem = release_problem(rule, case)
            if problem:
                loc = case.release_location or case.location
                self.c.errors.append(RuleError(self.c.file, loc.line, loc.column, rule.id, f"release: {problem}"))

    def check_duplicate_bindings(self, rule: Rule, case: Case) -> None:
        seen: set[str] = set()
        for clause in walk_clauses((*rule.when, *case.when)):
            if isinstance(clause, SetClause) and clause.binding:
                if clause.binding in seen:
                    loc = clause.location
                    self.c.errors.append(RuleError(self.c.file, loc.line, loc.column, rule.id,
                                                   f"the name {clause.binding!r} is bound twice"))
                seen.add(clause.binding)

    # -- tests -------------------------------------------------------------------------------------
    def test_case(self, node: yaml.Node) -> None:
        m = self.mapping(node, "a test", TEST_KEYS)
        for required in ("name", "message", "expect"):
            if required not in m:
                self.c.error(node, f"a test needs `{required}`")
                raise _Invalid
        name = self.string(m["name"], "name")
        events = self.plain_list(m, "events")
        decisions = self.plain_list(m, "decisions")
        message = _plain(self.mapping_node(m["message"], "message"))
        expect = _plain(self.mapping_node(m["expect"], "expect"))
        if expect.get("outcome") not in OUTCOMES:
            self.c.error(m["expect"], f"expect.outcome must be one of {', '.join(OUTCOMES)}")
            raise _Invalid
        self.test_values(m)
        self.tests.append(RuleTestCase(name, tuple(events), tuple(decisions), message, expect, self.c.at(node)))

    def test_values(self, m: dict[str, yaml.Node]) -> None:
        """The typed keys of a test's events, decisions and expectation have values of their type."""
        for key, times in (("events", ("occurred_at",)), ("decisions", ("send_at",))):
            for item in m[key].value if key in m else ():
                fields = self.mapping(item, f"each of {key}")
                for name in times:
                    if name in fields:
                        self.instant(fields[name], name)
                if "ago" in fields:
                    self.duration(fields["ago"], "ago")
                if "rule_ids" in fields:
                    self.texts(fields["rule_ids"], "rule_ids")
        message = self.mapping(m["message"], "message")
        if "hold" in message:
            self.boolean(message["hold"], "message.hold")
        expect = self.mapping(m["expect"], "expect")
        if "waiting_for" in expect:
            self.mapping(expect["waiting_for"], "expect.waiting_for", ("kind", "case_id", "then"))
        for name in ("route", "rule_id", "notify"):
            if name in expect:
                self.string(expect[name], f"expect.{name}")
        if "rules" in expect:
            self.texts(expect["rules"], "expect.rules")
        if "defer_until" in expect:
            self.instant(expect["defer_until"], "expect.defer_until")

    def texts(self, node: yaml.Node, what: str) -> None:
        """A list of texts, e.g. rule ids."""
        for item in self.sequence(node, what):
            self.string(item, f"each of {what}")

    def instant(self, node: yaml.Node, what: str) -> None:
        """An ISO-8601 time (UTC when it has no offset) within the years the API takes."""
        value = _scalar(node) if isinstance(node, yaml.ScalarNode) else None
        try:
            instant = as_utc(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
        except (ValueError, OverflowError):
            instant = None
        if not isinstance(value, str | date) or instant is None or not EARLIEST <= instant <= LATEST:
            self.c.error(node, f"{what} must be an ISO-8601 time between 1900 and 9000, e.g. 2026-03-10T12:00:00Z")
            raise _Invalid

    def plain_list(self, m: dict[str, yaml.Node], key: str) -> list[Any]:
        if key not in m:
            return []
        items = [_plain(item) for item in self.sequence(m[key], key)]
        for item, item_node in zip(items, m[key].value, strict=True):
            if not isinstance(item, dict):
                self.c.error(item_node, f"each of {key} must be a mapping")
                raise _Invalid
        return items

    def mapping_node(self, node: yaml.Node, what: str) -> yaml.Node:
        self.mapping(node, what)
        return node


def _value_problem(node: yaml.Node) -> str | None:
    """Why a node cannot be read as a plain value (its tag, or its scalar's value), or None."""
    if node.tag not in _TAGS:
        return f"the YAML tag {node.tag!r} is not allowed in rule files (write plain values)"
    if not isinstance(node, yaml.ScalarNode):
        return None
    try:
        value = _scalar(node)
    except (yaml.YAMLError, ValueError, OverflowError, TypeError) as exc:
        return f"{node.value[:40]!r} cannot be read: {str(exc)[:120]}"
    if isinstance(value, int):
        try:
            float(value)  # the engine takes integers beyond 64 bits as floats (guard.policy.engine.encode)
        except OverflowError:
            return "this number is too large for the rule engine"
    return None


def _peek_id(node: yaml.Node) -> str | None:
    """The id a rule mapping declares, before the rule is read."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == "id" and isinstance(value, yaml.ScalarNode):
                return str(value.value) or None
    return None


def _placeholder_problem(placeholder: str, sources: dict[str, str]) -> str | None:
    """Why a placeholder cannot be filled, or None when it can."""
    if placeholder in CONTEXT_PLACEHOLDERS or F.attribute_name(placeholder):
        return None
    head, _, attribute = placeholder.partition(".")
    if head not in sources:
        return f"{head!r} is not a name bound with `as` in this rule" + _suggest(head, sources)
    if attribute.startswith("data.") and sources[head] != "decisions":
        return None
    allowed = BINDING_ATTRIBUTES[sources[head]]
    if attribute not in allowed:
        return f"{head} has no {attribute!r}; it has {', '.join(sorted(allowed))}" + _suggest(attribute, allowed)
    return None


def _time_reference_problem(path: str, sources: dict[str, str]) -> str | None:
    """Why a defer_until `at` path is not a time, or None when it is."""
    head, _, attribute = path.partition(".")
    if head not in sources:
        return f"{head!r} is not a name bound with `as` in this rule" + _suggest(head, sources)
    allowed = BINDING_ATTRIBUTES[sources[head]] & TIME_ATTRIBUTES
    if attribute not in allowed:
        return f"use one of {', '.join(sorted(f'{head}.{a}' for a in allowed))}"
    return None


def _found_problem(name: str, clauses: tuple[Clause, ...]) -> str | None:
    """Why the condition bound to `name` may find nothing when the case matches (so there is no time)."""
    for clause in clauses:
        if isinstance(clause, SetClause) and clause.binding == name:
            if _holds_for_zero(clause.count):
                return f"{name!r} may find nothing when the rule matches (its count allows 0): no time to defer to"
            return None
    return f"{name!r} is bound inside `any`, so it may find nothing: bind a condition every match needs"


def release_problem(rule: Rule, case: Case) -> str | None:
    """Why a case's release has no open case to wait for, or None: it needs exactly one `open_case` condition
    outside `any` that finds a case whenever the case matches."""
    found = rule.awaited(case)
    if len(found) != 1:
        return ("a release waits for the open case the block matched: the rule or the case needs exactly one "
                f"open_case condition outside `any` (it has {len(found)})")
    if _holds_for_zero(found[0].count):
        return "its open_case condition may find no case (its count allows 0): there is no case to wait for"
    return None


def _holds_for_zero(test: Test) -> bool:
    """Whether a count test holds when nothing was found."""
    op, value = test.op, test.value
    if op in ("in", "not_in"):
        return (0 in value) == (op == "in")
    holds = {"eq": value == 0, "ne": value != 0, "gt": value < 0, "gte": value <= 0, "lt": value > 0, "lte": value >= 0}
    return holds.get(op, False)


class _AliasUsed(Exception):
    def __init__(self, line: int, column: int) -> None:
        super().__init__("alias")
        self.line, self.column = line, column


class _NoAliasLoader(yaml.SafeLoader):
    """A safe loader that refuses anchors and aliases, so billion-laughs bombs never expand."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise _AliasUsed(mark.line + 1, mark.column + 1)
        event = self.peek_event()
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise _AliasUsed(event.start_mark.line + 1, event.start_mark.column + 1)
        return super().compose_node(parent, index)


_UNDECODABLE = re.compile("[\udc80-\udcff]")


def _first_undecodable(text: str) -> tuple[int, int, int] | None:
    """Line, column and value of the first byte that was not UTF-8 (read with surrogateescape)."""
    found = _UNDECODABLE.search(text)
    if found is None:
        return None
    before = text[:found.start()]
    line = before.count("\n") + 1
    return line, found.start() - (before.rfind("\n") + 1) + 1, ord(found.group()) - 0xDC00


def _depth(node: yaml.Node) -> int:
    """Nesting depth of a node tree, walked without recursion."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_DEPTH:
            return depth
        if isinstance(current, yaml.SequenceNode):
            stack.extend((child, depth + 1) for child in current.value)
        elif isinstance(current, yaml.MappingNode):
            stack.extend((v, depth + 1) for _, v in current.value)
    return deepest


def version_of(sources: Iterable[RuleSource]) -> str:
    """A content hash that names a set of rule files."""
    digest = hashlib.sha256()
    for source in sorted(sources, key=lambda s: s.name):
        digest.update(source.name.encode() + b"\0" + source.text.encode("utf-8", "surrogatepass") + b"\0")
    return digest.hexdigest()[:12]


def parse_sources(sources: Iterable[RuleSource]) -> tuple[RuleSet, list[RuleError]]:
    """Parse every file; return the rule set and every error and warning found."""
    sources = tuple(sources)
    rules: list[Rule] = []
    tests: list[RuleTestCase] = []
    problems: list[RuleError] = []
    if len(sources) > MAX_FILES:
        problems.append(RuleError("", 1, 1, None, f"more than {MAX_FILES} rule files"))
        sources = sources[:MAX_FILES]
    for source in sources:
        parser = _FileParser(source)
        parser.parse()
        rules.extend(parser.rules)
        tests.extend(parser.tests)
        problems.extend(parser.c.errors)
    problems.extend(_duplicate_ids(rules))
    problems.extend(never_matching(tuple(rules)))
    if len(rules) > MAX_RULES:
        problems.append(RuleError("", 1, 1, None, f"more than {MAX_RULES} rules"))
    ruleset = RuleSet(tuple(rules), tuple(tests), sources, version_of(sources),
                      [p for p in problems if p.severity == "warning"])
    return ruleset, problems


def _duplicate_ids(rules: list[Rule]) -> list[RuleError]:
    seen: dict[str, Rule] = {}
    out = []
    for rule in rules:
        if rule.id in seen:
            first = seen[rule.id].location
            loc = rule.location
            out.append(RuleError(loc.file, loc.line, loc.column, rule.id,
                                 f"duplicate rule id {rule.id!r} (first defined at {first.file}:{first.line})"))
        else:
            seen[rule.id] = rule
    return out


def read_directory(path: Path) -> list[RuleSource]:
    """The rule files (*.yaml, *.yml) of a directory, in name order."""
    files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
    # Undecodable bytes are kept (as surrogate escapes) so the loader reports where they are.
    return [RuleSource(f.name, f.read_bytes().decode("utf-8", "surrogateescape")) for f in files]
