"""What the engine can hold, checked after parsing and located at the rule that goes past it: alternatives per
case, properties per fact, and the engine's own refusal of a compiled set. The one place engine limits are
turned into located errors."""

from __future__ import annotations

from guard.policy.ast import Case, Rule, RuleError, RuleSet, SetClause, walk_clauses
from guard.policy.compiler import CompiledRuleSet, case_condition, tested_attributes
from guard.policy.engine import MAX_ALTERNATIVES, MAX_PROPERTIES, CompiledEngine, EngineError, alternatives
from guard.policy.facts import worst_case_document


def case_limits(ruleset: RuleSet) -> list[RuleError]:
    """Every case the engine would expand into more `$or` alternatives than it takes (see guard.policy.engine)."""
    return [error for rule in ruleset.rules for case in rule.cases if (error := _too_many_alternatives(rule, case))]


def _too_many_alternatives(rule: Rule, case: Case) -> RuleError | None:
    count = alternatives(case_condition(rule, case))
    if count <= MAX_ALTERNATIVES:
        return None
    loc = case.location
    return RuleError(loc.file, loc.line, loc.column, rule.id,
                     f"this {'case' if len(rule.cases) > 1 else 'rule'} expands into {count} alternatives, more than "
                     f"the {MAX_ALTERNATIVES} the engine takes: every value of `in`, every branch of `any`, and every "
                     "`ne`, `not_in` or `exists` on a field a message may lack multiplies them; split it into "
                     "several rules")


def fact_errors(compiled: CompiledRuleSet, engine: CompiledEngine) -> list[RuleError]:
    """The engine's refusal of the largest fact these rules make, located at the rule that makes it too big."""
    document = worst_case_document(compiled)
    try:
        engine.matches(document)
    except EngineError as exc:
        return [_too_many_facts(compiled, len(document), exc)]
    return []


def _too_many_facts(compiled: CompiledRuleSet, size: int, exc: EngineError) -> RuleError:
    """Blame the first rule whose history conditions and attributes take the fact past the engine's limit."""
    rules = compiled.ruleset.rules
    probes: set[tuple[object, ...]] = set()
    attributes: set[str] = set()
    fixed = size - len(compiled.probes) - len(compiled.attributes) + 2  # + the engine's sid and id
    culprit = rules[-1]
    for rule in rules:
        probes.update(c.probe_key() for c in walk_clauses((*rule.when, *(w for k in rule.cases for w in k.when)))
                      if isinstance(c, SetClause))
        attributes.update(tested_attributes(rule))
        if fixed + len(probes) + len(attributes) > MAX_PROPERTIES:
            culprit = rule
            break
    room = MAX_PROPERTIES - fixed
    loc = culprit.location
    return RuleError(loc.file, loc.line, loc.column, culprit.id,
                     f"the rule engine cannot hold the facts of this rule set ({exc}): together the rules test "
                     f"{len(compiled.probes)} distinct history conditions and {len(compiled.attributes)} attributes, "
                     f"and at most {room} fit; merge equal conditions or move rules to another rule set")


def engine_errors(compiled: CompiledRuleSet, exc: EngineError) -> list[RuleError]:
    """The engine's refusal, located at the rule cases it refused."""
    located = [compiled.cases[name] for name in exc.rules if name in compiled.cases]
    if not located:
        return [RuleError("", 1, 1, None, str(exc))]
    return [RuleError(c.case.location.file, c.case.location.line, c.case.location.column, c.rule.id,
                      f"the rule engine cannot hold this case ({exc}): simplify it or split it into several rules")
            for c in located]
