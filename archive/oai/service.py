"""What the archive offers harvesters, search engines and feed readers: public records only.

Whether a testimony is public *now* is the policy's answer, `access.can_view(None, testimony)`, and
what of it the public may read is `catalogue.service.view_for(None, testimony)`; nothing here widens
either. OAI-PMH also needs the past: the repository keeps deleted records persistently, so a
testimony that was once public and is no longer (withdrawn, unpublished, narrowed below public,
soft-deleted) is answered with a deleted header, while one that was never public never appears.

"Was once public" is read from the database's own history, as the intersection of three timelines:
- published: from each approving content decision (`ReviewDecision`, and `published_at`) to the
  next `testimony.unpublish` audit event;
- present: from creation to each `testimony.delete` audit event (or `deleted_at`), and again from
  each `testimony.restore_deleted`;
- consent: each approved `ConsentVersion` is in force from its approval (`decided_at`, else
  `created_at`) until the next approved version; it granted the public whatever
  `access.effective_access` says of it on that day (so a seal counts from its release date).
A stretch where all three held is a public period. A live record's datestamp is the start of its
latest public period or its last publication, whichever is later (so a consent change that alters
the record, such as anonymising the narrator, is re-harvested); a deleted record's datestamp is the
end of its last public period, the moment it stopped being public.
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
from archive.timeutil import utcnow

# The open end of a period still running.
_OPEN = dt.datetime.max

Period = tuple[dt.datetime, dt.datetime]


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


@dataclasses.dataclass
class _History:
    approvals: list[dt.datetime] = dataclasses.field(default_factory=list)
    unpublished: list[dt.datetime] = dataclasses.field(default_factory=list)
    deleted: list[dt.datetime] = dataclasses.field(default_factory=list)
    restored: list[dt.datetime] = dataclasses.field(default_factory=list)


_EVENTS = {
    "testimony.unpublish": "unpublished",
    "testimony.delete": "deleted",
    "testimony.restore_deleted": "restored",
}


def _histories(testimony_id: int | None) -> list[tuple[Testimony, _History]]:
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
    histories: dict[int, _History] = defaultdict(_History)
    for tid, at in db.session.execute(approvals):
        histories[tid].approvals.append(at)
    for tid, action, at in db.session.execute(events):
        getattr(histories[tid], _EVENTS[action]).append(at)
    return [(t, histories[t.id]) for t in db.session.scalars(testimonies)]


def _record(testimony: Testimony, history: _History) -> Record | None:
    periods = _public_periods(testimony, history)
    if access.can_view(None, testimony):
        starts = [start for start, _ in periods] + [testimony.published_at or testimony.updated_at]
        return Record(testimony, _seconds(max(starts)), deleted=False)
    if not periods:
        return None
    end = periods[-1][1]
    if end == _OPEN:
        # The history does not say when it stopped being public: the newest change known is the
        # best bound, and a stable one, so harvesters do not fetch the same deletion again.
        end = max(_changes(testimony, history))
    return Record(testimony, _seconds(end), deleted=True)


def _public_periods(testimony: Testimony, history: _History) -> list[Period]:
    published = _switched(
        on=history.approvals + [t for t in [testimony.published_at] if t], off=history.unpublished
    )
    deleted = history.deleted + [t for t in [testimony.deleted_at] if t]
    present = _switched(on=history.restored, off=deleted, since=testimony.created_at)
    periods = _overlap(_overlap(published, present), _consent_periods(testimony))
    # A seal ending in the future opens a period that has not begun: not public yet, nor ever was.
    now = utcnow()
    return [(start, end) for start, end in periods if start <= now]


def _consent_periods(testimony: Testimony) -> list[Period]:
    """The periods in which the consent in force granted the public access, one per version."""
    approved = sorted((c for c in testimony.consents if c.status == "approved"), key=lambda c: c.number)
    periods = []
    for consent, following in zip(approved, approved[1:] + [None], strict=True):
        start = consent.decided_at or consent.created_at
        end = (following.decided_at or following.created_at) if following else _OPEN
        if access.effective_access(consent, start.date()) is access.Access.PUBLIC:
            opened = start
        elif (
            consent.sealed_until is not None
            and access.effective_access(consent, consent.sealed_until) is access.Access.PUBLIC
        ):
            opened = max(start, dt.datetime.combine(consent.sealed_until, dt.time()))
        else:
            continue
        if opened < end:
            periods.append((opened, end))
    return periods


def _switched(*, on: list[dt.datetime], off: list[dt.datetime], since: dt.datetime | None = None):
    """The periods in which something switched on and off at these times was on."""
    periods: list[Period] = []
    opened = since
    for at, switch_on in sorted([(t, True) for t in on] + [(t, False) for t in off]):
        if switch_on and opened is None:
            opened = at
        elif not switch_on and opened is not None:
            periods.append((opened, at))
            opened = None
    if opened is not None:
        periods.append((opened, _OPEN))
    return periods


def _overlap(a: list[Period], b: list[Period]) -> list[Period]:
    """Where two sorted lists of periods overlap, in order."""
    out = []
    for start_a, end_a in a:
        for start_b, end_b in b:
            start, end = max(start_a, start_b), min(end_a, end_b)
            if start < end:
                out.append((start, end))
    return sorted(out)


def _changes(testimony: Testimony, history: _History) -> Iterable[dt.datetime]:
    yield testimony.updated_at
    yield from (t for t in (testimony.deleted_at, testimony.published_at) if t)
    yield from history.unpublished + history.deleted
    for consent in testimony.consents:
        yield from (t for t in (consent.created_at, consent.decided_at) if t)


def _seconds(moment: dt.datetime) -> dt.datetime:
    """OAI-PMH datestamps are whole seconds; comparing at that grain keeps `until` inclusive."""
    return moment.replace(microsecond=0)
