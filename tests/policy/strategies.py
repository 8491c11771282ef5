"""Hypothesis strategies: rule files of our language (as the YAML an admin writes) and fact documents."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import strategies as st

from guard.core import vocabulary as F
from guard.core.vocabulary import CHANNELS, PURPOSES

TEXTS = ("a", "b", "A", "", " a", "1", "1.0", "true", "é", "e\u0301", 'x"y', "\\", "a,b", "P-1", "P-2")
NUMBERS = (0, 1, 2, -1, 3, 0.5, 1.0, 2.5, -0.0, 1e-05, 1e16, 0.1, 2**53 + 1, 2**63 - 1, 2**63, 10**20)
ATTRIBUTE_NAMES = ("tier", "score", "vip")
CLOCKS = ("00:00", "07:59", "08:00", "12:30", "20:59", "21:00", "23:59")
EVENT_TYPES = ("complaint.resolved", "purchase.completed", "newsletter.clicked")

texts = st.sampled_from(TEXTS)
numbers = st.sampled_from(NUMBERS) | st.integers(-5, 5) | st.floats(-1e6, 1e6, allow_nan=False)
# Few values of each kind (a text "1", the number 1, 1.0, true...), so rules and facts meet often.
ATTRIBUTE_VALUES = ("a", "1", "true", "", 0, 1, 1.0, 2.5, 1e-05, 2**63, 10**20, True, False)
attribute_values = st.sampled_from(ATTRIBUTE_VALUES) | numbers
small_ints = st.integers(0, 4)


def _op(values: st.SearchStrategy[Any], ops: tuple[str, ...]) -> st.SearchStrategy[Any]:
    """A field test as written: a bare value, or {op: operand}."""
    choices = [values]
    for op in ops:
        if op in ("in", "not_in"):
            choices.append(st.lists(values, min_size=1, max_size=3).map(lambda v, op=op: {op: v}))
        elif op == "exists":
            choices.append(st.booleans().map(lambda v: {"exists": v}))
        else:
            choices.append(values.map(lambda v, op=op: {op: v}))
    return st.one_of(choices)


EQUALITY = ("eq", "ne", "in", "not_in", "exists")
ORDER = ("gt", "gte", "lt", "lte")


def _per_field() -> list[st.SearchStrategy[dict[str, Any]]]:
    """For each rule-visible field, the clauses testing it."""
    # Mostly one spelling and few names, so that tests on the same attribute meet in one rule.
    attribute = st.sampled_from(ATTRIBUTE_NAMES[:2]).flatmap(
        lambda name: st.sampled_from((f"attributes.{name}",) * 3 + (f"message.attributes.{name}",)))
    attribute_test = st.one_of(
        _op(attribute_values, EQUALITY),
        st.sampled_from(ORDER).flatmap(lambda op: numbers.map(lambda v: {op: v})),
    )
    return [
        _op(st.sampled_from(CHANNELS), EQUALITY).map(lambda t: {"message.channel": t}),
        _op(st.sampled_from(PURPOSES), EQUALITY).map(lambda t: {"message.purpose": t}),
        _op(texts, EQUALITY).map(lambda t: {"message.campaign_id": t}),
        st.one_of(texts, texts.map(lambda v: {"contains": v}), st.booleans().map(lambda v: {"exists": v}))
        .map(lambda t: {"message.product_ids": t}),
        _op(numbers, (*EQUALITY, *ORDER)).map(lambda t: {"profile.tenure_years": t}),
        _op(small_ints, (*EQUALITY, *ORDER)).map(lambda t: {"profile.tenure_days": t}),
        _op(st.sampled_from(("UTC", "Europe/Paris", "")), EQUALITY).map(lambda t: {"profile.timezone": t}),
        _op(st.sampled_from(F.CONSENT_STATES), EQUALITY).map(lambda t: {"consent": t}),
        _op(st.sampled_from(F.WEEKDAYS), EQUALITY).map(lambda t: {"local_weekday": t}),
        st.one_of(
            st.tuples(st.sampled_from(CLOCKS), st.sampled_from(CLOCKS)).map(lambda w: {"between": list(w)}),
            st.sampled_from(ORDER).flatmap(lambda op: st.sampled_from(CLOCKS).map(lambda v: {op: v})),
        ).map(lambda t: {"local_time": t}),
        st.tuples(attribute, attribute_test).map(lambda p: {p[0]: p[1]}),
        st.tuples(st.just("attributes.tier"), attribute_test).map(lambda p: {p[0]: p[1]}),
    ]


PER_FIELD = _per_field()
FIELD_CLAUSES = st.one_of(PER_FIELD)
# Several tests of one field, as a rule whose conditions might contradict each other has them.
SAME_FIELD_CLAUSES = st.sampled_from(PER_FIELD).flatmap(lambda s: st.lists(s, min_size=2, max_size=4))


def field_clauses() -> st.SearchStrategy[dict[str, Any]]:
    """One field test on message, attributes, profile, consent or local time."""
    return FIELD_CLAUSES


def _count() -> st.SearchStrategy[Any]:
    return st.one_of(st.just(None), _op(small_ints, (*EQUALITY[:4], *ORDER)))


def history_clauses() -> st.SearchStrategy[dict[str, Any]]:
    """open_case / event / last_event / decisions with the options each takes."""
    age = st.one_of(st.none(), st.sampled_from(ORDER).flatmap(
        lambda op: st.sampled_from(("3d", "14d", "12h")).map(lambda d: {op: d})))
    within = st.sampled_from(("7d", "30d", "1d12h"))

    def build(source: str, body: dict[str, Any], count: Any) -> dict[str, Any]:
        body = {k: v for k, v in body.items() if v is not None}
        if count is not None and source != "last_event":
            body["count"] = count
        return {source: body}

    return st.one_of(
        st.builds(lambda k, a, c: build("open_case", {"kind": k, "age": a}, c),
                  st.sampled_from(("complaint", "refund")), age, _count()),
        st.builds(lambda t, w, c: build("event", {"type": t, "within": w}, c),
                  st.sampled_from(EVENT_TYPES), within, _count()),
        st.builds(lambda t, a: build("last_event", {"type": t, "age": a}, None), st.sampled_from(EVENT_TYPES), age),
        st.builds(lambda w, p, c: build("decisions", {"within": w, "where": {"purpose": p}}, c),
                  within, st.sampled_from(PURPOSES), _count()),
    )


LEAF_CLAUSES = st.one_of(field_clauses(), history_clauses())
_CLAUSES = {0: LEAF_CLAUSES}
for _depth in (1, 2):
    _CLAUSES[_depth] = st.one_of(
        LEAF_CLAUSES, LEAF_CLAUSES,
        st.lists(_CLAUSES[_depth - 1], min_size=1, max_size=3).map(lambda cs: {"any": cs}),
    )


def clauses(depth: int = 2) -> st.SearchStrategy[dict[str, Any]]:
    """Any clause, with `any` nested up to `depth` levels (strategies are built once: building is slow)."""
    return _CLAUSES[depth]


@st.composite
def rule_files(draw: st.DrawFn, min_rules: int = 1, max_rules: int = 3) -> dict[str, Any]:
    """A rule file (as a mapping) of a few rules, each with one or two cases, all outcomes `block`."""
    rules = []
    for index in range(draw(st.integers(min_rules, max_rules))):
        rule: dict[str, Any] = {"id": f"r{index}", "description": "generated", "priority": index}
        when = draw(st.lists(clauses(), max_size=3))
        if when:
            rule["when"] = when
        cases = []
        for _ in range(draw(st.integers(1, 2))):
            case: dict[str, Any] = {"outcome": "block", "explanation": "generated"}
            case_when = draw(st.lists(clauses(1), max_size=2))
            if case_when:
                case["when"] = case_when
            cases.append(case)
        rule["cases"] = cases
        rules.append(rule)
    return {"rules": rules}


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(document: dict[str, Any]) -> str:
    """The rule file's text, as an admin could have written it (no anchors)."""
    return yaml.dump(document, Dumper=_NoAliases, allow_unicode=True, sort_keys=False)


@st.composite
def fact_documents(draw: st.DrawFn, probe_count: int) -> dict[str, Any]:
    """A flat fact document of the shape guard.policy.facts.build_facts writes."""
    products = draw(st.lists(texts, max_size=3))
    doc: dict[str, Any] = {
        "guard_request": 1,
        "channel": draw(st.sampled_from(CHANNELS)),
        "purpose": draw(st.sampled_from(PURPOSES)),
        "product_ids": products,
        "product_ids_count": len(products),
        "consent": draw(st.sampled_from(F.CONSENT_STATES)),
        "timezone": draw(st.sampled_from(("UTC", "Europe/Paris", "America/New_York"))),
        "local_minutes": draw(st.sampled_from((0, 479, 480, 750, 1259, 1260, 1439)) | st.integers(0, 1439)),
        "local_weekday": draw(st.sampled_from(F.WEEKDAYS)),
    }
    if draw(st.booleans()):
        doc["campaign_id"] = draw(texts)
    if draw(st.booleans()):
        doc["tenure_days"] = draw(small_ints)
        doc["tenure_years"] = draw(st.sampled_from(NUMBERS) | small_ints)
    for name in ATTRIBUTE_NAMES:
        if draw(st.booleans()):
            value = draw(attribute_values)
            doc[F.attribute_fact(name, value)] = ("true" if value else "false") if isinstance(value, bool) else value
    for index in range(probe_count):
        doc[F.probe_fact(index)] = draw(small_ints)
    return doc
