"""Consent versions: every change is a new row; the newest approved one is in force."""

import datetime as dt

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from archive.extensions import db
from archive.timeutil import utcnow

# approved: in the history, the newest is in force; pending: a widening waiting for a moderator;
# declined: a widening a moderator refused; superseded: a pending widening replaced by a newer one.
STATUSES = ("approved", "pending", "declined", "superseded")


class ConsentVersion(db.Model):
    __tablename__ = "consent_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    testimony_id: Mapped[int] = mapped_column(ForeignKey("testimonies.id"), index=True)
    number: Mapped[int]
    status: Mapped[str] = mapped_column(String(20), default="approved")
    access: Mapped[str] = mapped_column(String(20))
    sealed_until: Mapped[dt.date | None]
    release_to: Mapped[str | None] = mapped_column(String(20))
    anonymize_narrator: Mapped[bool] = mapped_column(default=False)
    publish_media: Mapped[bool] = mapped_column(default=False)
    publish_transcript: Mapped[bool] = mapped_column(default=True)
    redactions: Mapped[list] = mapped_column(JSON, default=list)
    signed_on: Mapped[dt.date | None]
    obtained_by: Mapped[str] = mapped_column(String(300), default="")
    form_media_id: Mapped[int | None]
    guardian: Mapped[str] = mapped_column(String(300), default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[dt.datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decision_comment: Mapped[str] = mapped_column(Text, default="")

    testimony: Mapped["Testimony"] = relationship(back_populates="consents")  # noqa: F821
    created_by: Mapped["User | None"] = relationship(foreign_keys=[created_by_id])  # noqa: F821
    decided_by: Mapped["User | None"] = relationship(foreign_keys=[decided_by_id])  # noqa: F821

    def as_dict(self) -> dict:
        """The consent as the API's JSON body."""
        return {
            "version": self.number,
            "status": self.status,
            "access": self.access,
            "sealed_until": self.sealed_until.isoformat() if self.sealed_until else None,
            "release_to": self.release_to,
            "anonymize_narrator": self.anonymize_narrator,
            "publish_media": self.publish_media,
            "publish_transcript": self.publish_transcript,
            "redactions": list(self.redactions or []),
            "signed_on": self.signed_on.isoformat() if self.signed_on else None,
            "obtained_by": self.obtained_by,
            "form": self.form_media_id,
            "guardian": self.guardian,
            "notes": self.notes,
        }
