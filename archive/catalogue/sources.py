"""What an import file holds, read but not yet checked: its entries (one testimony body each, with
the problems found while reading it) and the notes on what of the file was left out.

Every format's reader (JSON here, CSV in `spreadsheet`, OHMS XML in `ohms`) makes these.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path


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
    coordinates: list[tuple[str, float, float]] = field(default_factory=list)
    """Places the file locates, as (name, latitude, longitude): OHMS index points' GPS, for the name
    authority."""


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
