"""Loading a rule set: files → parsed model → compiled → an evaluator, or every located error."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from guard.errors import RulesInvalid
from guard.rules.compiler import compile_ruleset
from guard.rules.loader import parse_sources, read_directory
from guard.rules.model import RuleError, RuleSource

STARTER_RULES = Path(__file__).resolve().parent.parent / "starter_rules"


def check_sources(sources: Iterable[RuleSource]) -> list[RuleError]:
    """Every error and warning in a set of rule files (empty when they compile)."""
    _, problems = parse_sources(sources)
    return problems


def build_evaluator(sources: Iterable[RuleSource]):  # type: ignore[no-untyped-def]
    """Compile rule files into a ready evaluator; RulesInvalid lists every error with its location."""
    from guard.decisions.evaluate import Evaluator  # the rule language does not depend on decisions

    ruleset, problems = parse_sources(sources)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise RulesInvalid(f"{len(errors)} error(s) in the rule files", {"errors": [e.to_dict() for e in errors]})
    return Evaluator(compile_ruleset(ruleset))


def rules_directory(configured: str | None) -> Path:
    """GUARD_RULES_DIR, else ./rules if present, else the starter pack installed with Guard."""
    if configured:
        return Path(configured)
    local = Path("rules")
    return local if local.is_dir() and any(local.glob("*.y*ml")) else STARTER_RULES


def load_directory(path: Path):  # type: ignore[no-untyped-def]
    """Build the evaluator of the rule files in a directory."""
    return build_evaluator(read_directory(path))
