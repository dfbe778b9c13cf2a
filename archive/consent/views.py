"""The consent page of a testimony: the consent in force, a widening that waits, every version
ever recorded, and a form to record a new one.

Whether a change narrows (applies at once) or widens (waits for another moderator) is the consent
service's decision; this page says which happened.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from archive import access, operations
from archive.access import Permission
from archive.catalogue.service import get_testimony
from archive.catalogue.views import access_name
from archive.consent.forms import ConsentForm
from archive.consent.models import ConsentVersion
from archive.consent.service import DEFAULT_CONSENT, validate_consent
from archive.errors import Invalid
from archive.media.models import MediaKind
from archive.media.service import live_media
from archive.media.transcripts import format_timecode

bp = Blueprint("consent", __name__)

# The consent fields in the order a person reads them, with their names on the page.
CONSENT_LABELS = {
    "access": _l("Who may see it"),
    "sealed_until": _l("Sealed until"),
    "release_to": _l("After the seal"),
    "anonymize_narrator": _l("Narrator anonymised"),
    "publish_transcript": _l("Transcript published"),
    "publish_media": _l("Media published"),
    "redactions": _l("Redactions"),
    "signed_on": _l("Signed on"),
    "obtained_by": _l("Obtained by"),
    "guardian": _l("Guardian"),
    "form": _l("Signed form"),
    "notes": _l("Notes"),
}


def consent_value(key: str, value) -> str:
    """One consent value in words."""
    if key in ("access", "release_to"):
        return access_name(value) if value else "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if key == "redactions":
        spans = [
            f"{format_timecode(r['start_ms'])}–{format_timecode(r['end_ms'])} {r.get('reason') or ''}".strip()
            for r in value or []
        ]
        return "; ".join(spans) or "—"
    if key == "form":
        return _("scan no. %(id)s", id=value) if value else "—"
    return str(value) if value not in (None, "") else "—"


def consent_changes(old: dict | None, new: dict) -> list[tuple[str, str, str]]:
    """What differs between two consent records: (field, before, after), in reading order."""
    old = old or {}
    return [
        (str(label), consent_value(key, old.get(key)), consent_value(key, new.get(key)))
        for key, label in CONSENT_LABELS.items()
        if old and (old.get(key) or None) != (new.get(key) or None)
    ]


def pending_changes(testimony) -> list[tuple[str, str, str]]:
    """What the widening that waits would change in the consent in force."""
    pending, current = testimony.pending_consent, testimony.consent
    if pending is None:
        return []
    return consent_changes(current.as_dict() if current else DEFAULT_CONSENT, pending.as_dict())


def _history(versions: list[ConsentVersion]) -> list[dict]:
    """Each version with what changed since the one before it, newest first."""
    rows, previous = [], None
    for version in sorted(versions, key=lambda c: c.number):
        values = version.as_dict()
        rows.append({"version": version, "changes": consent_changes(previous, values)})
        previous = values
    return rows[::-1]


@bp.route("/testimonies/<int:testimony_id>/consent", methods=["GET", "POST"])
def show(testimony_id: int):
    testimony = get_testimony(testimony_id)
    access.require_on(current_user, testimony, Permission.CONSENT_EDIT)
    form = ConsentForm()
    scans = live_media(testimony, kinds=(MediaKind.CONSENT_FORM,))
    form.set_scans(scans)
    status = 200
    if request.method == "GET":
        form.fill(testimony.consent.as_dict() if testimony.consent else DEFAULT_CONSENT)
    else:
        if not form.validate_on_submit():
            abort(400)
        values, errors = form.to_values()
        try:
            clean = validate_consent(values)
            if errors:
                raise Invalid(fields=errors)
        except Invalid as e:
            form.form_errors.append(_("Nothing was recorded: please correct the fields marked below."))
            form.form_errors.extend(form.show_errors({**e.fields, **errors}))
            status = 422
        else:
            applied, version = operations.change_consent(current_user, testimony, clean)
            if applied:
                flash(_("Consent version %(n)s is in force from now on.", n=version.number), "success")
            else:
                flash(
                    _(
                        "This change widens who may see the testimony, so it waits for a moderator "
                        "other than you to approve it. Anything in it that narrows access applies at once."
                    ),
                    "info",
                )
            return redirect(url_for("consent.show", testimony_id=testimony.id))
    current = testimony.consent
    pending = testimony.pending_consent
    return (
        render_template(
            "consent/show.html",
            testimony=testimony,
            form=form,
            current=current,
            pending=pending,
            pending_changes=pending_changes(testimony),
            history=_history(testimony.consents),
            labels=CONSENT_LABELS,
            consent_value=consent_value,
            may_decide=bool(access.may_decide_consent(current_user, pending)),
            scans={m.id: m for m in scans},
        ),
        status,
    )
