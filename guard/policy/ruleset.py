"""Loading a rule set: files → parsed model → compiled → an evaluator, or every located error."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from guard.core.errors import RulesInvalid
from guard.policy.ast import RuleError, RuleSet, RuleSource
from guard.policy.compiler import compile_ruleset
from guard.policy.engine import CompiledEngine, EngineError
from guard.policy.evaluate import Evaluator
from guard.policy.limits import case_limits, engine_errors, fact_errors
from guard.policy.parser import parse_sources, read_directory

STARTER_RULES = Path(__file__).resolve().parent.parent / "starter_rules"


def check_sources(sources: Iterable[RuleSource]) -> list[RuleError]:
    """Every error and warning in a set of rule files (empty when they compile and the engine takes them)."""
    ruleset, problems = parse_checked(sources)
    if any(p.severity == "error" for p in problems):
        return problems
    compiled = compile_ruleset(ruleset)
    try:
        engine = CompiledEngine(compiled.definition, "check")
    except EngineError as exc:
        return [*problems, *engine_errors(compiled, exc)]
    try:
        return [*problems, *fact_errors(compiled, engine)]
    finally:
        engine.close()


def parse_checked(sources: Iterable[RuleSource]) -> tuple[RuleSet, list[RuleError]]:
    """The parsed rule set with every problem: the front end's, then what the engine could not expand."""
    ruleset, problems = parse_sources(sources)
    return ruleset, [*problems, *case_limits(ruleset)]


def build_evaluator(sources: Iterable[RuleSource]) -> Evaluator:
    """Compile rule files into a ready evaluator; RulesInvalid lists every error with its location."""
    ruleset, problems = parse_checked(sources)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise RulesInvalid(f"{len(errors)} error(s) in the rule files", {"errors": [e.to_dict() for e in errors]})
    compiled = compile_ruleset(ruleset)
    try:
        evaluator = Evaluator(compiled)
    except EngineError as exc:
        errors = engine_errors(compiled, exc)
        raise RulesInvalid(f"{len(errors)} error(s) in the rule files",
                           {"errors": [e.to_dict() for e in errors]}) from exc
    errors = fact_errors(compiled, evaluator.engine)
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


def load_directory(path: Path) -> Evaluator:
    """Build the evaluator of the rule files in a directory."""
    return build_evaluator(read_directory(path))
