"""The consent form: the same fields on the new-testimony page and on a testimony's consent page.

The fields only carry text; the consent service validates it. These classes turn typed text into a
consent body, put the service's field messages back beside the fields, and fill the form from a
consent record.
"""

from __future__ import annotations

import re
from typing import Any

from flask_babel import format_date
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, Form, SelectChoice, SelectField, StringField, TextAreaField

from archive.media.transcripts import format_timecode, parse_timecode

ACCESS_CHOICES = [
    SelectChoice("public", _l("Public: anyone may see it")),
    SelectChoice("research", _l("Research: signed-in researchers and staff")),
    SelectChoice("staff", _l("Staff only")),
    SelectChoice("sealed", _l("Sealed: staff only until a date")),
    SelectChoice("withdrawn", _l("Withdrawn: nobody but admins")),
]
RELEASE_CHOICES = [
    SelectChoice("", _l("(not sealed)")),
    SelectChoice("public", _l("Public")),
    SelectChoice("research", _l("Research")),
    SelectChoice("staff", _l("Staff only")),
]
# "12:30-13:05 names a neighbour": dashes of any width, spaces optional around them.
_REDACTION_LINE = re.compile(r"^\s*([0-9:.,]+)\s*[-–—]\s*([0-9:.,]+)\s*(.*)$")
TIME_HINT = _l("Write the time as mm:ss, h:mm:ss or milliseconds.")
# The service speaks of API field names; the form shows the words beside the inputs.
_PLAIN = {
    "Must be after start_ms.": _l("The end must be after the start."),
}


def plain(message: str) -> str:
    """A service message in the words of the form."""
    return str(_PLAIN.get(message, message))


def add_error(field, message: str) -> None:
    """Show one more message beside a field (WTForms keeps a tuple until it validates)."""
    field.errors = [*field.errors, plain(message)]


class ConsentFields(Form):
    """The narrator's consent. A plain Form so it can sit inside another form and share its CSRF token."""

    access = SelectField(_l("Who may see it"), choices=ACCESS_CHOICES, default="staff", validate_choice=False)
    sealed_until = StringField(
        _l("Sealed until"),
        render_kw={"type": "date"},
        description=_l("Only for a sealed testimony: the day the seal ends."),
    )
    release_to = SelectField(
        _l("When the seal ends, it becomes"), choices=RELEASE_CHOICES, default="", validate_choice=False
    )
    anonymize_narrator = BooleanField(_l("Anonymise the narrator (public pages show the pseudonym only)"))
    publish_media = BooleanField(_l("Publish the audio and video"))
    publish_transcript = BooleanField(_l("Publish the transcript"), default=True)
    redactions = TextAreaField(
        _l("Redactions"),
        description=_l(
            "One per line: start-end reason, e.g. 12:30-13:05 names a living neighbour. "
            "These stretches are never shown to the public."
        ),
        render_kw={"rows": 3},
    )
    signed_on = StringField(_l("Signed on"), render_kw={"type": "date"})
    obtained_by = StringField(_l("Obtained by"))
    guardian = StringField(_l("Guardian"), description=_l("Who signed for the narrator, if someone did."))
    notes = TextAreaField(_l("Notes"), render_kw={"rows": 3})
    # The choices are the testimony's uploaded scans, set by the page that shows the form.
    form_scan = SelectField(
        _l("Scan of the signed form"),
        choices=[SelectChoice("", _l("No scan"))],
        default="",
        validate_choice=False,
        description=_l("Scans are uploaded on the testimony’s “Recordings and forms” page."),
    )

    def set_scans(self, scans: list) -> None:
        """Offer the testimony's consent-form scans (MediaFile rows) to choose from."""
        self.form_scan.choices = [SelectChoice("", _("No scan"))] + [
            SelectChoice(str(m.id), f"{m.filename} ({format_date(m.created_at)})") for m in scans
        ]

    def to_values(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The consent body as typed, and the messages for what could not even be read."""
        errors: dict[str, str] = {}
        self._redaction_lines: list[int] = []
        redactions = []
        for number, line in enumerate((self.redactions.data or "").splitlines(), start=1):
            if not line.strip():
                continue
            match = _REDACTION_LINE.match(line)
            if match is None:
                errors.setdefault(
                    "redactions",
                    _("Line %(n)s: write start-end reason, e.g. 12:30-13:05 a name.", n=number),
                )
                continue
            start, end, reason = match.groups()
            try:
                span = {"start_ms": parse_timecode(start), "end_ms": parse_timecode(end)}
            except ValueError:
                errors.setdefault("redactions", _("Line %(n)s: %(error)s", n=number, error=TIME_HINT))
                continue
            redactions.append({**span, "reason": reason.strip()})
            self._redaction_lines.append(number)
        values = {
            "access": self.access.data,
            "sealed_until": (self.sealed_until.data or "").strip() or None,
            "release_to": self.release_to.data or None,
            "anonymize_narrator": bool(self.anonymize_narrator.data),
            "publish_media": bool(self.publish_media.data),
            "publish_transcript": bool(self.publish_transcript.data),
            "redactions": redactions,
            "signed_on": (self.signed_on.data or "").strip() or None,
            "obtained_by": self.obtained_by.data or "",
            "guardian": self.guardian.data or "",
            "notes": self.notes.data or "",
            "form": int(self.form_scan.data) if (self.form_scan.data or "").isdigit() else None,
        }
        return values, errors

    def show_errors(self, fields: dict[str, str]) -> list[str]:
        """Put each message beside its field; return those that belong to no field here."""
        rest = []
        lines = getattr(self, "_redaction_lines", [])
        for key, message in fields.items():
            match = re.match(r"^redactions\[(\d+)\](?:\.(\w+))?$", key)
            if match:
                index = int(match.group(1))
                number = lines[index] if index < len(lines) else index + 1
                text = plain(message)
                add_error(self.redactions, _("Line %(n)s: %(error)s", n=number, error=text))
            elif key == "form":
                add_error(self.form_scan, message)
            elif key in self._fields and key != "csrf_token":
                add_error(self[key], message)
            else:
                rest.append(f"{key}: {plain(message)}")
        return rest

    def fill(self, consent: dict) -> None:
        """Prefill from a consent record as ConsentVersion.as_dict() gives it."""
        self.access.data = consent.get("access") or "staff"
        self.sealed_until.data = consent.get("sealed_until") or ""
        self.release_to.data = consent.get("release_to") or ""
        self.anonymize_narrator.data = bool(consent.get("anonymize_narrator"))
        self.publish_media.data = bool(consent.get("publish_media"))
        self.publish_transcript.data = bool(consent.get("publish_transcript"))
        self.redactions.data = "\n".join(
            f"{format_timecode(r['start_ms'])}-{format_timecode(r['end_ms'])} {r.get('reason') or ''}".strip()
            for r in consent.get("redactions") or []
        )
        self.signed_on.data = consent.get("signed_on") or ""
        self.obtained_by.data = consent.get("obtained_by") or ""
        self.guardian.data = consent.get("guardian") or ""
        self.notes.data = consent.get("notes") or ""
        self.form_scan.data = str(consent.get("form") or "")


class ConsentForm(ConsentFields, FlaskForm):
    """A new consent version for a testimony, on its own page."""
