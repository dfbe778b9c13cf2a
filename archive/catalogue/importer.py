"""Bulk import of testimonies from JSON, CSV or OHMS XML: reading a file into entries and naming
each entry's problems by where it stands in the file.

Each format only turns its file into testimony bodies (the API's shape); checking is the
catalogue service's, the same for all three. Saving them, each whole or not at all, is the
`import_file` operation's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from archive.catalogue import ohms, spreadsheet
from archive.catalogue.service import validate_body
from archive.catalogue.sources import Entry, Source, json_source
from archive.errors import Invalid

FORMATS = (".json", ".csv", ".xml")


ADDED = "added"
UPDATED = "updated"
UNCHANGED = "unchanged"
REFUSED = "refused"


@dataclass
class ImportReport:
    """What became of each record: `records` names every one, by where it stands in the file."""

    total: int = 0
    imported: int = 0
    """Records taken: added, updated, or found unchanged."""
    problems: list[str] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    """The testimonies this import added or updated, in the file's order."""
    notes: list[str] = field(default_factory=list)
    records: list[tuple[str, str]] = field(default_factory=list)
    """(outcome, line) for every record, in the file's order; a refused one's line says why."""
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys((ADDED, UPDATED, UNCHANGED, REFUSED), 0)
    )
    rows: list[dict] = field(default_factory=list)
    """The same records as data, for a page to lay out: {"where", "outcome", "testimony_id", "why"}."""

    def record(self, where: str, outcome: str, testimony_id: int | None) -> None:
        self.imported += 1
        self.counts[outcome] += 1
        if testimony_id is not None and outcome != UNCHANGED:
            self.ids.append(testimony_id)
        self.records.append(
            (outcome, f"{where}: {outcome}" + (f", testimony {testimony_id}" if testimony_id else ""))
        )
        self.rows.append({"where": where, "outcome": outcome, "testimony_id": testimony_id, "why": ""})

    def refuse(self, where: str, why: str) -> None:
        self.counts[REFUSED] += 1
        self.problems.append(f"{where}: {why}")
        self.records.append((REFUSED, f"{where}: {REFUSED}: {why}"))
        self.rows.append({"where": where, "outcome": REFUSED, "testimony_id": None, "why": why})


def check_format(path: Path) -> None:
    """Refuse a file whose name does not say which of the three formats it holds."""
    if path.suffix.lower() not in FORMATS:
        raise Invalid(
            f"{path.name}: import reads .json (a list of testimony bodies), .csv (a row per testimony) "
            "or .xml (one OHMS record) files; name the file by what it holds."
        )


def read_source(path: Path) -> Source:
    """The testimonies of a file, by its extension. Raises ValueError for a file that cannot be read."""
    readers = {".json": json_source, ".csv": spreadsheet.csv_source, ".xml": ohms.ohms_source}
    return readers[path.suffix.lower()](path)


def in_file_names(entry: Entry, fields: dict[str, str]) -> dict[str, str]:
    """Problems by the body's field names, renamed to the names the file itself uses."""
    named: dict[str, str] = {}
    for key, message in fields.items():
        named.setdefault(entry.source_name(key), message)
    return named


def all_problems(entry: Entry) -> dict[str, str]:
    """Every problem of an entry that already has some, so the report lists them all at once."""
    problems = dict(entry.problems)
    try:
        validate_body(entry.body)
    except Invalid as e:
        for name, message in in_file_names(entry, e.fields).items():
            problems.setdefault(name, message)
    return problems


def said(problems: dict[str, str]) -> str:
    return "; ".join(f"{name}: {message}" for name, message in problems.items())
