"""The review workflow (four eyes): submitting, a moderator's decisions, publishing and taking
offline, and reading the revisions and decisions of a testimony.

Each write does the workflow's part of a user action inside a unit of work its caller commits;
what else a decision touches (a pending consent, say) is the operation's to coordinate.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select

from archive import access
from archive.access import Permission
from archive.audit.service import record_event
from archive.catalogue.models import Segment, State, Testimony
from archive.errors import Conflict, Forbidden, Invalid, NotFound
from archive.extensions import db
from archive.media.models import MediaFile, MediaKind
from archive.review.models import ReviewDecision, Revision
from archive.timeutil import utcnow
from archive.unit_of_work import UnitOfWork

DECISIONS = ("approve", "request_changes", "reject")
SUBMITTABLE = access.SUBMITTABLE


def revisions(user, testimony: Testimony) -> list[Revision]:
    access.require_on(user, testimony, Permission.STAFF_AREA)
    return list(
        db.session.scalars(
            select(Revision).where(Revision.testimony_id == testimony.id).order_by(Revision.version)
        )
    )


def revision_at(testimony: Testimony, version: int) -> Revision:
    revision = db.session.scalar(
        select(Revision).where(Revision.testimony_id == testimony.id, Revision.version == version)
    )
    if revision is None:
        raise NotFound()
    return revision


def get_revision(user, testimony: Testimony, version: int) -> Revision:
    """One saved version of a testimony, for the staff who may read its history."""
    access.require_on(user, testimony, Permission.STAFF_AREA)
    return revision_at(testimony, version)


def snapshot_to_restore(user, testimony: Testimony, version: int) -> dict:
    """An old version's content as a body to save again (its segments without their positions)."""
    access.require_on(user, testimony, Permission.TESTIMONY_EDIT)
    snapshot = dict(revision_at(testimony, version).snapshot)
    snapshot["segments"] = [{k: v for k, v in s.items() if k != "id"} for s in snapshot["segments"]]
    return snapshot


def decisions(user, testimony: Testimony) -> list[ReviewDecision]:
    access.require_on(user, testimony, Permission.STAFF_AREA)
    return list(
        db.session.scalars(
            select(ReviewDecision)
            .where(ReviewDecision.testimony_id == testimony.id)
            .order_by(ReviewDecision.created_at.desc())
        )
    )


def submit_for_review(user, testimony: Testimony, work: UnitOfWork) -> Testimony:
    access.require_on(user, testimony, Permission.TESTIMONY_SUBMIT)
    if testimony.deleted_at is not None:
        raise NotFound()
    if testimony.state not in SUBMITTABLE:
        raise Conflict(f"A testimony in state '{testimony.state}' cannot be submitted.")
    testimony.state = State.IN_REVIEW
    testimony.submitted_by_id = user.id
    testimony.submitted_at = utcnow()
    record_event(user, "testimony.submit", testimony, version=testimony.version)
    work.reindex(testimony.id)
    return testimony


def record_decision(user, testimony: Testimony, version: int, target: str, decision: str, comment: str):
    db.session.add(
        ReviewDecision(
            testimony_id=testimony.id,
            version=version,
            target=target,
            decision=decision,
            comment=comment,
            reviewer_id=user.id,
        )
    )


def _publish(testimony: Testimony) -> None:
    testimony.published_revision = revision_at(testimony, testimony.version)
    testimony.published_at = utcnow()
    testimony.state = State.PUBLISHED


def checked_decision(
    user, testimony: Testimony, decision: str, comment: str, target: str | None
) -> tuple[str, str, str]:
    """A moderator's decision as (decision, comment, target), checked before anything changes;
    without a target, it is the submission if one waits, else the pending consent widening."""
    access.require_on(user, testimony, Permission.REVIEW_DECIDE)
    errors = {}
    if decision not in DECISIONS:
        errors["decision"] = "Must be approve, request_changes or reject."
    comment = (comment or "").strip() if isinstance(comment, str) else None
    if comment is None:
        errors["comment"] = "Must be text."
    elif decision in ("request_changes", "reject") and not comment:
        errors["comment"] = "Say what needs to change: the archivist will read this."
    if target not in (None, "content", "consent"):
        errors["target"] = "Must be content or consent."
    if errors:
        raise Invalid("The decision is not valid.", errors)
    if target is None:
        target = "content" if testimony.state == State.IN_REVIEW else "consent"
    if target == "consent" and testimony.pending_consent is None:
        raise Conflict("Nothing of this testimony is waiting for review.")
    return decision, comment, target


def decide(user, testimony: Testimony, decision: str, comment: str, work: UnitOfWork) -> Testimony:
    """A moderator's checked decision on a submission: publish, send back or reject it."""
    if testimony.state != State.IN_REVIEW:
        raise Conflict("This testimony is not waiting for review.")
    if not access.can_review(user, testimony):
        raise Forbidden("Nobody may review their own submission: another moderator must decide.")
    record_decision(user, testimony, testimony.version, "content", decision, comment)
    if decision == "approve":
        _publish(testimony)
        record_event(user, "testimony.publish", testimony, version=testimony.version)
    elif decision == "request_changes":
        testimony.state = State.CHANGES_REQUESTED
    else:
        testimony.state = State.REJECTED
        record_event(user, "testimony.reject", testimony, version=testimony.version)
    work.reindex(testimony.id)
    return testimony


def publish_directly(user, testimony: Testimony, comment: str, work: UnitOfWork) -> None:
    """An admin's import publishes without review; the audit log says so."""
    access.require(user, Permission.TESTIMONY_IMPORT_PUBLISHED)
    db.session.flush()
    _publish(testimony)
    record_decision(
        user,
        testimony,
        testimony.version,
        "content",
        "approve",
        f"Published without review by an admin: {comment}",
    )
    record_event(user, "testimony.publish", testimony, version=testimony.version, review=False)
    work.reindex(testimony.id)


def unpublish(user, testimony: Testimony, reason: str, work: UnitOfWork) -> Testimony:
    access.require_on(user, testimony, Permission.TESTIMONY_UNPUBLISH)
    if testimony.published_revision_id is None:
        raise Conflict("This testimony is not published.")
    if not (reason or "").strip():
        raise Invalid("Give a reason.", {"reason": "Say why it is taken offline."})
    testimony.published_revision = None
    testimony.published_revision_id = None
    testimony.state = State.UNPUBLISHED
    record_event(user, "testimony.unpublish", testimony, reason=reason.strip())
    work.reindex(testimony.id)
    return testimony


def queue(
    user,
    *,
    archivist_id: int | None = None,
    language: str | None = None,
    older_than_days: int | None = None,
) -> list[Testimony]:
    """What waits for review, oldest submission first, with what this moderator may decide.

    Submissions come first, then pending consent widenings; every filter applies to both: for a
    consent widening, "submitted by" and "submitted" are whoever asked for it and when.
    """
    access.require(user, Permission.REVIEW_DECIDE)
    query = (
        select(Testimony)
        .where(Testimony.deleted_at.is_(None))
        .where(Testimony.state == State.IN_REVIEW)
        .order_by(Testimony.submitted_at)
    )
    if archivist_id:
        query = query.where(Testimony.submitted_by_id == archivist_id)
    cutoff = utcnow() - dt.timedelta(days=older_than_days) if older_than_days else None
    if cutoff is not None:
        query = query.where(Testimony.submitted_at <= cutoff)
    items = list(db.session.scalars(query))
    if language:
        items = [t for t in items if language in (t.languages or [])]
    pending_consent = sorted(
        (
            t
            for t in db.session.scalars(select(Testimony).where(Testimony.deleted_at.is_(None)))
            if t.pending_consent is not None and t not in items and _waits(t, archivist_id, language, cutoff)
        ),
        key=lambda t: t.pending_consent.created_at,
    )
    return items + pending_consent


def _waits(
    testimony: Testimony, archivist_id: int | None, language: str | None, cutoff: dt.datetime | None
) -> bool:
    """Does this testimony's pending consent widening pass the queue's filters?"""
    pending = testimony.pending_consent
    if archivist_id and pending.created_by_id != archivist_id:
        return False
    if language and language not in (testimony.languages or []):
        return False
    return cutoff is None or pending.created_at <= cutoff


@dataclass(frozen=True)
class Size:
    """How long a testimony is: its working copy's segments and its recordings' total duration."""

    segments: int = 0
    duration_ms: int = 0


def sizes(testimonies: list[Testimony]) -> dict[int, Size]:
    """The size of each testimony, in two queries however many there are (the queue shows one for
    every row it lists)."""
    ids = [t.id for t in testimonies]
    if not ids:
        return {}
    segments = dict(
        db.session.execute(
            select(Segment.testimony_id, func.count())
            .where(Segment.testimony_id.in_(ids))
            .group_by(Segment.testimony_id)
        ).all()
    )
    durations = dict(
        db.session.execute(
            select(MediaFile.testimony_id, func.coalesce(func.sum(MediaFile.duration_ms), 0))
            .where(
                MediaFile.testimony_id.in_(ids),
                MediaFile.deleted_at.is_(None),
                MediaFile.kind.in_([MediaKind.AUDIO, MediaKind.VIDEO]),
            )
            .group_by(MediaFile.testimony_id)
        ).all()
    )
    return {i: Size(segments.get(i, 0), int(durations.get(i, 0))) for i in ids}
