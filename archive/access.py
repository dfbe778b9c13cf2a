"""THE consent and role policy: the only module that knows the access ladder and consent states.

Every surface (pages, API, search, transcripts, feeds, exports) asks the questions below; none decides
access by itself. Unknown roles or consent states raise instead of falling through to "allowed".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from archive.errors import Forbidden, NotFound
from archive.timeutil import utcnow

if TYPE_CHECKING:
    from archive.accounts.models import User
    from archive.catalogue.models import Testimony
    from archive.consent.models import ConsentVersion
    from archive.jobs.models import Job
    from archive.media.models import MediaFile


class Role(StrEnum):
    ADMIN = "admin"
    MODERATOR = "moderator"
    ARCHIVIST = "archivist"
    RESEARCHER = "researcher"


class Access(StrEnum):
    PUBLIC = "public"
    RESEARCH = "research"
    STAFF = "staff"
    SEALED = "sealed"
    WITHDRAWN = "withdrawn"


class Audience(StrEnum):
    """Who a search index serves: each audience has an index of its own."""

    PUBLIC = "public"
    RESEARCH = "research"
    STAFF = "staff"


class Permission(StrEnum):
    TESTIMONY_CREATE = "testimony:create"
    TESTIMONY_EDIT = "testimony:edit"
    TESTIMONY_SUBMIT = "testimony:submit"
    TESTIMONY_DELETE = "testimony:delete"
    TESTIMONY_RESTORE = "testimony:restore"
    TESTIMONY_UNPUBLISH = "testimony:unpublish"
    TESTIMONY_IMPORT_PUBLISHED = "testimony:import-published"
    STAFF_AREA = "staff:area"
    REVIEW_DECIDE = "review:decide"
    CONSENT_EDIT = "consent:edit"
    CONSENT_WIDEN = "consent:widen"
    USERS_MANAGE = "users:manage"
    AUDIT_READ = "audit:read"
    AUTHORITY_EDIT = "authority:edit"
    SEARCH_BY_CONSENT = "search:consent-level"
    HEALTH_READ = "health:read"
    INDEX_REBUILD = "index:rebuild"


# Rank 0 is the public (anonymous). A higher rank includes everything a lower one may do.
_RANK = {None: 0, Role.RESEARCHER: 1, Role.ARCHIVIST: 2, Role.MODERATOR: 3, Role.ADMIN: 4}

_MIN_ROLE = {
    Permission.TESTIMONY_CREATE: Role.ARCHIVIST,
    Permission.TESTIMONY_EDIT: Role.ARCHIVIST,
    Permission.TESTIMONY_SUBMIT: Role.ARCHIVIST,
    Permission.TESTIMONY_DELETE: Role.ARCHIVIST,
    Permission.TESTIMONY_RESTORE: Role.ADMIN,
    Permission.TESTIMONY_UNPUBLISH: Role.MODERATOR,
    Permission.TESTIMONY_IMPORT_PUBLISHED: Role.ADMIN,
    Permission.STAFF_AREA: Role.ARCHIVIST,
    Permission.REVIEW_DECIDE: Role.MODERATOR,
    Permission.CONSENT_EDIT: Role.ARCHIVIST,
    Permission.CONSENT_WIDEN: Role.MODERATOR,
    Permission.USERS_MANAGE: Role.ADMIN,
    Permission.AUDIT_READ: Role.ADMIN,
    Permission.AUTHORITY_EDIT: Role.ARCHIVIST,
    # A testimony's consent level is itself a staff matter: only staff filter or count by it.
    Permission.SEARCH_BY_CONSENT: Role.ARCHIVIST,
    # The words of the health page (errors of the index writer) are for admins; /healthz names no
    # testimony and answers anyone.
    Permission.HEALTH_READ: Role.ADMIN,
    # Rebuilding this server's search indexes takes a while and loads it: an admin's call.
    Permission.INDEX_REBUILD: Role.ADMIN,
}

# The workflow states (`catalogue.models.State` values) from which an entry may go to review.
SUBMITTABLE = frozenset({"draft", "changes_requested", "rejected", "unpublished"})

# Which consent levels each audience may reach, once the seal date is taken into account.
_AUDIENCE_REACHES = {
    Audience.PUBLIC: {Access.PUBLIC},
    Audience.RESEARCH: {Access.PUBLIC, Access.RESEARCH},
    Audience.STAFF: {Access.PUBLIC, Access.RESEARCH, Access.STAFF, Access.SEALED},
}

# From narrowest to widest; used to tell a narrowing consent change from a widening one.
_OPENNESS = {
    Access.WITHDRAWN: 0,
    Access.STAFF: 1,
    Access.SEALED: 2,
    Access.RESEARCH: 3,
    Access.PUBLIC: 4,
}

ANONYMOUS_LABEL = "Anonymous narrator"


def role_of(user: User | None) -> Role | None:
    """The user's role, or None for the public. An unknown role is an error, never a guess."""
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    if not user.is_active:
        return None
    return Role(user.role)


def rank(user: User | None) -> int:
    return _RANK[role_of(user)]


def valid_role(value: str) -> Role:
    return Role(value)


def has_permission(user: User | None, permission: Permission) -> bool:
    return rank(user) >= _RANK[_MIN_ROLE[Permission(permission)]]


def require(user: User | None, permission: Permission) -> None:
    if not has_permission(user, permission):
        raise Forbidden()


def is_staff(user: User | None) -> bool:
    return has_permission(user, Permission.STAFF_AREA)


def is_admin(user: User | None) -> bool:
    return role_of(user) is Role.ADMIN


def audience_for(user: User | None) -> Audience:
    """The one search index this user's searches may reach."""
    r = rank(user)
    if r >= _RANK[Role.ARCHIVIST]:
        return Audience.STAFF
    if r >= _RANK[Role.RESEARCHER]:
        return Audience.RESEARCH
    return Audience.PUBLIC


def audiences_for(user: User | None) -> list[Audience]:
    return [audience_for(user)]


class ConsentTerms(Protocol):
    """What the policy reads of a consent version: a `ConsentVersion`, or a row of these columns."""

    access: str
    sealed_until: dt.date | None
    release_to: str | None
    anonymize_narrator: bool
    publish_transcript: bool
    redactions: list


def effective_access(consent: ConsentTerms | None, today: dt.date | None = None) -> Access:
    """The consent level in force today: a seal past its date has become its `release_to` level."""
    if consent is None:
        # No consent recorded: nothing leaves the staff.
        return Access.STAFF
    access = Access(consent.access)
    if access is Access.SEALED:
        today = today or dt.datetime.now(dt.UTC).date()
        if consent.sealed_until is not None and today >= consent.sealed_until:
            return Access(consent.release_to or Access.STAFF)
    return access


def is_withdrawn(testimony: Testimony) -> bool:
    return effective_access(testimony.consent) is Access.WITHDRAWN


def _reaches(audience: Audience, testimony: Testimony) -> bool:
    return _within_reach(
        audience,
        testimony.deleted_at is not None,
        testimony.published_revision is not None,
        testimony.consent,
    )


def _within_reach(audience: Audience, deleted: bool, published: bool, consent: ConsentTerms | None) -> bool:
    if deleted:
        return False
    access = effective_access(consent)
    if access is Access.WITHDRAWN:
        return False
    if audience is Audience.STAFF:
        return access in _AUDIENCE_REACHES[audience]
    return published and access in _AUDIENCE_REACHES[audience]


def can_view(user: User | None, testimony: Testimony) -> bool:
    """May this user open this testimony at all? Admins also see withdrawn and deleted ones."""
    if is_admin(user):
        return True
    return _reaches(audience_for(user), testimony)


@dataclass(frozen=True)
class Standing:
    """What the database says of a testimony now, as much as a search hit needs, read for a whole
    page of hits in one query (`search.service`): deleted or not, published or not, the consent in
    force, and the title and narrator (`{"name", "pseudonym"}`) of the body the searcher reads (the
    working copy for staff, the published version for everybody else)."""

    deleted: bool
    published: bool
    consent: ConsentTerms | None
    title: str
    narrator: dict


def search_hit(user: User | None, hit: dict, standing: Standing) -> dict | None:
    """A search hit as the database's consent lets this user see it now, or None where the
    testimony is no longer theirs to see (the same reach the audience's index is built with), so a
    narrowing committed after the index was written is in force on the answer at once. Passages
    the consent now withholds are dropped; the title and the narrator's label are made again from
    the database's `standing`, whatever the index still holds."""
    audience = audience_for(user)
    consent = standing.consent
    if not _within_reach(audience, standing.deleted, standing.published, consent):
        return None
    return {
        **hit,
        "title": standing.title or "",
        "narrator": _narrator_label(audience, consent, standing.narrator),
        "segments": _visible_segments(audience, consent, hit.get("segments") or []),
    }


def sees_working_copy(user: User | None) -> bool:
    """Staff read the working copy with pending edits; everybody else the published version."""
    return is_staff(user)


def get_visible(user: User | None, testimony: Testimony | None) -> Testimony:
    """The testimony if the user may see it; otherwise NotFound, so its existence does not leak."""
    if testimony is None or not can_view(user, testimony):
        raise NotFound()
    return testimony


def require_on(user: User | None, testimony: Testimony, permission: Permission) -> None:
    """A forbidden action on a testimony: 404 where it is not visible, 403 where it is."""
    get_visible(user, testimony)
    if not has_permission(user, permission):
        if role_of(user) is None:
            raise NotFound()
        raise Forbidden()


# --- may this person do this to this entry: yes, or no and why --------------------------------


class Reason(StrEnum):
    """Why the policy says no; the pages put each reason in words."""

    NOT_PERMITTED = "not_permitted"
    DELETED = "deleted"
    NOT_IN_REVIEW = "not_in_review"
    NOT_SUBMITTABLE = "not_submittable"
    NOT_PUBLISHED = "not_published"
    NOTHING_PENDING = "nothing_pending"
    CURRENT_VERSION = "current_version"
    OWN_ACCOUNT = "own_account"
    OWN_SUBMISSION = "own_submission"
    LAST_EDITOR = "last_editor"
    OWN_CONSENT_REQUEST = "own_consent_request"


@dataclass(frozen=True)
class Answer:
    """The policy's answer to "may this person do this?": true, or false with the reason why not."""

    reason: Reason | None = None

    def __bool__(self) -> bool:
        return self.reason is None


ALLOWED = Answer()


def may_decide(user: User | None, testimony: Testimony) -> Answer:
    """Four eyes: a moderator decides a submission they neither submitted nor last edited."""
    if not has_permission(user, Permission.REVIEW_DECIDE):
        return Answer(Reason.NOT_PERMITTED)
    if testimony.state != "in_review":
        return Answer(Reason.NOT_IN_REVIEW)
    if user.id == testimony.submitted_by_id:
        return Answer(Reason.OWN_SUBMISSION)
    if user.id == testimony.updated_by_id:
        return Answer(Reason.LAST_EDITOR)
    return ALLOWED


def can_review(user: User | None, testimony: Testimony) -> bool:
    """`may_decide` as a plain yes or no, for the services that refuse without a page to explain."""
    return bool(may_decide(user, testimony))


def may_decide_consent(user: User | None, consent: ConsentVersion | None) -> Answer:
    """Four eyes on widening consent: a moderator, never the person who asked for it."""
    if not has_permission(user, Permission.CONSENT_WIDEN):
        return Answer(Reason.NOT_PERMITTED)
    if consent is None or consent.status != "pending":
        return Answer(Reason.NOTHING_PENDING)
    if consent.created_by_id == user.id:
        return Answer(Reason.OWN_CONSENT_REQUEST)
    return ALLOWED


def can_decide_consent(user: User | None, consent: ConsentVersion) -> bool:
    """`may_decide_consent` as a plain yes or no."""
    return bool(may_decide_consent(user, consent))


def may_submit(user: User | None, testimony: Testimony) -> Answer:
    """An archivist sends a draft (or an entry sent back, rejected or taken offline) to review."""
    if not has_permission(user, Permission.TESTIMONY_SUBMIT):
        return Answer(Reason.NOT_PERMITTED)
    if testimony.deleted_at is not None:
        return Answer(Reason.DELETED)
    if testimony.state not in SUBMITTABLE:
        return Answer(Reason.NOT_SUBMITTABLE)
    return ALLOWED


def may_unpublish(user: User | None, testimony: Testimony) -> Answer:
    """A moderator takes a published testimony offline."""
    if not has_permission(user, Permission.TESTIMONY_UNPUBLISH):
        return Answer(Reason.NOT_PERMITTED)
    if testimony.published_revision_id is None:
        return Answer(Reason.NOT_PUBLISHED)
    return ALLOWED


def may_restore_revision(user: User | None, testimony: Testimony, version: int) -> Answer:
    """An archivist brings back an older saved version of an entry that is not deleted."""
    if not has_permission(user, Permission.TESTIMONY_EDIT):
        return Answer(Reason.NOT_PERMITTED)
    if testimony.deleted_at is not None:
        return Answer(Reason.DELETED)
    if version == testimony.version:
        return Answer(Reason.CURRENT_VERSION)
    return ALLOWED


def may_set_role(actor: User | None, user: User, role: str) -> Answer:
    """An admin gives anyone any role, but never takes away their own admin role: the archive keeps
    an admin who could give it back."""
    new = Role(role)
    if not has_permission(actor, Permission.USERS_MANAGE):
        return Answer(Reason.NOT_PERMITTED)
    if user.id == actor.id and new is not Role.ADMIN:
        return Answer(Reason.OWN_ACCOUNT)
    return ALLOWED


def may_set_active(actor: User | None, user: User, active: bool) -> Answer:
    """An admin opens and closes accounts, but never closes their own."""
    if not has_permission(actor, Permission.USERS_MANAGE):
        return Answer(Reason.NOT_PERMITTED)
    if user.id == actor.id and not active:
        return Answer(Reason.OWN_ACCOUNT)
    return ALLOWED


def may_manage_sign_in(actor: User | None, user: User) -> bool:
    """A user's sessions and API tokens: ended or revoked by the user themselves, or by an admin."""
    if actor is None or not getattr(actor, "is_authenticated", False):
        return False
    return actor.id == user.id or has_permission(actor, Permission.USERS_MANAGE)


def may_follow_job(user: User | None, job: Job) -> bool:
    """A background job's progress and report (an import's names every record of its file): for
    the person who started it, and for admins."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return job.user_id == user.id or is_admin(user)


def may_search_by_consent(user: User | None) -> bool:
    """May this user filter a search by consent level and see how many hits each level holds?"""
    return has_permission(user, Permission.SEARCH_BY_CONSENT)


# --- consent comparison ----------------------------------------------------------------------


def _redaction_key(r: dict) -> tuple[int, int]:
    return int(r["start_ms"]), int(r["end_ms"])


def _covered(ranges: list[dict], r: dict) -> bool:
    start, end = _redaction_key(r)
    return any(_redaction_key(o)[0] <= start and _redaction_key(o)[1] >= end for o in ranges)


def narrowest(old: dict, new: dict) -> dict:
    """The consent that grants nothing either of the two does not: applied at once on any change."""
    result = dict(new)
    old_access, new_access = Access(old["access"]), Access(new["access"])
    if _OPENNESS[old_access] < _OPENNESS[new_access]:
        for key in ("access", "sealed_until", "release_to"):
            result[key] = old.get(key)
    elif old_access is new_access is Access.SEALED:
        result["sealed_until"] = max(
            (d for d in (old.get("sealed_until"), new.get("sealed_until")) if d), default=None
        )
        result["release_to"] = min(
            (old.get("release_to"), new.get("release_to")),
            key=lambda a: _OPENNESS[Access(a)] if a else -1,
        )
    result["anonymize_narrator"] = bool(old.get("anonymize_narrator")) or bool(new.get("anonymize_narrator"))
    result["publish_media"] = bool(old.get("publish_media")) and bool(new.get("publish_media"))
    result["publish_transcript"] = bool(old.get("publish_transcript")) and bool(new.get("publish_transcript"))
    redactions = list(new.get("redactions") or [])
    redactions += [r for r in old.get("redactions") or [] if not _covered(redactions, r)]
    result["redactions"] = sorted(redactions, key=_redaction_key)
    return result


_GRANTS = (
    "access",
    "sealed_until",
    "release_to",
    "anonymize_narrator",
    "publish_media",
    "publish_transcript",
    "redactions",
)


def grants_differ(a: dict, b: dict) -> bool:
    """Do two consent records grant different things (notes and signatures aside)?"""
    return any(_norm(a.get(k)) != _norm(b.get(k)) for k in _GRANTS)


def widens(old: dict, new: dict) -> bool:
    """Does `new` grant anything `old` did not?"""
    return grants_differ(narrowest(old, new), new)


def _norm(value: Any) -> Any:
    if isinstance(value, list):
        return sorted((_redaction_key(r), r.get("reason") or "") for r in value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return value or None


# --- what each audience may see of a testimony -----------------------------------------------


def narrator_label(user: User | None, testimony: Testimony, narrator: dict | None = None) -> str:
    """The narrator as this user may see them: the real name is never shown to the public of an
    anonymised testimony."""
    return _narrator_label(audience_for(user), testimony.consent, narrator or {})


def _narrator_label(audience: Audience, consent: ConsentTerms | None, narrator: dict) -> str:
    name, pseudonym = narrator.get("name") or "", narrator.get("pseudonym") or ""
    if audience is Audience.STAFF:
        return name or pseudonym or ANONYMOUS_LABEL
    if consent is None or consent.anonymize_narrator:
        return pseudonym or ANONYMOUS_LABEL
    return name or pseudonym or ANONYMOUS_LABEL


def _overlaps(segment: dict, redactions: list[dict]) -> bool:
    return any(
        segment["start_ms"] < int(r["end_ms"]) and int(r["start_ms"]) < segment["end_ms"] for r in redactions
    )


def _visible_segments(audience: Audience, consent: ConsentTerms | None, segments: list) -> list:
    if audience is Audience.STAFF:
        return segments
    if consent is None or not consent.publish_transcript:
        return []
    # A segment touched by a redaction is withheld whole: its text cannot be cut by time.
    return [s for s in segments if not _overlaps(s, consent.redactions or [])]


def visible_segments(user: User | None, testimony: Testimony, segments: list[dict]) -> list[dict]:
    return _visible_segments(audience_for(user), testimony.consent, segments)


@dataclass(frozen=True)
class MediaPlan:
    """How one caller may fetch one file: the original, or a rendition with these stretches silenced
    (and its own metadata stripped, since a recorder's tags may name the narrator)."""

    original: bool
    redactions: tuple[dict, ...] = ()


def media_plan(user: User | None, testimony: Testimony, media: MediaFile, published_ids: frozenset[int]):
    """May this user fetch this file, and in which form? NotFound where not, like an unseen testimony.

    Staff fetch originals. Everyone else: only recordings, only those in the published version, only
    while the consent publishes media, and never a consent-form scan, which shows a signature and the
    real name.
    """
    get_visible(user, testimony)
    if media.testimony_id != testimony.id:
        raise NotFound()
    if media.deleted_at is not None and not is_admin(user):
        raise NotFound()
    if is_staff(user):
        return MediaPlan(original=True)
    consent = testimony.consent
    if (
        not media.is_recording
        or consent is None
        or not consent.publish_media
        or media.id not in published_ids
    ):
        raise NotFound()
    return MediaPlan(original=False, redactions=tuple(consent.redactions or []))


def media_entry(user: User | None, entry: dict) -> dict:
    """What of a file's description this user may read: the uploaded file's name and checksum may
    carry a real name or identify an unredacted copy, so only staff read them."""
    if is_staff(user):
        return dict(entry)
    return {k: entry.get(k) for k in ("id", "kind", "duration_ms")}


def consent_view(user: User | None, consent: ConsentVersion | None) -> dict | None:
    """What of the consent record itself this user may read."""
    if consent is None:
        return None
    if is_staff(user):
        return consent.as_dict()
    return {
        "access": effective_access(consent).value,
        "anonymize_narrator": consent.anonymize_narrator,
        "publish_media": consent.publish_media,
        "publish_transcript": consent.publish_transcript,
    }


def _audience_view(audience: Audience, testimony: Testimony, body: dict) -> dict:
    """Strip a testimony body down to what this audience may see."""
    consent = testimony.consent
    view = dict(body)
    narrator = dict(body.get("narrator") or {})
    label = _narrator_label(audience, consent, narrator)
    if audience is not Audience.STAFF:
        narrator = {
            "name": label,
            "pseudonym": narrator.get("pseudonym") if consent and consent.anonymize_narrator else None,
            "birth_year": narrator.get("birth_year"),
            "gender": narrator.get("gender"),
        }
    view["narrator"] = narrator
    view["narrator_label"] = label
    view["people"] = _people(audience, body.get("people") or [])
    view["segments"] = _visible_segments(audience, consent, body.get("segments") or [])
    return view


def visible_people(user: User | None, people: list[str]) -> list[str]:
    """The people of a testimony body this user may read of them (see `_people`)."""
    return _people(audience_for(user), people)


# Which of the people a testimony speaks of an audience outside the staff may read: given by the
# consent room, whose rule it is (`consent.anonymity.shown_people`), when the app is made, as it
# reads the database, which this module never does. Unset, no such audience reads any.
_people_shown: Callable[[list[str]], list[str]] | None = None


def read_people_with(shown: Callable[[list[str]], list[str]]) -> None:
    global _people_shown
    _people_shown = shown


def _people(audience: Audience, people: list[str]) -> list[str]:
    """The people a testimony speaks of, as this audience may read them: outside the staff, never
    a name a narrator who asked for a pseudonym bears (in any script), whichever testimony names
    it. Published versions from before testimonies named people have none."""
    if audience is Audience.STAFF or not people:
        return list(people)
    if _people_shown is None:
        return []
    return _people_shown(list(people))


def testimony_view(user: User | None, testimony: Testimony, working: dict, published: dict | None):
    """The body this user may read: staff the working copy, others the published version, filtered."""
    get_visible(user, testimony)
    if sees_working_copy(user):
        return _audience_view(Audience.STAFF, testimony, working)
    if published is None:
        raise NotFound()
    return _audience_view(audience_for(user), testimony, published)


def index_document(audience: Audience, testimony: Testimony, working: dict, published: dict | None):
    """The document the index of this audience may hold for a testimony, or None.

    It is built from the same filtered view the pages show, so an index never holds a word its
    audience may not read. Consent notes never enter any index.
    """
    if not _reaches(audience, testimony):
        return None
    body = working if audience is Audience.STAFF else published
    if body is None:
        return None
    view = _audience_view(audience, testimony, body)
    interview = view.get("interview") or {}
    date = interview.get("date")
    return {
        "testimony_id": testimony.id,
        "title": view.get("title") or "",
        "summary": view.get("summary") or "",
        "narrator": view["narrator_label"],
        "interview_date": date,
        "interview_year": int(date[:4]) if date else None,
        "birth_year": (view.get("narrator") or {}).get("birth_year"),
        "languages": list(interview.get("languages") or []),
        "places": list(view.get("places") or []),
        "subjects": list(view.get("subjects") or []),
        "people": view["people"],
        "access": effective_access(testimony.consent).value,
        "state": testimony.state,
        "segments": [
            {k: s.get(k) for k in ("id", "start_ms", "end_ms", "speaker", "text", "keywords")}
            for s in view["segments"]
        ],
    }


# --- the public's past: when a testimony was open to the public --------------------------------

# The open end of a period still running.
OPEN_END = dt.datetime.max

Period = tuple[dt.datetime, dt.datetime]


@dataclass
class History:
    """What the archive recorded of one testimony's life, as naive UTC moments: each approval of its
    content, each time it was taken offline, deleted and restored. `published_at`, `deleted_at` and
    the consent versions are read from the testimony itself."""

    approvals: list[dt.datetime] = field(default_factory=list)
    unpublished: list[dt.datetime] = field(default_factory=list)
    deleted: list[dt.datetime] = field(default_factory=list)
    restored: list[dt.datetime] = field(default_factory=list)


def public_periods(testimony: Testimony, history: History, now: dt.datetime | None = None) -> list[Period]:
    """When the public could see this testimony, in order, up to `now`; the last period ends at
    OPEN_END where nothing recorded ends it.

    The same three conditions as `can_view(None, testimony)`, each as a timeline: published (from each
    approval, or `published_at`, to the next unpublishing), present (from creation to each deletion,
    and again from each restoration) and public by consent (each approved consent version from its
    approval until the next one, as `effective_access` says of it: a seal counts from its end). A
    period where all three held is a public one.
    """
    published = _switched(
        on=history.approvals + [t for t in [testimony.published_at] if t], off=history.unpublished
    )
    deleted = history.deleted + [t for t in [testimony.deleted_at] if t]
    present = _switched(on=history.restored, off=deleted, since=testimony.created_at)
    periods = _overlap(_overlap(published, present), _public_by_consent(testimony))
    # A seal ending in the future opens a period that has not begun: not public yet, nor ever was.
    now = now or utcnow()
    return [(start, end) for start, end in periods if start <= now]


def _public_by_consent(testimony: Testimony) -> list[Period]:
    """The periods in which the consent in force granted the public access, one per version."""
    approved = sorted((c for c in testimony.consents if c.status == "approved"), key=lambda c: c.number)
    periods = []
    for consent, following in zip(approved, approved[1:] + [None], strict=True):
        start = consent.decided_at or consent.created_at
        end = (following.decided_at or following.created_at) if following else OPEN_END
        if effective_access(consent, start.date()) is Access.PUBLIC:
            opened = start
        elif (
            consent.sealed_until is not None
            and effective_access(consent, consent.sealed_until) is Access.PUBLIC
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
        periods.append((opened, OPEN_END))
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
