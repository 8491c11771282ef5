"""`guard rules validate|test` (and the lifecycle commands added to the group by guard.cli.main)."""

from __future__ import annotations

from pathlib import Path

import click

from guard.cli.common import (
    located,
    rule_error_fields,
    settings_from_env,
)
from guard.core.errors import GuardError
from guard.policy.ast import RuleError
from guard.policy.engine import EngineError
from guard.policy.parser import read_directory
from guard.policy.ruleset import build_evaluator, check_sources, load_directory, rules_directory
from guard.policy.testing import run_tests


@click.group()
def rules() -> None:
    """Check rule files and run the tests written inside them."""


def _directory(given: str | None) -> Path:
    directory = Path(given) if given else rules_directory(settings_from_env().rules_dir)
    if not directory.is_dir():
        raise click.ClickException(f"{directory} is not a directory")
    return directory


def rule_problems(directory: Path) -> list[RuleError]:
    """Every error and warning of the directory's rule files; an empty directory is an error too."""
    sources = read_directory(directory)
    if not sources:
        return [RuleError(str(directory), 1, 1, None, "no rule files (*.yaml, *.yml) here")]
    problems = check_sources(sources)
    if any(p.severity == "error" for p in problems):
        return problems
    try:
        # The files parse: make sure they also compile and the engine accepts them.
        build_evaluator(sources).close()
    except GuardError as exc:
        return problems + [RuleError(**rule_error_fields(e)) for e in exc.details.get("errors", [])]
    except EngineError as exc:
        return [*problems, RuleError(str(directory), 1, 1, None, str(exc))]
    return problems


@rules.command("validate")
@click.argument("directory", metavar="[DIR]", required=False)
def rules_validate(directory: str | None) -> None:
    """Check every rule file of DIR (default: the configured rules); exit 1 on any error."""
    path = _directory(directory)
    problems = rule_problems(path)
    for problem in problems:
        click.echo(located(problem))
    errors = sum(p.severity == "error" for p in problems)
    warnings = len(problems) - errors
    if errors:
        raise click.ClickException(f"{path}: {errors} error(s), {warnings} warning(s)")
    click.echo(f"{path}: valid, {len(read_directory(path))} file(s), {warnings} warning(s)")


@rules.command("test")
@click.argument("directory", metavar="[DIR]", required=False)
def rules_test(directory: str | None) -> None:
    """Run the test cases written in DIR's rule files; exit 1 on any failure or compile error."""
    path = _directory(directory)
    if not read_directory(path):
        raise click.ClickException(f"{path}: no rule files (*.yaml, *.yml) here")
    evaluator = load_directory(path)
    try:
        results = run_tests(evaluator)
    finally:
        evaluator.close()
    for result in results:
        click.echo(f"{'PASS' if result.passed else 'FAIL'} {result.file}:{result.line} {result.name}: {result.message}")
    failed = sum(not r.passed for r in results)
    click.echo(f"{len(results) - failed} passed, {failed} failed")
    if failed:
        raise click.exceptions.Exit(1)


