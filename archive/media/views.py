"""Media routes: streaming a file to whoever the policy lets fetch it (with Range requests), and the
staff page where recordings and consent-form scans are uploaded and removed."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from archive import access, operations
from archive.access import Permission
from archive.catalogue import service as catalogue
from archive.catalogue.forms import ActionForm
from archive.errors import Conflict, Invalid
from archive.media import service
from archive.media.forms import UploadForm
from archive.media.models import MediaKind

bp = Blueprint("media", __name__)


def stream_url(media_id: int) -> str:
    """The full address that streams a file: what pages and the API give the services to list."""
    return url_for("media.stream", media_id=media_id, _external=True)


@bp.get("/media/<int:media_id>")
def stream(media_id: int) -> ResponseReturnValue:
    """The file as the caller may fetch it. Range requests give 206 with the asked bytes, so players
    can seek; every request, partial or not, is put to the policy again."""
    served = service.serve(current_user, service.get_media(media_id))
    response = send_file(
        served.path,
        mimetype=served.mime_type,
        conditional=True,
        etag=served.etag,
        download_name=served.download_name,
        as_attachment=request.args.get("download") == "1",
        max_age=0,
    )
    # Consent can narrow at any moment: no shared cache may keep a copy, a browser must ask again.
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.route("/testimonies/<int:testimony_id>/media", methods=["GET", "POST"])
def manage(testimony_id: int) -> ResponseReturnValue:
    testimony = catalogue.get_testimony(testimony_id)
    access.require_on(current_user, testimony, Permission.TESTIMONY_EDIT)
    form = UploadForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            upload = form.file.data
            try:
                media = operations.add_media(
                    current_user, testimony, upload.stream, upload.filename, form.kind.data
                )
            except (Invalid, service.TooLarge) as e:
                form.file.errors = [e.fields.get("file") or e.fields.get("kind") or e.message]
                status = 422
            else:
                if media.is_recording:
                    flash(
                        _("“%(name)s” was added as version %(version)s; it becomes public when a moderator "
                          "approves that version.", name=media.filename, version=testimony.version),
                        "success",
                    )  # fmt: skip
                else:
                    flash(_("“%(name)s” was stored with the staff’s files.", name=media.filename), "success")
                return redirect(url_for("media.manage", testimony_id=testimony.id))
        else:
            status = 422
    return (
        render_template(
            "media/manage.html",
            testimony=testimony,
            form=form,
            files=service.media_for(current_user, testimony, media_url=stream_url),
            stored={m.id: m for m in service.live_media(testimony)},
            delete_form=ActionForm(),
            form_in_force=testimony.consent.form_media_id if testimony.consent else None,
            MediaKind=MediaKind,
        ),
        status,
    )


@bp.post("/media/<int:media_id>/delete")
def delete(media_id: int) -> ResponseReturnValue:
    media = service.get_media(media_id)
    testimony = catalogue.get_testimony(media.testimony_id)
    access.require_on(current_user, testimony, Permission.TESTIMONY_EDIT)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        operations.remove_media(current_user, media)
    except Conflict as e:
        flash(e.message, "error")
    else:
        flash(_("“%(name)s” was removed. It is kept in storage and an admin can still see it.",
                name=media.filename), "success")  # fmt: skip
    return redirect(url_for("media.manage", testimony_id=testimony.id))
