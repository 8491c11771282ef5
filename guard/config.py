"""Settings from GUARD_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

DEFAULT_DATABASE_URL = "sqlite:///guard.db"


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    """Everything an operator can set, with defaults that run Guard on SQLite with the starter rules."""

    database_url: str = DEFAULT_DATABASE_URL
    rules_dir: str | None = None
    max_body_bytes: int = 8 * 1024 * 1024
    log_level: str = "INFO"
    # Signs the console's session cookies; None: `guard serve` generates one shared by its workers.
    secret_key: str | None = None
    cookie_secure: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read the GUARD_* variables (the README's configuration table lists them)."""
        env = dict(os.environ if environ is None else environ)
        return cls(
            database_url=env.get("GUARD_DATABASE_URL") or DEFAULT_DATABASE_URL,
            rules_dir=env.get("GUARD_RULES_DIR") or None,
            max_body_bytes=_int(env, "GUARD_MAX_BODY_BYTES", 8 * 1024 * 1024),
            log_level=env.get("GUARD_LOG_LEVEL", "INFO"),
            secret_key=env.get("GUARD_SECRET_KEY") or None,
            cookie_secure=env.get("GUARD_COOKIE_SECURE", "").strip().lower() in ("1", "true", "yes"),
        )
