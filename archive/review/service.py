"""The review workflow (four eyes), revisions of every saved change, and the audit log."""

from __future__ import annotations

from typing import Any

from flask import has_request_context
from sqlalchemy import select

from archive import access
from archive.access import Permission
from archive.catalogue.models import State, Testimony
from archive.errors import Conflict, Forbidden, Invalid, NotFound
from archive.extensions import db
from archive.review.models import AuditEvent, ReviewDecision, Revision
from archive.timeutil import utcnow

DECISIONS = ("approve", "request_changes", "reject")
SUBMITTABLE = (State.DRAFT, State.CHANGES_REQUESTED, State.REJECTED, State.UNPUBLISHED)


def record_event(actor, action: str, target: Any = None, **details: Any) -> AuditEvent:
    """Append an audit event; it becomes permanent with the transaction it belongs to."""
    if has_request_context():
        from flask import request

        details.setdefault("ip", request.remote_addr)
    event = AuditEvent(
        actor_id=getattr(actor, "id", None),
        action=action,
        target_type=type(target).__name__.lower() if target is not None else "",
        target_id=getattr(target, "id", None),
        details=details,
    )
    db.session.add(event)
    return event


def record_revision(user, testimony: Testimony, *, parent_version: int | None, note: str) -> Revision:
    from archive.catalogue.service import working_body

    db.session.flush()
    revision = Revision(
        testimony_id=testimony.id,
        version=testimony.version,
        parent_version=parent_version,
        snapshot=working_body(testimony),
        note=note,
        author_id=getattr(user, "id", None),
    )
    db.session.add(revision)
    return revision


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


def decisions(user, testimony: Testimony) -> list[ReviewDecision]:
    access.require_on(user, testimony, Permission.STAFF_AREA)
    return list(
        db.session.scalars(
            select(ReviewDecision)
            .where(ReviewDecision.testimony_id == testimony.id)
            .order_by(ReviewDecision.created_at.desc())
        )
    )


def submit_for_review(user, testimony: Testimony) -> Testimony:
    from archive.search.outbox import enqueue

    access.require_on(user, testimony, Permission.TESTIMONY_SUBMIT)
    if testimony.deleted_at is not None:
        raise NotFound()
    if testimony.state not in SUBMITTABLE:
        raise Conflict(f"A testimony in state '{testimony.state}' cannot be submitted.")
    testimony.state = State.IN_REVIEW
    testimony.submitted_by_id = user.id
    testimony.submitted_at = utcnow()
    record_event(user, "testimony.submit", testimony, version=testimony.version)
    enqueue(testimony.id)
    db.session.commit()
    return testimony


def _publish(testimony: Testimony) -> None:
    testimony.published_revision = revision_at(testimony, testimony.version)
    testimony.published_at = utcnow()
    testimony.state = State.PUBLISHED


def review(user, testimony: Testimony, decision: str, comment: str, target: str | None = None):
    """A moderator's decision on a submission (or on a pending consent widening)."""
    from archive.consent.service import decide_consent
    from archive.search.outbox import enqueue

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
    if target == "consent":
        if testimony.pending_consent is None:
            raise Conflict("Nothing of this testimony is waiting for review.")
        version = decide_consent(user, testimony, "approve" if decision == "approve" else "decline", comment)
        db.session.add(
            ReviewDecision(
                testimony_id=testimony.id,
                version=version.number,
                target="consent",
                decision=decision,
                comment=comment,
                reviewer_id=user.id,
            )
        )
        db.session.commit()
        return testimony
    if testimony.state != State.IN_REVIEW:
        raise Conflict("This testimony is not waiting for review.")
    if not access.can_review(user, testimony):
        raise Forbidden("Nobody may review their own submission: another moderator must decide.")
    db.session.add(
        ReviewDecision(
            testimony_id=testimony.id,
            version=testimony.version,
            target="content",
            decision=decision,
            comment=comment,
            reviewer_id=user.id,
        )
    )
    if decision == "approve":
        _publish(testimony)
        record_event(user, "testimony.publish", testimony, version=testimony.version)
    elif decision == "request_changes":
        testimony.state = State.CHANGES_REQUESTED
    else:
        testimony.state = State.REJECTED
        record_event(user, "testimony.reject", testimony, version=testimony.version)
    enqueue(testimony.id)
    db.session.commit()
    return testimony


def publish_directly(user, testimony: Testimony, comment: str) -> None:
    """An admin's import publishes without review; the audit log says so."""
    access.require(user, Permission.TESTIMONY_IMPORT_PUBLISHED)
    db.session.flush()
    _publish(testimony)
    db.session.add(
        ReviewDecision(
            testimony_id=testimony.id,
            version=testimony.version,
            target="content",
            decision="approve",
            comment=f"Published without review by an admin: {comment}",
            reviewer_id=user.id,
        )
    )
    record_event(user, "testimony.publish", testimony, version=testimony.version, review=False)


def unpublish(user, testimony: Testimony, reason: str) -> Testimony:
    from archive.search.outbox import enqueue

    access.require_on(user, testimony, Permission.TESTIMONY_UNPUBLISH)
    if testimony.published_revision_id is None:
        raise Conflict("This testimony is not published.")
    if not (reason or "").strip():
        raise Invalid("Give a reason.", {"reason": "Say why it is taken offline."})
    testimony.published_revision = None
    testimony.published_revision_id = None
    testimony.state = State.UNPUBLISHED
    record_event(user, "testimony.unpublish", testimony, reason=reason.strip())
    enqueue(testimony.id)
    db.session.commit()
    return testimony


def queue(user, *, archivist_id: int | None = None, language: str | None = None) -> list[Testimony]:
    """What waits for review, oldest submission first, with what this moderator may decide."""
    access.require(user, Permission.REVIEW_DECIDE)
    query = (
        select(Testimony)
        .where(Testimony.deleted_at.is_(None))
        .where(Testimony.state == State.IN_REVIEW)
        .order_by(Testimony.submitted_at)
    )
    if archivist_id:
        query = query.where(Testimony.submitted_by_id == archivist_id)
    items = list(db.session.scalars(query))
    if language:
        items = [t for t in items if language in (t.languages or [])]
    pending_consent = [
        t
        for t in db.session.scalars(select(Testimony).where(Testimony.deleted_at.is_(None)))
        if t.pending_consent is not None and t not in items
    ]
    return items + pending_consent
