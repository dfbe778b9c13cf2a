"""The catalogue: a testimony's working copy lives in these tables; published versions are
snapshots kept as revisions (see archive/review/models.py)."""

import datetime as dt
from enum import StrEnum

from sqlalchemy import JSON, Column, ForeignKey, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from archive.extensions import db
from archive.timeutil import utcnow


class State(StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    CHANGES_REQUESTED = "changes_requested"
    PUBLISHED = "published"
    UNPUBLISHED = "unpublished"
    REJECTED = "rejected"


testimony_places = Table(
    "testimony_places",
    db.metadata,
    Column("testimony_id", ForeignKey("testimonies.id", ondelete="CASCADE"), primary_key=True),
    Column("place_id", ForeignKey("places.id"), primary_key=True),
)

testimony_subjects = Table(
    "testimony_subjects",
    db.metadata,
    Column("testimony_id", ForeignKey("testimonies.id", ondelete="CASCADE"), primary_key=True),
    Column("subject_id", ForeignKey("subjects.id"), primary_key=True),
)


# The people a testimony speaks of (`archive.authority.models.Person`): never its narrator, whose
# name is governed by the consent.
testimony_people = Table(
    "testimony_people",
    db.metadata,
    Column("testimony_id", ForeignKey("testimonies.id", ondelete="CASCADE"), primary_key=True),
    Column("person_id", ForeignKey("people.id"), primary_key=True),
)


class Narrator(db.Model):
    __tablename__ = "narrators"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300), default="")
    pseudonym: Mapped[str | None] = mapped_column(String(300))
    birth_year: Mapped[int | None]
    gender: Mapped[str | None] = mapped_column(String(40))


class Place(db.Model):
    """A place of the authority: one preferred name, variant spellings in other scripts."""

    __tablename__ = "places"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)
    variants: Mapped[list] = mapped_column(JSON, default=list)
    # When the authority (archive/authority) last changed this entry; None for a place only a
    # testimony has named. Search reads the newest to know when its synonyms are out of date.
    updated_at: Mapped[dt.datetime | None] = mapped_column(index=True)


class Subject(db.Model):
    """A subject of the authority: the name testimonies store, and its label in each interface
    language (`{"en": …, "az": …, "ru": …}`), by which a subject typed in any of them is known."""

    __tablename__ = "subjects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)
    labels: Mapped[dict] = mapped_column(JSON, default=dict)
    # When the authority last changed this entry; None for a subject only a testimony has named.
    # Search reads the newest to know when its facet names are out of date.
    updated_at: Mapped[dt.datetime | None] = mapped_column(index=True)


class Testimony(db.Model):
    __tablename__ = "testimonies"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(500))
    summary: Mapped[str] = mapped_column(Text, default="")
    narrator_id: Mapped[int] = mapped_column(ForeignKey("narrators.id"))
    interview_date: Mapped[dt.date | None]
    interview_place: Mapped[str] = mapped_column(String(300), default="")
    interviewer: Mapped[str] = mapped_column(String(300), default="")
    languages: Mapped[list] = mapped_column(JSON, default=list)
    # The key another system (a spreadsheet, an OHMS accession number) knows this testimony by:
    # importing a record with it again updates this testimony rather than adding a second one.
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True, index=True)

    state: Mapped[str] = mapped_column(String(30), default=State.DRAFT, index=True)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    submitted_at: Mapped[dt.datetime | None]
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    published_revision_id: Mapped[int | None] = mapped_column(
        ForeignKey("revisions.id", use_alter=True, name="fk_testimonies_published_revision")
    )
    published_at: Mapped[dt.datetime | None]
    deleted_at: Mapped[dt.datetime | None]
    deleted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    narrator: Mapped[Narrator] = relationship()
    segments: Mapped[list["Segment"]] = relationship(
        back_populates="testimony",
        order_by="Segment.position",
        cascade="all, delete-orphan",
    )
    places: Mapped[list[Place]] = relationship(secondary=testimony_places, order_by=Place.name)
    subjects: Mapped[list[Subject]] = relationship(secondary=testimony_subjects, order_by=Subject.name)
    people: Mapped[list["Person"]] = relationship(  # noqa: F821
        secondary=testimony_people, order_by="Person.name"
    )
    consents: Mapped[list["ConsentVersion"]] = relationship(  # noqa: F821
        back_populates="testimony", order_by="ConsentVersion.number"
    )
    published_revision: Mapped["Revision | None"] = relationship(  # noqa: F821
        foreign_keys=[published_revision_id], post_update=True
    )
    created_by: Mapped["User | None"] = relationship(foreign_keys=[created_by_id])  # noqa: F821
    updated_by: Mapped["User | None"] = relationship(foreign_keys=[updated_by_id])  # noqa: F821
    submitted_by: Mapped["User | None"] = relationship(  # noqa: F821
        foreign_keys=[submitted_by_id]
    )

    @property
    def consent(self) -> "ConsentVersion | None":  # noqa: F821
        """The consent in force: the newest approved version."""
        approved = [c for c in self.consents if c.status == "approved"]
        return max(approved, key=lambda c: c.number) if approved else None

    @property
    def pending_consent(self) -> "ConsentVersion | None":  # noqa: F821
        pending = [c for c in self.consents if c.status == "pending"]
        return max(pending, key=lambda c: c.number) if pending else None

    @property
    def has_unpublished_edits(self) -> bool:
        published = self.published_revision
        return published is not None and published.version != self.version


class Segment(db.Model):
    """One stretch of the timecoded transcript."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(primary_key=True)
    testimony_id: Mapped[int] = mapped_column(ForeignKey("testimonies.id", ondelete="CASCADE"), index=True)
    position: Mapped[int]
    start_ms: Mapped[int]
    end_ms: Mapped[int]
    speaker: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    keywords: Mapped[list] = mapped_column(JSON, default=list)

    testimony: Mapped[Testimony] = relationship(back_populates="segments")


class EditorDraft(db.Model):
    """What someone typed in the testimony form and has not saved: kept as they type (autosave),
    or when a save was refused because their session had ended or the form's token was stale.
    Not a version of the testimony: nobody else sees it, and saving the form ends it.

    A draft is its author's (`user_id`); one kept from a browser nobody was signed in to is tied to
    a random key in that browser's cookie (`key_hash`, its SHA-256) until someone signs in there
    and takes it back to the form."""

    __tablename__ = "editor_drafts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # None: a new testimony, not saved yet.
    testimony_id: Mapped[int | None] = mapped_column(ForeignKey("testimonies.id", ondelete="CASCADE"))
    fields: Mapped[dict] = mapped_column(JSON)
    saved_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
