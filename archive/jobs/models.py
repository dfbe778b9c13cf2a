"""The jobs table: one row per long task (an import, an index rebuild), its progress and report."""

import datetime as dt
from enum import StrEnum

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from archive.extensions import db
from archive.timeutil import utcnow


class JobKind(StrEnum):
    IMPORT = "import"
    INDEX_REBUILD = "index_rebuild"


class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Job(db.Model):
    """A task run in the background. `heartbeat_at` is renewed while it runs, so a job whose process
    died (a restart, a killed worker) is seen to be stale and marked failed, never left running."""

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    state: Mapped[str] = mapped_column(String(20), default=JobState.QUEUED.value, index=True)
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    done: Mapped[int] = mapped_column(default=0)
    total: Mapped[int] = mapped_column(default=0)
    report: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    heartbeat_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    user: Mapped["User"] = relationship()  # noqa: F821

    @property
    def finished(self) -> bool:
        return self.state in (JobState.DONE, JobState.FAILED)
