"""gunicorn settings for Guard started by gunicorn itself (`guard serve` applies the same ones):

    guard db upgrade && gunicorn -c gunicorn.conf.py guard.server.wsgi:app

gthread workers (GUARD_WORKERS, default one per core, at least 2) with 4 threads each, a 60 s worker
timeout that never cuts a long streaming request, 30 s for in-flight requests on SIGTERM or SIGHUP (a
graceful reload), JSON logs with request ids on stderr, and Prometheus metrics from every worker at /metrics.
Listens on GUARD_BIND (default 127.0.0.1:8080); gunicorn's own options (-b, -w, ...) override these.
"""

from guard.server.serve import config_file_settings

globals().update(config_file_settings())
