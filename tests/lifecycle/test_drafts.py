"""Drafts: one file edited against the active version's other files, checked and tested as a whole."""

from __future__ import annotations

import pytest

from guard.app import Guard
from guard.core.errors import RulesInvalid
from guard.lifecycle import drafts


def test_a_draft_replaces_its_file_among_the_active_ones(live_guard: Guard):
    with live_guard.db.sessions() as session:
        base, active = drafts.active_files(session)
        unchanged = drafts.draft(session, "care.yaml")
        edited = drafts.draft(session, "care.yaml", "rules: []\n")
        added = drafts.draft(session, "new.yaml")
    assert base == 1 and [s.name for s in active] == ["care.yaml", "commerce.yaml", "respect.yaml"]
    assert unchanged.text == next(s.text for s in active if s.name == "care.yaml") and unchanged.base == 1
    assert [s.name for s in edited.sources] == ["care.yaml", "commerce.yaml", "respect.yaml"]
    assert edited.files()[0] == {"name": "care.yaml", "text": "rules: []\n"}
    assert added.text == drafts.NEW_FILE and len(added.sources) == 4


def test_problems_and_tests_cover_every_file(live_guard: Guard):
    with live_guard.db.sessions() as session:
        good = drafts.draft(session, "new.yaml")
        bad = drafts.draft(session, "new.yaml", drafts.NEW_FILE.replace("message.purpose", "message.purpos"))
    assert not [p for p in drafts.problems(good) if p.severity == "error"]
    results = drafts.test(good)
    assert results and all(r.passed for r in results) and {r.file for r in results} >= {"care.yaml", "respect.yaml"}
    (error,) = drafts.problems(bad)
    assert (error.file, error.line, error.column, error.rule_id) == ("new.yaml", 5, 9, "my-rule")
    with pytest.raises(RulesInvalid) as caught:
        drafts.test(bad)
    assert drafts.located(caught.value.details) == [error]
