"""The testimony form: what an archivist types, turned into the API's testimony body and back.

The fields carry text only; `catalogue.service.validate_body` is the one judge of what is valid.
This module reads the WebVTT transcript and lists, maps the service's field messages (`segments[2].end_ms`,
`narrator.birth_year`, `consent.sealed_until`) back to the inputs, and compares bodies field by field
so an edit saves only what its author changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from itertools import islice, zip_longest
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.datastructures import FileStorage
from wtforms import BooleanField, FormField, HiddenField, StringField, TextAreaField

from archive.catalogue.service import NAME_LISTS
from archive.consent.forms import ConsentFields, add_error, plain
from archive.errors import Invalid
from archive.media.transcripts import VTT_FIELD, format_timecode, parse_vtt, vtt_text

SEGMENT_KEYS = ("start_ms", "end_ms", "speaker", "text", "keywords")

# Each form field, the top-level body key it belongs to, and how to read its value from a body.
_FIELDS: dict[str, tuple[str, Any]] = {
    "title": ("title", lambda b: b.get("title")),
    "summary": ("summary", lambda b: b.get("summary")),
    "narrator_name": ("narrator", lambda b: (b.get("narrator") or {}).get("name")),
    "narrator_pseudonym": ("narrator", lambda b: (b.get("narrator") or {}).get("pseudonym")),
    "narrator_birth_year": ("narrator", lambda b: (b.get("narrator") or {}).get("birth_year")),
    "narrator_gender": ("narrator", lambda b: (b.get("narrator") or {}).get("gender")),
    "interview_date": ("interview", lambda b: (b.get("interview") or {}).get("date")),
    "interview_place": ("interview", lambda b: (b.get("interview") or {}).get("place")),
    "interviewer": ("interview", lambda b: (b.get("interview") or {}).get("interviewer")),
    "languages": ("interview", lambda b: (b.get("interview") or {}).get("languages")),
    "places": ("places", lambda b: b.get("places")),
    "subjects": ("subjects", lambda b: b.get("subjects")),
    "people": ("people", lambda b: b.get("people")),
    "segments": ("segments", lambda b: b.get("segments")),
}
# The service's field names for the inputs above.
_SERVICE_KEY = {
    "narrator": "narrator_name",
    "narrator.name": "narrator_name",
    "narrator.pseudonym": "narrator_pseudonym",
    "narrator.birth_year": "narrator_birth_year",
    "narrator.gender": "narrator_gender",
    "interview": "interview_date",
    "interview.date": "interview_date",
    "interview.place": "interview_place",
    "interview.interviewer": "interviewer",
    "interview.languages": "languages",
    "title": "title",
    "summary": "summary",
    "places": "places",
    "subjects": "subjects",
    "people": "people",
}
_KEY = re.compile(r"^([^\[]+)(?:\[(\d+)\])?(?:\.(.+))?$")


class Needed:
    """Marks a field the service requires (asterisk, `required` attribute); the check is the service's."""

    field_flags = {"required": True}

    def __call__(self, form, field) -> None:
        return None


def split_list(text: str | None, *, lines: bool = True) -> list[str]:
    """Items typed one per line or separated by commas (or, for codes, by spaces)."""
    pattern = r"[,\n]" if lines else r"[,\s]+"
    return [item.strip() for item in re.split(pattern, text or "") if item.strip()]


def _comparable(value: Any) -> Any:
    """A field's value in one shape, whether it came from a form or from the database."""
    if isinstance(value, list):
        return tuple(_comparable_segment(item) if isinstance(item, dict) else item for item in value)
    if value is None:
        return ""
    return str(value).strip()


def _comparable_segment(segment: dict) -> tuple:
    # WebVTT joins a cue's lines with spaces: a text saved with line breaks reads back unchanged.
    values = {k: _comparable(segment.get(k)) for k in SEGMENT_KEYS}
    values["text"] = " ".join(values["text"].split())
    return tuple(values.values())


def comparable(body: dict) -> dict[str, Any]:
    """Every form field's value in a body, ready to compare with another body's."""
    values = {name: _comparable(read(body)) for name, (_top, read) in _FIELDS.items()}
    # The catalogue keeps its lists of names in alphabetical order: the order typed means nothing.
    return {name: tuple(sorted(v)) if name in NAME_LISTS else v for name, v in values.items()}


def changed_parts(mine: dict, base: dict) -> dict:
    """The top-level parts of `mine` that differ from `base`: what an edit has to send."""
    a, b = comparable(mine), comparable(base)
    return {_FIELDS[name][0]: mine[_FIELDS[name][0]] for name in _FIELDS if a[name] != b[name]}


def shown_values(body: dict) -> dict[str, Any]:
    """Each form field's value in a body as the form shows it; segments stay a list."""
    shown = {}
    for name, (_top, read) in _FIELDS.items():
        value = read(body)
        if name == "segments":
            shown[name] = value or []
        elif isinstance(value, list):
            shown[name] = ", ".join(value)
        else:
            shown[name] = "" if value is None else str(value)
    return shown


# A 409 page compares at most this many cues, so that it stays light whatever the two edits did.
MOST_CUES_COMPARED = 100


@dataclass
class Difference:
    """One field, or one cue, in both versions: each a list of (mark, words), where mark is "same",
    "del" (only in theirs) or "ins" (only in yours)."""

    label: str
    theirs: list[tuple[str, str]]
    mine: list[tuple[str, str]]


def marked_words(theirs: str, mine: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Both texts, word by word, with what only one of them has marked."""
    a, b = theirs.split(), mine.split()
    left: list[tuple[str, str]] = []
    right: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            left.append(("same", " ".join(a[i1:i2])))
            right.append(("same", " ".join(b[j1:j2])))
            continue
        if i2 > i1:
            left.append(("del", " ".join(a[i1:i2])))
        if j2 > j1:
            right.append(("ins", " ".join(b[j1:j2])))
    return left, right


def _cue_words(segment: dict | None) -> str:
    if segment is None:
        return ""
    words = f"{format_timecode(segment.get('start_ms'))}–{format_timecode(segment.get('end_ms'))}"
    if segment.get("speaker"):
        words += f" {segment['speaker']}:"
    words += f" {segment.get('text') or ''}"
    if segment.get("keywords"):
        words += f" [{', '.join(segment['keywords'])}]"
    return words


def transcript_differences(theirs: list[dict], mine: list[dict]) -> tuple[list[Difference], int]:
    """The cues that differ between two transcripts, paired where one replaced the other, and how
    many more differ than are listed (MOST_CUES_COMPARED)."""
    a = [_comparable_segment(s) for s in theirs]
    b = [_comparable_segment(s) for s in mine]
    rows: list[Difference] = []
    for op, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        pairs = zip_longest(range(i1, i2), range(j1, j2))
        for i, j in pairs:
            left, right = marked_words(
                _cue_words(theirs[i] if i is not None else None),
                _cue_words(mine[j] if j is not None else None),
            )
            label = _("Cue %(n)s", n=(j if j is not None else i) + 1)
            rows.append(Difference(str(label), left, right))
    return rows[:MOST_CUES_COMPARED], max(0, len(rows) - MOST_CUES_COMPARED)


def differences(theirs: dict, mine: dict, names: list[str]) -> list[Difference]:
    """The named form fields (not the transcript) in both bodies, as the form shows them, marked."""
    a, b = shown_values(theirs), shown_values(mine)
    return [Difference(name, *marked_words(a[name], b[name])) for name in names if name != "segments"]


class TestimonyForm(FlaskForm):
    """The testimony's description and transcript; the new-testimony page adds the consent.

    The transcript is one WebVTT text, whatever its length: the page stays one text area for a
    thousand segments, works without JavaScript, and the segment editor (archive/static/editor.js)
    writes into the same text.
    """

    version = HiddenField()
    title = StringField(_l("Title"), validators=[Needed()])
    summary = TextAreaField(_l("Summary"), render_kw={"rows": 4})
    narrator_name = StringField(_l("Narrator's name"), description=_l("Give the name, a pseudonym, or both."))
    narrator_pseudonym = StringField(_l("Pseudonym"))
    narrator_birth_year = StringField(_l("Birth year"), render_kw={"inputmode": "numeric", "size": 6})
    narrator_gender = StringField(_l("Gender"))
    interview_date = StringField(_l("Interview date"), render_kw={"type": "date"})
    interview_place = StringField(_l("Interview place"))
    interviewer = StringField(_l("Interviewer"))
    languages = StringField(
        _l("Languages"), description=_l("Language codes separated by commas, e.g. az, ru, en.")
    )
    places = TextAreaField(
        _l("Places"), description=_l("One per line or separated by commas."), render_kw={"rows": 3}
    )
    subjects = TextAreaField(
        _l("Subjects"), description=_l("One per line or separated by commas."), render_kw={"rows": 3}
    )
    people = TextAreaField(
        _l("People mentioned"),
        description=_l(
            "One per line or separated by commas; never the narrator. A name that a narrator who asked "
            "for a pseudonym bears is kept for the staff and shown to nobody else."
        ),
        render_kw={"rows": 3},
    )
    vtt = TextAreaField(
        _l("Transcript (WebVTT)"),
        description=_l(
            # Descriptions are rendered as markup, so the tags are written as entities.
            "One cue per segment: a timing line such as 00:01.000 --&gt; 00:04.000, then its text. "
            "&lt;v Name&gt; before the text gives the speaker; a line "
            "NOTE keywords: first, second before a cue gives its keywords."
        ),
        render_kw={"rows": 18, "spellcheck": "false", "class": "vtt-text"},
    )
    vtt_file = FileField(
        _l("Or upload a .vtt file"),
        description=_l("Its cues replace the text above when you save."),
        render_kw={"accept": ".vtt,text/vtt"},
    )

    def _transcript(self, errors: dict[str, str]) -> list[dict]:
        """The segments of the WebVTT text (or of the uploaded file, which then fills the text)."""
        upload = self.vtt_file.data
        if isinstance(upload, FileStorage) and upload.filename:
            try:
                self.vtt.data = upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                errors[VTT_FIELD] = str(_("The file is not a WebVTT text file (UTF-8)."))
                return []
        text = (self.vtt.data or "").strip()
        if text in ("", "WEBVTT"):
            return []
        try:
            return parse_vtt(text)
        except Invalid as e:
            errors.update(e.fields)
            return []

    def to_body(self) -> tuple[dict, dict[str, str]]:
        """The testimony body as typed (no consent), and messages for what could not even be read.

        Messages use the service's field names, so show_errors() places both kinds alike.
        """
        errors: dict[str, str] = {}
        segments = self._transcript(errors)
        birth_year = (self.narrator_birth_year.data or "").strip()
        body = {
            "title": (self.title.data or "").strip(),
            "summary": (self.summary.data or "").strip(),
            "narrator": {
                "name": (self.narrator_name.data or "").strip(),
                "pseudonym": (self.narrator_pseudonym.data or "").strip() or None,
                "birth_year": int(birth_year) if birth_year.isdigit() else birth_year or None,
                "gender": (self.narrator_gender.data or "").strip() or None,
            },
            "interview": {
                "date": (self.interview_date.data or "").strip() or None,
                "place": (self.interview_place.data or "").strip(),
                "interviewer": (self.interviewer.data or "").strip(),
                "languages": split_list(self.languages.data, lines=False),
            },
            "places": split_list(self.places.data),
            "subjects": split_list(self.subjects.data),
            "people": split_list(self.people.data),
            "segments": segments,
        }
        return body, errors

    def show_errors(self, fields: dict[str, str], body: dict) -> None:
        """Put each of the service's field messages beside the input it is about."""
        for key, message in fields.items():
            if key.startswith("consent.") and isinstance(getattr(self, "consent", None), FormField):
                for rest in self.consent.form.show_errors({key.removeprefix("consent."): message}):
                    self.form_errors.append(rest)
                continue
            match = _KEY.match(key)
            head, index, rest = match.groups() if match else (key, None, None)
            if head == "segments":
                self._segment_error(index, message)
            elif head == "vtt":
                add_error(self.vtt, message)
            elif head in _SERVICE_KEY:
                field = self[_SERVICE_KEY[head]]
                if index is not None:
                    items = _FIELDS[field.name][1](body) or []
                    value = items[int(index)] if int(index) < len(items) else ""
                    message = f"“{value}”: {plain(message)}"
                add_error(field, message)
            else:
                self.form_errors.append(f"{key}: {plain(message)}")

    def _segment_error(self, index: str | None, message: str) -> None:
        """A segment's message on the text, naming its cue and the line of its timing."""
        if index is None:
            add_error(self.vtt, message)
            return
        i = int(index)
        timings = (n for n, line in enumerate((self.vtt.data or "").splitlines(), start=1) if "-->" in line)
        line = next(islice(timings, i, None), None)
        if line is None:
            add_error(self.vtt, _("Cue %(n)s: %(error)s", n=i + 1, error=plain(message)))
        else:
            add_error(
                self.vtt, _("Cue %(n)s (line %(line)s): %(error)s", n=i + 1, line=line, error=plain(message))
            )

    def fill(self, body: dict, only: set[str] | None = None) -> None:
        """Show a stored body in the form; `only` names the form fields to replace."""
        values = {name: read(body) for name, (_top, read) in _FIELDS.items()}
        for name, value in values.items():
            if only is not None and name not in only:
                continue
            if name == "segments":
                self.vtt.data = vtt_text(value or [], keywords=True)
            elif name == "languages":
                self[name].data = ", ".join(value or [])
            elif name in NAME_LISTS:
                self[name].data = "\n".join(value or [])
            else:
                self[name].data = "" if value is None else str(value)


class NewTestimonyForm(TestimonyForm):
    consent = FormField(ConsentFields, label=_l("Consent"))

    def to_body(self) -> tuple[dict, dict[str, str]]:
        body, errors = super().to_body()
        consent, consent_errors = self.consent.form.to_values()
        body["consent"] = consent
        errors.update({f"consent.{key}": message for key, message in consent_errors.items()})
        return body, errors


class ActionForm(FlaskForm):
    """A button that changes something: it carries only the CSRF token."""


class DeleteForm(FlaskForm):
    confirm = BooleanField(_l("Yes, delete this entry"))
