"""Every rule-file error is reported with its exact file, line, column and rule id; all of them at once."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime

import pytest

from guard.core.message import Message
from guard.policy.ast import RuleError, RuleSource
from guard.policy.evaluate import render
from guard.policy.parser import MAX_DEPTH, MAX_FILE_BYTES, parse_sources
from guard.policy.ruleset import build_evaluator, check_sources
from guard.situation.derive import derive


def problems(*texts: str, names: tuple[str, ...] | None = None) -> list[RuleError]:
    names = names or tuple(f"f{i}.yaml" for i in range(len(texts)))
    sources = [RuleSource(name, textwrap.dedent(text).lstrip("\n")) for name, text in zip(names, texts, strict=True)]
    return [p for p in parse_sources(sources)[1] if p.severity == "error"]


def located(errors: list[RuleError]) -> list[tuple[str, int, int, str | None]]:
    return [(e.file, e.line, e.column, e.rule_id) for e in errors]


def one_rule(clause: str) -> str:
    return f"""
        rules:
          - id: r1
            description: d
            when:
              - {clause}
            outcome: block
            explanation: e
        """


def test_yaml_syntax_error() -> None:
    [error] = problems("""
        rules:
          - id: r1
            description: [unclosed
            outcome: block
        """)
    assert located([error]) == [("f0.yaml", 4, 12, None)]
    assert error.message.startswith("YAML syntax:")


def test_a_tab_is_a_syntax_error_at_its_place() -> None:
    [error] = problems("rules:\n  - id: r1\n\tdescription: d\n")
    assert located([error]) == [("f0.yaml", 3, 1, None)]


def test_unknown_key_with_suggestion() -> None:
    errors = problems("""
        rules:
          - id: r1
            descripton: d
            outcome: block
            explanation: e
        """)
    assert located(errors)[0] == ("f0.yaml", 3, 5, "r1")
    assert errors[0].message == "unknown key 'descripton' in a rule (did you mean 'description'?)"


def test_unknown_field_with_suggestion() -> None:
    [error] = problems(one_rule("mesage.purpose: marketing"))
    assert located([error]) == [("f0.yaml", 5, 9, "r1")]
    assert error.message == "unknown field 'mesage.purpose' (did you mean 'message.purpose'?)"


def test_bad_enum_value_with_suggestion() -> None:
    [error] = problems(one_rule("message.channel: smss"))
    assert located([error]) == [("f0.yaml", 5, 26, "r1")]
    assert "'smss' is not one of email, sms" in error.message and "(did you mean 'sms'?)" in error.message


@pytest.mark.parametrize(("clause", "column", "message"), [
    ("message.channel: {gt: 3}", 26, "operator 'gt' does not apply to an enum field"),
    ("local_time: {eq: '21:00'}", 21, "operator 'eq' does not apply to a clock field"),
    ("message.product_ids: {eq: P-1}", 30, "operator 'eq' does not apply to a list field"),
    ("profile.tenure_years: {contains: 3}", 31, "operator 'contains' does not apply to a number field"),
    ("profile.tenure_years: {gte: '3'}", 37, "expected a number, got '3'"),
    ("attributes.score: {gt: high}", 32, "expected a number, got 'high'"),
    ("attributes.score: .inf", 27, "expected a text, number or true/false, got inf"),
    ("profile.tenure_days: {lt: .nan}", 35, "expected a number, got nan"),
    ("message.purpose: {in: []}", 31, "in takes a non-empty list"),
    ("local_time: {between: ['21:00']}", 31, "between takes two times of day"),
    ("local_time: {between: ['21:00', '24:00']}", 31, "'24:00' is not a time of day"),
    ("open_case: {kind: complant}", 27, "case kind must be one of complaint, refund (did you mean 'complaint'?)"),
    ("any: []", 14, "`any` needs at least one condition"),
])
def test_bad_operator_or_operand_for_the_field_type(clause: str, column: int, message: str) -> None:
    [error] = problems(one_rule(clause))
    assert located([error]) == [("f0.yaml", 5, column, "r1")]
    assert message in error.message


@pytest.mark.parametrize(("clause", "column", "what"), [
    ("event: {type: purchase.completed, within: 30 days}", 51, "within"),
    ("open_case: {kind: refund, age: {gte: 2 weeks}}", 46, "age gte"),
    ("decisions: {within: 7, count: {gte: 3}}", 29, "within"),
])
def test_bad_duration(clause: str, column: int, what: str) -> None:
    [error] = problems(one_rule(clause))
    assert located([error]) == [("f0.yaml", 5, column, "r1")]
    assert error.message.startswith(f"{what}: ") and "is not a duration (write e.g. 30d" in error.message


def test_reroute_without_route() -> None:
    [error] = problems("""
        rules:
          - id: r1
            description: d
            outcome: reroute
            explanation: e
        """)
    assert located([error]) == [("f0.yaml", 2, 5, "r1")]
    assert error.message == "a reroute needs a route (e.g. route: care)"


def test_defer_without_defer_until_in_a_case() -> None:
    [error] = problems("""
        rules:
          - id: r1
            description: d
            cases:
              - outcome: block
                explanation: e
              - outcome: defer
                explanation: e
        """)
    assert located([error]) == [("f0.yaml", 7, 9, "r1")]
    assert error.message == "a defer needs defer_until"


def test_exempt_rule_with_a_non_allow_outcome() -> None:
    [error] = problems("""
        rules:
          - id: r1
            description: d
            exempt: true
            outcome: block
            explanation: e
        """)
    assert located([error]) == [("f0.yaml", 5, 14, "r1")]
    assert error.message == "an exempt rule always allows: its outcome must be allow"


def test_unknown_binding_in_explanation_placeholder() -> None:
    errors = problems("""
        rules:
          - id: r1
            description: d
            when:
              - open_case: {kind: complaint}
                as: complaint
            outcome: block
            explanation: "Case {complaint.case_id}, open {complant.age_days} days, {complaint.agedays}"
        """)
    assert located(errors) == [("f0.yaml", 8, 18, "r1")] * 2
    assert "{complant.age_days}: 'complant' is not a name bound with `as` in this rule (did you mean 'complaint'?)" \
        in errors[0].message
    assert "complaint has no 'agedays'" in errors[1].message and "(did you mean 'age_days'?)" in errors[1].message


def test_unknown_binding_in_defer_until() -> None:
    errors = problems("""
        rules:
          - id: r1
            description: d
            when:
              - last_event: {type: complaint.resolved}
                as: res
            cases:
              - outcome: defer
                defer_until: {at: resolution.occurred_at, plus: 3d}
                explanation: e
              - outcome: defer
                defer_until: {at: res.age_days}
                explanation: e
        """)
    assert located(errors) == [("f0.yaml", 9, 22, "r1"), ("f0.yaml", 12, 22, "r1")]
    assert errors[0].message == "defer_until at 'resolution.occurred_at': 'resolution' is not a name bound with `as` " \
                                "in this rule"
    assert errors[1].message == "defer_until at 'res.age_days': use one of res.occurred_at"


def test_duplicate_rule_id_across_two_files() -> None:
    rule = """
        rules:
          - id: same
            description: d
            outcome: block
            explanation: e
        """
    [error] = problems(rule, "# second file\n" + textwrap.dedent(rule).lstrip("\n"), names=("a.yaml", "b.yaml"))
    assert located([error]) == [("b.yaml", 3, 5, "same")]
    assert error.message == "duplicate rule id 'same' (first defined at a.yaml:2)"


def test_duplicate_as_name() -> None:
    [error] = problems("""
        rules:
          - id: r1
            description: d
            when:
              - open_case: {kind: complaint}
                as: c
            cases:
              - when:
                  - open_case: {kind: refund}
                    as: c
                outcome: block
                explanation: "{c.age_days}"
        """)
    assert located([error]) == [("f0.yaml", 9, 13, "r1")]
    assert error.message == "the name 'c' is bound twice"


def test_anchors_and_aliases_are_refused_before_any_expansion() -> None:
    bomb = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8))
    [error] = problems(bomb)
    assert located([error]) == [("f0.yaml", 1, 4, None)]
    assert error.message == "anchors and aliases are not allowed in rule files"
    [alias] = problems("rules: &r []\ntests: *r\n")
    assert located([alias]) == [("f0.yaml", 1, 8, None)]


def test_nesting_too_deep() -> None:
    deep = "any: [" * (MAX_DEPTH + 5) + "consent: withdrawn" + "]" * (MAX_DEPTH + 5)
    [error] = problems(one_rule(deep))
    assert located([error]) == [("f0.yaml", 1, 1, None)]
    assert error.message == f"nesting deeper than {MAX_DEPTH} levels"


def test_huge_file_refused_before_parsing() -> None:
    [error] = problems("rules: []\n" + "# padding\n" * (MAX_FILE_BYTES // 10 + 1))
    assert located([error]) == [("f0.yaml", 1, 1, None)]
    assert error.message == f"file is larger than {MAX_FILE_BYTES} bytes"


def test_every_error_of_a_file_is_reported_at_once() -> None:
    errors = problems("""
        rules:
          - id: r1
            description: d
            when:
              - mesage.purpose: marketing
              - message.channel: smss
            outcome: reroute
            explanation: e
          - id: r2
            description: d
            outcome: defer
            explanation: "{x.y}"
          - id: r3
            description: d
            when:
              - event: {type: purchase.completed, within: 30 days}
            outcome: blok
            explanation: e
        tests:
          - name: t
            message: {channel: email, purpose: marketing}
            expect: {outcome: alow}
        """)
    assert located(errors) == [
        ("f0.yaml", 5, 9, "r1"), ("f0.yaml", 6, 26, "r1"), ("f0.yaml", 2, 5, "r1"),
        ("f0.yaml", 9, 5, "r2"), ("f0.yaml", 12, 18, "r2"),
        ("f0.yaml", 16, 51, "r3"), ("f0.yaml", 17, 14, "r3"),
        ("f0.yaml", 22, 13, None),
    ]


def test_errors_of_several_files_are_all_reported() -> None:
    errors = problems(one_rule("message.channel: smss"), "rules: [", one_rule("mesage.purpose: x"),
                      names=("a.yaml", "b.yaml", "c.yaml"))
    assert located(errors) == [("a.yaml", 5, 26, "r1"), ("b.yaml", 1, 9, None), ("c.yaml", 5, 9, "r1"),
                               ("c.yaml", 2, 5, "r1")]
    assert errors[-1].message == "duplicate rule id 'r1' (first defined at a.yaml:2)"


def test_an_invalid_set_cannot_become_an_evaluator() -> None:
    from guard.core.errors import RulesInvalid

    with pytest.raises(RulesInvalid) as caught:
        build_evaluator([RuleSource("f.yaml", textwrap.dedent(one_rule("message.channel: smss")).lstrip())])
    [error] = caught.value.details["errors"]
    assert (error["file"], error["line"], error["column"], error["rule_id"]) == ("f.yaml", 5, 26, "r1")


def test_str_of_an_error_is_file_line_column() -> None:
    [error] = problems(one_rule("message.channel: smss"))
    assert str(error).startswith("f0.yaml:5:26: [r1] error: 'smss' is not one of")


# -- nothing in a rule file is ever evaluated as code ----------------------------------------------------

def test_code_in_a_placeholder_is_an_error_not_a_call() -> None:
    errors = problems("""
        rules:
          - id: r1
            description: d
            outcome: block
            explanation: "{__import__('os').system('touch /tmp/guard-pwned')} {message.channel.__class__}"
        """)
    assert [e.message.split(":")[0] for e in errors] == [
        "explanation placeholder {__import__('os').system('touch /tmp/guard-pwned')}",
        "explanation placeholder {message.channel.__class__}",
    ]


def test_render_fills_known_names_and_never_evaluates() -> None:
    context = {"rule.id": "r1", "complaint.age_days": 3}
    template = "{rule.id} {complaint.age_days} {__import__('os')} {rule.id.__class__} {0} {} {{x}}"
    assert render(template, context) == "r1 3 ? ? ? ? {?}"


def test_python_tags_in_yaml_are_not_constructed() -> None:
    errors = problems("""
        rules:
          - id: r1
            description: !!python/object/apply:os.system ["touch /tmp/guard-pwned"]
            outcome: block
            explanation: e
        """)
    assert errors and "description" in errors[0].message


def test_a_valid_explanation_with_braces_from_data_renders_literally() -> None:
    evaluator = build_evaluator([RuleSource("f.yaml", textwrap.dedent("""
        rules:
          - id: r1
            description: d
            when:
              - event: {type: note.added, within: 1d}
                as: note
            outcome: block
            explanation: "note says {note.data.text}"
        """))])
    send_at = datetime(2026, 3, 10, 12, tzinfo=UTC)
    from guard.situation.derive import EventRecord

    situation = derive([EventRecord("e1", "note.added", send_at, {"text": "{__import__('os')} {rule.id}"})], send_at)
    try:
        verdict = evaluator.evaluate(Message("c", "email", "marketing", send_at), situation, [])
    finally:
        evaluator.close()
    assert verdict.reasons[0].explanation == "note says {__import__('os')} {rule.id}"


def test_check_sources_agrees_with_build_evaluator_on_valid_files() -> None:
    assert [p for p in check_sources([RuleSource("f.yaml", textwrap.dedent(one_rule("consent: withdrawn")))])
            if p.severity == "error"] == []


def test_defer_until_needs_a_binding_that_always_found_something() -> None:
    """Before this check such a rule answered `defer` with no defer_until."""
    errors = problems("""
        rules:
          - id: r1
            description: d
            when:
              - any:
                  - last_event: {type: complaint.resolved, age: {lt: 3d}}
                    as: res
                  - consent: withdrawn
            outcome: defer
            defer_until: {at: res.occurred_at, plus: 3d}
            explanation: e
          - id: r2
            description: d
            when:
              - decisions: {within: 7d, count: {lt: 2}}
                as: few
            outcome: defer
            defer_until: {at: few.release_at}
            explanation: e
          - id: r3
            description: d
            when:
              - decisions: {within: 7d, count: {in: [2, 3]}}
                as: some
            outcome: defer
            defer_until: {at: some.release_at}
            explanation: e
        """)
    assert located(errors) == [("f0.yaml", 10, 18, "r1"), ("f0.yaml", 18, 18, "r2")]
    assert "'res' is bound inside `any`, so it may find nothing" in errors[0].message
    assert "'few' may find nothing when the rule matches (its count allows 0)" in errors[1].message
