"""Bulk import of testimonies from JSON, CSV or OHMS XML: every record is checked, each is saved whole
or not at all, and the report names each refused record by where it stands in the file.

Each format only turns its file into testimony bodies (the API's shape); checking and saving is the
catalogue service's, the same for all three.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from archive.errors import ArchiveError, Forbidden, Invalid

DRAIN_EVERY = 200
FORMATS = (".json", ".csv", ".xml")


@dataclass
class ImportReport:
    total: int = 0
    imported: int = 0
    problems: list[str] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _same_name(name: str) -> str:
    return name


@dataclass
class Entry:
    """One testimony as a file gives it, before the catalogue checks it."""

    where: str
    """How the report names it: "record 4 (line 5)", "line 7 (row 3)", "interview.xml"."""
    body: dict
    problems: dict[str, str] = field(default_factory=dict)
    """What was wrong before the body could be made (a bad yes/no, a missing file), by source name."""
    source_name: Callable[[str], str] = _same_name
    """Turns a field name of the body ("narrator.birth_year") into the file's own ("narrator_birth_year")."""


@dataclass
class Source:
    entries: list[Entry]
    notes: list[str] = field(default_factory=list)


def read_text(path: Path) -> str:
    """The file as text: UTF-8, with or without a byte order mark. Raises ValueError naming the line."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ValueError(f"line {line}: not UTF-8 text; save the file as UTF-8") from None


def json_records(text: str) -> Iterator[tuple[int, object]]:
    """Yield (line, record) for each element of a top-level JSON list, so errors can name lines."""
    decoder = json.JSONDecoder()
    pos = _skip_space(text, 0)
    if pos >= len(text) or text[pos] != "[":
        raise ValueError("line 1: the file must hold a JSON list of testimonies")
    pos = _skip_space(text, pos + 1)
    if pos < len(text) and text[pos] == "]":
        return
    while True:
        line = text.count("\n", 0, pos) + 1
        try:
            record, pos = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            raise ValueError(f"line {e.lineno}: not valid JSON ({e.msg})") from None
        yield line, record
        pos = _skip_space(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_space(text, pos + 1)
            continue
        if pos < len(text) and text[pos] == "]":
            return
        raise ValueError(f"line {text.count(chr(10), 0, pos) + 1}: expected ',' or ']' between records")


def _skip_space(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


def json_source(path: Path) -> Source:
    records = list(json_records(read_text(path)))
    return Source([Entry(f"record {n} (line {line})", body) for n, (line, body) in enumerate(records, 1)])


def read_source(path: Path) -> Source:
    """The testimonies of a file, by its extension. Raises ValueError for a file that cannot be read."""
    from archive.catalogue import ohms, spreadsheet

    readers = {".json": json_source, ".csv": spreadsheet.csv_source, ".xml": ohms.ohms_source}
    return readers[path.suffix.lower()](path)


def _named(entry: Entry, fields: dict[str, str]) -> dict[str, str]:
    named: dict[str, str] = {}
    for key, message in fields.items():
        named.setdefault(entry.source_name(key), message)
    return named


def _all_problems(entry: Entry) -> dict[str, str]:
    """Every problem of an entry that already has some, so the report lists them all at once."""
    from archive.catalogue.service import validate_body

    problems = dict(entry.problems)
    try:
        validate_body(entry.body)
    except Invalid as e:
        for name, message in _named(entry, e.fields).items():
            problems.setdefault(name, message)
    return problems


def _said(problems: dict[str, str]) -> str:
    return "; ".join(f"{name}: {message}" for name, message in problems.items())


def import_file(
    user,
    path: Path,
    *,
    dry_run: bool = False,
    publish: bool = False,
    echo: Callable[[str], None] = print,
) -> ImportReport:
    """Import the testimonies of a JSON, CSV or OHMS XML file as drafts (or published, for an admin)."""
    from archive import access
    from archive.access import Permission
    from archive.catalogue.service import create_testimony, validate_body
    from archive.search.outbox import drain

    if path.suffix.lower() not in FORMATS:
        raise Invalid(
            f"{path.name}: import reads .json (a list of testimony bodies), .csv (a row per testimony) "
            "or .xml (one OHMS record) files; name the file by what it holds."
        )
    if not access.has_permission(user, Permission.TESTIMONY_CREATE):
        raise Forbidden("Only archivists, moderators and admins may import testimonies.")
    if publish and not access.has_permission(user, Permission.TESTIMONY_IMPORT_PUBLISHED):
        raise Forbidden("Only an admin may publish on import; drop --publish to import drafts for review.")
    report = ImportReport()
    try:
        source = read_source(path)
    except (ValueError, OSError) as e:
        report.problems.append(f"{path.name}: {e}")
        return report
    report.notes.extend(source.notes)
    report.total = len(source.entries)
    for n, entry in enumerate(source.entries, start=1):
        if entry.problems:
            report.problems.append(f"{entry.where}: {_said(_all_problems(entry))}")
        else:
            try:
                if dry_run:
                    validate_body(entry.body)
                else:
                    note = f"imported from {path.name}"
                    testimony = create_testimony(user, entry.body, publish=publish, note=note)
                    report.ids.append(testimony.id)
                report.imported += 1
            except ArchiveError as e:
                report.problems.append(f"{entry.where}: {_said(_named(entry, e.fields)) or e.message}")
        if n % DRAIN_EVERY == 0 or n == report.total:
            if not dry_run:
                drain()
            echo(f"  {n}/{report.total} records read, {report.imported} good")
    return report
