"""Access to the Guard service of the running app."""

from __future__ import annotations

from flask import current_app

from guard.app import Guard


def current_guard() -> Guard:
    """The Guard service the app was created with."""
    guard: Guard = current_app.extensions["guard"]
    return guard
