"""An import sent as one zip: a CSV of testimonies and the WebVTT files its `transcript_file` cells
name, unpacked into a folder of its own and then read as any CSV.

The zip comes from outside, so it is read with care: a member that would land outside the folder
(`../x`, `/etc/x`, `C:\\x`), a link, an encrypted member, more than MAX_MEMBERS members, or more
than the size limit unpacked refuses the whole zip before anything is written; and what is written
is counted as it is written, so headers that lie about sizes (a zip bomb's) change nothing.
"""

from __future__ import annotations

import stat
import zipfile
from pathlib import Path, PurePosixPath

from archive.errors import Invalid

MAX_MEMBERS = 10_000
# Text packs to a tenth or so of its size; a member that unpacks to more than this many times its
# packed size is built to fill a disk, not to carry transcripts.
MAX_RATIO = 200
CHUNK = 1024 * 1024


def _refused(message: str) -> Invalid:
    return Invalid(message, {"file": message})


def _member_path(info: zipfile.ZipInfo) -> PurePosixPath:
    """The member's place inside the folder, or a refusal naming it."""
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    if path.is_absolute() or ":" in path.parts[0] or ".." in path.parts:
        raise _refused(f"“{info.filename}” in the zip leads outside it; nothing was imported.")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise _refused(f"“{info.filename}” in the zip is a link; put the file itself in the zip.")
    if info.flag_bits & 0x1:
        raise _refused(f"“{info.filename}” in the zip is encrypted; make the zip without a password.")
    return path


def _ignored(path: PurePosixPath) -> bool:
    """What a system adds to a zip by itself (macOS's resource forks, hidden files)."""
    return path.parts[0] == "__MACOSX" or any(part.startswith(".") for part in path.parts)


def check(zip_path: Path, max_bytes: int) -> PurePosixPath:
    """Refuse an unsafe zip (Invalid, with the reason under `file`); returns where its CSV lies."""
    try:
        with zipfile.ZipFile(zip_path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError):
        raise _refused("The file is not a zip that can be read.") from None
    if len(members) > MAX_MEMBERS:
        raise _refused(f"The zip holds {len(members)} files; at most {MAX_MEMBERS} are read.")
    csvs, total = [], 0
    for info in members:
        path = _member_path(info)
        total += info.file_size
        if info.file_size > CHUNK and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise _refused(f"“{info.filename}” in the zip unpacks to far more than it holds; refused.")
        if not info.is_dir() and not _ignored(path) and path.suffix.lower() == ".csv":
            csvs.append(path)
    if total > max_bytes:
        raise _refused(f"The zip unpacks to {total} bytes; at most {max_bytes} are read.")
    if len(csvs) != 1:
        found = ", ".join(f"“{p}”" for p in csvs) or "none"
        raise _refused(
            "The zip must hold one CSV file (its transcript_file cells name the .vtt files beside it); "
            f"found {found}."
        )
    return csvs[0]


def unpack(zip_path: Path, folder: Path, max_bytes: int) -> Path:
    """Unpack a checked zip into `folder` (new, empty); returns the path of its CSV file."""
    csv_path = check(zip_path, max_bytes)
    folder.mkdir(parents=True)
    root = folder.resolve()
    written = 0
    with zipfile.ZipFile(zip_path) as archive:
        for info in archive.infolist():
            path = _member_path(info)
            if info.is_dir() or _ignored(path):
                continue
            target = root.joinpath(*path.parts)
            if not target.resolve().is_relative_to(root):
                raise _refused(f"“{info.filename}” in the zip leads outside it; nothing was imported.")
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with archive.open(info) as source, target.open("wb") as out:
                    while chunk := source.read(CHUNK):
                        written += len(chunk)
                        if written > max_bytes:
                            raise _refused(f"The zip unpacks to more than {max_bytes} bytes; refused.")
                        out.write(chunk)
            except (zipfile.BadZipFile, EOFError):
                raise _refused(f"“{info.filename}” in the zip is damaged; nothing was imported.") from None
    return root.joinpath(*csv_path.parts)
