"""The rule language's model: what a parsed rule file means, independent of YAML and of the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Location:
    """Where something was written: file, 1-based line and column."""

    file: str
    line: int
    column: int


@dataclass(frozen=True)
class RuleError:
    """One problem in a rule file, located precisely."""

    file: str
    line: int
    column: int
    rule_id: str | None
    message: str
    severity: str = "error"

    def to_dict(self) -> dict[str, Any]:
        """JSON form used by the API and the CLI."""
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "rule_id": self.rule_id,
            "message": self.message,
            "severity": self.severity,
        }

    def __str__(self) -> str:
        rule = f" [{self.rule_id}]" if self.rule_id else ""
        return f"{self.file}:{self.line}:{self.column}:{rule} {self.severity}: {self.message}"


@dataclass(frozen=True)
class Ref:
    """A reference to a message field used as an operand, e.g. `message.product_ids`."""

    path: str


@dataclass(frozen=True)
class Test:
    """A comparison: operator and operand (numbers already in seconds for durations)."""

    op: str
    value: Any


@dataclass(frozen=True)
class FieldClause:
    """A test on one fact field (message, attributes, profile, consent, local time)."""

    field: str
    test: Test
    location: Location


@dataclass(frozen=True)
class WhereTest:
    """A test on a field of an event's data or of an earlier decision."""

    field: str
    test: Test


@dataclass(frozen=True)
class SetClause:
    """A test on a set of things in the customer's history: open cases, events, earlier decisions."""

    source: str  # open_case | event | last_event | decisions
    kind: str | None  # case kind or event type
    within: int | None  # seconds
    age: Test | None  # on seconds
    where: tuple[WhereTest, ...]
    count: Test
    binding: str | None
    location: Location

    def probe_key(self) -> tuple[Any, ...]:
        """Identity of the history query, so equal queries are computed once."""
        return (self.source, self.kind, self.within, self.age, self.where)


@dataclass(frozen=True)
class AnyClause:
    """At least one of the inner clauses holds."""

    clauses: tuple[Clause, ...]
    location: Location


Clause = FieldClause | SetClause | AnyClause


@dataclass(frozen=True)
class DeferSpec:
    """How a defer time is computed: from a bound time plus a duration, or the next local time of day."""

    at: str | None  # a binding path to a time, e.g. "resolution.occurred_at"
    plus: int  # seconds
    next_local_time: int | None  # minutes after local midnight


@dataclass(frozen=True)
class ReleaseSpec:
    """How a blocking case clears: when the open case it matched closes (`case_closed`), after a delay."""

    when: str  # case_closed
    after: int  # seconds after the close


@dataclass(frozen=True)
class Case:
    """One outcome branch of a rule; the first listed case that matches is the rule's outcome."""

    when: tuple[Clause, ...]
    outcome: str
    route: str | None
    defer_until: DeferSpec | None
    explanation: str
    location: Location
    # Where the explanation and defer_until were written, so errors in them point there.
    explanation_location: Location | None = None
    defer_location: Location | None = None
    release: ReleaseSpec | None = None
    release_location: Location | None = None
    # An event a reroute emits when it wins a recorded decision (`notify: care.requested`), or None.
    notify: str | None = None


@dataclass(frozen=True)
class Rule:
    """A declarative rule: common conditions and one or more outcome cases."""

    id: str
    description: str
    priority: int
    exempt: bool
    when: tuple[Clause, ...]
    cases: tuple[Case, ...]
    location: Location

    def awaited(self, case: Case) -> list[SetClause]:
        """The open_case conditions (outside `any`) whose case a release of `case` waits for."""
        return [c for c in (*self.when, *case.when) if isinstance(c, SetClause) and c.source == "open_case"]

    def bindings(self, case: Case) -> set[str]:
        """Names bound by the rule's and the case's clauses."""
        clauses = walk_clauses((*self.when, *case.when))
        return {c.binding for c in clauses if isinstance(c, SetClause) and c.binding}


@dataclass(frozen=True)
class RuleTestCase:
    """An example inside a rule file: given history and a message, expect an outcome."""

    name: str
    events: tuple[dict[str, Any], ...]
    decisions: tuple[dict[str, Any], ...]
    message: dict[str, Any]
    expect: dict[str, Any]
    location: Location


@dataclass(frozen=True)
class RuleSource:
    """One rule file's name and text."""

    name: str
    text: str


@dataclass
class RuleSet:
    """All rules and tests of a set of files, with the version that identifies their content."""

    rules: tuple[Rule, ...]
    tests: tuple[RuleTestCase, ...]
    sources: tuple[RuleSource, ...]
    version: str
    warnings: list[RuleError] = field(default_factory=list)

    def rule(self, rule_id: str) -> Rule:
        """The rule with that id."""
        return next(r for r in self.rules if r.id == rule_id)


def walk_clauses(clauses: tuple[Clause, ...]) -> list[Clause]:
    """Every clause, nested ones included."""
    out: list[Clause] = []
    for clause in clauses:
        out.append(clause)
        if isinstance(clause, AnyClause):
            out.extend(walk_clauses(clause.clauses))
    return out
