"""Consent versions: narrowing takes effect at once, widening waits for a second person.

A seal opens by itself: effective_access() reads the date when asked, and release_due_seals()
records the release in the history and sends the testimony back through the indexes. Each write
is done inside a unit of work its caller commits; consent knows no review workflow.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from archive import access
from archive.access import Access, Permission
from archive.audit.service import record_event
from archive.catalogue.models import Testimony
from archive.consent.models import ConsentVersion
from archive.errors import Conflict, Forbidden, Invalid
from archive.extensions import db
from archive.fields import FieldChecker
from archive.media.service import check_consent_form
from archive.timeutil import today, utcnow
from archive.unit_of_work import UnitOfWork

CONSENT_FIELDS = {
    "access",
    "sealed_until",
    "release_to",
    "anonymize_narrator",
    "publish_media",
    "publish_transcript",
    "redactions",
    "signed_on",
    "obtained_by",
    "form",
    "guardian",
    "notes",
    "version",
    "status",
}
DEFAULT_CONSENT = {
    "access": "staff",
    "sealed_until": None,
    "release_to": None,
    "anonymize_narrator": False,
    "publish_media": False,
    "publish_transcript": True,
    "redactions": [],
    "signed_on": None,
    "obtained_by": "",
    "form": None,
    "guardian": "",
    "notes": "",
}


def validate_consent(data: Any) -> dict:
    """A clean consent record, or Invalid naming each bad field."""
    check = FieldChecker()
    if not isinstance(data, dict):
        raise Invalid("Consent must be an object.", {"consent": "Must be an object."})
    for key in data:
        if key not in CONSENT_FIELDS:
            check.fail(key, "Unknown field.")
    out = dict(DEFAULT_CONSENT)
    level = data.get("access")
    try:
        out["access"] = Access(level).value
    except ValueError:
        choices = ", ".join(a.value for a in Access)
        check.fail("access", f"Must be one of: {choices}.")
    out["sealed_until"] = check.date(data.get("sealed_until"), "sealed_until")
    release = data.get("release_to")
    if release not in (None, ""):
        if release not in (Access.PUBLIC, Access.RESEARCH, Access.STAFF):
            check.fail("release_to", "Must be public, research or staff.")
        else:
            out["release_to"] = release
    if out["access"] == Access.SEALED:
        if out["sealed_until"] is None:
            check.fail("sealed_until", "A sealed testimony needs the date its seal ends.")
        if out["release_to"] is None:
            check.fail("release_to", "Say what the testimony becomes when the seal ends.")
    for key in ("anonymize_narrator", "publish_media", "publish_transcript"):
        value = data.get(key, DEFAULT_CONSENT[key])
        if not isinstance(value, bool):
            check.fail(key, "Must be true or false.")
        else:
            out[key] = value
    out["redactions"] = _validate_redactions(check, data.get("redactions"))
    out["signed_on"] = check.date(data.get("signed_on"), "signed_on")
    if out["signed_on"] and out["signed_on"] > today():
        check.fail("signed_on", "The signing date cannot be in the future.")
    out["obtained_by"] = check.text(data.get("obtained_by"), "obtained_by", max_len=300) or ""
    out["guardian"] = check.text(data.get("guardian"), "guardian", max_len=300) or ""
    out["notes"] = check.text(data.get("notes"), "notes", max_len=20_000) or ""
    form = data.get("form")
    out["form"] = check.integer(form, "form", low=1, high=2**62) if form is not None else None
    if check.errors:
        raise Invalid("The consent record is not valid.", check.errors)
    return out


def _validate_redactions(check: FieldChecker, value: Any) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list):
        check.fail("redactions", "Must be a list of {start_ms, end_ms, reason}.")
        return []
    out = []
    for i, r in enumerate(value):
        field = f"redactions[{i}]"
        if not isinstance(r, dict):
            check.fail(field, "Must be an object.")
            continue
        start = check.integer(r.get("start_ms"), f"{field}.start_ms", low=0, high=2**40)
        end = check.integer(r.get("end_ms"), f"{field}.end_ms", low=0, high=2**40)
        reason = check.text(r.get("reason"), f"{field}.reason", required=True, max_len=500)
        if start is None:
            check.fail(f"{field}.start_ms", "This field is required.")
        if end is None:
            check.fail(f"{field}.end_ms", "This field is required.")
        if start is not None and end is not None and end <= start:
            check.fail(f"{field}.end_ms", "Must be after start_ms.")
        out.append({"start_ms": start or 0, "end_ms": end or 0, "reason": reason or ""})
    return sorted(out, key=lambda r: (r["start_ms"], r["end_ms"]))


def _as_grant(consent: ConsentVersion | None) -> dict:
    if consent is None:
        return dict(DEFAULT_CONSENT)
    d = consent.as_dict()
    d.update(sealed_until=consent.sealed_until, signed_on=consent.signed_on)
    return d


def _new_version(user, testimony, values: dict, *, status: str, reason: str = "") -> ConsentVersion:
    number = max((c.number for c in testimony.consents), default=0) + 1
    version = ConsentVersion(
        testimony=testimony,
        number=number,
        status=status,
        access=values["access"],
        sealed_until=values.get("sealed_until"),
        release_to=values.get("release_to"),
        anonymize_narrator=values["anonymize_narrator"],
        publish_media=values["publish_media"],
        publish_transcript=values["publish_transcript"],
        redactions=list(values.get("redactions") or []),
        signed_on=values.get("signed_on"),
        obtained_by=values.get("obtained_by") or "",
        form_media_id=values.get("form"),
        guardian=values.get("guardian") or "",
        notes=values.get("notes") or "",
        reason=reason,
        created_by_id=user.id if user is not None else None,
    )
    db.session.add(version)
    return version


def record_initial_consent(user, testimony, values: dict | None) -> ConsentVersion:
    """The consent given with a new entry. It is reviewed with the entry itself before publication."""
    check_consent_form(testimony, (values or {}).get("form"))
    if values is None:
        return _new_version(
            user,
            testimony,
            dict(DEFAULT_CONSENT),
            status="approved",
            reason="No consent was recorded at entry; kept to staff.",
        )
    return _new_version(user, testimony, values, status="approved", reason="Recorded at entry.")


def change_consent(user, testimony, values: dict, work: UnitOfWork) -> tuple[bool, ConsentVersion]:
    """Record a new consent version. Returns (applied_at_once, version).

    What narrows applies at once; what widens waits as a pending version for a moderator other
    than its author. A mixed change applies its narrowing part now and waits for the rest.
    """
    access.require_on(user, testimony, Permission.CONSENT_EDIT)
    check_consent_form(testimony, values.get("form"))
    current = _as_grant(testimony.consent)
    for pending in [c for c in testimony.consents if c.status == "pending"]:
        pending.status = "superseded"
    if not access.widens(current, values):
        version = _new_version(user, testimony, values, status="approved", reason="Narrowed or kept.")
        applied = True
    else:
        narrow = access.narrowest(current, values)
        if access.grants_differ(narrow, current):
            _new_version(
                user,
                testimony,
                narrow,
                status="approved",
                reason="The narrowing part of a requested change, applied at once.",
            )
        version = _new_version(
            user, testimony, values, status="pending", reason="A widening: waits for a moderator's approval."
        )
        applied = False
    db.session.flush()
    record_event(
        user,
        "consent.change",
        testimony,
        version=version.number,
        status=version.status,
        access=values["access"],
    )
    if values["access"] == Access.WITHDRAWN and applied:
        record_event(user, "testimony.withdraw", testimony)
    work.reindex(testimony.id)
    return applied, version


def decide_consent(user, testimony, decision: str, comment: str, work: UnitOfWork) -> ConsentVersion:
    """A moderator approves or declines a pending widening; never its own author."""
    pending = testimony.pending_consent
    if pending is None:
        raise Conflict("No consent change is waiting for review.")
    if not access.has_permission(user, Permission.CONSENT_WIDEN):
        raise Forbidden()
    if not access.can_decide_consent(user, pending):
        raise Forbidden("Nobody may approve a consent change they asked for themselves.")
    pending.status = "approved" if decision == "approve" else "declined"
    pending.decided_by_id = user.id
    pending.decided_at = utcnow()
    pending.decision_comment = comment
    if pending.status == "approved":
        # Approval makes it the newest approved version: renumber it after everything before it.
        pending.number = max(c.number for c in testimony.consents) + 1
    record_event(user, f"consent.{pending.status}", testimony, version=pending.number)
    work.reindex(testimony.id)
    return pending


def release_due_seals(work: UnitOfWork, now: dt.date | None = None) -> list[int]:
    """Record in each history that a seal has ended, and re-index those testimonies."""
    now = now or today()
    released = []
    candidates = db.session.scalars(
        select(ConsentVersion).where(
            ConsentVersion.access == Access.SEALED,
            ConsentVersion.status == "approved",
            ConsentVersion.sealed_until <= now,
        )
    )
    for consent in list(candidates):
        testimony: Testimony = consent.testimony
        if testimony.consent is not consent:
            continue
        values = _as_grant(consent)
        # What the seal has become is the policy's answer, recorded now as a consent of its own.
        values.update(access=access.effective_access(consent, now).value, sealed_until=None, release_to=None)
        _new_version(
            None,
            testimony,
            values,
            status="approved",
            reason=f"The seal ended on {consent.sealed_until.isoformat()}.",
        )
        record_event(None, "consent.seal_released", testimony, until=consent.sealed_until.isoformat())
        work.reindex(testimony.id)
        released.append(testimony.id)
    return released
