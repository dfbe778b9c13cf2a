"""Stored media files: recordings of a testimony and scans of signed consent forms."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from archive.extensions import db
from archive.timeutil import utcnow


class MediaKind(StrEnum):
    AUDIO = "audio"
    VIDEO = "video"
    CONSENT_FORM = "consent_form"


class MediaFile(db.Model):
    """One uploaded file. The bytes live in the instance's media folder under their SHA-256, so the
    same file uploaded twice is stored once and `archive fixity` can re-hash every one."""

    __tablename__ = "media_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    testimony_id: Mapped[int] = mapped_column(ForeignKey("testimonies.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(300))
    mime_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    duration_ms: Mapped[int | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    deleted_at: Mapped[dt.datetime | None]
    deleted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])  # noqa: F821

    @property
    def is_recording(self) -> bool:
        return self.kind in (MediaKind.AUDIO, MediaKind.VIDEO)

    def as_entry(self) -> dict:
        """The file as a testimony body lists it (and revisions keep it)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "filename": self.filename,
            "mime_type": self.mime_type,
            "size": self.size,
            "sha256": self.sha256,
            "duration_ms": self.duration_ms,
        }
