"""Media files: storing uploads under their SHA-256, the renditions other people than staff are
served, streaming decisions and fixity checks.

Who may fetch which file, and whether with passages withheld, is `archive.access`'s question
(`media_plan`); this module only carries the answer out. Staff stream the original file. Everyone
else is served a rendition made with ffmpeg: the file's own metadata stripped (tags written by a
recorder or an editor may hold the narrator's real name) and the consent's redactions silenced
and, in video, blacked out. A rendition is made once per file and set of redactions, in a
process of its own, so that no web worker waits for an encoder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import filetype
from flask import current_app
from sqlalchemy import select

from archive import access
from archive.access import MediaPlan, Permission
from archive.audit.service import record_event
from archive.catalogue.models import Testimony
from archive.errors import ArchiveError, Conflict, Invalid, NotFound
from archive.extensions import db, get_row
from archive.media.models import MediaFile, MediaKind
from archive.timeutil import utcnow

CHUNK = 1024 * 1024

# What an upload's bytes may be, by kind, as the file's own signature tells it (never the name
# or the browser's claim). Containers that can hold sound alone count as audio too.
AUDIO_TYPES = {
    "audio/x-wav": "audio/wav",
    "audio/mpeg": "audio/mpeg",
    "audio/ogg": "audio/ogg",
    "audio/x-flac": "audio/flac",
    "audio/mp4": "audio/mp4",
    "audio/aac": "audio/aac",
    "audio/opus": "audio/ogg",
    "audio/x-aiff": "audio/aiff",
}
VIDEO_TYPES = {
    "video/mp4": "video/mp4",
    "video/webm": "video/webm",
    "video/quicktime": "video/quicktime",
    "video/x-matroska": "video/x-matroska",
    "video/x-msvideo": "video/x-msvideo",
    "video/mpeg": "video/mpeg",
    "video/x-m4v": "video/mp4",
    "video/3gpp": "video/3gpp",
}
FORM_TYPES = {
    "application/pdf": "application/pdf",
    "image/jpeg": "image/jpeg",
    "image/png": "image/png",
    "image/tiff": "image/tiff",
}
ACCEPTED = {
    MediaKind.AUDIO: {**AUDIO_TYPES, "video/webm": "audio/webm", "video/mp4": "audio/mp4"},
    MediaKind.VIDEO: VIDEO_TYPES,
    MediaKind.CONSENT_FORM: FORM_TYPES,
}

# A rendition still being made after this long was left by a process that died.
STALE_RENDERING_SECONDS = 6 * 3600


class TooLarge(ArchiveError):
    status = 413
    code = "too_large"
    default_message = "The file is larger than this archive accepts."


class Preparing(ArchiveError):
    """The rendition the caller may hear is being made; the same request succeeds later."""

    status = 503
    code = "preparing"
    default_message = (
        "This recording is being prepared with its withheld passages silenced; try again shortly."
    )


class NoEncoder(ArchiveError):
    status = 503
    code = "no_encoder"
    default_message = "This recording cannot be served here: the archive's media encoder (ffmpeg) is missing."


# --- storage -----------------------------------------------------------------------------------


def media_root() -> Path:
    return Path(current_app.config["MEDIA_PATH"])


def stored_path(sha256: str) -> Path:
    return media_root() / "files" / sha256[:2] / sha256


def get_media(media_id: int) -> MediaFile:
    media = get_row(MediaFile, media_id)
    if media is None:
        raise NotFound()
    return media


def live_media(testimony: Testimony, *, kinds: tuple[str, ...] | None = None) -> list[MediaFile]:
    """The testimony's files that are not deleted, oldest first."""
    query = select(MediaFile).where(MediaFile.testimony_id == testimony.id, MediaFile.deleted_at.is_(None))
    if kinds:
        query = query.where(MediaFile.kind.in_(kinds))
    return list(db.session.scalars(query.order_by(MediaFile.id)))


def recordings_entry(testimony: Testimony) -> list[dict]:
    """The recordings as a testimony body lists them: part of every revision, reviewed like text."""
    return [m.as_entry() for m in live_media(testimony, kinds=(MediaKind.AUDIO, MediaKind.VIDEO))]


@dataclass
class _Received:
    path: Path
    sha256: str
    size: int
    head: bytes


def _receive(stream: IO[bytes], limit: int) -> _Received:
    """Copy an upload into the media folder's scratch space, hashing it on the way."""
    scratch = media_root() / "incoming"
    scratch.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    head = b""
    handle, name = tempfile.mkstemp(dir=scratch)
    try:
        with os.fdopen(handle, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise TooLarge(
                        f"The file is larger than {limit // (1024 * 1024)} MB.", {"file": "Too large."}
                    )
                if len(head) < 8192:
                    head += chunk[: 8192 - len(head)]
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return _Received(Path(name), digest.hexdigest(), size, head)


def _kind_and_type(head: bytes, declared: str | None) -> tuple[MediaKind, str]:
    guess = filetype.guess(head)
    sniffed = guess.mime if guess is not None else None
    if declared not in (None, ""):
        try:
            kind = MediaKind(declared)
        except ValueError:
            choices = ", ".join(k.value for k in MediaKind)
            raise Invalid("The kind is not valid.", {"kind": f"Must be one of: {choices}."}) from None
        if sniffed not in ACCEPTED[kind]:
            raise Invalid(
                "The file is not of the kind given.",
                {"file": f"Expected {kind.value} but the file is {sniffed or 'of unrecognised content'}."},
            )
        return kind, ACCEPTED[kind][sniffed]
    # Told from the content alone, a video container is a video, unless the upload says it is audio.
    for kind, types in (
        (MediaKind.AUDIO, AUDIO_TYPES),
        (MediaKind.VIDEO, VIDEO_TYPES),
        (MediaKind.CONSENT_FORM, FORM_TYPES),
    ):
        if sniffed in types:
            return kind, types[sniffed]
    raise Invalid(
        "The file is not a recording or a scan this archive keeps.",
        {
            "file": "Accepted: audio (WAV, MP3, Ogg, FLAC, M4A), video (MP4, WebM, MOV, MKV) or a scanned "
            f"form (PDF, JPEG, PNG, TIFF); this file is {sniffed or 'of unrecognised content'}."
        },
    )


def probe_duration(path: Path, mime_type: str) -> int | None:
    """The recording's length in milliseconds: ffprobe where installed, else WAV's own header."""
    ffprobe = shutil.which("ffprobe")
    if ffprobe:
        result = subprocess.run(
            [ffprobe, "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise Invalid(
                "The recording could not be read.",
                {"file": "The file is damaged or not a playable recording."},
            )
        try:
            return round(float(result.stdout.strip()) * 1000)
        except ValueError:
            return None
    if mime_type == "audio/wav":
        try:
            with wave.open(str(path)) as w:
                return round(w.getnframes() * 1000 / w.getframerate())
        except (wave.Error, EOFError):
            raise Invalid("The recording could not be read.", {"file": "The WAV file is damaged."}) from None
    return None


def _clean_filename(name: str | None) -> str:
    name = os.path.basename((name or "").replace("\\", "/")).strip()
    name = "".join(ch for ch in name if ch.isprintable())
    return name[:300] or "upload"


def upload(
    user, testimony: Testimony, stream: IO[bytes], filename: str | None, kind: str | None
) -> MediaFile:
    """Store an uploaded file for a testimony, in the caller's unit of work. A recording joins the
    working copy as an edit (the operation saves that as a new version): it becomes public only
    when a moderator approves that version; a form scan stays with the staff."""
    access.require_on(user, testimony, Permission.TESTIMONY_EDIT)
    if testimony.deleted_at is not None:
        raise NotFound()
    received = _receive(stream, int(current_app.config["MEDIA_MAX_BYTES"]))
    try:
        if received.size == 0:
            raise Invalid("The file is empty.", {"file": "The file is empty."})
        media_kind, mime_type = _kind_and_type(received.head, kind)
        duration = None
        if media_kind is not MediaKind.CONSENT_FORM:
            duration = probe_duration(received.path, mime_type)
        target = stored_path(received.sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            received.path.unlink()
        else:
            os.replace(received.path, target)
    except BaseException:
        received.path.unlink(missing_ok=True)
        raise
    media = MediaFile(
        testimony_id=testimony.id,
        kind=media_kind.value,
        filename=_clean_filename(filename),
        mime_type=mime_type,
        size=received.size,
        sha256=received.sha256,
        duration_ms=duration,
        created_by_id=user.id,
    )
    db.session.add(media)
    db.session.flush()
    record_event(user, "media.upload", testimony, media=media.id, kind=media.kind, sha256=media.sha256)
    return media


def delete(user, media: MediaFile) -> Testimony:
    """Soft delete, in the caller's unit of work: the bytes and the row stay (fixity still checks
    them); nobody is served the file from now on, published version or not, since withholding
    needs no review. Returns the testimony the file belongs to."""
    testimony = db.session.get(Testimony, media.testimony_id)
    access.require_on(user, testimony, Permission.TESTIMONY_EDIT)
    if media.deleted_at is not None:
        raise Conflict("This file is already deleted.")
    if testimony.consent is not None and testimony.consent.form_media_id == media.id:
        raise Conflict("This scan is the signed form of the consent in force; record a new consent first.")
    media.deleted_at = utcnow()
    media.deleted_by_id = user.id
    record_event(user, "media.delete", testimony, media=media.id)
    return testimony


def check_consent_form(testimony: Testimony, media_id: int | None) -> None:
    """A consent's `form` must name a scan uploaded for this very testimony."""
    if media_id is None:
        return
    media = get_row(MediaFile, media_id)
    if (
        media is None
        or media.testimony_id != testimony.id
        or media.kind != MediaKind.CONSENT_FORM
        or media.deleted_at is not None
    ):
        raise Invalid(
            "The consent record is not valid.",
            {"form": "Must be the id of a consent-form scan uploaded for this testimony."},
        )


# --- what a caller is served -------------------------------------------------------------------


@dataclass
class Served:
    path: Path
    mime_type: str
    download_name: str
    etag: str


def serve(user, media: MediaFile, *, wait: bool = False) -> Served:
    """The file this caller may fetch, as the policy decides; NotFound where they may not. With
    `wait`, a rendition not made yet is made now (exports) instead of answering Preparing."""
    testimony = db.session.get(Testimony, media.testimony_id)
    plan = access.media_plan(user, testimony, media, published_recording_ids(testimony))
    if plan.original:
        path = stored_path(media.sha256)
        if not path.exists():
            raise NotFound("The stored file is missing; run `archive fixity`.")
        return Served(path, media.mime_type, media.filename, media.sha256)
    path, mime_type = rendition(media, plan, wait=wait)
    extension = path.suffix
    return Served(path, mime_type, f"testimony-{testimony.id}-{media.id}{extension}", path.stem)


def published_recording_ids(testimony: Testimony) -> frozenset[int]:
    revision = testimony.published_revision
    if revision is None:
        return frozenset()
    return frozenset(int(m["id"]) for m in (revision.snapshot or {}).get("media") or [])


def _rendition_key(media: MediaFile, plan: MediaPlan) -> str:
    ranges = [(int(r["start_ms"]), int(r["end_ms"])) for r in plan.redactions]
    material = json.dumps({"sha256": media.sha256, "kind": media.kind, "silence": ranges})
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def _rendition_format(media: MediaFile) -> tuple[str, str]:
    if media.kind == MediaKind.VIDEO:
        return "mp4", "video/mp4"
    if media.mime_type == "audio/wav":
        return "wav", "audio/wav"
    return "m4a", "audio/mp4"


def rendition_path(media: MediaFile, plan: MediaPlan) -> tuple[Path, str]:
    extension, mime_type = _rendition_format(media)
    return media_root() / "renditions" / f"{_rendition_key(media, plan)}.{extension}", mime_type


def rendition(media: MediaFile, plan: MediaPlan, *, wait: bool = False) -> tuple[Path, str]:
    """The rendition for this plan: made already, or started in a process of its own (Preparing)."""
    path, mime_type = rendition_path(media, plan)
    if path.exists():
        return path, mime_type
    if shutil.which("ffmpeg") is None:
        raise NoEncoder()
    source = stored_path(media.sha256)
    if not source.exists():
        raise NotFound("The stored file is missing; run `archive fixity`.")
    path.parent.mkdir(parents=True, exist_ok=True)
    marker = path.with_suffix(path.suffix + ".making")
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        os.close(fd)
    except FileExistsError:
        if time.time() - marker.stat().st_mtime < STALE_RENDERING_SECONDS:
            if wait:
                return _wait_for(path, marker, mime_type)
            raise Preparing() from None
        marker.unlink(missing_ok=True)
        return rendition(media, plan, wait=wait)
    command = render_command(source, path, media.kind, plan.redactions)
    runner = [sys.executable, "-m", "archive.media.render", str(marker), str(path), *command]
    if wait:
        subprocess.run(runner, check=False)
        if not path.exists():
            raise NotFound("The recording could not be prepared: ffmpeg could not read it.")
        return path, mime_type
    _reap()
    _RENDERING.append(
        subprocess.Popen(runner, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    )
    raise Preparing()


# Renderers this process started; kept so that finished ones are reaped rather than left as zombies.
_RENDERING: list[subprocess.Popen] = []


def _reap() -> None:
    _RENDERING[:] = [p for p in _RENDERING if p.poll() is None]


def wait_for_renderers(timeout: float = 60.0) -> None:
    """Let the renditions this process started finish (a worker shutting down, a test session)."""
    for process in list(_RENDERING):
        process.wait(timeout=timeout)
    _reap()


def _wait_for(path: Path, marker: Path, mime_type: str) -> tuple[Path, str]:
    while marker.exists() and not path.exists():
        time.sleep(0.2)
    if not path.exists():
        raise NotFound("The recording could not be prepared: ffmpeg could not read it.")
    return path, mime_type


def render_command(source: Path, target: Path, kind: str, redactions: list[dict]) -> list[str]:
    """ffmpeg's arguments for a rendition: no metadata, no chapters, withheld stretches silent
    (and black in video). Written to a scratch name that the runner renames when complete.

    Sound is silenced sample by sample (aeval), since filters that switch on whole frames would
    let the start of a withheld stretch through. A video frame shows from its timestamp until the
    next one, so frames from a tenth of a second before a stretch are blacked out too.
    """
    spans = [(int(r["start_ms"]) / 1000, int(r["end_ms"]) / 1000) for r in redactions]
    silent = "+".join(f"between(t,{start:.3f},{end:.3f})" for start, end in spans)
    dark = "+".join(f"between(t,{max(start - 0.1, 0):.3f},{end:.3f})" for start, end in spans)
    command = ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(source)]
    command += ["-map_metadata", "-1", "-map_chapters", "-1", "-fflags", "+bitexact"]
    if kind == MediaKind.VIDEO:
        command += ["-map", "0:v:0", "-map", "0:a?"]
        if dark:
            command += ["-vf", f"drawbox=x=0:y=0:w=iw:h=ih:color=black:t=fill:enable='{dark}'"]
        command += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p"]
    else:
        command += ["-map", "0:a:0", "-vn"]
    if silent:
        command += ["-af", f"aeval='val(ch)*not({silent})':c=same"]
    if target.suffix == ".wav":
        command += ["-c:a", "pcm_s16le"]
    else:
        command += ["-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart"]
    scratch = target.with_name(target.stem + ".partial" + target.suffix)
    return [*command, "-f", {".wav": "wav", ".mp4": "mp4", ".m4a": "ipod"}[target.suffix], str(scratch)]


# --- fixity ------------------------------------------------------------------------------------


@dataclass
class FixityReport:
    checked: int
    bytes: int
    problems: list[str]


def fixity() -> FixityReport:
    """Re-hash every stored file, deleted ones too, against the SHA-256 recorded at upload."""
    problems: list[str] = []
    checked = total = 0
    for media in db.session.scalars(select(MediaFile).order_by(MediaFile.id)):
        path = stored_path(media.sha256)
        checked += 1
        if not path.exists():
            problems.append(
                f"media {media.id} ({media.filename}, testimony {media.testimony_id}): file missing"
            )
            continue
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
                total += len(chunk)
        if digest.hexdigest() != media.sha256:
            problems.append(
                f"media {media.id} ({media.filename}, testimony {media.testimony_id}): SHA-256 is "
                f"{digest.hexdigest()}, recorded {media.sha256}"
            )
    record_event(None, "media.fixity", None, checked=checked, problems=len(problems))
    db.session.commit()
    return FixityReport(checked, total, problems)


def relative_media_url(media_id: int) -> str:
    """The address that streams a file, relative to the archive's root (outside a request)."""
    return f"/media/{media_id}"


def media_for(
    user,
    testimony: Testimony,
    *,
    prepare: bool = False,
    media_url: Callable[[int], str] = relative_media_url,
) -> list[dict]:
    """The testimony's files this caller may fetch, described as far as they may read, with the
    address that streams each one (`media_url`, which the web layer gives as its own). Every file
    is put to the policy's one question, `media_plan`. `ready` says whether the caller's rendition
    exists; with `prepare` a missing one is started."""
    published = published_recording_ids(testimony)
    out = []
    for media in live_media(testimony):
        try:
            plan = access.media_plan(user, testimony, media, published)
        except NotFound:
            continue
        entry = access.media_entry(user, media.as_entry())
        entry["mime_type"] = media.mime_type if plan.original else _rendition_format(media)[1]
        entry["ready"] = plan.original or rendition_path(media, plan)[0].exists()
        if prepare and not entry["ready"]:
            with contextlib.suppress(Preparing, NoEncoder):
                rendition(media, plan)
        entry["url"] = media_url(media.id)
        out.append(entry)
    return out
