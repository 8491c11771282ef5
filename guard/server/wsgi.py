"""The WSGI entry point for gunicorn: `gunicorn -c gunicorn.conf.py guard.server.wsgi:app` (settings from GUARD_*
variables; without the config file, several workers need GUARD_SECRET_KEY to share console sign-ins)."""

from guard.web.factory import create_app

app = create_app()
# The reviewers' index is built behind the writer by a thread of each worker (see guard.decisions.projector).
app.extensions["guard"].start_projector()
