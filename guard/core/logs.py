"""Structured logs: one JSON object per line, tagged with the id of the request being served."""

from __future__ import annotations

import json
import logging
import os
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

# Set for the duration of a request (see guard.web.shared.observability); threads each see their own.
REQUEST_ID: ContextVar[str | None] = ContextVar("guard_request_id", default=None)

# LogRecord attributes that are not "extra" fields passed by the caller.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """A record as one JSON line: time, level, logger, message, process, request id, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        """The JSON text of a record."""
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace(
                "+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process or os.getpid(),
        }
        request_id = REQUEST_ID.get()
        if request_id:
            entry["request_id"] = request_id
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The classic one-line text form, with the request id when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """Text of a record, suffixed with its request id."""
        text = super().format(record)
        request_id = REQUEST_ID.get()
        return f"{text} request_id={request_id}" if request_id else text


def logging_config(level: str, fmt: str = "json") -> dict[str, Any]:
    """dictConfig for the server: everything to stderr; the access log writes ready-made JSON lines."""
    level = level.upper()
    formatter = "guard.core.logs.JsonFormatter" if fmt == "json" else "guard.core.logs.TextFormatter"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["stderr"], "propagate": False,
                               "qualname": "gunicorn.error"},
            "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False,
                                "qualname": "gunicorn.access"},
        },
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "app", "stream": "ext://sys.stderr"},
            "access": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"},
        },
        "formatters": {
            "app": {"()": formatter},
            "plain": {"format": "%(message)s", "class": "logging.Formatter"},
        },
    }
