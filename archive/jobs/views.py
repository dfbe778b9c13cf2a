"""The import page, and the page of a background job (an import, an index rebuild) with its progress
bar, its JSON for the script that moves the bar, and its report once it is done."""

from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required

from archive import access, operations
from archive.access import Permission
from archive.errors import Invalid
from archive.jobs.forms import ImportForm
from archive.jobs.models import Job, JobKind

bp = Blueprint("jobs", __name__)


@bp.route("/import", methods=["GET", "POST"])
@login_required
def import_page() -> ResponseReturnValue:
    access.require(current_user, Permission.TESTIMONY_CREATE)
    may_publish = access.has_permission(current_user, Permission.TESTIMONY_IMPORT_PUBLISHED)
    form = ImportForm()
    status = 200
    if request.method == "POST":
        if form.validate_on_submit():
            upload = form.file.data
            try:
                job = operations.start_import(
                    current_user,
                    upload.stream,
                    upload.filename,
                    dry_run=form.dry_run.data,
                    publish=may_publish and form.publish.data,
                )
            except Invalid as e:
                form.file.errors = [e.fields.get("file") or e.message]
            else:
                return redirect(url_for("jobs.show", job_id=job.id))
        status = 422
    return (
        render_template(
            "jobs/import.html",
            form=form,
            may_publish=may_publish,
            jobs=operations.recent_jobs(current_user, JobKind.IMPORT),
        ),
        status,
    )


def progress_text(job: Job) -> str:
    if job.kind == JobKind.IMPORT:
        if not job.total:
            return _("Reading the file…")
        return ngettext("%(done)s of %(num)s record", "%(done)s of %(num)s records", job.total, done=job.done)
    if not job.total:
        return _("Reading the database…")
    return ngettext(
        "%(done)s of %(num)s testimony", "%(done)s of %(num)s testimonies", job.total, done=job.done
    )


@bp.get("/jobs/<int:job_id>")
@login_required
def show(job_id: int) -> ResponseReturnValue:
    job = operations.follow_job(current_user, job_id)
    return render_template("jobs/job.html", job=job, progress_text=progress_text(job))


@bp.get("/jobs/<int:job_id>/progress")
@login_required
def progress(job_id: int) -> ResponseReturnValue:
    """What the job page's script needs to move the bar; the page itself shows the report."""
    job = operations.follow_job(current_user, job_id)
    return jsonify(
        {
            "id": job.id,
            "kind": job.kind,
            "state": job.state,
            "done": job.done,
            "total": job.total,
            "finished": job.finished,
            "text": progress_text(job),
        }
    )


@bp.post("/admin/health/rebuild")
@login_required
def rebuild_indexes() -> ResponseReturnValue:
    access.require(current_user, Permission.INDEX_REBUILD)
    job, started = operations.start_index_rebuild(current_user)
    if not started:
        flash(_("A rebuild of the search indexes is already under way; here is its progress."), "info")
    return redirect(url_for("jobs.show", job_id=job.id))
