"""Settings from GUARD_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

DEFAULT_DATABASE_URL = "sqlite:///guard.db"
# A held message waits this long when its request names no expiry, and never longer than the maximum.
DEFAULT_HOLD_DAYS = 14
MAX_HOLD_DAYS = 366
# The audit key used when none is configured outside production: public, so it protects nothing against
# a database writer; GUARD_ENV=production refuses to start without a real one.
DEV_AUDIT_KEY = b"guard-development-audit-key (public: set GUARD_AUDIT_KEY or GUARD_AUDIT_KEY_FILE)"
MIN_AUDIT_KEY = 32
ENVIRONMENTS = ("development", "production")
PURPOSES = ("marketing", "survey", "service", "transactional", "legal")
# What a caller should do with a message when Guard cannot be reached: "closed" holds it back (a missed
# promotion costs little), "open" sends it (a missed receipt or legal notice costs the customer).
DEFAULT_FAILSAFE = {"marketing": "closed", "survey": "closed", "service": "open", "transactional": "open",
                    "legal": "open"}


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, got {raw!r}") from None


def _seconds(env: dict[str, str], name: str, default: float, most: float = 3600) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value <= most:
        raise SystemExit(f"{name} must be a number of seconds between 0 and {most:g}, got {raw!r}")
    return value


def parse_failsafe(raw: str | None) -> dict[str, str]:
    """GUARD_FAILSAFE, e.g. "marketing=closed,service=closed": the defaults with these purposes changed."""
    out = dict(DEFAULT_FAILSAFE)
    for item in (raw or "").split(","):
        if not item.strip():
            continue
        purpose, _, mode = (part.strip().lower() for part in item.partition("="))
        if purpose not in PURPOSES or mode not in ("open", "closed"):
            raise SystemExit(f"GUARD_FAILSAFE: {item.strip()!r} is not PURPOSE=open|closed "
                             f"(purposes: {', '.join(PURPOSES)})")
        out[purpose] = mode
    return out


@dataclass(frozen=True)
class Settings:
    """Everything an operator can set, with defaults that run Guard on SQLite with the starter rules."""

    database_url: str = DEFAULT_DATABASE_URL
    rules_dir: str | None = None
    max_body_bytes: int = 8 * 1024 * 1024
    # The most a `POST /v1/decisions/stream` reads (its lines are decided as they come, so the body limit
    # above cannot apply to it).
    max_stream_bytes: int = 1024 * 1024 * 1024
    log_level: str = "INFO"
    # Processes one stream or batch is spread over: the worker that writes and (this - 1) helpers that
    # parse, validate, evaluate and build decisions ahead of it; 0: one per usable core; 1 (the default):
    # the worker alone. Off by default: on 2 shared cores the helpers cost ~25-30% more CPU than the worker
    # alone spends and the streams were no faster (bench/streams_ab.py; bench/RESULTS.md).
    stream_processes: int = 1
    # Signs the console's session cookies; None: `guard serve` generates one shared by its workers.
    secret_key: str | None = None
    cookie_secure: bool = False
    # Hardening: rate limit per API key (e.g. "100/second"; None: off), where its counters live, a
    # bearer token for /metrics (None: open), how long to wait for the database, the log format, and
    # the fail-safe advice served to callers.
    rate_limit: str | None = None
    rate_limit_storage: str = "memory://"
    metrics_token: str | None = None
    db_timeout: float = 10.0
    # SQLite's fsync discipline: FULL makes every acknowledged write durable (power loss included).
    sqlite_synchronous: str = "FULL"
    log_format: str = "json"
    # GUARD_HOLD_DAYS: how long a held message waits when its request names no expires_at (issue 15).
    hold_days: int = DEFAULT_HOLD_DAYS
    failsafe: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_FAILSAFE))
    # GUARD_ENV: "production" refuses to start without an audit key; "development" falls back to the public one.
    env: str = "development"
    # Keys the audit chain and customer pseudonyms (HMAC); lives outside the database.
    audit_key: bytes = field(default=DEV_AUDIT_KEY, repr=False)
    # Outbound webhooks: how often each worker looks for messages to deliver, how long one attempt may take,
    # the first retry's delay (doubled after each failure, at most an hour), and how long a message is retried
    # before it is marked failed.
    webhook_poll_interval: float = 0.5
    webhook_timeout: float = 5.0
    webhook_backoff: float = 10.0
    webhook_retry_for: float = 24 * 3600.0
    # GUARD_WEBHOOK_TARGETS: "any" host, or "public" addresses only (no loopback, private, link-local or
    # reserved ones), so an admin key cannot make Guard post to services inside its own network.
    webhook_targets: str = "any"
    # GUARD_PROJECTOR_POLL_INTERVAL: how long an idle projector waits before looking for decisions to index.
    projector_poll_interval: float = 0.1
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def webhooks_public_only(self) -> bool:
        """GUARD_WEBHOOK_TARGETS=public: receivers must be at public addresses."""
        return self.webhook_targets == "public"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Settings:
        """Read the GUARD_* variables (the README's configuration table lists them)."""
        env = dict(os.environ if environ is None else environ)
        return cls(
            database_url=env.get("GUARD_DATABASE_URL") or DEFAULT_DATABASE_URL,
            rules_dir=env.get("GUARD_RULES_DIR") or None,
            max_body_bytes=_int(env, "GUARD_MAX_BODY_BYTES", 8 * 1024 * 1024),
            max_stream_bytes=_int(env, "GUARD_MAX_STREAM_BYTES", 1024 * 1024 * 1024),
            log_level=env.get("GUARD_LOG_LEVEL", "INFO"),
            stream_processes=_int(env, "GUARD_STREAM_PROCESSES", 1),
            secret_key=env.get("GUARD_SECRET_KEY") or None,
            cookie_secure=env.get("GUARD_COOKIE_SECURE", "").strip().lower() in ("1", "true", "yes"),
            rate_limit=_rate_limit(env.get("GUARD_RATE_LIMIT")),
            rate_limit_storage=env.get("GUARD_RATE_LIMIT_STORAGE") or "memory://",
            metrics_token=env.get("GUARD_METRICS_TOKEN") or None,
            db_timeout=_seconds(env, "GUARD_DB_TIMEOUT", 10.0),
            sqlite_synchronous=_synchronous(env.get("GUARD_SQLITE_SYNCHRONOUS")),
            log_format=_log_format(env.get("GUARD_LOG_FORMAT")),
            failsafe=parse_failsafe(env.get("GUARD_FAILSAFE")),
            hold_days=_hold_days(env),
            env=_environment(env.get("GUARD_ENV")),
            audit_key=audit_key(env),
            webhook_poll_interval=_seconds(env, "GUARD_WEBHOOK_POLL_INTERVAL", 0.5),
            projector_poll_interval=_seconds(env, "GUARD_PROJECTOR_POLL_INTERVAL", 0.1),
            webhook_timeout=_seconds(env, "GUARD_WEBHOOK_TIMEOUT", 5.0),
            webhook_backoff=_seconds(env, "GUARD_WEBHOOK_BACKOFF", 10.0),
            webhook_retry_for=_seconds(env, "GUARD_WEBHOOK_RETRY_FOR", 24 * 3600.0, most=7 * 24 * 3600),
            webhook_targets=_webhook_targets(env.get("GUARD_WEBHOOK_TARGETS")),
        )


def _hold_days(env: dict[str, str]) -> int:
    """GUARD_HOLD_DAYS: 1 to MAX_HOLD_DAYS."""
    days = _int(env, "GUARD_HOLD_DAYS", DEFAULT_HOLD_DAYS)
    if not 1 <= days <= MAX_HOLD_DAYS:
        raise SystemExit(f"GUARD_HOLD_DAYS must be between 1 and {MAX_HOLD_DAYS}, got {days}")
    return days


def _webhook_targets(raw: str | None) -> str:
    value = (raw or "any").strip().lower()
    if value not in ("any", "public"):
        raise SystemExit(f"GUARD_WEBHOOK_TARGETS must be any or public, got {raw!r}")
    return value


def _environment(raw: str | None) -> str:
    value = (raw or "development").strip().lower()
    if value not in ENVIRONMENTS:
        raise SystemExit(f"GUARD_ENV must be development or production, got {raw!r}")
    return value


def audit_key(env: dict[str, str]) -> bytes:
    """GUARD_AUDIT_KEY, or the contents of GUARD_AUDIT_KEY_FILE; the public development key only outside
    production (GUARD_ENV=production without either refuses to start)."""
    text, path = env.get("GUARD_AUDIT_KEY") or None, env.get("GUARD_AUDIT_KEY_FILE") or None
    if text and path:
        raise SystemExit("Set GUARD_AUDIT_KEY or GUARD_AUDIT_KEY_FILE, not both")
    if path:
        try:
            with open(path, encoding="utf-8") as file:
                text = file.read().strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise SystemExit(f"GUARD_AUDIT_KEY_FILE {path!r} cannot be read: {exc}") from None
    if text is None:
        if _environment(env.get("GUARD_ENV")) == "production":
            raise SystemExit("GUARD_ENV=production needs an audit key outside the database: set GUARD_AUDIT_KEY "
                             "or GUARD_AUDIT_KEY_FILE (e.g. from `python -c 'import secrets; "
                             "print(secrets.token_hex(32))'`)")
        return DEV_AUDIT_KEY
    if len(text) < MIN_AUDIT_KEY:
        raise SystemExit(f"The audit key must be at least {MIN_AUDIT_KEY} characters (got {len(text)})")
    return text.encode("utf-8")


def _log_format(raw: str | None) -> str:
    value = (raw or "json").strip().lower()
    if value not in ("json", "text"):
        raise SystemExit(f"GUARD_LOG_FORMAT must be json or text, got {raw!r}")
    return value


def _synchronous(raw: str | None) -> str:
    value = (raw or "FULL").strip().upper()
    if value not in ("FULL", "NORMAL"):
        raise SystemExit(f"GUARD_SQLITE_SYNCHRONOUS must be FULL or NORMAL, got {raw!r}")
    return value


def _rate_limit(raw: str | None) -> str | None:
    """GUARD_RATE_LIMIT in the limits library's notation ("100/second", "1000 per minute; 20/second")."""
    if not raw or not raw.strip():
        return None
    from limits import parse_many  # only needed when a limit is set

    try:
        parse_many(raw)
    except ValueError:
        raise SystemExit(f"GUARD_RATE_LIMIT must look like 100/second or 1000 per minute, got {raw!r}") from None
    return raw.strip()
