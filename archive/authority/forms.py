"""The name authority's forms: they carry text only; `authority.service` judges what is valid."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField, TextAreaField

from archive.authority.service import MAX_NAME, MAX_NOTE


def _note() -> TextAreaField:
    return TextAreaField(
        _l("Note"),
        description=_l("Who they are, for the archivists: never shown to the public."),
        render_kw={"rows": 2, "maxlength": MAX_NOTE},
    )


class NewEntryForm(FlaskForm):
    """A new place, or a new person with a note."""

    name = StringField(_l("Preferred name"), render_kw={"maxlength": MAX_NAME})
    note = _note()


class RenameForm(FlaskForm):
    name = StringField(
        _l("Preferred name"),
        description=_l("The old name is kept as a variant, so searches for it still find this entry."),
        render_kw={"maxlength": MAX_NAME},
    )


class VariantForm(FlaskForm):
    variant = StringField(
        _l("Variant name"),
        description=_l("Another spelling or script, e.g. Khojaly, Ходжалы or Hocalı for Xocalı."),
        render_kw={"maxlength": MAX_NAME},
    )


class RemoveVariantForm(FlaskForm):
    """One variant's remove button: the variant travels in a hidden field."""

    variant = HiddenField()


class NoteForm(FlaskForm):
    note = _note()


class CoordinatesForm(FlaskForm):
    """Where a place lies, in decimal degrees; both left blank take it off the map."""

    latitude = StringField(
        _l("Latitude"),
        description=_l("Degrees north of the equator; south is negative. For example 40.41."),
        render_kw={"inputmode": "decimal", "maxlength": 24},
    )
    longitude = StringField(
        _l("Longitude"),
        description=_l("Degrees east of Greenwich; west is negative. For example 49.87."),
        render_kw={"inputmode": "decimal", "maxlength": 24},
    )


class SubjectForm(FlaskForm):
    """A subject's label in each interface language; the English one is required."""

    label_en = StringField(_l("In English"), render_kw={"maxlength": MAX_NAME})
    label_az = StringField(_l("In Azerbaijani"), render_kw={"maxlength": MAX_NAME})
    label_ru = StringField(_l("In Russian"), render_kw={"maxlength": MAX_NAME})
