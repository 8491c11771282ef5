"""Liveness and readiness probes (no key needed)."""

from __future__ import annotations

import logging
import sqlite3

from flask import Blueprint, Response, jsonify
from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from guard.db import Database
from guard.errors import GuardError
from guard.http.context import current_guard
from guard.http.errors import RETRY_AFTER_SECONDS, error_response

bp = Blueprint("health", __name__)
log = logging.getLogger("guard.http")
# How long readiness waits for SQLite's write lock: longer than any one write, short for a probe.
WRITE_PROBE_MS = 2000


@bp.get("/healthz")
def healthz() -> Response:
    """The process answers."""
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def readyz() -> Response:
    """The database answers and a rules version is active: ready to decide."""
    guard = current_guard()
    try:
        with guard.db.sessions() as session:
            session.execute(text("SELECT 1"))
        if not _sqlite_writable(guard.db):
            return _not_ready("The database is locked: nothing can be written.")
        version = guard.evaluator.version
    except SQLAlchemyError as exc:
        log.warning("not ready: %s", type(exc).__name__)
        return _not_ready("The database cannot be reached.")
    except GuardError as exc:
        return _not_ready(exc.message)
    return jsonify({"status": "ready", "rules_version": version})


def _sqlite_writable(db: Database) -> bool:
    """On SQLite, whether the write lock can be had within a moment (a file held locked by another process
    still answers SELECT, but every decision would fail); PostgreSQL answering is enough."""
    if db.engine.dialect.name != "sqlite" or isinstance(db.sessions.kw.get("bind"), Connection):
        return True  # tests bind sessions to an open transaction of their own
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        (previous,) = cursor.execute("PRAGMA busy_timeout").fetchone()
        cursor.execute(f"PRAGMA busy_timeout={WRITE_PROBE_MS}")
        try:
            cursor.execute("BEGIN IMMEDIATE")
            cursor.execute("ROLLBACK")
        except sqlite3.OperationalError:
            return False
        finally:
            cursor.execute(f"PRAGMA busy_timeout={int(previous)}")
        return True
    finally:
        raw.close()


def _not_ready(message: str) -> Response:
    return error_response(503, "not_ready", message, {}, {"Retry-After": RETRY_AFTER_SECONDS})
