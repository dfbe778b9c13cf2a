"""What the catalogue does: validate testimony bodies, create and edit testimonies, serialise them.

A write does the catalogue's part of a user action inside a unit of work (`archive.unit_of_work`)
and names the testimonies to re-index; the operation that opened the unit commits it. The catalogue
knows no workflow: publishing and review are the review room's, consent the consent room's.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from archive import access
from archive.access import Permission
from archive.accounts.models import User
from archive.audit.service import record_event
from archive.authority.models import Person
from archive.catalogue.bodies import published_body, working_body
from archive.catalogue.models import Narrator, Place, Segment, State, Subject, Testimony
from archive.consent.models import ConsentVersion
from archive.consent.service import validate_consent
from archive.errors import Conflict, Invalid, NotFound, PreconditionRequired, StaleVersion
from archive.extensions import db, get_row
from archive.fields import FieldChecker
from archive.media.service import media_for, relative_media_url
from archive.review.models import ReviewDecision, Revision
from archive.search.analysis import fold, lowercase_auto
from archive.timeutil import utcnow
from archive.unit_of_work import UnitOfWork

BODY_FIELDS = {
    "title",
    "summary",
    "narrator",
    "interview",
    "places",
    "subjects",
    "people",
    "segments",
    "consent",
    "external_id",
}
# Keys a client may send back from a GET body; they are ignored rather than refused.
READ_ONLY_FIELDS = {
    "id",
    "version",
    "state",
    "narrator_label",
    "published",
    "published_version",
    "created_at",
    "updated_at",
    "pending_consent",
    "media",
    "deleted",
}
# The body's lists of names (each an authority's rows), kept in alphabetical order: the order typed
# means nothing.
NAME_LISTS = ("places", "subjects", "people")
NARRATOR_FIELDS = {"name", "pseudonym", "birth_year", "gender"}
INTERVIEW_FIELDS = {"date", "place", "interviewer", "languages"}
SEGMENT_FIELDS = {"start_ms", "end_ms", "speaker", "text", "keywords", "id"}
BCP47 = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
MAX_SEGMENTS = 20_000
MAX_MS = 100 * 3600 * 1000
MAX_EXTERNAL_ID = 200


def validate_body(data: Any, *, partial: bool = False) -> dict:
    """A clean testimony body, or Invalid naming every bad field. `partial` is for PATCH."""
    check = FieldChecker()
    if not isinstance(data, dict):
        raise Invalid("The body must be a JSON object.")
    for key in data:
        if key not in BODY_FIELDS | READ_ONLY_FIELDS:
            check.fail(key, "Unknown field.")
    body: dict[str, Any] = {}
    if not partial or "title" in data:
        body["title"] = check.text(data.get("title"), "title", required=True, max_len=500)
    if not partial or "summary" in data:
        body["summary"] = check.text(data.get("summary"), "summary", max_len=20_000) or ""
    if not partial or "narrator" in data:
        n = check.obj(data.get("narrator"), "narrator", NARRATOR_FIELDS)
        narrator = {
            "name": check.text(n.get("name"), "narrator.name", max_len=300) or "",
            "pseudonym": check.text(n.get("pseudonym"), "narrator.pseudonym", max_len=300) or None,
            "birth_year": check.integer(
                n.get("birth_year"), "narrator.birth_year", low=1850, high=dt.date.today().year
            ),
            "gender": check.text(n.get("gender"), "narrator.gender", max_len=40) or None,
        }
        if not narrator["name"] and not narrator["pseudonym"]:
            check.fail("narrator.name", "Give the narrator's name or a pseudonym.")
        body["narrator"] = narrator
    if not partial or "interview" in data:
        iv = check.obj(data.get("interview"), "interview", INTERVIEW_FIELDS)
        languages = check.strings(iv.get("languages"), "interview.languages", max_len=35)
        for i, tag in enumerate(languages):
            if not BCP47.match(tag):
                check.fail(f"interview.languages[{i}]", "Must be a BCP 47 language tag like az or ru.")
        date = check.date(iv.get("date"), "interview.date")
        if date and date > dt.date.today():
            check.fail("interview.date", "The interview date cannot be in the future.")
        body["interview"] = {
            "date": date,
            "place": check.text(iv.get("place"), "interview.place", max_len=300) or "",
            "interviewer": check.text(iv.get("interviewer"), "interview.interviewer", max_len=300) or "",
            "languages": [t.lower() if len(t) <= 3 else t for t in languages],
        }
    for key in NAME_LISTS:
        if not partial or key in data:
            body[key] = check.strings(data.get(key), key)
    if not partial or "segments" in data:
        body["segments"] = _validate_segments(check, data.get("segments"))
    if not partial or "external_id" in data:
        # Blank means none: a spreadsheet's empty cell, or a client clearing the key.
        body["external_id"] = (
            check.text(data.get("external_id"), "external_id", max_len=MAX_EXTERNAL_ID) or None
        )
    if "consent" in data or not partial:
        if data.get("consent") is None:
            body["consent"] = None
        else:
            try:
                body["consent"] = validate_consent(data["consent"])
            except Invalid as e:
                for field, message in e.fields.items():
                    check.fail(f"consent.{field}", message)
    if check.errors:
        raise Invalid("Some fields are not valid.", check.errors)
    return body


def _validate_segments(check: FieldChecker, value: Any) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list):
        check.fail("segments", "Must be a list of segments.")
        return []
    if len(value) > MAX_SEGMENTS:
        check.fail("segments", f"At most {MAX_SEGMENTS} segments.")
        return []
    out = []
    for i, raw in enumerate(value):
        field = f"segments[{i}]"
        seg = check.obj(raw, field, SEGMENT_FIELDS)
        if not isinstance(raw, dict):
            continue
        start = check.integer(seg.get("start_ms"), f"{field}.start_ms", low=0, high=MAX_MS)
        end = check.integer(seg.get("end_ms"), f"{field}.end_ms", low=0, high=MAX_MS)
        if seg.get("start_ms") is None:
            check.fail(f"{field}.start_ms", "This field is required.")
        if seg.get("end_ms") is None:
            check.fail(f"{field}.end_ms", "This field is required.")
        if start is not None and end is not None and end <= start:
            check.fail(f"{field}.end_ms", "Must be after start_ms.")
        text = check.text(seg.get("text"), f"{field}.text", required=True, max_len=100_000)
        out.append(
            {
                "start_ms": start or 0,
                "end_ms": end or 0,
                "speaker": check.text(seg.get("speaker"), f"{field}.speaker", max_len=200) or "",
                "text": text or "",
                "keywords": check.strings(seg.get("keywords"), f"{field}.keywords", max_len=200),
            }
        )
    for i in range(1, len(out)):
        if out[i]["start_ms"] < out[i - 1]["start_ms"]:
            check.fail(f"segments[{i}].start_ms", "Segments must be in order of time.")
            break
    return out


# --- reading ----------------------------------------------------------------------------------


def get_testimony(testimony_id: int) -> Testimony:
    testimony = get_row(Testimony, testimony_id)
    if testimony is None:
        raise NotFound()
    return testimony


def by_external_id(external_id: str | None) -> Testimony | None:
    """The testimony another system knows by this key, deleted or not."""
    if not external_id:
        return None
    return db.session.scalars(select(Testimony).where(Testimony.external_id == external_id)).first()


def view_for(
    user,
    testimony: Testimony,
    *,
    prepare_media: bool = False,
    media_url: Callable[[int], str] = relative_media_url,
) -> dict:
    """The testimony as this user may see it, as the API returns it. With `prepare_media`, the
    renditions of recordings this user would be served and that are not made yet are started;
    `media_url` gives the address that streams a file (the web layer passes its own)."""
    view = access.testimony_view(user, testimony, working_body(testimony), published_body(testimony))
    published = testimony.published_revision
    result = {
        "id": testimony.id,
        "version": testimony.version if access.sees_working_copy(user) else published.version,
        "state": testimony.state,
        **{k: view[k] for k in ("title", "summary", "narrator", "interview", *NAME_LISTS)},
        "narrator_label": view["narrator_label"],
        "segments": view["segments"],
        "consent": access.consent_view(user, testimony.consent),
        "media": media_for(user, testimony, prepare=prepare_media, media_url=media_url),
        "published": published is not None,
        "published_version": published.version if published else None,
    }
    if access.is_staff(user):
        pending = testimony.pending_consent
        result["pending_consent"] = pending.as_dict() if pending else None
        result["deleted"] = testimony.deleted_at is not None
        result["external_id"] = testimony.external_id
        result["created_at"] = testimony.created_at.isoformat() + "Z"
        result["updated_at"] = testimony.updated_at.isoformat() + "Z"
    return result


def staff_listing(user, *, state: str | None = None, mine: bool = False, deleted=False, limit=200):
    """Testimonies for the staff's own pages: newest change first."""
    access.require(user, Permission.STAFF_AREA)
    query = select(Testimony).order_by(Testimony.updated_at.desc()).limit(limit)
    if not deleted:
        query = query.where(Testimony.deleted_at.is_(None))
    else:
        query = query.where(Testimony.deleted_at.is_not(None))
    if state:
        query = query.where(Testimony.state == State(state))
    if mine:
        query = query.where(Testimony.created_by_id == user.id)
    return [t for t in db.session.scalars(query) if access.can_view(user, t)]


def counts_by_state(user) -> dict[str, int]:
    access.require(user, Permission.STAFF_AREA)
    rows = db.session.execute(
        select(Testimony.state, func.count()).where(Testimony.deleted_at.is_(None)).group_by(Testimony.state)
    )
    return dict(rows.all())


# --- writing ----------------------------------------------------------------------------------


def _named(model, names: list[str], **defaults) -> list:
    """Rows of a name authority (places, subjects, people), created where missing.

    Two writers may add the same new name at once: the insert skips a name that exists by then,
    and the select finds whichever writer's row won.
    """
    if not names:
        return []
    insert = postgresql_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    statement = insert(model).values([{"name": name, **defaults} for name in names])
    db.session.execute(statement.on_conflict_do_nothing(index_elements=["name"]))
    rows = {row.name: row for row in db.session.scalars(select(model).where(model.name.in_(names)))}
    return [rows[name] for name in names]


def subject_key(text: str) -> str:
    """What a typed subject is matched to an entry's name or labels by: case, diacritics and
    spacing aside ("Deportation", "deportation", "Депортация" as a Russian label)."""
    return fold(lowercase_auto(" ".join(text.split())))


def subject_names(names: list[str]) -> list[str]:
    """Each subject as the authority knows it: a name or label (in any interface language) of a
    subject entry gives that entry's name; any other is kept as typed, a subject of its own."""
    if not names:
        return []
    known: dict[str, str] = {}
    for name, labels in db.session.execute(
        select(Subject.name, Subject.labels).where(Subject.updated_at.is_not(None))
    ):
        for label in [name, *(labels or {}).values()]:
            known.setdefault(subject_key(label), name)
    return list(dict.fromkeys(known.get(subject_key(name), name) for name in names))


def refuse_taken_external_id(body: dict, testimony: Testimony | None = None) -> None:
    """Refuse a key that another testimony has already: it would say two records are one."""
    holder = by_external_id(body.get("external_id"))
    if holder is not None and holder is not testimony:
        raise Invalid(
            "Another testimony has this external_id.",
            {"external_id": f"Testimony {holder.id} already has this external_id."},
        )


def _apply(testimony: Testimony, body: dict) -> None:
    if "external_id" in body:
        testimony.external_id = body["external_id"]
    if "title" in body:
        testimony.title = body["title"]
    if "summary" in body:
        testimony.summary = body["summary"]
    if "narrator" in body:
        n = body["narrator"]
        if testimony.narrator is None:
            testimony.narrator = Narrator()
        for key in NARRATOR_FIELDS:
            setattr(testimony.narrator, key, n[key])
    if "interview" in body:
        iv = body["interview"]
        testimony.interview_date = iv["date"]
        testimony.interview_place = iv["place"]
        testimony.interviewer = iv["interviewer"]
        testimony.languages = iv["languages"]
    with db.session.no_autoflush:
        if "places" in body:
            testimony.places = _named(Place, body["places"], variants=[])
        if "subjects" in body:
            testimony.subjects = _named(Subject, subject_names(body["subjects"]), labels={})
        if "people" in body:
            testimony.people = _named(Person, body["people"], variants=[], note="")
    if "segments" in body:
        # The rows already there take the new values in place: an edit of one cue of a thousand
        # writes one row, not a thousand deleted and a thousand inserted.
        kept = list(testimony.segments)
        segments = []
        for i, s in enumerate(body["segments"], start=1):
            segment = kept[i - 1] if i <= len(kept) else Segment()
            segment.position = i
            for key in ("start_ms", "end_ms", "speaker", "text", "keywords"):
                if getattr(segment, key) != s[key]:
                    setattr(segment, key, s[key])
            segments.append(segment)
        testimony.segments = segments


def add_testimony(user, body: dict, work: UnitOfWork) -> Testimony:
    """A new draft from a checked body (its consent is the consent room's to record)."""
    access.require(user, Permission.TESTIMONY_CREATE)
    refuse_taken_external_id(body)
    testimony = Testimony(state=State.DRAFT, version=1, created_by_id=user.id, updated_by_id=user.id)
    _apply(testimony, body)
    db.session.add(testimony)
    db.session.flush()
    work.reindex(testimony.id)
    return testimony


def record_revision(user, testimony: Testimony, *, parent_version: int | None, note: str) -> Revision:
    """The working copy's snapshot as the revision of its current version."""
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


def check_version(testimony: Testimony, if_match: Any) -> None:
    if if_match is None or if_match == "":
        raise PreconditionRequired()
    try:
        expected = int(str(if_match).strip().strip('"').removeprefix("W/").strip('"'))
    except ValueError:
        raise Invalid("If-Match must be the version number.", {"If-Match": "Not a version."}) from None
    if expected != testimony.version:
        raise StaleVersion(current_version=testimony.version)


def checked_edit(user, testimony: Testimony, data: Any, if_match: Any) -> dict:
    """The checked partial body of an edit this user may make on this very version; raises
    before anything changes."""
    access.require_on(user, testimony, Permission.TESTIMONY_EDIT)
    if testimony.deleted_at is not None:
        raise NotFound()
    body = validate_body(data, partial=True)
    check_version(testimony, if_match)
    return body


def _as_stored(body: dict) -> dict:
    """A checked body's parts in the shape `working_body` reads them back in, to compare the two."""
    out = dict(body)
    if "interview" in out:
        date = out["interview"]["date"]
        out["interview"] = {**out["interview"], "date": date.isoformat() if date else None}
    if "subjects" in out:
        out["subjects"] = subject_names(out["subjects"])
    for key in NAME_LISTS:
        if key in out:
            out[key] = sorted(set(out[key]))
    return out


def changes(testimony: Testimony, body: dict) -> dict:
    """The parts of a checked body that differ from the testimony as it is now: an edit that would
    change nothing is none, and makes no version. A body without consent keeps the one in force."""
    current = working_body(testimony)
    current["segments"] = [{k: v for k, v in s.items() if k != "id"} for s in current["segments"]]
    current["external_id"] = testimony.external_id
    stored = _as_stored(body)
    changed = {key: body[key] for key in body if key != "consent" and stored[key] != current.get(key)}
    consent = body.get("consent")
    if consent is not None:
        in_force = testimony.consent
        if in_force is None or validate_consent(in_force.as_dict()) != consent:
            changed["consent"] = consent
    return changed


def edit_testimony(user, testimony: Testimony, body: dict, work: UnitOfWork, *, note: str) -> None:
    """Save a checked edit (without consent) of the working copy as a new version; a published
    version stays public until the edit is approved."""
    refuse_taken_external_id(body, testimony)
    _apply(testimony, body)
    bump_version(user, testimony, work, note=note)


def bump_version(user, testimony: Testimony, work: UnitOfWork, *, note: str) -> None:
    """Record the working copy as a new version. An edit goes back to being a draft; the published
    snapshot stays as it was until a moderator approves the new one."""
    parent = testimony.version
    testimony.version = parent + 1
    testimony.updated_at = utcnow()
    testimony.updated_by_id = user.id
    if testimony.state in (State.PUBLISHED, State.IN_REVIEW, State.REJECTED):
        testimony.state = State.DRAFT
    record_revision(user, testimony, parent_version=parent, note=note)
    work.reindex(testimony.id)


def delete_testimony(user, testimony: Testimony, work: UnitOfWork) -> None:
    """Soft delete: the row and its history stay; an admin can restore it."""
    access.require_on(user, testimony, Permission.TESTIMONY_DELETE)
    testimony.deleted_at = utcnow()
    testimony.deleted_by_id = user.id
    record_event(user, "testimony.delete", testimony)
    work.reindex(testimony.id)


def restore_testimony(user, testimony: Testimony, work: UnitOfWork) -> None:
    access.require_on(user, testimony, Permission.TESTIMONY_RESTORE)
    if testimony.deleted_at is None:
        raise Conflict("This testimony is not deleted.")
    testimony.deleted_at = None
    testimony.deleted_by_id = None
    record_event(user, "testimony.restore_deleted", testimony)
    work.reindex(testimony.id)


def deleted_listing(user, *, limit: int = 200) -> list[tuple[Testimony, Any]]:
    """Soft-deleted testimonies with the account that deleted each, newest deletion first: the
    admins' list to restore from."""
    access.require(user, Permission.TESTIMONY_RESTORE)
    query = (
        select(Testimony, User)
        .outerjoin(User, User.id == Testimony.deleted_by_id)
        .where(Testimony.deleted_at.is_not(None))
        .order_by(Testimony.deleted_at.desc(), Testimony.id.desc())
        .limit(limit)
    )
    return [(t, who) for t, who in db.session.execute(query).all() if access.can_view(user, t)]


# --- what changed since a staff member's last visit -------------------------------------------


@dataclasses.dataclass
class Change:
    """One testimony changed by someone else since a moment: how, newest first."""

    testimony: Testimony
    at: dt.datetime
    edited: bool = False
    decisions: list = dataclasses.field(default_factory=list)
    consents: list = dataclasses.field(default_factory=list)


def record_visit(user) -> dt.datetime | None:
    """Note that this staff member looked at their page now; answer when they last did before."""
    access.require(user, Permission.STAFF_AREA)
    previous = user.last_seen_at
    user.last_seen_at = utcnow()
    db.session.commit()
    return previous


def changed_since(user, since: dt.datetime, *, limit: int = 50) -> list[Change]:
    """Testimonies this user may see that others changed after `since`: saved as a new version,
    decided on by a moderator, or given a new consent (asked for or decided). The user's own
    changes are left out: they know about those."""
    access.require(user, Permission.STAFF_AREA)
    changes: dict[int, Change] = {}

    def change_of(testimony: Testimony, at: dt.datetime) -> Change:
        change = changes.setdefault(testimony.id, Change(testimony=testimony, at=at))
        change.at = max(change.at, at)
        return change

    edited = select(Testimony).where(
        Testimony.deleted_at.is_(None),
        Testimony.updated_at > since,
        Testimony.updated_by_id.is_distinct_from(user.id),
    )
    for testimony in db.session.scalars(edited):
        change_of(testimony, testimony.updated_at).edited = True
    decided = (
        select(ReviewDecision, Testimony)
        .join(Testimony, Testimony.id == ReviewDecision.testimony_id)
        .where(
            Testimony.deleted_at.is_(None),
            ReviewDecision.created_at > since,
            ReviewDecision.reviewer_id != user.id,
        )
        .order_by(ReviewDecision.created_at.desc())
    )
    for decision, testimony in db.session.execute(decided).all():
        change_of(testimony, decision.created_at).decisions.append(decision)
    consented = (
        select(ConsentVersion, Testimony)
        .join(Testimony, Testimony.id == ConsentVersion.testimony_id)
        .where(
            Testimony.deleted_at.is_(None),
            or_(
                (ConsentVersion.created_at > since) & ConsentVersion.created_by_id.is_distinct_from(user.id),
                (ConsentVersion.decided_at > since) & ConsentVersion.decided_by_id.is_distinct_from(user.id),
            ),
        )
        .order_by(ConsentVersion.number.desc())
    )
    for consent, testimony in db.session.execute(consented).all():
        at = max(d for d in (consent.created_at, consent.decided_at) if d is not None)
        change_of(testimony, at).consents.append(consent)
    visible = [c for c in changes.values() if access.can_view(user, c.testimony)]
    return sorted(visible, key=lambda c: c.at, reverse=True)[:limit]
