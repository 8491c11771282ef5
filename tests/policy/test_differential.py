"""Differential tests: the durable-rules engine, the reference evaluator and the rule semantics must agree.

(a) random rule files of our language x random fact documents;
(b) the starter rules x random customer situations built from random events and earlier decisions.
Any disagreement is a bug in the compiler, the engine adapter or the engine.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, example, given, reject, settings
from hypothesis import strategies as st

from guard.core import vocabulary as F
from guard.core.message import Message, PriorDecision
from guard.core.vocabulary import CHANNELS, PURPOSES
from guard.policy.ast import RuleSource
from guard.policy.compiler import compile_ruleset
from guard.policy.engine import CompiledEngine
from guard.policy.evaluate import Evaluator
from guard.policy.facts import build_facts
from guard.policy.ruleset import parse_checked
from guard.situation.derive import EventRecord, derive
from tests.policy import reference, semantics
from tests.policy.strategies import (
    ATTRIBUTE_VALUES,
    NUMBERS,
    SAME_FIELD_CLAUSES,
    TEXTS,
    fact_documents,
    field_clauses,
    rule_files,
    to_yaml,
)

SETTINGS = settings(deadline=None, max_examples=1000, suppress_health_check=[HealthCheck.too_slow])


NEVER = "can never match"
TOO_BIG = "alternatives, more than"


def _compile(document: dict[str, Any]):  # type: ignore[no-untyped-def]
    """The compiled rules, and the cases the loader says can never match (checked, not trusted)."""
    text = to_yaml(document)
    ruleset, problems = parse_checked([RuleSource("generated.yaml", text)])
    if any(TOO_BIG in p.message for p in problems):
        reject()  # refused on purpose: see tests/policy/test_engine_adapter.py
    errors = [p for p in problems if p.severity == "error" and NEVER not in p.message]
    assert not errors, f"{text}\n{errors}"
    compiled = compile_ruleset(ruleset)
    lines = {p.line for p in problems if NEVER in p.message}
    never = {name for name, item in compiled.cases.items() if item.case.location.line in lines}
    return compiled, text, never


@SETTINGS
@given(st.data())
def test_random_rules_engine_equals_reference_and_semantics(data: st.DataObject) -> None:
    compiled, text, never = _compile(data.draw(rule_files()))
    engine = CompiledEngine(compiled.definition, "diff")
    try:
        for doc in data.draw(st.lists(fact_documents(len(compiled.probes)), min_size=1, max_size=6)):
            fired = engine.matches(doc)
            assert len(fired) == len(set(fired)), f"a rule fired twice: {fired}"
            expected = reference.matching_rules(compiled.definition, doc)
            meant = semantics.matching_cases(compiled, doc)
            context = f"\n{text}\nfacts: {doc}\ncompiled: {compiled.definition}"
            assert sorted(fired) == expected, "engine vs reference" + context
            assert expected == meant, "compiled form vs rule semantics" + context
            assert not never & set(meant), "the loader said these can never match" + context
    finally:
        engine.close()


@settings(deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_large_rule_sets_split_over_several_engine_rulesets(data: st.DataObject) -> None:
    """More than a few dozen alternatives in one C ruleset fail (error 303) or crash: the adapter splits them."""
    compiled, _text, _ = _compile(data.draw(rule_files(min_rules=60, max_rules=120)))
    engine = CompiledEngine(compiled.definition, "diff-large")
    try:
        assert len(engine._handles) > 1
        for doc in data.draw(st.lists(fact_documents(len(compiled.probes)), min_size=1, max_size=4)):
            assert sorted(engine.matches(doc)) == reference.matching_rules(compiled.definition, doc), doc
    finally:
        engine.close()


# -- (b) the starter rules on random situations -------------------------------------------------------

SEND_AT = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)  # a DST change day in Europe
ZONES = ("UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Pacific/Auckland")
CASE_IDS = ("C-1", "C-2")
REFUND_IDS = ("R-1", "R-2")
PRODUCTS = ("P-1", "P-2", "P-3")
offsets = st.integers(-40 * 86400, 2 * 86400) | st.sampled_from(
    [-d * 86400 + s for d in (3, 7, 14, 30) for s in (-1, 0, 1)])


@st.composite
def events(draw: st.DrawFn) -> list[EventRecord]:
    out = []
    for index in range(draw(st.integers(0, 8))):
        kind = draw(st.sampled_from((
            "complaint.opened", "complaint.resolved", "complaint.reopened", "refund.requested", "refund.completed",
            "refund.rejected", "purchase.completed", "consent.withdrawn", "consent.given", "profile.updated",
            "newsletter.clicked")))
        data: dict[str, Any] = {}
        if kind.startswith("complaint."):
            data["case_id"] = draw(st.sampled_from(CASE_IDS))
        elif kind.startswith("refund."):
            data["refund_id"] = draw(st.sampled_from(REFUND_IDS))
        elif kind == "purchase.completed":
            data.update(order_id=f"O-{index}", product_ids=draw(st.lists(st.sampled_from(PRODUCTS), max_size=2)))
        elif kind.startswith("consent."):
            data["channel"] = draw(st.sampled_from(CHANNELS))
            purpose = draw(st.sampled_from((None, *PURPOSES)))
            if purpose:
                data["purpose"] = purpose
        elif kind == "profile.updated":
            if draw(st.booleans()):
                data["timezone"] = draw(st.sampled_from(ZONES))
            since = draw(st.sampled_from(("2023-03-29", "2023-03-30", "2020-01-01", "2026-01-01")))
            data["customer_since"] = since
        occurred = SEND_AT + timedelta(seconds=draw(offsets))
        out.append(EventRecord(f"e{index}", kind, occurred, data))
    return out


@st.composite
def histories(draw: st.DrawFn) -> list[PriorDecision]:
    return [
        PriorDecision(
            send_at=SEND_AT + timedelta(seconds=draw(st.integers(-9 * 86400, 0) | st.sampled_from(
                (-7 * 86400, -7 * 86400 + 1, -7 * 86400 - 1)))),
            purpose=draw(st.sampled_from(("marketing", "marketing", "survey"))),
            channel=draw(st.sampled_from(("email", "sms"))),
            outcome=draw(st.sampled_from(("allow", "allow", "defer", "block"))),
        )
        for _ in range(draw(st.integers(0, 5)))
    ]


messages = st.builds(
    lambda channel, purpose, products, minutes: Message(
        customer_id="c", channel=channel, purpose=purpose, send_at=SEND_AT + timedelta(minutes=minutes),
        product_ids=tuple(products)),
    st.sampled_from(CHANNELS), st.sampled_from(PURPOSES), st.lists(st.sampled_from(PRODUCTS), max_size=2, unique=True),
    st.integers(-14 * 60, 14 * 60),
)


@SETTINGS
@given(events(), histories(), messages)
def test_starter_rules_engine_equals_reference(
    starter_evaluator: Evaluator, history_events: list[EventRecord], history: list[PriorDecision], message: Message
) -> None:
    compiled = starter_evaluator.compiled
    facts = build_facts(compiled, message, derive(history_events, message.send_at), history)
    fired = starter_evaluator.engine.matches(facts.document)
    assert sorted(fired) == reference.matching_rules(compiled.definition, facts.document), facts.document
    assert sorted(fired) == semantics.matching_cases(compiled, facts.document), facts.document


# -- (c) the "can never match" analysis must be sound: it may miss contradictions, never invent one ------

_UNIVERSE = (*ATTRIBUTE_VALUES, *NUMBERS, *TEXTS)


@settings(deadline=None, max_examples=600)
@given(SAME_FIELD_CLAUSES | st.lists(field_clauses(), min_size=2, max_size=4))
# Found by review: an attribute `true` is not the number 1, and both spellings name one attribute.
@example([{"attributes.tier": {"eq": True}}, {"attributes.tier": {"ne": 1}}])
@example([{"attributes.tier": {"in": [0]}}, {"message.attributes.tier": {"not_in": [False]}}])
@example([{"attributes.tier": 1}, {"message.attributes.tier": {"ne": 1.0}}])
# Found by hypothesis: the engine compares 2**63 (a double) equal to 2**63 - 1, so this rule can match.
@example([{"profile.tenure_years": 2**63 - 1}, {"profile.tenure_years": 2**63}])
def test_never_matching_analysis_is_sound(tests: list[dict[str, Any]]) -> None:
    text = to_yaml({"rules": [{"id": "r", "description": "d", "when": tests, "outcome": "block", "explanation": "e"}]})
    ruleset, problems = parse_checked([RuleSource("a.yaml", text)])
    if any(TOO_BIG in p.message for p in problems):
        reject()
    assert not [p for p in problems if NEVER not in p.message], problems
    if not [p for p in problems if NEVER in p.message]:
        return
    compiled = compile_ruleset(ruleset)
    # Try every value of the pools for every tested field: none may satisfy the rule.
    fields = {next(iter(t)) for t in tests}
    for doc in _documents_varying(fields):
        assert not semantics.matching_cases(compiled, doc), f"{text}\nmatches {doc}"


def _documents_varying(paths: set[str]) -> list[dict[str, Any]]:
    base = {"guard_request": 1, "channel": "email", "purpose": "marketing", "product_ids": [], "product_ids_count": 0,
            "consent": "unknown", "timezone": "UTC", "local_minutes": 0, "local_weekday": "mon"}
    docs = [dict(base)]
    for path in sorted(paths):
        name = F.attribute_name(path)
        options: list[dict[str, Any]] = [{}]
        if name is not None:
            options += [{F.attribute_fact(name, v): ("true" if v else "false") if isinstance(v, bool) else v}
                        for v in _UNIVERSE]
        elif path == "message.product_ids":
            options += [{"product_ids": [v], "product_ids_count": 1} for v in TEXTS]
        else:
            spec = F.FIELDS[path]
            values = spec.values or (range(0, 1440, 30) if spec.type == "clock" else _UNIVERSE)
            options += [{spec.fact: v} for v in values]
        docs = [{**doc, **option} for doc in docs for option in options]
        if len(docs) > 20000:
            break
    return docs
