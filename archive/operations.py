"""The named write operations: each user action that touches several rooms, in one place.

An operation takes the acting user first, asks the feature services to do their parts inside one
unit of work (`archive.unit_of_work`) and commits it once: the change, its audit events and the
search outbox rows for it reach the database together or not at all. Routes, the command line,
the demo loader and the importer call these; the feature services below never call each other
upwards, and none of them commits a user action by itself.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from flask import Flask, current_app
from sqlalchemy.exc import IntegrityError

from archive import access
from archive.access import Access, Permission
from archive.audit.service import record_event
from archive.authority import service as authority
from archive.catalogue import bundle, importer
from archive.catalogue import service as catalogue
from archive.catalogue.models import State, Testimony
from archive.consent import service as consent
from archive.consent.models import ConsentVersion
from archive.errors import ArchiveError, Conflict, Forbidden, Invalid
from archive.extensions import db
from archive.jobs import service as jobs
from archive.jobs.models import Job, JobKind
from archive.media import service as media
from archive.media.models import MediaFile
from archive.review import service as review_service
from archive.search.outbox import drain_after_commit, rebuild
from archive.unit_of_work import UnitOfWork, unit_of_work

log = logging.getLogger(__name__)

# An import applies its outbox rows to the index after this many records, so a long import
# becomes searchable as it goes instead of all at the end.
DRAIN_EVERY = 200


# --- entering and editing -------------------------------------------------------------------------


def create_testimony(
    user,
    data: Any,
    *,
    publish: bool = False,
    note: str = "created",
    then: Callable[[Testimony], None] | None = None,
) -> Testimony:
    """A new draft with its consent (or, for an admin's import, a testimony published at once).
    `then` is called with the new testimony inside the unit of work, so what it saves (the API's
    answer kept for a retried request) is committed with the testimony or not at all."""
    access.require(user, Permission.TESTIMONY_CREATE)
    if publish:
        access.require(user, Permission.TESTIMONY_IMPORT_PUBLISHED)
    body = catalogue.validate_body(data)
    try:
        with unit_of_work() as work:
            testimony = catalogue.add_testimony(user, body, work)
            consent.record_initial_consent(user, testimony, body.get("consent"))
            catalogue.record_revision(user, testimony, parent_version=None, note=note)
            if publish:
                review_service.publish_directly(user, testimony, note, work)
            if then is not None:
                then(testimony)
    except IntegrityError:
        # Another writer gave a testimony this external_id between the check and the commit.
        catalogue.refuse_taken_external_id(body)
        raise
    return testimony


def _edit(user, testimony: Testimony, body: dict, work: UnitOfWork, *, note: str) -> None:
    """A checked edit: its content as a new version, its consent as a new consent version."""
    values = body.pop("consent", None)
    if body:
        catalogue.edit_testimony(user, testimony, body, work, note=note)
    if values is not None:
        consent.change_consent(user, testimony, values, work)


def update_testimony(
    user, testimony: Testimony, data: Any, if_match: Any, *, note: str = "edited"
) -> Testimony:
    """Save an edit of the working copy (and of its consent, if the body holds one) as a new
    version; a published version stays public until the edit is approved. An edit that changes
    nothing saves nothing: no version, no revision, no audit event, nothing to re-index."""
    body = catalogue.changes(testimony, catalogue.checked_edit(user, testimony, data, if_match))
    if not body:
        return testimony
    try:
        with unit_of_work() as work:
            _edit(user, testimony, body, work, note=note)
    except IntegrityError:
        # Another writer gave a testimony this external_id between the check and the commit.
        catalogue.refuse_taken_external_id(body, testimony)
        raise
    return testimony


def restore_revision(user, testimony: Testimony, version: int, if_match: Any) -> Testimony:
    """Bring back an old version's content as a new version; it goes through review like any edit."""
    snapshot = review_service.snapshot_to_restore(user, testimony, version)
    body = catalogue.checked_edit(user, testimony, snapshot, if_match)
    with unit_of_work() as work:
        _edit(user, testimony, body, work, note=f"restored from version {version}")
        record_event(user, "testimony.restore_revision", testimony, version=version, new=testimony.version)
    return testimony


def delete_testimony(user, testimony: Testimony) -> None:
    """Soft delete: the row and its history stay; an admin can restore it."""
    with unit_of_work() as work:
        catalogue.delete_testimony(user, testimony, work)


def restore_testimony(user, testimony: Testimony) -> None:
    with unit_of_work() as work:
        catalogue.restore_testimony(user, testimony, work)


# --- review ---------------------------------------------------------------------------------------


def submit_for_review(user, testimony: Testimony) -> Testimony:
    with unit_of_work() as work:
        review_service.submit_for_review(user, testimony, work)
    return testimony


def review(user, testimony: Testimony, decision: str, comment: str, target: str | None = None) -> Testimony:
    """A moderator's decision on a submission, or (target "consent") on a pending consent widening."""
    decision, comment, target = review_service.checked_decision(user, testimony, decision, comment, target)
    with unit_of_work() as work:
        if target == "consent":
            verdict = "approve" if decision == "approve" else "decline"
            version = consent.decide_consent(user, testimony, verdict, comment, work)
            review_service.record_decision(user, testimony, version.number, "consent", decision, comment)
        else:
            review_service.decide(user, testimony, decision, comment, work)
    return testimony


def approve(user, testimony: Testimony, comment: str = "") -> Testimony:
    return review(user, testimony, "approve", comment)


def request_changes(user, testimony: Testimony, comment: str) -> Testimony:
    return review(user, testimony, "request_changes", comment)


def reject(user, testimony: Testimony, comment: str) -> Testimony:
    return review(user, testimony, "reject", comment)


def unpublish(user, testimony: Testimony, reason: str) -> Testimony:
    with unit_of_work() as work:
        review_service.unpublish(user, testimony, reason, work)
    return testimony


# --- consent --------------------------------------------------------------------------------------


def change_consent(user, testimony: Testimony, values: dict) -> tuple[bool, ConsentVersion]:
    """A new consent version: a narrowing applies at once, a widening waits for a moderator.
    Returns (applied_at_once, version)."""
    with unit_of_work() as work:
        return consent.change_consent(user, testimony, values, work)


def withdraw(user, testimony: Testimony) -> ConsentVersion:
    """The narrator withdraws: the consent in force, with access withdrawn, at once and from every index."""
    current = testimony.consent.as_dict() if testimony.consent is not None else {}
    withdrawn = {**current, "access": Access.WITHDRAWN.value, "sealed_until": None, "release_to": None}
    _, version = change_consent(user, testimony, consent.validate_consent(withdrawn))
    return version


def release_due_seals(now=None) -> list[int]:
    """Open every seal whose day has come; returns the testimonies released."""
    with unit_of_work() as work:
        return consent.release_due_seals(work, now)


# --- recordings and forms -------------------------------------------------------------------------


def add_media(
    user,
    testimony: Testimony,
    stream: IO[bytes],
    filename: str | None,
    kind: str | None,
    *,
    then: Callable[[MediaFile], None] | None = None,
) -> MediaFile:
    """Store an upload; a recording is part of the testimony, so it makes a new version for review.
    `then`, as for `create_testimony`, runs with the stored file inside the unit of work."""
    with unit_of_work() as work:
        stored = media.upload(user, testimony, stream, filename, kind)
        if stored.is_recording:
            catalogue.bump_version(user, testimony, work, note=f"recording added: {stored.filename}")
        if then is not None:
            then(stored)
    return stored


def remove_media(user, stored: MediaFile) -> None:
    """Withhold a file from now on; removing a recording is a new version of its testimony."""
    with unit_of_work() as work:
        testimony = media.delete(user, stored)
        if stored.is_recording:
            catalogue.bump_version(user, testimony, work, note=f"recording removed: {stored.filename}")


# --- import ---------------------------------------------------------------------------------------


def _refusal_to_update(testimony: Testimony) -> str | None:
    """Why an import may not overwrite this testimony, in the words the report gives."""
    if testimony.deleted_at is not None:
        return f"testimony {testimony.id} with this external_id is deleted; an admin may restore it first"
    if testimony.state == State.IN_REVIEW:
        return f"testimony {testimony.id} with this external_id is in review; import again after the decision"
    if testimony.consent is not None and access.effective_access(testimony.consent) is Access.WITHDRAWN:
        return (
            f"testimony {testimony.id} with this external_id was withdrawn by its narrator; it is not changed"
        )
    return None


def _import_entry(
    user, entry: importer.Entry, *, dry_run: bool, publish: bool, note: str
) -> tuple[str, int | None]:
    """Save one checked record: a new testimony, or an edit of the one with its external_id.
    Returns what happened ("added", "updated", "unchanged") and the testimony's id."""
    # Checked as an edit first: a record for a testimony that exists changes what it gives (a cell
    # left blank keeps what is there); a new one is checked whole when it is created.
    checked = catalogue.validate_body(entry.body, partial=True)
    existing = catalogue.by_external_id(checked.get("external_id"))
    if existing is None:
        if dry_run:
            catalogue.validate_body(entry.body)
            return importer.ADDED, None
        return importer.ADDED, create_testimony(user, entry.body, publish=publish, note=note).id
    refusal = _refusal_to_update(existing)
    if refusal is not None:
        raise Conflict(refusal, {"external_id": refusal})
    if not catalogue.changes(existing, checked):
        return importer.UNCHANGED, existing.id
    if not dry_run:
        update_testimony(user, existing, entry.body, existing.version, note=note)
    return importer.UPDATED, existing.id


def _locate_places(user, entry: importer.Entry, report: importer.ImportReport, *, dry_run: bool) -> None:
    """The coordinates a record gives its places go to the name authority where it had none (never
    over an archivist's), and the report names each place so located."""
    if not entry.coordinates or not access.has_permission(user, Permission.AUTHORITY_EDIT):
        return
    for name, latitude, longitude in authority.coordinates_from_import(
        user, entry.coordinates, dry_run=dry_run
    ):
        said = "would be placed" if dry_run else "is placed"
        report.notes.append(
            f"{entry.where}: the place “{name}” {said} at {latitude:g}, {longitude:g} in the name authority, "
            "which had no coordinates for it"
        )


def _may_import(user, publish: bool) -> None:
    if not access.has_permission(user, Permission.TESTIMONY_CREATE):
        raise Forbidden("Only archivists, moderators and admins may import testimonies.")
    if publish and not access.has_permission(user, Permission.TESTIMONY_IMPORT_PUBLISHED):
        raise Forbidden("Only an admin may publish on import; drop --publish to import drafts for review.")


def import_file(
    user,
    path: Path,
    *,
    dry_run: bool = False,
    publish: bool = False,
    echo: Callable[[str], None] = print,
    progress: Callable[[int, int], None] | None = None,
) -> importer.ImportReport:
    """Import the testimonies of a JSON, CSV or OHMS XML file as drafts (or published, for an
    admin): each one saved whole in a unit of its own, or refused and reported by where it stands.
    A record whose external_id a testimony has already updates it (an edit, for review like any
    other) or, when it says what is there already, is left alone: a file can be imported again
    after a crash, or after corrections, without making a testimony twice. `progress(done, total)`
    is called after each record."""
    importer.check_format(path)
    _may_import(user, publish)
    report = importer.ImportReport()
    try:
        source = importer.read_source(path)
    except (ValueError, OSError) as e:
        report.problems.append(f"{path.name}: {e}")
        return report
    report.notes.extend(source.notes)
    report.total = len(source.entries)
    note = f"imported from {path.name}"
    for n, entry in enumerate(source.entries, start=1):
        if entry.problems:
            report.refuse(entry.where, importer.said(importer.all_problems(entry)))
        else:
            try:
                outcome, testimony_id = _import_entry(
                    user, entry, dry_run=dry_run, publish=publish, note=note
                )
                report.record(entry.where, outcome, testimony_id)
                _locate_places(user, entry, report, dry_run=dry_run)
            except ArchiveError as e:
                named = importer.in_file_names(entry, e.fields)
                report.refuse(entry.where, importer.said(named) or e.message)
        if progress is not None:
            progress(n, report.total)
        if n % DRAIN_EVERY == 0 or n == report.total:
            if not dry_run:
                drain_after_commit()
            echo(f"  {n}/{report.total} records read, {report.imported} good")
    return report


# --- background jobs ------------------------------------------------------------------------------

# What the import page takes: the command line's formats, and a zip of a CSV with its .vtt files.
IMPORT_SUFFIXES = (*importer.FORMATS, ".zip")
UPLOAD_CHUNK = 1024 * 1024
# The threads of the jobs this process runs, so a worker shutting down or a test can wait for them.
_RUNNING: list[threading.Thread] = []


def _upload_folder(job: Job) -> Path:
    return Path(current_app.config["INSTANCE_PATH"]) / "imports" / str(job.id)


def _refuse_upload(message: str) -> Invalid:
    return Invalid(message, {"file": message})


def _upload_name(filename: str | None) -> str:
    """The uploaded file's own name, kept for the report, with no folder in it."""
    name = Path((filename or "").replace("\\", "/")).name.strip()
    if not name or name.startswith(".") or "\x00" in name or len(name) > 200:
        raise _refuse_upload("Choose a file to import.")
    if Path(name).suffix.lower() not in IMPORT_SUFFIXES:
        raise _refuse_upload(
            "Import reads .csv (a row per testimony), .json (a list of testimony bodies), .xml (one OHMS "
            "record) or .zip (one CSV with the .vtt files it names) files; name the file by what it holds."
        )
    return name


def _save_upload(stream: IO[bytes], path: Path, max_bytes: int) -> None:
    written = 0
    with path.open("wb") as out:
        while chunk := stream.read(UPLOAD_CHUNK):
            written += len(chunk)
            if written > max_bytes:
                raise _refuse_upload(
                    f"The file is larger than the import limit of {max_bytes // 1024**2} MB."
                )
            out.write(chunk)


def start_import(user, stream: IO[bytes], filename: str | None, *, dry_run: bool, publish: bool) -> Job:
    """Keep an uploaded file and import it (or, for a dry run, check it) in the background, as
    `import_file` does for the command line; returns the job to follow. A file of another kind, one
    over IMPORT_MAX_BYTES and an unsafe zip are refused (Invalid, under `file`) before any job starts."""
    _may_import(user, publish)
    name = _upload_name(filename)
    limit = current_app.config["IMPORT_MAX_BYTES"]
    with unit_of_work():
        job = jobs.create_job(
            user, JobKind.IMPORT, {"filename": name, "dry_run": dry_run, "publish": publish}
        )
        folder = _upload_folder(job)
        try:
            folder.mkdir(parents=True)
            _save_upload(stream, folder / name, limit)
            if name.lower().endswith(".zip"):
                bundle.check(folder / name, limit)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
    _in_background(job.id)
    return job


def start_index_rebuild(user) -> tuple[Job, bool]:
    """Rebuild this server's search indexes in the background. Returns the job and whether it was
    started now: while a rebuild is under way, that one is returned instead of a second."""
    access.require(user, Permission.INDEX_REBUILD)
    with unit_of_work():
        jobs.settle_stale()
        under_way = jobs.running(JobKind.INDEX_REBUILD)
        if under_way is None:
            job = jobs.create_job(user, JobKind.INDEX_REBUILD, {})
    if under_way is not None:
        return under_way, False
    _in_background(job.id)
    return job, True


def follow_job(user, job_id: int) -> Job:
    """A job as its page shows it: one whose process stopped is marked failed first."""
    with unit_of_work():
        jobs.settle_stale()
    return jobs.get_job(user, job_id)


def recent_jobs(user, kind: JobKind) -> list[Job]:
    with unit_of_work():
        jobs.settle_stale()
    return jobs.jobs_of(user, kind)


def wait_for_jobs(timeout: float = 60.0) -> None:
    """Let the jobs this process started finish (a worker shutting down, a test)."""
    for thread in list(_RUNNING):
        thread.join(timeout)
    _RUNNING[:] = [t for t in _RUNNING if t.is_alive()]


def _in_background(job_id: int) -> None:
    app = current_app._get_current_object()
    thread = threading.Thread(target=_run_job, args=(app, job_id), name=f"archive-job-{job_id}", daemon=True)
    _RUNNING[:] = [t for t in _RUNNING if t.is_alive()]
    _RUNNING.append(thread)
    thread.start()


def _beat_while(app: Flask, job_id: int, stop: threading.Event) -> None:
    """Renew the job's heartbeat until it ends, whatever the work is doing meanwhile."""
    with app.app_context():
        every = jobs.heartbeat_every()
        while not stop.wait(every):
            try:
                jobs.beat(job_id)
            except Exception:  # a database that cannot be reached now may answer next time
                log.warning("job %s: the heartbeat could not be written", job_id, exc_info=True)


def _run_job(app: Flask, job_id: int) -> None:
    """A job from start to end, in a thread of its own; its record says how it ended, whatever happens."""
    stop = threading.Event()
    with app.app_context():
        try:
            with unit_of_work():
                job = jobs.begin(job_id)
            threading.Thread(target=_beat_while, args=(app, job_id, stop), daemon=True).start()
            report = _import_job(job) if job.kind == JobKind.IMPORT else _rebuild_job(job)
            # What the work left open (a dry run's reads) is let go: nothing of it is to be saved,
            # and the job's row is read afresh, as its progress was written by other connections.
            db.session.rollback()
            with unit_of_work():
                jobs.finish(job, report)
        except Exception as error:
            db.session.rollback()
            log.exception("job %s failed", job_id)
            message = error.message if isinstance(error, ArchiveError) else f"{type(error).__name__}: {error}"
            with unit_of_work():
                jobs.fail(job_id, message)
        finally:
            stop.set()
            shutil.rmtree(Path(app.config["INSTANCE_PATH"]) / "imports" / str(job_id), ignore_errors=True)
            db.session.remove()


def _import_job(job: Job) -> dict[str, Any]:
    """The import a job names, reported as the command line reports it, record by record."""
    params = job.params
    folder = _upload_folder(job)
    path = folder / params["filename"]
    if path.suffix.lower() == ".zip":
        path = bundle.unpack(path, folder / "unpacked", current_app.config["IMPORT_MAX_BYTES"])
    write = jobs.Progress(job.id)

    def progress(done: int, total: int) -> None:
        # Between records nothing is pending; what this thread last read is let go before another
        # connection writes the progress, so the next record never writes on a stale snapshot.
        db.session.rollback()
        write(done, total)

    report = import_file(
        job.user,
        path,
        dry_run=params["dry_run"],
        publish=params["publish"],
        echo=log.debug,
        progress=progress,
    )
    return {
        "dry_run": params["dry_run"],
        "total": report.total,
        "imported": report.imported,
        "counts": report.counts,
        "notes": report.notes,
        # A file that could not be read at all has no records, only this.
        "unreadable": report.problems if not report.rows else [],
        "rows": report.rows,
    }


def _rebuild_job(job: Job) -> dict[str, Any]:
    return {"testimonies": rebuild(jobs.Progress(job.id))}
