"""Bulk import of testimonies: every record is checked, each is saved whole or not at all, and the
report names each refused record by its number and line."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from archive.errors import ArchiveError, Forbidden, NotAvailable

DRAIN_EVERY = 200


@dataclass
class ImportReport:
    total: int = 0
    imported: int = 0
    problems: list[str] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)


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


def import_file(
    user,
    path: Path,
    *,
    dry_run: bool = False,
    publish: bool = False,
    echo: Callable[[str], None] = print,
) -> ImportReport:
    """Import a JSON list of testimony bodies as drafts (or published, for an admin)."""
    from archive import access
    from archive.access import Permission
    from archive.catalogue.service import create_testimony, validate_body
    from archive.search.outbox import drain

    suffix = path.suffix.lower()
    if suffix in (".csv", ".xml"):
        raise NotAvailable(f"Importing {suffix[1:].upper()} files is not available yet; use JSON.")
    if not access.has_permission(user, Permission.TESTIMONY_CREATE):
        raise Forbidden("Only archivists, moderators and admins may import testimonies.")
    if publish and not access.has_permission(user, Permission.TESTIMONY_IMPORT_PUBLISHED):
        raise Forbidden("Only an admin may publish on import; drop --publish to import drafts for review.")
    report = ImportReport()
    try:
        records = list(json_records(path.read_text(encoding="utf-8")))
    except (ValueError, UnicodeDecodeError) as e:
        report.problems.append(f"{path.name}: {e}")
        return report
    report.total = len(records)
    for n, (line, record) in enumerate(records, start=1):
        try:
            if dry_run:
                validate_body(record)
            else:
                testimony = create_testimony(user, record, publish=publish, note=f"imported from {path.name}")
                report.ids.append(testimony.id)
            report.imported += 1
        except ArchiveError as e:
            details = "; ".join(f"{k}: {v}" for k, v in e.fields.items()) or e.message
            report.problems.append(f"record {n} (line {line}): {details}")
        if n % DRAIN_EVERY == 0 or n == report.total:
            if not dry_run:
                drain()
            echo(f"  {n}/{report.total} records read, {report.imported} good")
    return report
