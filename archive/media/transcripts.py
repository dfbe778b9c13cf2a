"""Timecoded transcripts as people type and paste them: timecodes like 1:02:03, and WebVTT files.

Both readers return plain segment dicts in the shape of the testimony body; the catalogue service
still validates them, so these only turn text into numbers and say where the text is wrong.
"""

from __future__ import annotations

import html
import re

import webvtt
from webvtt.errors import MalformedCaptionError, MalformedFileError

from archive.errors import Invalid

VTT_FIELD = "vtt"
_TIMECODE = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:[.,](\d{1,3}))?$")
_ARROW = "-->"
# Blocks that carry no cue: comments, style sheets and region definitions.
_NOT_CUES = ("NOTE", "STYLE", "REGION")
_MAX_REPORTED = 5
# A comment block that gives the keywords of the cue after it: WebVTT has no place of its own for
# them, and players skip comments, so the file still plays anywhere.
KEYWORDS_NOTE = "NOTE keywords:"


def parse_timecode(value: str) -> int:
    """Milliseconds from `mm:ss`, `h:mm:ss` (either with an optional `.mmm`) or plain milliseconds.

    Raises ValueError with a message a person can act on.
    """
    value = (value or "").strip()
    if value.isdigit():
        return int(value)
    match = _TIMECODE.match(value)
    if match is None:
        raise ValueError("Write the time as mm:ss, h:mm:ss or milliseconds.")
    hours, minutes, seconds, fraction = match.groups()
    if int(seconds) > 59 or (hours is not None and int(minutes) > 59):
        raise ValueError("Minutes and seconds go up to 59.")
    millis = int((fraction or "0").ljust(3, "0"))
    return ((int(hours or 0) * 60 + int(minutes)) * 60 + int(seconds)) * 1000 + millis


def format_timecode(ms: int | None) -> str:
    """A timecode that parse_timecode reads back to the same number: 1:02:03 or 12:34.500."""
    if ms is None:
        return ""
    seconds, millis = divmod(int(ms), 1000)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
    return f"{text}.{millis:03d}" if millis else text


def _blocks(lines: list[str]) -> list[tuple[int, list[str]]]:
    """Blocks separated by blank lines, each with the 1-based number of its first line."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    start = 0
    for number, line in enumerate(lines, start=1):
        if line.strip():
            if not current:
                start = number
            current.append(line)
        elif current:
            blocks.append((start, current))
            current = []
    if current:
        blocks.append((start, current))
    return blocks


def _read_cue(block: list[str]) -> webvtt.Caption | None:
    """The one caption of a cue block as webvtt-py reads it, or None if it cannot."""
    try:
        captions = webvtt.from_string("WEBVTT\n\n" + "\n".join(block)).captions
    except (MalformedCaptionError, MalformedFileError, ValueError):
        return None
    return captions[0] if len(captions) == 1 else None


def parse_vtt(text: str) -> list[dict]:
    """The segments of a WebVTT transcript; a voice tag `<v Speaker>` becomes the speaker.

    Raises Invalid with one message on the field `vtt` that names the cue and line of each problem.
    """
    lines = (text or "").lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not lines[0].startswith("WEBVTT"):
        message = "Line 1: a WebVTT transcript starts with the line WEBVTT."
        raise Invalid(message, {VTT_FIELD: message})
    problems: list[str] = []
    segments: list[dict] = []
    cue = 0
    keywords: list[str] = []
    for first_line, block in _blocks(lines)[1:]:
        if block[0].startswith(KEYWORDS_NOTE):
            text = " ".join([block[0].removeprefix(KEYWORDS_NOTE), *block[1:]])
            keywords = [word.strip() for word in text.split(",") if word.strip()]
            continue
        if block[0].startswith(_NOT_CUES):
            continue
        cue += 1
        timing_at = next((i for i, line in enumerate(block[:2]) if _ARROW in line), None)
        where = f"Cue {cue} (line {first_line})"
        if timing_at is None:
            problems.append(f"{where}: no timing line like 00:01.000 --> 00:04.000.")
            continue
        where = f"Cue {cue} (line {first_line + timing_at})"
        caption = _read_cue(block)
        if caption is None:
            problems.append(f"{where}: the timing “{block[timing_at].strip()}” cannot be read.")
            continue
        start, end = caption.start_time.in_milliseconds(), caption.end_time.in_milliseconds()
        # Cue text escapes "&", "<" and ">" as entities (see _escape): read back, they are the characters.
        words = html.unescape(" ".join(line.strip() for line in caption.text.split("\n") if line.strip()))
        if end <= start:
            problems.append(f"{where}: the end time must be after the start time.")
        if not words:
            problems.append(f"{where}: the cue has no text.")
        segments.append(
            {
                "start_ms": start,
                "end_ms": end,
                "speaker": html.unescape(caption.voice or "").strip(),
                "text": words,
                "keywords": keywords,
            }
        )
        keywords = []
    if not problems and not segments:
        problems.append("The WebVTT transcript has no cues.")
    if problems:
        message = " ".join(problems[:_MAX_REPORTED])
        if len(problems) > _MAX_REPORTED:
            message += f" (and {len(problems) - _MAX_REPORTED} more problems)"
        raise Invalid("The WebVTT transcript cannot be read.", {VTT_FIELD: message})
    return segments


# --- writing WebVTT ----------------------------------------------------------------------------


def _timestamp(ms: int) -> str:
    hours, rest = divmod(int(ms), 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def _escape(text: str) -> str:
    """Cue text as WebVTT reads it literally: no tags, no entities, no "-->"."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cue(segment: dict, keywords: bool) -> str:
    # A blank line would end the cue early, so only the lines with words are kept.
    lines = [_escape(line.strip()) for line in segment.get("text", "").splitlines() if line.strip()]
    speaker = " ".join((segment.get("speaker") or "").split())
    if speaker and lines:
        lines[0] = f"<v {_escape(speaker)}>{lines[0]}"
    cue = "\n".join([f"{_timestamp(segment['start_ms'])} --> {_timestamp(segment['end_ms'])}", *lines])
    words = [" ".join(word.replace(",", " ").split()) for word in segment.get("keywords") or []]
    if keywords and any(words):
        return f"{KEYWORDS_NOTE} {', '.join(w for w in words if w)}\n\n{cue}"
    return cue


def vtt_text(segments: list[dict], *, keywords: bool = False) -> str:
    """The segments (as a testimony body lists them) as a WebVTT file; with `keywords`, each cue's
    keywords in a comment before it, which parse_vtt reads back (the editor's text keeps them)."""
    return "".join(["WEBVTT\n", *(f"\n{_cue(s, keywords)}\n" for s in segments)])
