"""`guard serve`: gunicorn run from Python, with the schema and rules checked in the master before forking."""

from __future__ import annotations

import dataclasses
import logging
import secrets
import sys
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter

from guard.config import Settings
from guard.migrations import upgrade
from guard.rules.ruleset import rules_directory
from guard.service import Guard

log = logging.getLogger("guard.serve")


def resolved(settings: Settings) -> Settings:
    """Settings whose rules directory is absolute, so every worker loads exactly what the master checked."""
    return dataclasses.replace(settings, rules_dir=str(rules_directory(settings.rules_dir).resolve()))


def with_secret(settings: Settings) -> Settings:
    """Settings with a console secret: GUARD_SECRET_KEY, else one made now so every worker signs alike."""
    if settings.secret_key:
        return settings
    return dataclasses.replace(settings, secret_key=secrets.token_urlsafe(32))


def prepare(settings: Settings) -> int | str:
    """In the master, before forking: migrate the database and activate the rule files; the active version."""
    upgrade(settings.database_url)
    guard = Guard(settings)
    try:
        # Checks and tests the files and records them as the active version once, not once per worker.
        return guard.seed_rules()
    finally:
        guard.db.dispose()


class GuardApplication(BaseApplication):
    """gunicorn with options from `guard serve`; each worker builds its own Guard after the fork."""

    def __init__(self, settings: Settings, options: dict[str, Any]) -> None:
        self.settings = settings
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        """Apply our options instead of gunicorn's command line and config file."""
        for name, value in self.options.items():
            # Options of newer gunicorn releases only (control_socket_disable) are skipped on older ones.
            if name in self.cfg.settings:
                self.cfg.set(name, value)

    def load(self) -> Any:
        """Called in each worker after fork: durable-rules state must not be shared between processes."""
        from guard.http.app import create_app

        guard = Guard(self.settings)
        # Compile the active rules now: a worker that cannot fails to boot instead of failing requests.
        guard.evaluator  # noqa: B018
        return create_app(guard=guard)


def bind_address(host: str, port: int) -> str:
    """gunicorn's bind syntax (IPv6 addresses in brackets)."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def options(host: str, port: int, workers: int, log_level: str = "INFO") -> dict[str, Any]:
    """The gunicorn settings Guard runs with."""
    return {
        "bind": [bind_address(host, port)],
        "workers": workers,
        "worker_class": "sync",
        "proc_name": "guard",
        "timeout": 30,
        "graceful_timeout": 10,
        # The app is loaded in each worker, never in the master (see GuardApplication.load).
        "preload_app": False,
        "logconfig_dict": logging_config(log_level),
        "when_ready": announce,
        # The control socket lives at one path in $HOME: two Guards on one machine would fight over it.
        "control_socket_disable": True,
    }


def logging_config(level: str) -> dict[str, Any]:
    """Everything, gunicorn's error and access logs included, goes to stderr."""
    level = level.upper()
    stderr = {"class": "logging.StreamHandler", "formatter": "generic", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["stderr"], "propagate": False,
                               "qualname": "gunicorn.error"},
            "gunicorn.access": {"level": "INFO", "handlers": ["stderr"], "propagate": False,
                                "qualname": "gunicorn.access"},
        },
        "handlers": {"stderr": stderr},
        "formatters": {"generic": {"format": "%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s",
                                   "class": "logging.Formatter"}},
    }


def announce(server: Arbiter) -> None:
    """Print where Guard listens once the sockets are bound (the real port, even for --port 0)."""
    for listener in server.LISTENERS:
        print(f"Guard is listening on {listener}", flush=True)
    log.info("workers: %s, rules: %s", server.cfg.workers, server.app.settings.rules_dir)


def run(settings: Settings, host: str, port: int, workers: int) -> None:
    """Serve until stopped (SIGTERM or SIGINT stop gracefully); gunicorn exits the process on failure."""
    # Made in the master, before forking: a session signed by one worker is accepted by every other.
    settings = with_secret(settings)
    GuardApplication(settings, options(host, port, workers, settings.log_level)).run()
    sys.exit(0)
