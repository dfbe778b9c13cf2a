"""Testimonies from a CSV file, a row each, as an archivist fills them in a spreadsheet.

Each row becomes the same testimony body the JSON import and the API take; the report names a bad row
by the line it starts on (a quoted cell may span lines), its row number under the header, and the column.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from archive.catalogue.sources import Entry, Source, read_text
from archive.errors import Invalid
from archive.media.transcripts import VTT_FIELD, parse_vtt

TEXT_COLUMNS = {
    "external_id": ("external_id",),
    "title": ("title",),
    "summary": ("summary",),
    "narrator_name": ("narrator", "name"),
    "narrator_pseudonym": ("narrator", "pseudonym"),
    "narrator_birth_year": ("narrator", "birth_year"),
    "narrator_gender": ("narrator", "gender"),
    "interview_date": ("interview", "date"),
    "interview_place": ("interview", "place"),
    "interviewer": ("interview", "interviewer"),
}
LIST_COLUMNS = {
    "languages": ("interview", "languages"),
    "places": ("places",),
    "subjects": ("subjects",),
    "people": ("people",),
}
CONSENT_TEXT = ("access", "sealed_until", "release_to", "signed_on", "obtained_by", "guardian", "notes")
CONSENT_YES_NO = ("anonymize_narrator", "publish_media", "publish_transcript")
TRANSCRIPT_COLUMNS = ("transcript_vtt", "transcript_file")
COLUMNS = (
    *TEXT_COLUMNS,
    *LIST_COLUMNS,
    *(f"consent_{name}" for name in CONSENT_TEXT + CONSENT_YES_NO),
    *TRANSCRIPT_COLUMNS,
)
YES = {"yes", "true", "1"}
NO = {"no", "false", "0"}
LIST_SEPARATOR = ";"
# A transcript pasted into one cell is longer than the csv module's default limit of 128 KiB allows.
CELL_LIMIT = 16 * 1024 * 1024
_FIELD_TO_COLUMN = {".".join(path): column for column, path in {**TEXT_COLUMNS, **LIST_COLUMNS}.items()}
_SEGMENT = re.compile(r"^segments\[(\d+)\](?:\.(\w+))?$")


def column_key(header: str) -> str:
    """ "Narrator name", "narrator-name" and "narrator_name" all name the same column."""
    return re.sub(r"[\s\-]+", "_", header.strip().lower())


def _columns(header: list[str]) -> list[str | None]:
    """The known column of each header cell (None for a blank one); ValueError naming what is wrong."""
    keys = [column_key(cell) or None for cell in header]
    unknown = [cell.strip() for cell, key in zip(header, keys, strict=True) if key and key not in COLUMNS]
    repeated = sorted({k for k in keys if k and keys.count(k) > 1})
    problems = []
    if "title" not in keys:
        problems.append("the header row has no title column")
    if unknown:
        named = ", ".join(f"“{name}”" for name in unknown)
        problems.append(f"unknown columns {named} (the columns are: {', '.join(COLUMNS)})")
    if repeated:
        problems.append(f"columns named twice: {', '.join(repeated)}")
    if problems:
        raise ValueError("line 1: " + "; ".join(problems))
    return keys


def _yes_no(value: str, column: str, problems: dict[str, str]) -> bool | None:
    word = value.lower()
    if word in YES:
        return True
    if word in NO:
        return False
    problems[column] = f"“{value}” is not yes or no (write yes/no, true/false or 1/0)."
    return None


def _transcript_text(value: str, folder: Path, problems: dict[str, str]) -> str | None:
    """The text of the .vtt file a transcript_file cell names, if it lies inside the CSV's folder."""
    relative = Path(value.replace("\\", "/"))
    if relative.is_absolute():
        problems["transcript_file"] = f"“{value}” must be a path relative to the CSV file's folder."
        return None
    target = (folder / relative).resolve()
    if not target.is_relative_to(folder.resolve()):
        problems["transcript_file"] = f"“{value}” leads outside the CSV file's folder; keep it inside."
        return None
    if target.suffix.lower() != ".vtt":
        problems["transcript_file"] = f"“{value}” must name a WebVTT (.vtt) file."
        return None
    if not target.is_file():
        problems["transcript_file"] = f"there is no file “{value}” beside the CSV file."
        return None
    try:
        return read_text(target)
    except ValueError as e:
        problems["transcript_file"] = f"“{value}”, {e}."
        return None


def _body(cells: dict[str, str], folder: Path, problems: dict[str, str]) -> dict:
    """The testimony body of one row; what cannot be read goes into problems, by column."""
    body: dict = {"narrator": {}, "interview": {}}
    for column, path in TEXT_COLUMNS.items():
        if cells.get(column):
            target = body
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = cells[column]
    for column, path in LIST_COLUMNS.items():
        if cells.get(column):
            items = [item.strip() for item in cells[column].split(LIST_SEPARATOR) if item.strip()]
            if len(path) == 2:
                body[path[0]][path[1]] = items
            else:
                body[path[0]] = items
    if any(cells.get(f"consent_{name}") for name in CONSENT_TEXT + CONSENT_YES_NO):
        consent: dict = {n: cells[f"consent_{n}"] for n in CONSENT_TEXT if cells.get(f"consent_{n}")}
        for name in CONSENT_YES_NO:
            column = f"consent_{name}"
            if cells.get(column):
                answer = _yes_no(cells[column], column, problems)
                if answer is not None:
                    consent[name] = answer
        consent.setdefault("access", "")
        body["consent"] = consent
    vtt, file = cells.get("transcript_vtt"), cells.get("transcript_file")
    if vtt and file:
        problems["transcript_file"] = "give the transcript in transcript_vtt or transcript_file, not both."
    elif vtt or file:
        column = "transcript_vtt" if vtt else "transcript_file"
        text = vtt if vtt else _transcript_text(file, folder, problems)
        if text is not None:
            try:
                body["segments"] = parse_vtt(text)
            except Invalid as e:
                problems[column] = e.fields.get(VTT_FIELD, e.message)
    return body


def _source_name(transcript_column: str):
    def source_name(field: str) -> str:
        segment = _SEGMENT.match(field)
        if segment:
            cue, part = int(segment.group(1)) + 1, segment.group(2)
            return f"{transcript_column}: cue {cue}" + (f" {part}" if part else "")
        if field == "segments":
            return transcript_column
        if field.startswith("consent."):
            return "consent_" + field.removeprefix("consent.")
        plain = re.sub(r"\[\d+\]$", "", field)
        return _FIELD_TO_COLUMN.get(plain, plain)

    return source_name


def csv_source(path: Path) -> Source:
    """One entry per non-blank row under the header. Raises ValueError for a header it cannot use."""
    csv.field_size_limit(max(csv.field_size_limit(), CELL_LIMIT))
    reader = csv.reader(io.StringIO(read_text(path), newline=""))
    try:
        header = next(reader, None)
        if header is None:
            raise ValueError("line 1: the file is empty; the first row names the columns")
        keys = _columns(header)
        entries: list[Entry] = []
        unconsented = 0
        row_number, last_line = 0, reader.line_num
        for cells in reader:
            first_line, last_line = last_line + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            row_number += 1
            problems: dict[str, str] = {}
            if len(cells) > len(keys):
                problems["row"] = f"it has {len(cells)} cells but the header names {len(keys)} columns."
            named = {}
            for key, cell in zip(keys, cells, strict=False):
                if key is None and cell.strip():
                    problems["row"] = "a cell under a header cell that is blank; name that column."
                elif key is not None:
                    named[key] = cell.strip()
            body = _body(named, path.parent, problems)
            if "consent" not in body:
                unconsented += 1
            transcript_column = "transcript_file" if named.get("transcript_file") else "transcript_vtt"
            where = f"line {first_line} (row {row_number})"
            entries.append(Entry(where, body, problems, _source_name(transcript_column)))
    except csv.Error as e:
        raise ValueError(f"line {reader.line_num}: not readable as CSV ({e})") from None
    notes = []
    if unconsented:
        notes.append(
            f"{path.name}: {unconsented} rows give no consent; "
            "they are kept to staff until a consent is recorded."
        )
    return Source(entries, notes)
