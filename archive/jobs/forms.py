"""The import page's form."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField


class ImportForm(FlaskForm):
    file = FileField(
        _l("File to import"),
        validators=[FileRequired(_l("Choose a file to import."))],
        description=_l(
            "A CSV (a header row, then a row per testimony), a JSON list of testimony bodies, one OHMS "
            "XML record, or a zip holding one CSV and the .vtt files its transcript_file column names."
        ),
    )
    dry_run = BooleanField(
        _l("Only check the file (dry run): report every record, save nothing"), default=True
    )
    publish = BooleanField(_l("Publish at once, without review (admins only)"))
