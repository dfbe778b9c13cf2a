"""What the archive offers harvesters, search engines and feed readers: public records only.

Whether a testimony is public *now* is the policy's answer, `access.can_view(None, testimony)`, and
what of it the public may read is `catalogue.service.view_for(None, testimony)`; nothing here widens
either. OAI-PMH also needs the past: the repository keeps deleted records persistently, so a
testimony that was once public and is no longer (withdrawn, unpublished, narrowed below public,
soft-deleted) is answered with a deleted header, while one that was never public never appears.

When a testimony was public is the policy's answer too, `access.public_periods`: this room reads
the dated facts it needs from the database (each content approval, each `testimony.unpublish`,
`testimony.delete` and `testimony.restore_deleted` audit event) and asks. A live record's datestamp
is the start of its latest public period or its last publication, whichever is later (so a consent
change that alters the record, such as anonymising the narrator, is re-harvested); a deleted
record's datestamp is the end of its last public period, the moment it stopped being public.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from archive import access
from archive.audit.models import AuditEvent
from archive.catalogue.models import Testimony
from archive.catalogue.service import view_for
from archive.extensions import db
from archive.review.models import ReviewDecision


@dataclasses.dataclass(frozen=True)
class Record:
    """One harvestable record: a testimony public now, or a deleted header for one that was."""

    testimony: Testimony
    datestamp: dt.datetime
    deleted: bool

    @property
    def id(self) -> int:
        return self.testimony.id


def harvestable(
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    testimony_id: int | None = None,
) -> list[Record]:
    """Every record a harvester may have, in order of testimony id, with datestamps (whole seconds,
    naive UTC) within [since, until] where those are given."""
    records = []
    for testimony, history in _histories(testimony_id):
        record = _record(testimony, history)
        if record is None:
            continue
        if since is not None and record.datestamp < since:
            continue
        if until is not None and record.datestamp > until:
            continue
        records.append(record)
    return records


def record_of(testimony_id: int) -> Record | None:
    """The record of one testimony, or None where it was never public."""
    found = harvestable(testimony_id=testimony_id)
    return found[0] if found else None


def earliest_datestamp() -> dt.datetime | None:
    """The lower bound of every datestamp the repository gives, or None while it holds nothing."""
    return min((r.datestamp for r in harvestable()), default=None)


def public_view(testimony: Testimony) -> dict:
    """The testimony exactly as the public may read it; raises NotFound where the public may not."""
    return view_for(None, testimony)


def public_testimonies() -> list[Testimony]:
    """Every testimony the public may open now, by id."""
    return [t for t in _published_and_present(Testimony.id) if access.can_view(None, t)]


def recently_published(limit: int) -> list[tuple[Testimony, dict]]:
    """The `limit` most recently published testimonies the public may open, with their public view."""
    found = []
    for testimony in _published_and_present(Testimony.published_at.desc(), Testimony.id.desc()):
        if access.can_view(None, testimony):
            found.append((testimony, public_view(testimony)))
            if len(found) == limit:
                break
    return found


def _published_and_present(*order_by) -> Iterable[Testimony]:
    # Only narrows the candidates for speed; the policy still decides each one.
    query = (
        select(Testimony)
        .where(Testimony.published_revision_id.is_not(None), Testimony.deleted_at.is_(None))
        .order_by(*order_by)
        .execution_options(yield_per=100)
    )
    return db.session.scalars(query)


# --- history ------------------------------------------------------------------------------------


_EVENTS = {
    "testimony.unpublish": "unpublished",
    "testimony.delete": "deleted",
    "testimony.restore_deleted": "restored",
}


def _histories(testimony_id: int | None) -> list[tuple[Testimony, access.History]]:
    """Every testimony ever published (never-published ones were never public), with its history."""
    approvals = select(ReviewDecision.testimony_id, ReviewDecision.created_at).where(
        ReviewDecision.target == "content", ReviewDecision.decision == "approve"
    )
    events = select(AuditEvent.target_id, AuditEvent.action, AuditEvent.at).where(
        AuditEvent.target_type == "testimony", AuditEvent.action.in_(_EVENTS)
    )
    testimonies = (
        select(Testimony)
        .where(
            or_(
                Testimony.published_at.is_not(None),
                Testimony.published_revision_id.is_not(None),
                Testimony.id.in_(approvals.with_only_columns(ReviewDecision.testimony_id)),
            )
        )
        .options(selectinload(Testimony.consents))
        .order_by(Testimony.id)
    )
    if testimony_id is not None:
        approvals = approvals.where(ReviewDecision.testimony_id == testimony_id)
        events = events.where(AuditEvent.target_id == testimony_id)
        testimonies = testimonies.where(Testimony.id == testimony_id)
    histories: dict[int, access.History] = defaultdict(access.History)
    for tid, at in db.session.execute(approvals):
        histories[tid].approvals.append(at)
    for tid, action, at in db.session.execute(events):
        getattr(histories[tid], _EVENTS[action]).append(at)
    return [(t, histories[t.id]) for t in db.session.scalars(testimonies)]


def _record(testimony: Testimony, history: access.History) -> Record | None:
    periods = access.public_periods(testimony, history)
    if access.can_view(None, testimony):
        starts = [start for start, _ in periods] + [testimony.published_at or testimony.updated_at]
        return Record(testimony, _seconds(max(starts)), deleted=False)
    if not periods:
        return None
    end = periods[-1][1]
    if end == access.OPEN_END:
        # The history does not say when it stopped being public: the newest change known is the
        # best bound, and a stable one, so harvesters do not fetch the same deletion again.
        end = max(_changes(testimony, history))
    return Record(testimony, _seconds(end), deleted=True)


def _changes(testimony: Testimony, history: access.History) -> Iterable[dt.datetime]:
    yield testimony.updated_at
    yield from (t for t in (testimony.deleted_at, testimony.published_at) if t)
    yield from history.unpublished + history.deleted
    for consent in testimony.consents:
        yield from (t for t in (consent.created_at, consent.decided_at) if t)


def _seconds(moment: dt.datetime) -> dt.datetime:
    """OAI-PMH datestamps are whole seconds; comparing at that grain keeps `until` inclusive."""
    return moment.replace(microsecond=0)
