"""A draft: one rule file edited against the other files of the active version, checked and tested as a whole."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from guard.lifecycle.versions import active_activation, get_version, sources_of
from guard.policy.ast import RuleError, RuleSource
from guard.policy.ruleset import build_evaluator, check_sources
from guard.policy.testing import TestResult, run_tests

# A harmless start: it matches only a campaign that does not exist yet, so no other file's tests change.
NEW_FILE = """\
rules:
  - id: my-rule
    description: What this rule protects the customer from.
    when:
      - message.purpose: marketing
      - message.campaign_id: my-campaign
    outcome: block
    explanation: Why the message does not go out.
"""


@dataclass
class Draft:
    """The files a draft would make a version of: the edited one and the rest of the active version."""

    name: str
    text: str
    others: list[RuleSource] = field(default_factory=list)
    base: int | None = None  # the active version the draft was made against

    @property
    def sources(self) -> list[RuleSource]:
        """Every file of the would-be version, the edited one in its place."""
        return sorted([*self.others, RuleSource(self.name, self.text)], key=lambda s: s.name)

    def files(self) -> list[dict[str, str]]:
        """The files as the lifecycle use cases take them."""
        return [{"name": s.name, "text": s.text} for s in self.sources]


def active_files(session: Session) -> tuple[int | None, list[RuleSource]]:
    """The active version's number and files (none before the first activation)."""
    active = active_activation(session)
    if active is None:
        return None, []
    return active.version, sources_of(get_version(session, active.version))


def draft(session: Session, name: str, text: str | None = None) -> Draft:
    """A draft of file `name`: its text as given, else as in the active version, else a starting point."""
    base, sources = active_files(session)
    current = {s.name: s.text for s in sources}
    if text is None:
        text = current.get(name, NEW_FILE)
    return Draft(name, text, [s for s in sources if s.name != name], base)


def problems(draft: Draft) -> list[RuleError]:
    """Every error and warning of the would-be version, as validation reports them."""
    return check_sources(draft.sources)


def test(draft: Draft) -> list[TestResult]:
    """Run the test cases of every file of the would-be version; RulesInvalid if it does not compile."""
    evaluator = build_evaluator(draft.sources)
    try:
        return run_tests(evaluator)
    finally:
        evaluator.close()


def located(details: Any) -> list[RuleError]:
    """The located errors carried by a RulesInvalid's details."""
    return [RuleError(e["file"], e["line"], e["column"], e.get("rule_id"), e["message"], e.get("severity", "error"))
            for e in (details or {}).get("errors", [])]
