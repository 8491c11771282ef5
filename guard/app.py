"""The composition root: one Guard holds the settings, the database and the active rules, shared by the web
interfaces, the server and the CLI. It may import every domain ring; nothing below it imports it."""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Protocol

from guard.core.config import Settings
from guard.core.errors import NotFound
from guard.decisions.holding import use_hold_days
from guard.decisions.parallel import Helpers, serve_as_helper, usable_cores
from guard.decisions.projector import Projector
from guard.holds.worker import HoldWorker
from guard.ledger.digests import use_key
from guard.lifecycle.active import ActiveRules
from guard.lifecycle.versions import seed_from_directory
from guard.policy.evaluate import Evaluator
from guard.policy.ruleset import rules_directory
from guard.storage.database import Database


class RulesSource(Protocol):
    """Where the evaluator that decides comes from."""

    @property
    def current(self) -> Evaluator:
        """The evaluator that decides now."""
        ...

    def version(self, number: int) -> Evaluator:
        """The evaluator of a stored version."""
        ...


class RulesHolder:
    """A fixed evaluator, for rule files evaluated without the database's version log."""

    def __init__(self, evaluator: Evaluator, directory: Path | None = None) -> None:
        self._evaluator = evaluator
        self.directory = directory

    @property
    def current(self) -> Evaluator:
        """The evaluator that decides now."""
        return self._evaluator

    def version(self, number: int) -> Evaluator:
        """Only the current evaluator is known here."""
        if number == self._evaluator.version:
            return self._evaluator
        raise NotFound(f"No rules version {number}.", {"version": number})


class Guard:
    """Everything a request or a CLI command needs."""

    def __init__(self, settings: Settings, db: Database | None = None, rules: RulesSource | None = None) -> None:
        self.settings = settings
        use_key(settings.audit_key)  # the process's audit key: every chain record and pseudonym uses it
        use_hold_days(settings.hold_days)  # the process's default hold expiry (GUARD_HOLD_DAYS)
        self.db = db or Database(settings.database_url, timeout=settings.db_timeout,
                                 synchronous=settings.sqlite_synchronous)
        self.rules: RulesSource = rules if rules is not None else ActiveRules(self.db)
        self._helpers: Helpers | None = None

    @property
    def helpers(self) -> Helpers | None:
        """This process's helper processes for streams and batches (GUARD_STREAM_PROCESSES); None: work alone.

        Only with rules from the database's version log (helpers load the versions themselves), and never
        handed across a fork: a forked process gets its own.
        """
        processes = self.settings.stream_processes or usable_cores()
        if processes < 2 or not isinstance(self.rules, ActiveRules):
            return None
        if self._helpers is None or self._helpers.pid != os.getpid():
            self._helpers = Helpers(processes - 1, start_helper, (self.settings,))
        return self._helpers

    @property
    def evaluator(self) -> Evaluator:
        """The active rules."""
        return self.rules.current

    @property
    def rules_dir(self) -> Path:
        """The configured rule files directory (GUARD_RULES_DIR, ./rules, or the starter pack)."""
        return rules_directory(self.settings.rules_dir)

    def start_hold_worker(self) -> HoldWorker:
        """Start this process's hold worker (releases and expiries of held messages); `guard serve` does."""
        worker = HoldWorker(self.db, lambda: self.rules.current)
        worker.start()
        return worker

    def start_projector(self) -> Projector:
        """Start this process's projector (the reviewers' index, behind the writer); `guard serve` does."""
        return Projector(self.db, self.settings.projector_poll_interval).start()

    def seed_rules(self) -> int:
        """Store and activate the rules directory unless its content is already a stored version."""
        return seed_from_directory(self.db, self.rules_dir)


# As in `guard serve`'s workers: a helper allocates millions of short-lived objects per stream.
HELPER_GC_THRESHOLD = (50_000, 20, 20)


def start_helper(settings: Settings) -> None:
    """A helper process's start (see guard.decisions.parallel): its own database and active rules."""
    guard = Guard(settings)
    serve_as_helper(guard.db, guard.rules.version)
    gc.collect()
    gc.freeze()
    gc.set_threshold(*HELPER_GC_THRESHOLD)
