"""The JSON API under /api/v1: each route parses the request, asks the access policy and calls a
service; errors leave through the one handler in archive/web.py as `{"error": {...}}` bodies."""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from archive import access, operations
from archive.access import Permission
from archive.accounts.models import User
from archive.api import idempotency
from archive.catalogue import service as catalogue
from archive.catalogue.models import State, Testimony
from archive.errors import ArchiveError, Invalid, Unauthorized
from archive.media.models import MediaFile
from archive.media.transcripts import vtt_text
from archive.media.views import stream_url
from archive.search.filters import read_filters

bp = Blueprint("api", __name__, url_prefix="/api/v1")

OPENAPI = Path(__file__).with_name("openapi.json")
MAX_QUERY = 1000
SORTS = ("relevance", "date", "title")
REVIEW_FIELDS = {"decision", "comment", "target"}
LIST_LIMIT = 200


class BadBody(ArchiveError):
    """A request body that is not a JSON document at all."""

    status = 400
    code = "bad_body"
    default_message = "The body must be a JSON document."


def _user() -> User | None:
    """The caller, or None for the public."""
    return current_user._get_current_object() if current_user.is_authenticated else None


def _signed_in() -> User:
    """The caller of a route that creates something: the public is asked to sign in first."""
    user = _user()
    if user is None:
        raise Unauthorized()
    return user


def _testimony(testimony_id: int) -> Testimony:
    """The testimony if the caller may see it; 404 alike for absent and invisible ones."""
    return access.get_visible(_user(), catalogue.get_testimony(testimony_id))


def _json_object() -> dict[str, Any]:
    """The request body as a JSON object, or an error saying what is wrong with it.

    Only `application/json` is read: a browser cannot send that cross-site without asking first,
    which keeps signed-in sessions safe from forged form posts.
    """
    if not request.is_json:
        raise BadBody(
            "Send the body as JSON with 'Content-Type: application/json'.",
            {"body": f"Content-Type is {request.mimetype or 'missing'}, not application/json."},
        )
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise BadBody("The body is empty; send a JSON object.", {"body": "Empty."})
    try:
        data = json.loads(raw)
    except UnicodeDecodeError:
        raise BadBody("The body is not UTF-8 text.", {"body": "Not UTF-8."}) from None
    except json.JSONDecodeError as e:
        where = f"line {e.lineno} column {e.colno}"
        raise BadBody(
            f"The body is not valid JSON: {e.msg} at {where}.", {"body": f"{e.msg} at {where}."}
        ) from None
    if not isinstance(data, dict):
        raise Invalid(
            "The body must be a JSON object.", {"body": "Must be a JSON object, not a list or value."}
        )
    return data


def _with_etag(response: Response, version: int) -> Response:
    response.set_etag(str(version))
    return response


# --- search -----------------------------------------------------------------------------------


def _whole(name: str, *, low: int, high: int, default: int | None = None) -> int | None:
    """An integer query parameter within bounds, or Invalid naming it."""
    raw = request.args.get(name, "").strip()
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Invalid(f"'{name}' must be a whole number.", {name: "Must be a whole number."}) from None
    if not low <= value <= high:
        raise Invalid(f"'{name}' is out of range.", {name: f"Must be between {low} and {high}."})
    return value


@bp.get("/search")
def search() -> ResponseReturnValue:
    """Testimonies matching q, with their best passages: only what the caller may read."""
    from archive.search.service import search_for

    q = request.args.get("q", "")
    if len(q) > MAX_QUERY:
        raise Invalid("The query is too long.", {"q": f"At most {MAX_QUERY} characters."})
    page = _whole("page", low=1, high=10_000, default=1)
    per_page = _whole(
        "per_page", low=1, high=current_app.config["MAX_PER_PAGE"], default=current_app.config["PER_PAGE"]
    )
    sort = request.args.get("sort", "relevance")
    if sort not in SORTS:
        raise Invalid("Unknown sort order.", {"sort": f"Must be one of: {', '.join(SORTS)}."})
    result = search_for(
        _user(),
        q,
        page=page,
        per_page=per_page,
        filters=read_filters(request.args).or_invalid(),
        sort=sort,
    )
    return jsonify(result)


# --- testimonies ------------------------------------------------------------------------------


@bp.get("/testimonies")
def list_testimonies() -> ResponseReturnValue:
    """The staff's list of entries, newest change first (at most 200)."""
    user = _signed_in()
    access.require(user, Permission.STAFF_AREA)
    state = request.args.get("state") or None
    if state is not None and state not in {s.value for s in State}:
        raise Invalid("Unknown state.", {"state": f"Must be one of: {', '.join(s.value for s in State)}."})
    mine = request.args.get("mine", "") in ("1", "true", "yes")
    deleted = request.args.get("deleted", "") in ("1", "true", "yes")
    items = catalogue.staff_listing(user, state=state, mine=mine, deleted=deleted, limit=LIST_LIMIT)
    return jsonify(
        {
            "total": len(items),
            "items": [
                {
                    "id": t.id,
                    "title": t.title,
                    "state": t.state,
                    "version": t.version,
                    "published": t.published_revision_id is not None,
                    "access": access.effective_access(t.consent).value,
                    "updated_at": t.updated_at.isoformat() + "Z",
                }
                for t in items
            ],
        }
    )


@bp.post("/testimonies")
def create_testimony() -> ResponseReturnValue:
    """A new draft; 201 with the testimony as the caller sees it and its Location."""
    user = _signed_in()
    access.require(user, Permission.TESTIMONY_CREATE)
    data = _json_object()

    def created(testimony: Testimony) -> Response:
        response = jsonify(catalogue.view_for(user, testimony, media_url=stream_url))
        response.status_code = 201
        response.headers["Location"] = url_for("api.get_testimony", testimony_id=testimony.id)
        return _with_etag(response, testimony.version)

    return idempotency.once(
        user,
        request.path,
        idempotency.json_fingerprint(data),
        lambda then: operations.create_testimony(user, data, then=then),
        created,
    )


@bp.get("/testimonies/<int:testimony_id>")
def get_testimony(testimony_id: int) -> ResponseReturnValue:
    testimony = _testimony(testimony_id)
    view = catalogue.view_for(_user(), testimony, media_url=stream_url)
    return _with_etag(jsonify(view), view["version"])


@bp.patch("/testimonies/<int:testimony_id>")
def update_testimony(testimony_id: int) -> ResponseReturnValue:
    """An edit of the working copy, guarded by If-Match against overwriting someone else's."""
    user = _user()
    testimony = _testimony(testimony_id)
    access.require_on(user, testimony, Permission.TESTIMONY_EDIT)
    if_match = request.headers.get("If-Match")
    # A missing or stale version is told before the body is read: the edit must be redone anyway.
    catalogue.check_version(testimony, if_match)
    testimony = operations.update_testimony(user, testimony, _json_object(), if_match)
    return _with_etag(jsonify(catalogue.view_for(user, testimony, media_url=stream_url)), testimony.version)


@bp.delete("/testimonies/<int:testimony_id>")
def delete_testimony(testimony_id: int) -> ResponseReturnValue:
    """Soft delete: the record and its history stay for an admin to restore."""
    user = _user()
    operations.delete_testimony(user, _testimony(testimony_id))
    return "", 204


@bp.post("/testimonies/<int:testimony_id>/restore")
def restore_testimony(testimony_id: int) -> ResponseReturnValue:
    """Undo a soft delete (admins): the testimony comes back in the state it was deleted in."""
    user = _user()
    operations.restore_testimony(user, _testimony(testimony_id))
    return "", 204


@bp.put("/testimonies/<int:testimony_id>/consent")
def put_consent(testimony_id: int) -> ResponseReturnValue:
    """A new consent version: 201 when in force at once, 202 when a widening waits for review."""
    from archive.consent.service import validate_consent

    user = _user()
    testimony = _testimony(testimony_id)
    access.require_on(user, testimony, Permission.CONSENT_EDIT)
    applied, version = operations.change_consent(user, testimony, validate_consent(_json_object()))
    body = {
        "id": testimony.id,
        "applied": applied,
        "consent": access.consent_view(user, testimony.consent),
        "pending_consent": None if applied else version.as_dict(),
    }
    return jsonify(body), 201 if applied else 202


@bp.post("/testimonies/<int:testimony_id>/submit")
def submit(testimony_id: int) -> ResponseReturnValue:
    user = _user()
    testimony = operations.submit_for_review(user, _testimony(testimony_id))
    return _with_etag(jsonify(catalogue.view_for(user, testimony, media_url=stream_url)), testimony.version)


@bp.post("/testimonies/<int:testimony_id>/review")
def review(testimony_id: int) -> ResponseReturnValue:
    """A moderator's decision on a submission, or with target "consent" on a pending widening."""
    user = _user()
    testimony = _testimony(testimony_id)
    access.require_on(user, testimony, Permission.REVIEW_DECIDE)
    data = _json_object()
    unknown = {key: "Unknown field." for key in data if key not in REVIEW_FIELDS}
    if unknown:
        raise Invalid("The decision is not valid.", unknown)
    testimony = operations.review(
        user, testimony, data.get("decision"), data.get("comment", ""), data.get("target")
    )
    return _with_etag(jsonify(catalogue.view_for(user, testimony, media_url=stream_url)), testimony.version)


@bp.post("/testimonies/<int:testimony_id>/media")
def upload_media(testimony_id: int) -> ResponseReturnValue:
    """A recording or a consent-form scan, as multipart/form-data in the field `file` (and `kind`)."""
    from archive.media import service as media

    user = _user()
    testimony = _testimony(testimony_id)
    access.require_on(user, testimony, Permission.TESTIMONY_EDIT)
    limit = int(current_app.config["MEDIA_MAX_BYTES"])
    # Refused before a byte is parsed; the service counts again, since a length can be absent.
    if request.content_length and request.content_length > limit + 1024 * 1024:
        raise media.TooLarge(f"The file is larger than {limit // (1024 * 1024)} MB.", {"file": "Too large."})
    if request.mimetype != "multipart/form-data":
        raise Invalid("Send the file as multipart/form-data.", {"file": "Send the file in the field `file`."})
    unknown = {
        key: "Unknown field." for key in [*request.form, *request.files] if key not in ("file", "kind")
    }
    upload = request.files.get("file")
    if upload is None or unknown:
        raise Invalid(
            "The upload is not valid.", {**unknown, **({} if upload else {"file": "This field is required."})}
        )
    kind = request.form.get("kind")
    # A retry is the same file with the same name and kind; the bytes are read twice only when
    # the request carries a key.
    digest = ""
    if idempotency.HEADER in request.headers:
        content = hashlib.file_digest(upload.stream, "sha256").digest()
        digest = idempotency.fingerprint(content, (upload.filename or "").encode(), (kind or "").encode())
        upload.stream.seek(0)

    def created(stored: MediaFile) -> Response:
        url = stream_url(stored.id)
        response = jsonify({**stored.as_entry(), "url": url})
        response.status_code = 201
        response.headers["Location"] = url
        return response

    return idempotency.once(
        user,
        request.path,
        digest,
        lambda then: operations.add_media(user, testimony, upload.stream, upload.filename, kind, then=then),
        created,
    )


@bp.get("/testimonies/<int:testimony_id>/transcript.vtt")
def transcript_vtt(testimony_id: int) -> ResponseReturnValue:
    """The timecoded transcript as WebVTT: exactly the segments the caller may read."""
    testimony = _testimony(testimony_id)
    view = catalogue.view_for(_user(), testimony)
    response = Response(vtt_text(view["segments"]), mimetype="text/vtt")
    response.headers["Content-Disposition"] = f'inline; filename="testimony-{testimony.id}.vtt"'
    return _with_etag(response, view["version"])


# --- the document describing all of the above -------------------------------------------------


@cache
def _openapi() -> dict:
    return json.loads(OPENAPI.read_text(encoding="utf-8"))


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    return jsonify(_openapi())
