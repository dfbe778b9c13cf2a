"""The moderators' pages: the review queue, the review of one entry (what changed since it was last
published, and the decision), taking a testimony offline, and an entry's history.

Four eyes and every other rule are the review service's; these pages show its answers.
"""

from __future__ import annotations

import difflib
import re

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup, escape
from wtforms import SelectChoice

from archive import access
from archive.access import Permission
from archive.catalogue import service
from archive.catalogue.editor import signed_in
from archive.catalogue.models import State, Testimony
from archive.catalogue.views import language_name
from archive.consent.views import CONSENT_LABELS, consent_value, pending_changes
from archive.errors import Conflict, Forbidden, Invalid
from archive.review import service as review_service
from archive.review.forms import DecisionForm, QueueFilterForm, UnpublishForm

bp = Blueprint("review", __name__)

# The fields of a testimony in reading order: how to read each from a body, and its name.
COMPARED = [
    (_l("Title"), lambda b: b.get("title")),
    (_l("Summary"), lambda b: b.get("summary")),
    (_l("Narrator's name"), lambda b: b["narrator"].get("name")),
    (_l("Pseudonym"), lambda b: b["narrator"].get("pseudonym")),
    (_l("Birth year"), lambda b: b["narrator"].get("birth_year")),
    (_l("Gender"), lambda b: b["narrator"].get("gender")),
    (_l("Interview date"), lambda b: b["interview"].get("date")),
    (_l("Interview place"), lambda b: b["interview"].get("place")),
    (_l("Interviewer"), lambda b: b["interview"].get("interviewer")),
    (_l("Languages"), lambda b: b["interview"].get("languages")),
    # The catalogue keeps places and subjects in alphabetical order: the order typed means nothing.
    (_l("Places"), lambda b: sorted(b.get("places") or [])),
    (_l("Subjects"), lambda b: sorted(b.get("subjects") or [])),
]
_TOKENS = re.compile(r"\s+|[^\s]+")


def _text(value) -> str:
    if isinstance(value, list):
        return ", ".join(value)
    return "" if value is None else str(value)


def word_diff(old: str, new: str) -> Markup:
    """`new` with the words taken out of `old` in <del> and the words put in as <ins>, escaped."""
    a, b = _TOKENS.findall(old or ""), _TOKENS.findall(new or "")
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(escape("".join(b[j1:j2])))
            continue
        if i2 > i1:
            out.append(Markup("<del>%s</del>") % "".join(a[i1:i2]))
        if j2 > j1:
            out.append(Markup("<ins>%s</ins>") % "".join(b[j1:j2]))
    return Markup("").join(out)


def field_changes(old: dict | None, new: dict) -> list[dict]:
    """Each field of the working copy beside the published one, with its changed words marked."""
    rows = []
    for label, read in COMPARED:
        after = _text(read(new))
        before = _text(read(old)) if old is not None else None
        changed = before is not None and before != after
        rows.append(
            {
                "label": label,
                "before": before,
                "after": word_diff(before, after) if changed else after,
                "changed": changed,
            }
        )
    return rows


def _segment_key(s: dict) -> tuple:
    return (
        s["start_ms"],
        s["end_ms"],
        s.get("speaker") or "",
        s.get("text") or "",
        tuple(s.get("keywords") or []),
    )


def segment_changes(old: list[dict], new: list[dict]) -> tuple[list[dict], int]:
    """The segments that were added, removed or changed, and how many stayed as they were."""
    changes, unchanged = [], 0
    matcher = difflib.SequenceMatcher(
        None, [_segment_key(s) for s in old], [_segment_key(s) for s in new], autojunk=False
    )
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            unchanged += i2 - i1
            continue
        before, after = old[i1:i2], new[j1:j2]
        for k in range(max(len(before), len(after))):
            o = before[k] if k < len(before) else None
            n = after[k] if k < len(after) else None
            if o and n:
                changes.append(
                    {
                        "kind": "changed",
                        "before": o,
                        "segment": n,
                        "speaker": word_diff(o.get("speaker") or "", n.get("speaker") or ""),
                        "text": word_diff(o.get("text") or "", n.get("text") or ""),
                        "keywords": word_diff(
                            ", ".join(o.get("keywords") or []), ", ".join(n.get("keywords") or [])
                        ),
                    }
                )
            else:
                s = n or o
                changes.append(
                    {
                        "kind": "added" if n else "removed",
                        "before": o,
                        "segment": s,
                        "speaker": s.get("speaker") or "",
                        "text": s.get("text") or "",
                        "keywords": ", ".join(s.get("keywords") or []),
                    }
                )
    return changes, unchanged


def _why_not(testimony: Testimony, kind: str) -> str:
    """Why this moderator may not decide, in words; the rule itself is the policy's."""
    if kind == "consent":
        return _("You asked for this consent change: another moderator decides.")
    if testimony.submitted_by_id == current_user.id:
        return _("Your own submission: another moderator decides.")
    return _("You edited it last: another moderator decides.")


def _queue_row(testimony: Testimony) -> dict:
    kind = "content" if testimony.state == State.IN_REVIEW else "consent"
    if kind == "content":
        may = access.can_review(current_user, testimony)
    else:
        may = access.can_decide_consent(current_user, testimony.pending_consent)
    return {
        "testimony": testimony,
        "kind": kind,
        "may_decide": may,
        "why_not": "" if may else _why_not(testimony, kind),
    }


@bp.route("/review")
@signed_in
def queue():
    everything = review_service.queue(current_user)
    form = QueueFilterForm(formdata=request.args)
    submitters = {t.submitted_by for t in everything if t.submitted_by is not None}
    form.archivist.choices = [SelectChoice("", _("Anyone"))] + [
        SelectChoice(str(u.id), u.display_name)
        for u in sorted(submitters, key=lambda u: u.display_name.lower())
    ]
    languages = sorted({code for t in everything for code in t.languages or []})
    form.language.choices = [SelectChoice("", _("Any language"))] + [
        SelectChoice(code, language_name(code)) for code in languages
    ]
    chosen = form.archivist.data or ""
    items = review_service.queue(
        current_user,
        archivist_id=int(chosen) if chosen.isdigit() else None,
        language=form.language.data or None,
    )
    return render_template(
        "review/queue.html",
        rows=[_queue_row(t) for t in items],
        form=form,
        filtered=bool(chosen or form.language.data),
    )


@bp.route("/review/<int:testimony_id>", methods=["GET", "POST"])
def decide(testimony_id: int):
    testimony = service.get_testimony(testimony_id)
    access.require_on(current_user, testimony, Permission.REVIEW_DECIDE)
    posted = DecisionForm() if request.method == "POST" else None
    refusal, status = None, 200
    if posted is not None:
        if not posted.validate_on_submit():
            abort(400)
        target = posted.target.data or None
        try:
            decision, comment = posted.decision.data or "", posted.comment.data or ""
            review_service.review(current_user, testimony, decision, comment, target)
        except Forbidden as e:
            refusal, status = e.message, 403
        except Conflict as e:
            refusal, status = e.message, 409
        except Invalid as e:
            for key, message in e.fields.items():
                field = posted[key] if key in ("decision", "comment") else None
                if field is not None:
                    field.errors = [*field.errors, message]
                else:
                    posted.form_errors.append(message)
            status = 422
        else:
            flash(_decided_message(testimony, posted.decision.data, target), "success")
            return redirect(url_for("review.queue"))
    return _render_decide(testimony, posted, refusal, status)


def _decided_message(testimony: Testimony, decision: str, target: str | None) -> str:
    if target == "consent":
        if decision == "approve":
            return _("The wider consent of “%(title)s” is in force now.", title=testimony.title)
        return _("The consent change of “%(title)s” was declined.", title=testimony.title)
    if decision == "approve":
        return _("“%(title)s” is published.", title=testimony.title)
    if decision == "request_changes":
        return _("“%(title)s” went back to its archivist with your comment.", title=testimony.title)
    return _("“%(title)s” was rejected.", title=testimony.title)


def _render_decide(testimony: Testimony, posted: DecisionForm | None, refusal: str | None, status: int):
    working = service.working_body(testimony)
    published = service.published_body(testimony)
    forms = {
        target: posted
        if posted is not None and posted.target.data == target
        else DecisionForm(formdata=None, target=target)
        for target in ("content", "consent")
    }
    current, pending = testimony.consent, testimony.pending_consent
    segments, unchanged = (
        segment_changes(published["segments"], working["segments"]) if published else ([], 0)
    )
    return (
        render_template(
            "review/decide.html",
            testimony=testimony,
            working=working,
            published=published,
            fields=field_changes(published, working),
            segments=segments,
            unchanged=unchanged,
            in_review=testimony.state == State.IN_REVIEW,
            may_review=access.can_review(current_user, testimony),
            why_not=_why_not(testimony, "content"),
            current=current,
            pending=pending,
            pending_changes=pending_changes(testimony),
            may_decide_consent=pending is not None and access.can_decide_consent(current_user, pending),
            labels=CONSENT_LABELS,
            consent_value=consent_value,
            decision_forms=forms,
            refusal=refusal,
        ),
        status,
    )


@bp.post("/testimonies/<int:testimony_id>/unpublish")
def unpublish(testimony_id: int):
    testimony = service.get_testimony(testimony_id)
    form = UnpublishForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        review_service.unpublish(current_user, testimony, form.reason.data or "")
    except Invalid as e:
        form.reason.errors = [*form.reason.errors, e.fields.get("reason", e.message)]
        return _render_history(testimony, form, 422)
    except Conflict as e:
        flash(e.message, "error")
        return redirect(url_for("review.history", testimony_id=testimony.id))
    flash(_("“%(title)s” is offline: the public no longer sees it.", title=testimony.title), "success")
    return redirect(url_for("review.history", testimony_id=testimony.id))


@bp.route("/testimonies/<int:testimony_id>/history")
def history(testimony_id: int):
    testimony = service.get_testimony(testimony_id)
    return _render_history(testimony, UnpublishForm(formdata=None), 200)


def _render_history(testimony: Testimony, unpublish_form: UnpublishForm, status: int):
    revisions = review_service.revisions(current_user, testimony)
    decisions = review_service.decisions(current_user, testimony)
    may_unpublish = testimony.published_revision is not None and access.has_permission(
        current_user, Permission.TESTIMONY_UNPUBLISH
    )
    return (
        render_template(
            "review/history.html",
            testimony=testimony,
            revisions=revisions[::-1],
            decisions=decisions,
            unpublish_form=unpublish_form if may_unpublish else None,
        ),
        status,
    )
