"""The testimony form: what an archivist types, turned into the API's testimony body and back.

The fields carry text only; `catalogue.service.validate_body` is the one judge of what is valid.
This module reads timecodes and lists, maps the service's field messages (`segments[2].end_ms`,
`narrator.birth_year`, `consent.sealed_until`) back to the inputs, and compares bodies field by field
so an edit saves only what its author changed.
"""

from __future__ import annotations

import re
from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, FieldList, Form, FormField, HiddenField, StringField, TextAreaField

from archive.consent.forms import TIME_HINT, ConsentFields, add_error, plain
from archive.errors import Invalid
from archive.media.transcripts import format_timecode, parse_timecode, parse_vtt

EMPTY_ROWS = 3
MORE_ROWS = 5
SEGMENT_KEYS = ("start_ms", "end_ms", "speaker", "text", "keywords")
_ROW_FIELD = {
    "start_ms": "start",
    "end_ms": "end",
    "speaker": "speaker",
    "text": "text",
    "keywords": "keywords",
}

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
        return tuple(
            tuple(_comparable(item.get(k)) for k in SEGMENT_KEYS) if isinstance(item, dict) else item
            for item in value
        )
    if value is None:
        return ""
    return str(value).strip()


# The catalogue keeps places and subjects in alphabetical order: the order typed means nothing.
_UNORDERED = ("places", "subjects")


def comparable(body: dict) -> dict[str, Any]:
    """Every form field's value in a body, ready to compare with another body's."""
    values = {name: _comparable(read(body)) for name, (_top, read) in _FIELDS.items()}
    return {name: tuple(sorted(v)) if name in _UNORDERED else v for name, v in values.items()}


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


class SegmentRow(Form):
    """One row of the timecoded transcript. A plain Form: the CSRF token is the outer form's."""

    start = StringField(_l("Start"), render_kw={"placeholder": "0:00", "size": 9, "inputmode": "numeric"})
    end = StringField(_l("End"), render_kw={"placeholder": "1:30", "size": 9, "inputmode": "numeric"})
    speaker = StringField(_l("Speaker"), render_kw={"size": 14})
    text = TextAreaField(_l("Text"), render_kw={"rows": 2})
    keywords = StringField(_l("Keywords"), render_kw={"size": 16})

    def is_blank(self) -> bool:
        return not any((field.data or "").strip() for field in self)


class TestimonyForm(FlaskForm):
    """The testimony's description and transcript; the new-testimony page adds the consent."""

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
    segments = FieldList(FormField(SegmentRow), label=_l("Transcript segments"))
    vtt = TextAreaField(
        _l("Or paste a WebVTT transcript"),
        description=_l(
            "When this box is filled, its cues replace the segments above on saving. "
            # Descriptions are rendered as markup, so the tag is written as entities.
            "A voice tag such as &lt;v Narrator&gt; becomes the speaker."
        ),
        render_kw={"rows": 6, "spellcheck": "false"},
    )

    def add_rows(self, count: int) -> None:
        for _row in range(count):
            self.segments.append_entry()

    def _segments(self, errors: dict[str, str]) -> list[dict]:
        """The transcript rows as segments; `self.segment_rows` remembers which row each came from."""
        segments, rows = [], []
        for row_index, entry in enumerate(self.segments.entries):
            row: SegmentRow = entry.form
            if row.is_blank():
                continue
            segment = {
                "start_ms": None,
                "end_ms": None,
                "speaker": (row.speaker.data or "").strip(),
                "text": (row.text.data or "").strip(),
                "keywords": split_list(row.keywords.data),
            }
            for key, field in (("start_ms", row.start), ("end_ms", row.end)):
                if (field.data or "").strip():
                    try:
                        segment[key] = parse_timecode(field.data)
                    except ValueError:
                        errors[f"segments[{len(segments)}].{key}"] = str(TIME_HINT)
            segments.append(segment)
            rows.append(row_index)
        if not errors and all(s["start_ms"] is not None for s in segments):
            # Rows added at the bottom may belong earlier: put them in order of time, as saved.
            order = sorted(range(len(segments)), key=lambda i: segments[i]["start_ms"])
            segments, rows = [segments[i] for i in order], [rows[i] for i in order]
        self.segment_rows = rows
        return segments

    def to_body(self) -> tuple[dict, dict[str, str]]:
        """The testimony body as typed (no consent), and messages for what could not even be read.

        Messages use the service's field names, so show_errors() places both kinds alike.
        """
        errors: dict[str, str] = {}
        self.from_vtt = bool((self.vtt.data or "").strip())
        if self.from_vtt:
            self.segment_rows = []
            try:
                segments = parse_vtt(self.vtt.data)
            except Invalid as e:
                errors.update(e.fields)
                segments = []
        else:
            segments = self._segments(errors)
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
                self._segment_error(index, rest, message)
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

    def _segment_error(self, index: str | None, rest: str | None, message: str) -> None:
        if index is None:
            target = self.vtt if self.from_vtt else None
            if target is not None:
                add_error(target, message)
            else:
                self.form_errors.append(_("Transcript: %(error)s", error=plain(message)))
            return
        i = int(index)
        if self.from_vtt:
            add_error(self.vtt, _("Cue %(n)s: %(error)s", n=i + 1, error=plain(message)))
            return
        row = self.segments.entries[self.segment_rows[i]].form
        key = (rest or "").split("[")[0]
        add_error(row[_ROW_FIELD.get(key, "text")], message)

    def fill(self, body: dict, only: set[str] | None = None) -> None:
        """Show a stored body in the form; `only` names the form fields to replace."""
        values = {name: read(body) for name, (_top, read) in _FIELDS.items()}
        for name, value in values.items():
            if only is not None and name not in only:
                continue
            if name == "segments":
                while self.segments.entries:
                    self.segments.pop_entry()
                for s in value or []:
                    self.segments.append_entry(
                        {
                            "start": format_timecode(s.get("start_ms")),
                            "end": format_timecode(s.get("end_ms")),
                            "speaker": s.get("speaker") or "",
                            "text": s.get("text") or "",
                            "keywords": ", ".join(s.get("keywords") or []),
                        }
                    )
                self.add_rows(EMPTY_ROWS)
            elif name == "languages":
                self[name].data = ", ".join(value or [])
            elif name in ("places", "subjects"):
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
