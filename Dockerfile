# Guard in a container: gunicorn (via `guard serve`) as a non-root user, SQLite in /data by default.
#   docker build -t guard .
#   docker run --rm -p 8080:8080 -v guard-data:/data guard
#   docker run --rm -v guard-data:/data guard guard keys create --name crm --scope decide --scope events
# Point GUARD_DATABASE_URL at PostgreSQL (postgresql+psycopg://user:password@host/db) for production.
# Console sign-ins are shared by the workers; set GUARD_SECRET_KEY (-e) so they also survive a restart.

# durable-rules compiles a C extension: the compiler stays in this stage only.
FROM python:3.11-slim AS builder
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/guard
WORKDIR /src
COPY pyproject.toml README.md ./
COPY rules ./rules
COPY api ./api
COPY guard ./guard
# guard/starter_rules links to ../rules and guard/web/shared/openapi.yaml to ../../../api/openapi.yaml: the wheel
# carries the starter pack and the API description as real files.
RUN /opt/guard/bin/pip install .

FROM python:3.11-slim
RUN useradd --system --create-home --uid 10001 --shell /usr/sbin/nologin guard \
    && mkdir /data && chown guard:guard /data
COPY --from=builder /opt/guard /opt/guard
ENV PATH=/opt/guard/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    GUARD_DATABASE_URL=sqlite:////data/guard.db \
    GUARD_ENV=production
# Production mode: Guard refuses to start without GUARD_AUDIT_KEY or GUARD_AUDIT_KEY_FILE (mount it as a secret).
# No ./rules in /data: the starter pack installed with Guard is used unless GUARD_RULES_DIR says otherwise.
WORKDIR /data
VOLUME ["/data"]
USER guard
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
CMD ["guard", "serve", "--host", "0.0.0.0", "--port", "8080", "--workers", "2"]
