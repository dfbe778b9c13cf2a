"""The named write operations: each user action that touches several rooms, in one place.

An operation takes the acting user first, asks the feature services to do their parts inside one
unit of work (`archive.unit_of_work`) and commits it once: the change, its audit events and the
search outbox rows for it reach the database together or not at all. Routes, the command line,
the demo loader and the importer call these; the feature services below never call each other
upwards, and none of them commits a user action by itself.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from sqlalchemy.exc import IntegrityError

from archive import access
from archive.access import Access, Permission
from archive.audit.service import record_event
from archive.authority import service as authority
from archive.catalogue import importer
from archive.catalogue import service as catalogue
from archive.catalogue.models import State, Testimony
from archive.consent import service as consent
from archive.consent.models import ConsentVersion
from archive.errors import ArchiveError, Conflict, Forbidden
from archive.media import service as media
from archive.media.models import MediaFile
from archive.review import service as review_service
from archive.search.outbox import drain_after_commit
from archive.unit_of_work import UnitOfWork, unit_of_work

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


def import_file(
    user,
    path: Path,
    *,
    dry_run: bool = False,
    publish: bool = False,
    echo: Callable[[str], None] = print,
) -> importer.ImportReport:
    """Import the testimonies of a JSON, CSV or OHMS XML file as drafts (or published, for an
    admin): each one saved whole in a unit of its own, or refused and reported by where it stands.
    A record whose external_id a testimony has already updates it (an edit, for review like any
    other) or, when it says what is there already, is left alone: a file can be imported again
    after a crash, or after corrections, without making a testimony twice."""
    importer.check_format(path)
    if not access.has_permission(user, Permission.TESTIMONY_CREATE):
        raise Forbidden("Only archivists, moderators and admins may import testimonies.")
    if publish and not access.has_permission(user, Permission.TESTIMONY_IMPORT_PUBLISHED):
        raise Forbidden("Only an admin may publish on import; drop --publish to import drafts for review.")
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
        if n % DRAIN_EVERY == 0 or n == report.total:
            if not dry_run:
                drain_after_commit()
            echo(f"  {n}/{report.total} records read, {report.imported} good")
    return report
