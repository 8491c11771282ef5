"""A rule file as a numbered listing, each line with the problems reported at it."""

from __future__ import annotations

from dataclasses import dataclass, field

from guard.policy.ast import RuleError


@dataclass
class Line:
    """One numbered line of a file and the problems located on it."""

    number: int
    text: str
    problems: list[RuleError] = field(default_factory=list)

    @property
    def has_error(self) -> bool:
        """Whether an error (not only a warning) is located here."""
        return any(p.severity == "error" for p in self.problems)


def annotate(name: str, text: str, problems: list[RuleError]) -> list[Line]:
    """The lines of file `name`; a problem located past the end is shown on the last line."""
    lines = [Line(i, line) for i, line in enumerate(text.split("\n"), start=1)]
    for problem in problems:
        if problem.file == name:
            lines[min(max(problem.line, 1), len(lines)) - 1].problems.append(problem)
    return lines


def elsewhere(name: str, problems: list[RuleError]) -> list[RuleError]:
    """The problems located in other files than `name`."""
    return [p for p in problems if p.file != name]
