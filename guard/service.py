"""The Guard application service: settings, database and the active rules, shared by HTTP and CLI."""

from __future__ import annotations

import threading
from pathlib import Path

from guard.config import Settings
from guard.db import Database
from guard.decisions.evaluate import Evaluator
from guard.rules.ruleset import load_directory, rules_directory


class RulesHolder:
    """The active evaluator; swapped atomically when rules change, the old one closed afterwards."""

    def __init__(self, evaluator: Evaluator, directory: Path | None = None) -> None:
        self._evaluator = evaluator
        self._lock = threading.Lock()
        self.directory = directory

    @property
    def current(self) -> Evaluator:
        """The evaluator that decides now."""
        return self._evaluator

    def swap(self, evaluator: Evaluator) -> None:
        """Make `evaluator` current; the previous one is released."""
        with self._lock:
            old, self._evaluator = self._evaluator, evaluator
        if old is not evaluator:
            old.close()


class Guard:
    """Everything a request or a CLI command needs."""

    def __init__(self, settings: Settings, db: Database | None = None, rules: RulesHolder | None = None) -> None:
        self.settings = settings
        self.db = db or Database(settings.database_url)
        if rules is None:
            directory = rules_directory(settings.rules_dir)
            rules = RulesHolder(load_directory(directory), directory)
        self.rules = rules

    @property
    def evaluator(self) -> Evaluator:
        """The active rules."""
        return self.rules.current
