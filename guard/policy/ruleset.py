"""Loading a rule set: files → parsed model → compiled → an evaluator, or every located error."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from guard.core.errors import RulesInvalid
from guard.policy.ast import RuleError, RuleSource, SetClause, walk_clauses
from guard.policy.compiler import CompiledRuleSet, compile_ruleset, tested_attributes
from guard.policy.engine import MAX_PROPERTIES, CompiledEngine, EngineError
from guard.policy.parser import parse_sources, read_directory

STARTER_RULES = Path(__file__).resolve().parent.parent / "starter_rules"


def check_sources(sources: Iterable[RuleSource]) -> list[RuleError]:
    """Every error and warning in a set of rule files (empty when they compile and the engine takes them)."""
    ruleset, problems = parse_sources(sources)
    if any(p.severity == "error" for p in problems):
        return problems
    compiled = compile_ruleset(ruleset)
    try:
        engine = CompiledEngine(compiled.definition, "check")
    except EngineError as exc:
        return [*problems, *_engine_errors(compiled, exc)]
    try:
        return [*problems, *_fact_errors(compiled, engine)]
    finally:
        engine.close()


def _fact_errors(compiled: CompiledRuleSet, engine: CompiledEngine) -> list[RuleError]:
    """The engine's refusal of the largest fact these rules make, located at the rule that makes it too big."""
    from guard.policy.facts import worst_case_document  # the rule language does not depend on decisions

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


def _engine_errors(compiled: CompiledRuleSet, exc: EngineError) -> list[RuleError]:
    """The engine's refusal, located at the rule cases it refused."""
    located = [compiled.cases[name] for name in exc.rules if name in compiled.cases]
    if not located:
        return [RuleError("", 1, 1, None, str(exc))]
    return [RuleError(c.case.location.file, c.case.location.line, c.case.location.column, c.rule.id,
                      f"the rule engine cannot hold this case ({exc}): simplify it or split it into several rules")
            for c in located]


def build_evaluator(sources: Iterable[RuleSource]):
    """Compile rule files into a ready evaluator; RulesInvalid lists every error with its location."""
    from guard.policy.evaluate import Evaluator  # the rule language does not depend on decisions

    ruleset, problems = parse_sources(sources)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise RulesInvalid(f"{len(errors)} error(s) in the rule files", {"errors": [e.to_dict() for e in errors]})
    compiled = compile_ruleset(ruleset)
    try:
        evaluator = Evaluator(compiled)
    except EngineError as exc:
        errors = _engine_errors(compiled, exc)
        raise RulesInvalid(f"{len(errors)} error(s) in the rule files",
                           {"errors": [e.to_dict() for e in errors]}) from exc
    errors = _fact_errors(compiled, evaluator.engine)
    if errors:
        evaluator.close()
        raise RulesInvalid(f"{len(errors)} error(s) in the rule files", {"errors": [e.to_dict() for e in errors]})
    return evaluator


def rules_directory(configured: str | None) -> Path:
    """GUARD_RULES_DIR, else ./rules if present, else the starter pack installed with Guard."""
    if configured:
        return Path(configured)
    local = Path("rules")
    return local if local.is_dir() and any(local.glob("*.y*ml")) else STARTER_RULES


def load_directory(path: Path):
    """Build the evaluator of the rule files in a directory."""
    return build_evaluator(read_directory(path))
