"""Public pages of the catalogue: the home page, the list of subjects and a testimony with its
timecoded transcript.

What a caller may see is decided by `archive.access` (through `catalogue.service.view_for` and
`search.service.search_for`); these routes only choose what to show of it.
"""

from __future__ import annotations

import datetime as dt
from contextlib import closing

from babel import Locale, UnknownLocaleError
from flask import Blueprint, g, render_template, request
from flask_babel import format_date, get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select

from archive import access
from archive.authority.service import search_names
from archive.catalogue.models import State, Testimony
from archive.catalogue.service import view_for
from archive.extensions import db
from archive.media.views import stream_url
from archive.search.analysis import fold, lowercase_auto
from archive.search.service import search_for

bp = Blueprint("catalogue", __name__)

RECENT = 6
BROWSE = 12
# Matching passages shown at once when searching inside one testimony.
WITHIN_PER_PAGE = 50
MAX_QUERY = 500


@bp.app_template_filter("archive_date")
def archive_date(value: str | dt.date | dt.datetime | None) -> str:
    """A date in the reader's language; an unreadable value is shown as it is."""
    if not value:
        return ""
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value[:10])
        except ValueError:
            return value
    return format_date(value, "long")


@bp.app_template_filter("language_name")
def language_name(code: str) -> str:
    """A BCP 47 tag as a language name in the reader's language: az → Azerbaijani, Азербайджанский."""
    try:
        name = Locale.parse(code.replace("-", "_")).get_display_name(get_locale())
    except (ValueError, UnknownLocaleError):
        return code
    return name[:1].upper() + name[1:] if name else code


@bp.app_template_filter("subject_label")
def subject_label(name: str) -> str:
    """A subject in the reader's language: its authority entry's label, else the name testimonies give."""
    if "subject_labels" not in g:
        g.subject_labels = search_names().subject_labels
    return (g.subject_labels.get(name) or {}).get(str(get_locale())) or name


ACCESS_NAMES = {
    access.Access.PUBLIC: _l("open to everyone"),
    access.Access.RESEARCH: _l("researchers and staff"),
    access.Access.STAFF: _l("staff only"),
    access.Access.SEALED: _l("sealed"),
    access.Access.WITHDRAWN: _l("withdrawn"),
}


@bp.app_template_global()
def access_name(level: str | None) -> str:
    """A consent level in the reader's words; an unknown level raises rather than being shown."""
    return str(ACCESS_NAMES[access.Access(level or access.Access.STAFF)])


def _recently_published(limit: int) -> list[dict]:
    """The newest published testimonies the caller may open, as the caller may see them."""
    query = (
        select(Testimony)
        .where(Testimony.published_revision_id.is_not(None), Testimony.deleted_at.is_(None))
        .order_by(Testimony.published_at.desc(), Testimony.id.desc())
        .execution_options(yield_per=50)
    )
    found = []
    # Closed when enough are found: PostgreSQL reads them through a server-side cursor.
    with closing(db.session.scalars(query)) as testimonies:
        for testimony in testimonies:
            # Admins may open withdrawn testimonies, but a withdrawn one is not news for the home page.
            if access.can_view(current_user, testimony) and not access.is_withdrawn(testimony):
                found.append(view_for(current_user, testimony, media_url=stream_url))
                if len(found) == limit:
                    break
    return found


# The facets the home page offers to browse by.
BROWSED = ("place", "subject", "person", "language")


@bp.route("/")
def home():
    browse = search_for(current_user, "", per_page=1)
    return render_template(
        "catalogue/home.html",
        recent=_recently_published(RECENT),
        total=browse["total"],
        facets={name: browse["facets"].get(name, [])[:BROWSE] for name in BROWSED},
    )


@bp.route("/subjects")
def subjects():
    """Every subject of what the caller may see, in the reader's language, with its count."""
    browse = search_for(current_user, "", per_page=1)
    listed = [(subject_label(value), value, count) for value, count in browse["facets"].get("subject", [])]
    listed.sort(key=lambda item: (item[0].casefold(), item[1]))
    return render_template("catalogue/subjects.html", subjects=listed, total=browse["total"])


@bp.route("/people")
def people():
    """Every person the testimonies the caller may see speak of, under the name the authority
    prefers (else the spelling most of them use), with how many testimonies speak of each."""
    browse = search_for(current_user, "", per_page=1)
    # A new list: the facet's own may be a kept answer's (see `query._copy`).
    listed = sorted(
        browse["facets"].get("person", []), key=lambda item: (fold(lowercase_auto(item[0])), item[0])
    )
    return render_template("catalogue/people.html", people=listed, total=browse["total"])


def current_segment(segments: list[dict], at_ms: int | None) -> dict | None:
    """The segment playing at `at_ms`, else the next one after it."""
    if at_ms is None:
        return None
    for segment in segments:
        if segment["start_ms"] <= at_ms < segment["end_ms"]:
            return segment
    return next((s for s in segments if s["start_ms"] >= at_ms), None)


def _state_key(testimony: Testimony) -> str:
    """The staff's state banner as one key the template puts into words: a deletion or a withdrawal
    outweighs the workflow state."""
    if testimony.deleted_at is not None:
        return "deleted"
    if access.is_withdrawn(testimony):
        return "withdrawn"
    return State(testimony.state).value


@bp.route("/testimonies/<int:id>")
def show(id: int):
    testimony = access.get_visible(current_user, db.session.get(Testimony, id))
    # Opening the page starts making any rendition this reader will be served.
    view = view_for(current_user, testimony, prepare_media=True, media_url=stream_url)
    segments = view["segments"]
    at_ms = request.args.get("t", type=int)
    q = (request.args.get("q") or "").strip()[:MAX_QUERY]
    within = None
    if q:
        result = search_for(current_user, q, testimony_id=testimony.id, per_page=WITHIN_PER_PAGE)
        hit = result["hits"][0] if result["hits"] else None
        within = {
            "segments": hit["segments"] if hit else [],
            "total": hit.get("segments_total", 0) if hit else 0,
        }
    staff = None
    if access.is_staff(current_user):
        # Which passages the public would not see: asked of the policy as if by an anonymous reader.
        public_ids = {s["id"] for s in access.visible_segments(None, testimony, segments)}
        staff = {
            "state": _state_key(testimony),
            "unpublished_edits": testimony.has_unpublished_edits,
            "hidden_ids": {s["id"] for s in segments} - public_ids,
            "effective_access": access.effective_access(testimony.consent).value,
            # People the public would not read of: a narrator who asked for a pseudonym bears the name.
            "kept_from_public": set(view["people"]) - set(access.visible_people(None, view["people"])),
        }
    return render_template(
        "catalogue/show.html",
        testimony=testimony,
        view=view,
        segments=segments,
        current=current_segment(segments, at_ms),
        q=q,
        within=within,
        staff=staff,
    )
