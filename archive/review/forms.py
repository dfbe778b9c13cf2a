"""Forms of the review pages: a moderator's decision, taking a testimony offline, queue filters.

Which decision is allowed, and whether a comment is needed, is the review service's to say; the
forms only carry the words.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, RadioField, SelectChoice, SelectField, TextAreaField

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
