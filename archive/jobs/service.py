"""Background jobs as rows: started, advancing, finished or failed, and found stale when the process
running one died. Running them is the operations' (`operations.start_import`, `start_index_rebuild`);
this room keeps their record, so the work below it can report progress without knowing who asks.

A job runs in a thread of the serving process that started it. While it runs, its heartbeat is
renewed every few seconds; a job whose heartbeat is older than `JOB_STALE_SECONDS` belongs to a
process that stopped (a restart, a killed worker) and is marked failed the next time anyone looks.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from archive import access
from archive.audit.service import record_event
from archive.errors import NotFound
from archive.extensions import db
from archive.jobs.models import Job, JobKind, JobState
from archive.timeutil import utcnow

ACTIVE = (JobState.QUEUED.value, JobState.RUNNING.value)
# Progress is written at most this often (and once at the end): a row update per imported record
# would cost more than the record.
PROGRESS_EVERY_SECONDS = 0.5
RECENT = 10
INTERRUPTED = "The server process running this job stopped before it finished; start it again."


def stale_after() -> dt.timedelta:
    return dt.timedelta(seconds=current_app.config["JOB_STALE_SECONDS"])


def heartbeat_every() -> float:
    """How often a running job says it is alive: well within the time after which it is stale."""
    return current_app.config["JOB_STALE_SECONDS"] / 6


def create_job(user, kind: JobKind, params: dict[str, Any]) -> Job:
    """A queued job, added to the caller's unit of work with its audit event."""
    job = Job(kind=kind.value, user_id=user.id, params=params, state=JobState.QUEUED.value)
    db.session.add(job)
    db.session.flush()
    record_event(user, "job.start", job, kind=kind.value, **params)
    return job


def get_job(user, job_id: int) -> Job:
    """The job, if this user may follow it; NotFound otherwise, so nobody learns of another's jobs."""
    job = db.session.get(Job, job_id)
    if job is None or not access.may_follow_job(user, job):
        raise NotFound("There is no such job.")
    return job


def jobs_of(user, kind: JobKind, limit: int = RECENT) -> list[Job]:
    """This user's latest jobs of one kind, newest first."""
    query = (
        select(Job).where(Job.user_id == user.id, Job.kind == kind.value).order_by(Job.id.desc()).limit(limit)
    )
    return list(db.session.scalars(query))


def running(kind: JobKind) -> Job | None:
    """A job of this kind that is queued or running now, anyone's."""
    query = select(Job).where(Job.kind == kind.value, Job.state.in_(ACTIVE)).order_by(Job.id)
    return db.session.scalars(query.limit(1)).first()


def settle_stale(now: dt.datetime | None = None) -> list[int]:
    """Mark failed every job whose process stopped beating; returns their ids. In the caller's unit."""
    cutoff = (now or utcnow()) - stale_after()
    stale = db.session.scalars(
        select(Job).where(Job.state.in_(ACTIVE), Job.heartbeat_at < cutoff).with_for_update()
    ).all()
    for job in stale:
        job.state = JobState.FAILED.value
        job.error = INTERRUPTED
        job.finished_at = now or utcnow()
        record_event(job.user, "job.interrupted", job, kind=job.kind, done=job.done, total=job.total)
    return [job.id for job in stale]


def begin(job_id: int) -> Job:
    """The job, now running. In the caller's unit of work."""
    job = db.session.get(Job, job_id)
    if job is None:
        raise NotFound("There is no such job.")
    job.state = JobState.RUNNING.value
    job.started_at = job.heartbeat_at = utcnow()
    return job


def finish(job: Job, report: dict[str, Any]) -> None:
    """The job done, with its report. A job already marked failed as stale stays so: its report
    may lack what happened while nobody could see it."""
    if job.state != JobState.RUNNING:
        return
    job.state = JobState.DONE.value
    job.report = report
    job.done = max(job.done, job.total)
    job.finished_at = utcnow()
    record_event(job.user, "job.finish", job, kind=job.kind, **report.get("counts", {}))


def fail(job_id: int, error: str) -> None:
    job = db.session.get(Job, job_id)
    if job is None or job.finished:
        return
    job.state = JobState.FAILED.value
    job.error = error
    job.finished_at = utcnow()
    record_event(job.user, "job.fail", job, kind=job.kind, error=error)


def _write(job_id: int, **values: Any) -> None:
    """A progress row update in a transaction of its own, from whichever thread reports it."""
    with Session(db.engine) as session, session.begin():
        session.execute(
            update(Job)
            .where(Job.id == job_id, Job.state == JobState.RUNNING.value)
            .values(heartbeat_at=utcnow(), **values)
        )


def beat(job_id: int) -> None:
    """The job's process is alive."""
    _write(job_id)


class Progress:
    """`progress(done, total)` for a running job: written at most every PROGRESS_EVERY_SECONDS,
    and always when done reaches total."""

    def __init__(self, job_id: int) -> None:
        self.job_id = job_id
        self.last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done >= total or now - self.last >= PROGRESS_EVERY_SECONDS:
            self.last = now
            _write(self.job_id, done=done, total=total)
