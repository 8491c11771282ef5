"""The WSGI entry point for gunicorn: `gunicorn guard.http.wsgi:app` (settings from GUARD_* variables)."""

from guard.http.app import create_app

app = create_app()
