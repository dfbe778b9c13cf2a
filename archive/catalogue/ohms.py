"""One testimony from an OHMS XML file (the Oral History Metadata Synchronizer's export), read safely.

The file is untrusted: defusedxml's parser refuses a DTD, entity declarations and external references,
so an entity bomb or a reference to a local file is refused before anything expands. The record's
index points become the segments; without an index, the transcript's [HH:MM:SS] markers, a WebVTT
transcript or the <sync> line map do. OHMS has no consent: the testimony gets the default (staff only).
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden
from defusedxml.ElementTree import DefusedXMLParser

from archive.catalogue.sources import Entry, Source
from archive.errors import Invalid
from archive.media.transcripts import VTT_FIELD, parse_timecode, parse_vtt

LIST_SEPARATOR = re.compile(r"\s*;\s*")
LANGUAGE_SEPARATOR = re.compile(r"\s*[;,/]\s*")
_MARKER = re.compile(r"\[(\d{1,2}:\d{2}:\d{2}(?:[.,]\d{1,3})?)\]")
_SYNC_STAMP = re.compile(r"^(\d+)\((\d+)\)$")
_SEGMENT = re.compile(r"^segments\[(\d+)\](?:\.(\w+))?$")
# OHMS writes the language as a name ("English") or an ISO 639-2 code; the archive keeps BCP 47 tags.
LANGUAGE_TAGS = {
    "english": "en",
    "eng": "en",
    "russian": "ru",
    "rus": "ru",
    "azerbaijani": "az",
    "azeri": "az",
    "aze": "az",
    "turkish": "tr",
    "tur": "tr",
    "armenian": "hy",
    "arm": "hy",
    "hye": "hy",
    "georgian": "ka",
    "geo": "ka",
    "kat": "ka",
    "ukrainian": "uk",
    "ukr": "uk",
    "german": "de",
    "ger": "de",
    "deu": "de",
    "french": "fr",
    "fre": "fr",
    "fra": "fr",
    "spanish": "es",
    "spa": "es",
    "polish": "pl",
    "pol": "pl",
    "hebrew": "he",
    "heb": "he",
    "yiddish": "yi",
    "yid": "yi",
    "arabic": "ar",
    "ara": "ar",
    "persian": "fa",
    "farsi": "fa",
    "per": "fa",
    "fas": "fa",
    "kurdish": "ku",
    "kur": "ku",
    "bosnian": "bs",
    "bos": "bs",
    "serbian": "sr",
    "srp": "sr",
    "croatian": "hr",
    "hrv": "hr",
    "kinyarwanda": "rw",
    "kin": "rw",
}
_TAG = re.compile(r"^[a-z]{2}(-[A-Za-z0-9]{2,8})*$")


class _LineRecordingBuilder(ElementTree.TreeBuilder):
    """Notes the line each element starts on, so a problem can be reported where it stands."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[ElementTree.Element, int] = {}
        self.expat = None

    def start(self, tag, attrs):
        element = super().start(tag, attrs)
        self.lines[element] = self.expat.CurrentLineNumber
        return element


def parse(data: bytes) -> tuple[ElementTree.Element, dict[ElementTree.Element, int]]:
    """The root element and the line of every element. Raises ValueError naming the line."""
    builder = _LineRecordingBuilder()
    parser = DefusedXMLParser(target=builder, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    builder.expat = parser.parser
    try:
        parser.feed(data)
        root = parser.close()
    except ElementTree.ParseError as e:
        line, column = e.position
        reason = str(e).split(":")[0]
        raise ValueError(f"line {line}, column {column + 1}: not well-formed XML ({reason})") from None
    except DefusedXmlException as e:
        line = parser.parser.CurrentLineNumber
        if isinstance(e, DTDForbidden):
            what = "a document type declaration (<!DOCTYPE>)"
        elif isinstance(e, EntitiesForbidden):
            what = "an entity declaration"
        else:
            what = "a reference to an external file"
        raise ValueError(
            f"line {line}: refused: the file holds {what}; OHMS files need none, and they can make "
            "a parser expand text without end or read other files"
        ) from None
    return root, builder.lines


def _local(element: ElementTree.Element) -> str:
    return element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""


def _children(element: ElementTree.Element | None, name: str) -> list[ElementTree.Element]:
    return [child for child in (element if element is not None else ()) if _local(child) == name]


def _child(element: ElementTree.Element | None, name: str) -> ElementTree.Element | None:
    found = _children(element, name)
    return found[0] if found else None


def _text(element: ElementTree.Element | None) -> str:
    return "".join(element.itertext()).strip() if element is not None else ""


def _texts(record: ElementTree.Element, *names: str) -> list[str]:
    """The texts of every child named so, each split on ";" as OHMS lists keywords."""
    out: list[str] = []
    for name in names:
        for element in _children(record, name):
            for item in LIST_SEPARATOR.split(_text(element)):
                if item and item not in out:
                    out.append(item)
    return out


def _seconds_ms(value: str) -> int:
    if ":" in value:
        return parse_timecode(value)
    return round(float(value) * 1000)


def _language(name: str) -> str:
    tag = LANGUAGE_TAGS.get(name.lower())
    if tag is None and _TAG.match(name.lower()):
        tag = name.lower() if len(name) <= 3 else name
    return tag or name


class _Reading:
    """What is learnt while reading one record: the line of each element, the problems, the labels."""

    def __init__(self, record: ElementTree.Element, lines: dict[ElementTree.Element, int]) -> None:
        self.record = record
        self.lines = lines
        self.problems: dict[str, str] = {}
        self.labels: dict[str, str] = {}
        self.segment_labels: list[str] = []
        self.notes: list[str] = []

    def at(self, element: ElementTree.Element | None, name: str) -> str:
        if element is None:
            return f"<{name}> (missing from <record>, line {self.lines[self.record]})"
        return f"<{name}> (line {self.lines[element]})"

    def label(self, field: str, name: str) -> None:
        self.labels[field] = self.at(_child(self.record, name), name)

    def source_name(self, field: str) -> str:
        segment = _SEGMENT.match(field)
        if segment:
            n, part = int(segment.group(1)), segment.group(2)
            where = self.segment_labels[n] if n < len(self.segment_labels) else f"segment {n + 1}"
            return f"{where} {part}" if part else where
        plain = re.sub(r"\[\d+\]$", "", field)
        return self.labels.get(plain, plain)


def _duration(reading: _Reading) -> int | None:
    element = _child(reading.record, "duration")
    value = _text(element)
    if not value:
        return None
    try:
        return _seconds_ms(value)
    except ValueError:
        reading.problems[reading.at(element, "duration")] = f"“{value}” is not a time like 1:02:03."
        return None


def _close(reading: _Reading, timed: list[tuple[int, str, list[str], str]], duration: int | None) -> list:
    """Segments from (start, text, keywords, label): each ends where the next starts, the last with
    the recording."""
    segments = []
    for i, (start, text, keywords, label) in enumerate(timed):
        end = timed[i + 1][0] if i + 1 < len(timed) else duration
        segments.append({"start_ms": start, "end_ms": end, "speaker": "", "text": text, "keywords": keywords})
        reading.segment_labels.append(label)
    if timed and duration is None:
        reading.problems[reading.at(_child(reading.record, "duration"), "duration")] = (
            "the recording's duration (h:mm:ss) is needed to end the last segment."
        )
    return segments


def _index_segments(reading: _Reading, index: ElementTree.Element, duration: int | None) -> list:
    timed = []
    for n, point in enumerate(_children(index, "point"), start=1):
        label = f"<point> {n} (line {reading.lines[point]})"
        time = _text(_child(point, "time"))
        try:
            start = _seconds_ms(time)
        except ValueError:
            reading.problems[label] = f"its <time> “{time}” is not a number of seconds."
            continue
        title, synopsis = _text(_child(point, "title")), _text(_child(point, "synopsis"))
        text = _text(_child(point, "partial_transcript")) or ". ".join(t for t in (title, synopsis) if t)
        keywords = _texts(point, "keywords", "subjects")
        timed.append((start, text, keywords, label))
    return _close(reading, timed, duration)


def _marker_segments(reading: _Reading, transcript: ElementTree.Element, text: str, duration) -> list:
    first_line = reading.lines[transcript]
    timed = []
    matches = list(_MARKER.finditer(text))
    before = text[: matches[0].start()].strip()
    if before:
        timed.append((0, " ".join(before.split()), [], f"<transcript> (line {first_line})"))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        words = " ".join(text[match.end() : end].split())
        line = first_line + text.count("\n", 0, match.start())
        label = f"<transcript> marker [{match.group(1)}] (line {line})"
        try:
            start = parse_timecode(match.group(1))
        except ValueError as e:
            reading.problems[label] = str(e)
            continue
        if words:
            timed.append((start, words, [], label))
    return _close(reading, timed, duration)


def _sync_segments(reading: _Reading, sync: ElementTree.Element, text: str, duration) -> list:
    """Segments from OHMS's legacy line map "1:|13(3)|19(14)": every interval (here one minute)
    ends at that transcript line and word."""
    label = reading.at(sync, "sync")
    interval, _, stamps = _text(sync).partition(":")
    try:
        step = round(float(interval) * 60_000)
    except ValueError:
        step = 0
    if step <= 0:
        reading.problems[label] = f"“{interval}” is not an interval in minutes."
        return []
    words_by_line = [line.split() for line in text.split("\n")]
    cuts = [0]
    for n, stamp in enumerate(stamps.split("|")[1:], start=1):
        found = _SYNC_STAMP.match(stamp.strip())
        if found is None:
            reading.problems[label] = f"entry {n} “{stamp}” is not a line and word like 13(3)."
            return []
        line, word = int(found.group(1)), int(found.group(2))
        cuts.append(sum(len(w) for w in words_by_line[: line - 1]) + word)
    words = [word for line in words_by_line for word in line]
    timed = []
    for n, cut in enumerate(cuts):
        end = cuts[n + 1] if n + 1 < len(cuts) else len(words)
        if cut < end:
            timed.append((n * step, " ".join(words[cut:end]), [], f"{label} interval {n + 1}"))
    return _close(reading, timed, duration)


def _segments(reading: _Reading) -> list:
    record = reading.record
    duration = _duration(reading)
    index = _child(record, "index")
    transcript = _child(record, "transcript")
    # Lines of markers are counted from the tag, so the text is kept as it stands in the file.
    raw = "".join(transcript.itertext()) if transcript is not None else ""
    text = raw.strip()
    if index is not None and _children(index, "point"):
        if text:
            reading.notes.append(
                "its index points became the segments; the full <transcript> was not imported "
                "(add it later as a WebVTT transcript)"
            )
        return _index_segments(reading, index, duration)
    if text.startswith("WEBVTT"):
        try:
            segments = parse_vtt(text)
        except Invalid as e:
            reading.problems[reading.at(transcript, "transcript")] = e.fields.get(VTT_FIELD, e.message)
            return []
        reading.segment_labels.extend(
            f"<transcript> (line {reading.lines[transcript]}) cue {n}" for n in range(1, len(segments) + 1)
        )
        return segments
    if _MARKER.search(text):
        return _marker_segments(reading, transcript, raw, duration)
    sync = _child(record, "sync")
    if text and _text(sync):
        return _sync_segments(reading, sync, text, duration)
    if text:
        reading.notes.append("its <transcript> has no timing, so it was not imported")
    return []


def _record(root: ElementTree.Element, lines: dict) -> ElementTree.Element:
    if _local(root) == "record":
        return root
    records = _children(root, "record")
    if _local(root) != "ROOT" or not records:
        shape = "<ROOT><record>…</record></ROOT>"
        raise ValueError(f"line {lines[root]}: not an OHMS file, which is shaped {shape}")
    if len(records) > 1:
        raise ValueError(
            f"line {lines[records[1]]}: a second <record>; one OHMS file holds one testimony here, "
            "so export each interview to a file of its own"
        )
    return records[0]


def _gps(value: str) -> tuple[float, float] | None:
    """OHMS's "latitude, longitude" in decimal degrees, or None for a value that is not one."""
    parts = [part for part in re.split(r"[,;\s]+", value.strip()) if part]
    try:
        latitude, longitude = (float(part) for part in parts)
    except ValueError:
        return None
    if not (math.isfinite(latitude) and math.isfinite(longitude)):
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    return latitude, longitude


def _located_places(reading: _Reading, places: list[str]) -> list[tuple[str, float, float]]:
    """The places the index points name (OHMS 5's <gpspoints> groups, or older files' elements on
    the point itself), added to `places`; with the coordinates of each that has a <gps>. A point's
    place is its <gps_text>, else its <gps_description>; a <gps> that names no place is left out,
    a <gps> that is not "latitude, longitude" is a problem."""
    located: list[tuple[str, float, float]] = []
    for point in _children(_child(reading.record, "index"), "point"):
        for group in _children(point, "gpspoints") or [point]:
            named = _texts(group, "gps_text") or _texts(group, "gps_description")
            for place in named:
                if place not in places:
                    places.append(place)
            gps = _child(group, "gps")
            value = _text(gps)
            if not value or not named:
                continue
            where = _gps(value)
            if where is None:
                reading.problems[reading.at(gps, "gps")] = (
                    f"“{value}” is not a latitude and longitude in degrees, like “40.41, 49.87”."
                )
            elif named[0] not in (name for name, _lat, _lon in located):
                located.append((named[0], *where))
    return located


def ohms_source(path: Path) -> Source:
    """The one testimony of an OHMS file. Raises ValueError for a file that is not safe, well-formed
    OHMS."""
    root, lines = parse(path.read_bytes())
    record = _record(root, lines)
    reading = _Reading(record, lines)
    date = _child(record, "date")
    languages = [
        _language(name) for name in LANGUAGE_SEPARATOR.split(_text(_child(record, "language"))) if name
    ]
    # The repository's accession number, else OHMS's own id (an element, or the record's
    # attribute): the key a second import of the record finds its testimony by.
    key_element = "accession" if _text(_child(record, "accession")) else "id"
    external_id = _text(_child(record, key_element)) or (record.get("id") or "").strip() or None
    body = {
        "external_id": external_id,
        "title": _text(_child(record, "title")),
        "summary": _text(_child(record, "description")),
        "narrator": {"name": "; ".join(_texts(record, "interviewee"))},
        "interview": {
            "date": (date.get("value", "") if date is not None else "").strip() or _text(date) or None,
            "interviewer": "; ".join(_texts(record, "interviewer")),
            "languages": languages,
        },
        "subjects": _texts(record, "subject", "subjects", "keyword", "keywords"),
        "places": [],
        "segments": _segments(reading),
    }
    coordinates = _located_places(reading, body["places"])
    for field, name in (
        ("external_id", key_element),
        ("title", "title"),
        ("summary", "description"),
        ("narrator.name", "interviewee"),
        ("narrator", "interviewee"),
        ("interview.date", "date"),
        ("interview.interviewer", "interviewer"),
        ("interview.languages", "language"),
        ("subjects", "subject"),
    ):
        reading.label(field, name)
    reading.labels["places"] = "<gps_text>"
    notes = [
        f"{path.name}: OHMS holds no consent; the testimony is kept to staff until a consent is recorded."
    ]
    notes += [f"{path.name}: {note}." for note in reading.notes]
    entry = Entry(path.name, body, reading.problems, reading.source_name, coordinates)
    return Source([entry], notes)
