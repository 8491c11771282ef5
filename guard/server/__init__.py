"""The server ring: gunicorn hosting (worker class, settings, graceful reloads), the WSGI entry point and the
connection balance between workers.

May import guard.web, guard.app and every ring below; only guard.cli imports it.
"""
