"""The CPU time PostgreSQL's own backends spent for one database, read from /proc (the server is local here;
production runs it on another machine, so benchmarks report it apart from the workers')."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import create_engine, make_url

TICKS = os.sysconf("SC_CLK_TCK")


def backend_pids(url: str) -> list[int]:
    """The server processes serving clients of the database of `url` right now (not the asking one; not
    autovacuum, whose work comes and goes with its own schedule)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
                "AND backend_type = 'client backend'"
            ).all()
    finally:
        engine.dispose()
    return [int(r[0]) for r in rows]


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of the processes (those gone since count nothing)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return total / TICKS


def is_postgres(url: str) -> bool:
    """Whether `url` names a PostgreSQL database."""
    return make_url(url).get_backend_name() == "postgresql"
