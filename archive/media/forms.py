"""The staff's upload form for recordings and consent-form scans."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import SelectChoice, SelectField

KIND_CHOICES = [
    SelectChoice("", _l("Tell from the file")),
    SelectChoice("audio", _l("Audio recording")),
    SelectChoice("video", _l("Video recording")),
    SelectChoice("consent_form", _l("Scan of the signed consent form")),
]


class UploadForm(FlaskForm):
    file = FileField(_l("File"), validators=[FileRequired(_l("Choose a file to upload."))])
    kind = SelectField(_l("Kind"), choices=KIND_CHOICES, default="")
