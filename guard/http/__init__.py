"""The HTTP layer: a Flask app whose thin views turn requests into use-case calls."""

from guard.http.app import create_app

__all__ = ["create_app"]
