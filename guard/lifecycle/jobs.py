"""Long backtests run in a background thread; their progress lives in the database so any worker can report it."""

from __future__ import annotations

import logging
import re
import threading
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from guard.core.errors import GuardError, NotFound
from guard.core.timeutil import iso, utcnow
from guard.lifecycle.backtest import count_decisions, run_backtest
from guard.policy.evaluate import Evaluator
from guard.storage.database import Database
from guard.storage.tables.lifecycle import BacktestJob

log = logging.getLogger(__name__)
# Job ids are made by start_job (uuid4); anything else names no job and never reaches the database.
_JOB_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def start_job(db: Database, candidate: Evaluator, since: datetime | None, until: datetime | None,
              params: dict[str, Any], close_candidate: bool = False) -> dict[str, Any]:
    """Record a job and run the backtest in a daemon thread; returns the job as first seen."""
    job_id = str(uuid.uuid4())
    total = count_decisions(db, since, until)
    with db.transaction() as session:
        session.add(BacktestJob(id=job_id, status="running", total=total, done=0, params=params,
                                created_at=utcnow()))
    thread = threading.Thread(target=_run, args=(db, job_id, candidate, since, until, close_candidate),
                              name=f"backtest-{job_id[:8]}", daemon=True)
    thread.start()
    return {"job_id": job_id, "status": "running", "total": total, "done": 0}


def _run(db: Database, job_id: str, candidate: Evaluator, since: datetime | None, until: datetime | None,
         close_candidate: bool) -> None:
    def progress(done: int, total: int) -> None:
        with db.transaction() as session:
            session.execute(update(BacktestJob).where(BacktestJob.id == job_id).values(done=done, total=total))

    try:
        report = run_backtest(db, candidate, since, until, progress=progress)
        values: dict[str, Any] = {"status": "done", "report": report, "done": report["total"] + report["skipped"]}
    except GuardError as exc:  # written for people: safe to show
        values = {"status": "failed", "error": exc.message}
    except Exception:  # a job must always end in a state people can read, without SQL or data in it
        log.exception("backtest %s failed", job_id)
        values = {"status": "failed", "error": f"The backtest failed unexpectedly; the server log has the "
                                               f"details under job {job_id}."}
    finally:
        if close_candidate:
            candidate.close()
    with db.transaction() as session:
        session.execute(update(BacktestJob).where(BacktestJob.id == job_id).values(finished_at=utcnow(), **values))


def record_finished(db: Database, params: dict[str, Any], report: dict[str, Any]) -> str:
    """Keep a backtest that ran in the request like a finished job, so a version's page can show it."""
    job_id = str(uuid.uuid4())
    now = utcnow()
    with db.transaction() as session:
        session.add(BacktestJob(id=job_id, status="done", total=report["total"] + report["skipped"],
                                done=report["total"] + report["skipped"], params=params, report=report,
                                created_at=now, finished_at=now))
    return job_id


def get_job(db: Database, job_id: str) -> dict[str, Any]:
    """A job's status, progress and, when done, its report."""
    with db.sessions() as session:
        job = session.get(BacktestJob, job_id) if _JOB_ID.fullmatch(job_id) else None
        if job is None:
            raise NotFound(f"No backtest job {job_id!r}.", {"job_id": job_id})
        return _described(job)


def latest_of_version(db: Database, number: int) -> dict[str, Any] | None:
    """The newest backtest of a stored version (running, done or failed), or None when it never had one."""
    with db.sessions() as session:
        job = session.scalars(select(BacktestJob).where(BacktestJob.params["version"].as_integer() == number)
                              .order_by(BacktestJob.created_at.desc()).limit(1)).first()
        return _described(job) if job is not None else None


def _described(job: BacktestJob) -> dict[str, Any]:
    return {
        "job_id": job.id,
        "status": job.status,
        "total": job.total,
        "done": job.done,
        "progress": round(job.done / job.total, 3) if job.total else 1.0,
        "created_at": iso(job.created_at),
        "finished_at": iso(job.finished_at),
        "report": job.report,
        "error": job.error,
    }
