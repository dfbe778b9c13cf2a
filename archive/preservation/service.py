"""Preservation packages: one testimony as a BagIt bag (RFC 8493), checksummed, for the archive's own
custody or for handing on what the public may see.

Two kinds of bag, and the policy decides what goes into each:
- `preservation`: everything the archive holds of the testimony, for its own custody — the working
  copy and the published version, every revision, review decision, consent version and audit event,
  the transcript, and every stored file as uploaded (removed ones too). It is written by someone with
  the instance's own keys (the command line), and it holds real names and signed forms: keep it as
  securely as the database.
- `public`: what an anonymous reader may see, built from the same answers the public pages get
  (`view_for(None, …)`, and the files `media_plan` lets the public fetch, as their public renditions).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import bagit
from flask import current_app
from sqlalchemy import select

from archive.audit.models import AuditEvent
from archive.audit.service import record_event
from archive.catalogue import service as catalogue
from archive.catalogue.models import Testimony
from archive.consent.models import ConsentVersion
from archive.errors import Invalid, NotFound
from archive.extensions import db, get_row
from archive.media import service as media_service
from archive.media.models import MediaFile
from archive.media.transcripts import vtt_text
from archive.review.models import ReviewDecision, Revision

KINDS = ("preservation", "public")


@dataclass
class BagReport:
    path: Path
    files: int
    bytes: int


def _iso(value) -> str | None:
    """A stored time (UTC, without zone) as ISO 8601 with its zone."""
    return value.isoformat() + "Z" if value else None


def _email(user) -> str | None:
    return user.email if user is not None else None


def _write_json(path: Path, value) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")


def _preservation(testimony: Testimony, root: Path) -> str:
    """Write everything; return the title the bag is described by."""
    working = catalogue.working_body(testimony)
    _write_json(
        root / "testimony.json",
        {
            "id": testimony.id,
            "state": testimony.state,
            "version": testimony.version,
            "created_at": _iso(testimony.created_at),
            "created_by": _email(testimony.created_by),
            "updated_at": _iso(testimony.updated_at),
            "updated_by": _email(testimony.updated_by),
            "published_version": testimony.published_revision.version
            if testimony.published_revision
            else None,
            "published_at": _iso(testimony.published_at),
            "deleted_at": _iso(testimony.deleted_at),
            "working_copy": working,
            "published": catalogue.published_body(testimony),
        },
    )
    (root / "transcript.vtt").write_text(vtt_text(working["segments"]), encoding="utf-8")
    revisions = db.session.scalars(
        select(Revision).where(Revision.testimony_id == testimony.id).order_by(Revision.version)
    )
    _write_json(
        root / "revisions.json",
        [
            {
                "version": r.version,
                "parent_version": r.parent_version,
                "note": r.note,
                "author": _email(r.author),
                "created_at": _iso(r.created_at),
                "snapshot": r.snapshot,
            }
            for r in revisions
        ],
    )
    decisions = db.session.scalars(
        select(ReviewDecision).where(ReviewDecision.testimony_id == testimony.id).order_by(ReviewDecision.id)
    )
    _write_json(
        root / "review-decisions.json",
        [
            {
                "version": d.version,
                "target": d.target,
                "decision": d.decision,
                "comment": d.comment,
                "reviewer": _email(d.reviewer),
                "created_at": _iso(d.created_at),
            }
            for d in decisions
        ],
    )
    consents = db.session.scalars(
        select(ConsentVersion)
        .where(ConsentVersion.testimony_id == testimony.id)
        .order_by(ConsentVersion.number)
    )
    _write_json(
        root / "consent.json",
        [
            {
                **c.as_dict(),
                "reason": c.reason,
                "created_at": _iso(c.created_at),
                "created_by": _email(c.created_by),
                "decided_at": _iso(c.decided_at),
                "decided_by": _email(c.decided_by),
                "decision_comment": c.decision_comment,
            }
            for c in consents
        ],
    )
    events = db.session.scalars(
        select(AuditEvent)
        .where(AuditEvent.target_type == "testimony", AuditEvent.target_id == testimony.id)
        .order_by(AuditEvent.id)
    )
    _write_json(
        root / "audit.json",
        [
            {"at": _iso(e.at), "actor_id": e.actor_id, "action": e.action, "details": e.details}
            for e in events
        ],
    )
    files = list(
        db.session.scalars(
            select(MediaFile).where(MediaFile.testimony_id == testimony.id).order_by(MediaFile.id)
        )
    )
    listed = []
    for media in files:
        name = f"media/{media.id}-{media.filename}"
        source = media_service.stored_path(media.sha256)
        if not source.exists():
            raise NotFound(f"The stored file of media {media.id} is missing; run `archive fixity`.")
        (root / "media").mkdir(exist_ok=True)
        shutil.copyfile(source, root / name)
        listed.append({**media.as_entry(), "path": name, "deleted_at": _iso(media.deleted_at)})
    _write_json(root / "media.json", listed)
    return testimony.title


def _public(testimony: Testimony, root: Path) -> str:
    """Write what the public may see; return the public title."""
    try:
        view = catalogue.view_for(None, testimony)
    except NotFound:
        raise NotFound(
            f"Testimony {testimony.id} is not visible to the public, so it has no public bag."
        ) from None
    files = view.pop("media")
    _write_json(root / "testimony.json", view)
    (root / "transcript.vtt").write_text(vtt_text(view["segments"]), encoding="utf-8")
    listed = []
    for entry in files:
        served = media_service.serve(None, media_service.get_media(entry["id"]), wait=True)
        (root / "media").mkdir(exist_ok=True)
        name = f"media/{served.download_name}"
        shutil.copyfile(served.path, root / name)
        listed.append({**{k: v for k, v in entry.items() if k not in ("url", "ready")}, "path": name})
    _write_json(root / "media.json", listed)
    return view["title"]


def export_bag(testimony_id: int, directory: Path, *, kind: str = "preservation") -> BagReport:
    """Write the bag into `directory` (new or empty), validate it, and record the export."""
    if kind not in KINDS:
        raise Invalid("Unknown kind of bag.", {"kind": f"Must be one of: {', '.join(KINDS)}."})
    testimony = get_row(Testimony, testimony_id)
    if testimony is None:
        raise NotFound(f"There is no testimony {testimony_id}.")
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise Invalid("The bag needs a new or empty folder.", {"DIR": f"{directory} is not empty."})
    directory.mkdir(parents=True, exist_ok=True)
    try:
        if kind == "preservation":
            description = _preservation(testimony, directory)
        else:
            description = _public(testimony, directory)
        bag = bagit.make_bag(
            str(directory),
            {
                "Source-Organization": current_app.config.get("ARCHIVE_NAME", "Testimony Archive"),
                "External-Identifier": f"testimony-{testimony.id}",
                "External-Description": description,
                "Bag-Group-Identifier": kind,
                "Version": str(testimony.version),
            },
            checksums=["sha256", "sha512"],
        )
        bag.validate()
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    record_event(None, "testimony.export_bag", testimony, kind=kind, path=str(directory))
    db.session.commit()
    payload = [p for p in (directory / "data").rglob("*") if p.is_file()]
    return BagReport(directory, len(payload), sum(p.stat().st_size for p in payload))
