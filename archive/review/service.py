"""The review workflow (four eyes), revisions of every saved change, and the audit log."""

from __future__ import annotations

import datetime as dt
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
SUBMITTABLE = access.SUBMITTABLE


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


def get_revision(user, testimony: Testimony, version: int) -> Revision:
    """One saved version of a testimony, for the staff who may read its history."""
    access.require_on(user, testimony, Permission.STAFF_AREA)
    return revision_at(testimony, version)


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


def _record_decision(user, testimony: Testimony, version: int, target: str, decision: str, comment: str):
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
        _record_decision(user, testimony, version.number, "consent", decision, comment)
        db.session.commit()
        return testimony
    if testimony.state != State.IN_REVIEW:
        raise Conflict("This testimony is not waiting for review.")
    if not access.can_review(user, testimony):
        raise Forbidden("Nobody may review their own submission: another moderator must decide.")
    _record_decision(user, testimony, testimony.version, "content", decision, comment)
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
    _record_decision(
        user,
        testimony,
        testimony.version,
        "content",
        "approve",
        f"Published without review by an admin: {comment}",
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


def restore_revision(user, testimony: Testimony, version: int, if_match) -> Testimony:
    """Bring back an old version's content as a new version; it goes through review like any edit."""
    from archive.catalogue.service import update_testimony

    access.require_on(user, testimony, Permission.TESTIMONY_EDIT)
    snapshot = dict(revision_at(testimony, version).snapshot)
    snapshot["segments"] = [{k: v for k, v in s.items() if k != "id"} for s in snapshot["segments"]]
    update_testimony(user, testimony, snapshot, if_match, note=f"restored from version {version}")
    record_event(user, "testimony.restore_revision", testimony, version=version, new=testimony.version)
    db.session.commit()
    return testimony


AUDIT_PAGE = 100


def audit_log(
    user,
    *,
    action: str | None = None,
    actor_id: int | None = None,
    since=None,
    until=None,
    limit: int | None = AUDIT_PAGE,
    offset: int = 0,
) -> list[AuditEvent]:
    """Audit events, newest first, filtered; only admins may read them."""
    access.require(user, Permission.AUDIT_READ)
    query = select(AuditEvent).order_by(AuditEvent.id.desc())
    if action:
        query = query.where(AuditEvent.action.startswith(action))
    if actor_id:
        query = query.where(AuditEvent.actor_id == actor_id)
    if since:
        query = query.where(AuditEvent.at >= since)
    if until:
        query = query.where(AuditEvent.at < until)
    if limit:
        query = query.limit(limit).offset(offset)
    return list(db.session.scalars(query))


def _inert(cell: str) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula gets a leading apostrophe."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def audit_csv(user, **filters) -> str:
    """The filtered audit log as CSV; the export itself is an audit event."""
    import csv
    import io
    import json

    events = audit_log(user, limit=None, **filters)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "at_utc", "actor", "action", "target_type", "target_id", "details"])
    for e in events:
        actor = e.actor.email if e.actor else ""
        details = json.dumps(e.details, ensure_ascii=False, sort_keys=True)
        cells = [actor, e.action, e.target_type, details]
        writer.writerow(
            [e.id, e.at.isoformat(), *map(_inert, cells[:3]), e.target_id or "", _inert(cells[3])]
        )
    record_event(
        user, "audit.export", None, rows=len(events), filters={k: str(v) for k, v in filters.items()}
    )
    db.session.commit()
    return out.getvalue()
