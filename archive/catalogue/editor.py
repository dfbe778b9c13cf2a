"""Staff pages for entering and editing testimonies: the testimony form, sending an entry to
review, deleting it, and the archivist's own entries.

The views parse the form, call the operations (the catalogue and review services to read), and
render; every permission and every validation is the services' (and through them `archive.access`).
"""

from __future__ import annotations

import secrets
from collections import Counter
from functools import wraps

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import format_time
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.datastructures import MultiDict

from archive import access, operations
from archive.access import Permission
from archive.catalogue import drafts, service
from archive.catalogue.duplicates import possible_duplicates
from archive.catalogue.forms import (
    ActionForm,
    DeleteForm,
    NewTestimonyForm,
    TestimonyForm,
    changed_parts,
    comparable,
    differences,
    shown_values,
    transcript_differences,
)
from archive.catalogue.models import State, Testimony
from archive.errors import ArchiveError, Conflict, Invalid, NotFound, StaleVersion
from archive.media.service import media_for
from archive.media.transcripts import vtt_text
from archive.media.views import stream_url
from archive.review import service as review_service

bp = Blueprint("editor", __name__)


# The cookie that ties a form kept after its session ended to the browser that sent it.
DRAFT_COOKIE = "archive_draft"
# The pages whose refused forms are kept (see keep_refused_form).
KEPT_FORMS = {"editor.new", "editor.edit", "editor.autosave", "editor.autosave_new"}
AUTOSAVES = {"editor.autosave", "editor.autosave_new"}

PLAYED = ("audio", "video")
# Where the session keeps the possible duplicates a save found, for the page shown next.
DUPLICATES = "possible_duplicates"

# Which moderator decisions an archivist needs to read on "My entries".
SENT_BACK = {State.CHANGES_REQUESTED: "request_changes", State.REJECTED: "reject"}


def signed_in(view):
    """The staff's own pages (not those of one testimony, which answer 404 to the public, as the
    policy says) send the public to the sign-in page; what a signed-in user may do is the policy's."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            return current_app.login_manager.unauthorized()
        return view(*args, **kwargs)

    return wrapper


def editable(testimony_id: int) -> Testimony:
    """The testimony, if this user may edit it (404 where they may not even see it)."""
    testimony = service.get_testimony(testimony_id)
    access.require_on(current_user, testimony, Permission.TESTIMONY_EDIT)
    return testimony


@bp.route("/testimonies/new", methods=["GET", "POST"])
@signed_in
def new():
    access.require(current_user, Permission.TESTIMONY_CREATE)
    if request.method == "GET":
        form, restored = _form_or_draft(NewTestimonyForm, None)
        page = render_template(
            "catalogue/edit.html",
            form=form,
            testimony=None,
            restored=restored,
            offered=None if restored else drafts.draft_for(current_user, None),
            discard_form=ActionForm(),
        )
        return _with_draft_taken(page, restored)
    form = NewTestimonyForm()
    if not form.validate_on_submit():
        abort(400)
    body, errors = form.to_body()
    try:
        if errors:
            _raise_with(errors, body)
        testimony = operations.create_testimony(current_user, body)
    except Invalid as e:
        form.show_errors(e.fields, body)
        return _invalid(form, None)
    drafts.discard(current_user, None)
    _flag_duplicates(testimony)
    flash(_("Saved as a draft. Only staff can see it until a moderator approves it."), "success")
    return redirect(url_for("editor.edit", testimony_id=testimony.id))


@bp.route("/testimonies/<int:testimony_id>/edit", methods=["GET", "POST"])
def edit(testimony_id: int):
    testimony = editable(testimony_id)
    if request.method == "GET":
        form, restored = _form_or_draft(TestimonyForm, testimony.id)
        if not restored:
            form.fill(service.working_body(testimony))
            form.version.data = str(testimony.version)
        return _with_draft_taken(_render_edit(form, testimony, restored=restored), restored)
    form = TestimonyForm()
    if not form.validate_on_submit():
        abort(400)
    base = _base_body(testimony, form.version.data)
    body, errors = form.to_body()
    changes = changed_parts(body, base)
    if not changes and not errors:
        drafts.discard(current_user, testimony.id)
        flash(_("Nothing was changed, so nothing was saved."), "info")
        return redirect(url_for("editor.edit", testimony_id=testimony.id))
    try:
        if errors:
            _raise_with(errors, changes, partial=True)
        operations.update_testimony(current_user, testimony, changes, form.version.data)
    except StaleVersion:
        return _stale(form, testimony, base, body)
    except Invalid as e:
        form.show_errors(e.fields, body)
        return _invalid(form, testimony)
    drafts.discard(current_user, testimony.id)
    _flag_duplicates(testimony)
    flash(_("Saved version %(version)s.", version=testimony.version), "success")
    return redirect(url_for("editor.edit", testimony_id=testimony.id))


@bp.post("/testimonies/new/draft")
@signed_in
def autosave_new():
    return _autosave(None)


@bp.post("/testimonies/<int:testimony_id>/edit/draft")
def autosave(testimony_id: int):
    return _autosave(editable(testimony_id).id)


def _autosave(testimony_id: int | None):
    """The form as typed so far, kept as the user's draft (not a version): the page's script sends
    it every few seconds of typing and shows the answer's time."""
    fields = _posted_fields(int(current_app.config["DRAFT_MAX_BYTES"]))
    if fields is None:
        message = _("This form is too large to keep as a draft; save it to keep it.")
        return jsonify({"error": {"code": "draft_too_large", "message": message, "fields": {}}}), 413
    draft = drafts.keep(current_user, testimony_id, fields)
    when = format_time(draft.saved_at, "short")
    return jsonify(
        {"saved_at": draft.saved_at.isoformat() + "Z", "message": _("Draft saved at %(time)s", time=when)}
    )


@bp.post("/testimonies/new/draft/discard")
@signed_in
def discard_draft_new():
    return _discard(None)


@bp.post("/testimonies/<int:testimony_id>/edit/draft/discard")
def discard_draft(testimony_id: int):
    return _discard(editable(testimony_id).id)


def _discard(testimony_id: int | None):
    if not ActionForm().validate_on_submit():
        abort(400)
    drafts.discard(current_user, testimony_id)
    flash(_("The draft was discarded."), "info")
    if testimony_id is None:
        return redirect(url_for("editor.new"))
    return redirect(url_for("editor.edit", testimony_id=testimony_id))


def _flag_duplicates(testimony: Testimony) -> None:
    """Name the testimonies this one may duplicate on the page shown after saving; the save stands."""
    found = possible_duplicates(current_user, testimony)
    if found:
        session[DUPLICATES] = {"testimony_id": testimony.id, "items": [vars(d) for d in found]}


def _recording(testimony: Testimony) -> dict | None:
    """The first recording this user may play in full, to play beside the segment editor."""
    playable = (m for m in media_for(current_user, testimony, media_url=stream_url) if m["kind"] in PLAYED)
    return next((m for m in playable if m["ready"]), None)


def _flagged_duplicates(testimony: Testimony) -> list[dict]:
    flagged = session.get(DUPLICATES)
    if not flagged or flagged["testimony_id"] != testimony.id:
        return []
    session.pop(DUPLICATES)
    return flagged["items"]


def _form_or_draft(form_class, testimony_id: int | None):
    """The form, filled from the user's draft when the address asks for it (`?draft=restore`):
    a draft this browser kept while nobody was signed in becomes theirs first."""
    if request.args.get("draft") != "restore":
        return form_class(formdata=None), False
    key = request.cookies.get(DRAFT_COOKIE)
    minutes = float(current_app.config["DRAFT_SIGN_IN_MINUTES"])
    taken = drafts.take_back(current_user, key, testimony_id, minutes) if key else None
    draft = taken or drafts.draft_for(current_user, testimony_id)
    if draft is None:
        return form_class(formdata=None), False
    return form_class(formdata=MultiDict(draft.fields)), True


def _with_draft_taken(page, restored: bool):
    """The page; once a draft is back in the form, the browser's key to it is worth nothing."""
    response = current_app.make_response(page)
    if restored and request.cookies.get(DRAFT_COOKIE):
        response.delete_cookie(DRAFT_COOKIE)
    return response


def _posted_fields(limit: int) -> dict[str, str] | None:
    """The testimony form as it was sent, without its token and button; an uploaded .vtt file as
    its text. None where it holds more than `limit` bytes: the file is not read past that."""
    fields = {key: value for key, value in request.form.items() if key not in ("csrf_token", "action")}
    size = sum(len(value.encode()) for value in fields.values())
    upload = request.files.get("vtt_file")
    if upload is not None and upload.filename:
        data = upload.read(max(0, limit - size) + 1)
        size += len(data)
        fields["vtt"] = data.decode("utf-8-sig", errors="replace")
    return fields if size <= limit else None


def keep_refused_form():
    """The app's answer to a testimony form refused for its CSRF token: the session had ended (the
    token lives in it) or the token is stale. What was typed is kept as a draft, never thrown away:
    the signed-in author goes back to the form with it; anyone else signs in again first, and the
    draft waits under a random key in this browser's cookie. None for any other refused request."""
    if request.method != "POST" or request.endpoint not in KEPT_FORMS:
        return None
    testimony_id = (request.view_args or {}).get("testimony_id")
    fields = _posted_fields(int(current_app.config["DRAFT_MAX_BYTES"]))
    if fields is None:
        return None
    if testimony_id is None:
        back = url_for("editor.new", draft="restore")
    else:
        back = url_for("editor.edit", testimony_id=testimony_id, draft="restore")
    if current_user.is_authenticated:
        try:
            if testimony_id is not None:
                editable(testimony_id)
            drafts.keep(current_user, testimony_id, fields)
        except ArchiveError:
            return None
        if request.endpoint in AUTOSAVES:
            message = _("This page is too old to save drafts: reload it. What you typed so far is kept.")
            return jsonify(
                {"error": {"code": "stale_form", "message": message, "fields": {}}, "reload": back}
            ), 400
        flash(
            _(
                "The form was too old to be accepted, so nothing was saved yet. What you typed is back "
                "in the form: check it and save again."
            ),
            "error",
        )
        return redirect(back)
    minutes = float(current_app.config["DRAFT_SIGN_IN_MINUTES"])
    key = secrets.token_urlsafe(32)
    waiting_max = int(current_app.config["DRAFTS_WAITING_MAX"])
    if not drafts.keep_until_sign_in(
        key, testimony_id, fields, minutes, replacing=request.cookies.get(DRAFT_COOKIE), at_most=waiting_max
    ):
        return None
    message = _(
        "Your session had ended, so nothing was saved yet. Sign in again: what you typed is kept, "
        "and you will find it back in the form."
    )
    sign_in = url_for("accounts.login", next=back)
    if request.endpoint in AUTOSAVES:
        body = {"error": {"code": "signed_out", "message": message, "fields": {}}, "sign_in": sign_in}
        response = jsonify(body)
        response.status_code = 401
    else:
        flash(message, "error")
        response = redirect(sign_in)
    response.set_cookie(
        DRAFT_COOKIE,
        key,
        max_age=int(minutes * 60),
        httponly=True,
        secure=bool(current_app.config["SESSION_COOKIE_SECURE"]),
        samesite="Lax",
    )
    return response


def _raise_with(errors: dict[str, str], body: dict, *, partial: bool = False) -> None:
    """What the form could not read, together with everything the service finds in the rest."""
    try:
        service.validate_body(body, partial=partial)
    except Invalid as e:
        raise Invalid(e.message, {**e.fields, **errors}) from None
    raise Invalid(fields=errors)


def _invalid(form: TestimonyForm, testimony: Testimony | None):
    form.form_errors.insert(0, _("Nothing was saved: please correct the fields marked below."))
    if testimony is None:
        return render_template("catalogue/edit.html", form=form, testimony=None), 422
    return _render_edit(form, testimony, status=422)


def _base_body(testimony: Testimony, version: str | None) -> dict:
    """The version the user started editing from, to tell their changes from everyone else's."""
    try:
        return review_service.revision_at(testimony, int(version or "")).snapshot
    except (ValueError, NotFound):
        return service.working_body(testimony)


def _stale(form: TestimonyForm, testimony: Testimony, base: dict, body: dict):
    """Someone saved in between: keep what this user typed, take the other person's changes where
    this user changed nothing, and show theirs beside each field both changed."""
    theirs_body = service.working_body(testimony)
    mine, theirs, start = comparable(body), comparable(theirs_body), comparable(base)
    taken, conflicts = [], []
    for name in mine:
        if theirs[name] == start[name]:
            continue
        if mine[name] == start[name]:
            taken.append(name)
        elif mine[name] != theirs[name]:
            conflicts.append(name)
    form.fill(theirs_body, only=set(taken))
    form.version.data = str(testimony.version)
    cues, more_cues = (
        transcript_differences(theirs_body["segments"], body["segments"])
        if "segments" in conflicts
        else ([], 0)
    )
    stale = {
        "taken": taken,
        "conflicts": conflicts,
        "fields": differences(theirs_body, body, conflicts),
        "cues": cues,
        "more_cues": more_cues,
    }
    return _render_edit(form, testimony, status=409, stale=stale)


def _render_edit(
    form, testimony: Testimony, *, status: int = 200, stale=None, delete_form=None, restored: bool = False
):
    return (
        render_template(
            "catalogue/edit.html",
            form=form,
            testimony=testimony,
            theirs=shown_values(service.working_body(testimony)) if stale else None,
            stale=stale,
            submit_form=ActionForm(),
            delete_form=delete_form or DeleteForm(),
            submittable=bool(access.may_submit(current_user, testimony)),
            restored=restored,
            offered=None if restored or status != 200 else drafts.draft_for(current_user, testimony.id),
            duplicates=_flagged_duplicates(testimony) if status == 200 else [],
            recording=_recording(testimony),
            discard_form=ActionForm(),
        ),
        status,
    )


@bp.get("/testimonies/<int:testimony_id>/edit/transcript.vtt")
def transcript(testimony_id: int):
    """The working copy's transcript as the edit page holds it (keywords included), to keep or to
    edit elsewhere and upload again."""
    testimony = editable(testimony_id)
    text = vtt_text(service.working_body(testimony)["segments"], keywords=True)
    return Response(
        text,
        mimetype="text/vtt",
        headers={"Content-Disposition": f'attachment; filename="testimony-{testimony.id}.vtt"'},
    )


@bp.post("/testimonies/<int:testimony_id>/submit")
def submit(testimony_id: int):
    testimony = editable(testimony_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        operations.submit_for_review(current_user, testimony)
    except Conflict as e:
        flash(e.message, "error")
        return redirect(url_for("editor.edit", testimony_id=testimony.id))
    flash(_("“%(title)s” was sent to review.", title=testimony.title), "success")
    return redirect(url_for("editor.mine"))


@bp.post("/testimonies/<int:testimony_id>/delete")
def delete(testimony_id: int):
    testimony = editable(testimony_id)
    delete_form = DeleteForm()
    if not delete_form.validate_on_submit() or not delete_form.confirm.data:
        delete_form.confirm.errors = [_("Tick this box to confirm that the entry should be deleted.")]
        form = TestimonyForm()
        form.fill(service.working_body(testimony))
        form.version.data = str(testimony.version)
        return _render_edit(form, testimony, status=422, delete_form=delete_form)
    operations.delete_testimony(current_user, testimony)
    flash(_("“%(title)s” was deleted. An admin can restore it.", title=testimony.title), "success")
    return redirect(url_for("editor.mine"))


@bp.route("/mine")
@signed_in
def mine():
    entries = service.staff_listing(current_user, mine=True)
    # The visit is recorded as the page is shown; what changed is measured from the visit before.
    previous_visit = service.record_visit(current_user)
    changes = service.changed_since(current_user, previous_visit) if previous_visit else []
    counts = Counter(t.state for t in entries)
    comments = {}
    for testimony in entries:
        wanted = SENT_BACK.get(testimony.state)
        if wanted:
            comments[testimony.id] = next(
                (
                    d
                    for d in review_service.decisions(current_user, testimony)
                    if d.target == "content" and d.decision == wanted
                ),
                None,
            )
    return render_template(
        "catalogue/mine.html",
        entries=entries,
        counts=[(state, counts[state]) for state in State if counts[state]],
        comments=comments,
        previous_visit=previous_visit,
        changes=changes,
        submit_form=ActionForm(),
        submittable={t.id for t in entries if access.may_submit(current_user, t)},
    )
