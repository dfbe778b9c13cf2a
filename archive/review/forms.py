"""Forms of the review pages: a moderator's decision, taking a testimony offline, queue filters,
restoring an old version, comparing two versions, and the admins' audit log filters.

Which decision is allowed, and whether a comment is needed, is the review service's to say; the
forms only carry the words.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import Length, NumberRange, Optional

DECISION_CHOICES = [
    SelectChoice("approve", _l("Approve")),
    SelectChoice("request_changes", _l("Request changes")),
    SelectChoice("reject", _l("Reject")),
]


class DecisionForm(FlaskForm):
    target = HiddenField()
    decision = RadioField(_l("Decision"), choices=DECISION_CHOICES, validate_choice=False)
    comment = TextAreaField(
        _l("Comment"),
        description=_l("Needed to request changes or to reject: the archivist reads it on “My entries”."),
        render_kw={"rows": 4},
    )


class UnpublishForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason"),
        description=_l("Why it is taken offline; kept in the audit log."),
        render_kw={"rows": 3},
    )


class QueueFilterForm(FlaskForm):
    """Filters read from the address, so a filtered queue can be bookmarked."""

    class Meta:
        csrf = False

    archivist = SelectField(_l("Submitted by"), validate_choice=False)
    language = SelectField(_l("Language"), validate_choice=False)
    age = SelectField(_l("Waiting"), validate_choice=False)


class RestoreForm(FlaskForm):
    """Bring an old version back; `if_match` is the version the user saw as current, so a restore
    never overwrites an edit saved meanwhile."""

    if_match = HiddenField()


class CompareForm(FlaskForm):
    """Two versions to compare, read from the address."""

    class Meta:
        csrf = False

    a = SelectField(_l("Older version"), validate_choice=False)
    b = SelectField(_l("Newer version"), validate_choice=False)


class AuditFilterForm(FlaskForm):
    """Filters of the audit log, read from the address so that the CSV export can take the same."""

    class Meta:
        csrf = False

    action = StringField(
        _l("Action begins with"),
        validators=[Optional(), Length(max=60)],
        render_kw={"placeholder": "testimony.publish"},
    )
    actor = SelectField(_l("Done by"), validate_choice=False)
    since = DateField(_l("From (UTC)"), validators=[Optional()])
    until = DateField(_l("To, inclusive (UTC)"), validators=[Optional()])
    page = IntegerField(validators=[Optional(), NumberRange(min=1, max=1_000_000)])
