"""Loading a rule set: files → parsed model → compiled → an evaluator, or every located error."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from guard.engine import CompiledEngine, EngineError
from guard.errors import RulesInvalid
from guard.rules.compiler import CompiledRuleSet, compile_ruleset
from guard.rules.loader import parse_sources, read_directory
from guard.rules.model import RuleError, RuleSource

STARTER_RULES = Path(__file__).resolve().parent.parent / "starter_rules"


def check_sources(sources: Iterable[RuleSource]) -> list[RuleError]:
    """Every error and warning in a set of rule files (empty when they compile and the engine takes them)."""
    ruleset, problems = parse_sources(sources)
    if any(p.severity == "error" for p in problems):
        return problems
    compiled = compile_ruleset(ruleset)
    try:
        CompiledEngine(compiled.definition, "check").close()
    except EngineError as exc:
        problems = [*problems, *_engine_errors(compiled, exc)]
    return problems


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
    from guard.decisions.evaluate import Evaluator  # the rule language does not depend on decisions

    ruleset, problems = parse_sources(sources)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise RulesInvalid(f"{len(errors)} error(s) in the rule files", {"errors": [e.to_dict() for e in errors]})
    compiled = compile_ruleset(ruleset)
    try:
        return Evaluator(compiled)
    except EngineError as exc:
        errors = _engine_errors(compiled, exc)
        raise RulesInvalid(f"{len(errors)} error(s) in the rule files",
                           {"errors": [e.to_dict() for e in errors]}) from exc


def rules_directory(configured: str | None) -> Path:
    """GUARD_RULES_DIR, else ./rules if present, else the starter pack installed with Guard."""
    if configured:
        return Path(configured)
    local = Path("rules")
    return local if local.is_dir() and any(local.glob("*.y*ml")) else STARTER_RULES


def load_directory(path: Path):
    """Build the evaluator of the rule files in a directory."""
    return build_evaluator(read_directory(path))
