"""The moderators' pages: the review queue, the review of one entry (what changed since it was last
published, and the decision), taking a testimony offline, an entry's history with its saved versions
(each one readable, any two compared, an old one restored), and the admins' pages of provenance: the
audit log with its CSV export, and the soft-deleted testimonies to restore.

Four eyes and every other rule are the services' (and through them `archive.access`); these pages
show their answers.
"""

from __future__ import annotations

import bisect
import datetime as dt
import difflib
import re
from collections import Counter

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup, escape
from wtforms import SelectChoice

from archive import access, operations
from archive.access import Permission
from archive.accounts.service import list_users
from archive.audit import service as audit_service
from archive.catalogue import service
from archive.catalogue.editor import signed_in
from archive.catalogue.forms import ActionForm
from archive.catalogue.models import State, Testimony
from archive.catalogue.views import language_name
from archive.consent.views import CONSENT_LABELS, consent_value, pending_changes
from archive.errors import Conflict, Forbidden, Invalid, NotFound, StaleVersion
from archive.media.models import MediaKind
from archive.media.service import media_for
from archive.media.views import stream_url
from archive.review import service as review_service
from archive.review.forms import (
    AuditFilterForm,
    CompareForm,
    DecisionForm,
    QueueFilterForm,
    RestoreForm,
    UnpublishForm,
)
from archive.review.models import Revision
from archive.timeutil import utcnow

bp = Blueprint("review", __name__)

RECORDINGS = (MediaKind.AUDIO, MediaKind.VIDEO)

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
    # The catalogue keeps places, subjects and people in alphabetical order: the order typed means nothing.
    (_l("Places"), lambda b: sorted(b.get("places") or [])),
    (_l("Subjects"), lambda b: sorted(b.get("subjects") or [])),
    (_l("People mentioned"), lambda b: sorted(b.get("people") or [])),
    # A recording is named by its file and checksum, so a replaced file shows as a change.
    (_l("Recordings"), lambda b: [f"{m['filename']} ({m['sha256'][:12]})" for m in b.get("media") or []]),
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


def _anchors(a: list, b: list) -> list[tuple[int, int]]:
    """Positions (i, j) of keys found once in each list, the longest run of them in the same order
    in both (as patience diff does): what surely stayed in place."""
    count_a, count_b = Counter(a), Counter(b)
    in_b = {key: j for j, key in enumerate(b) if count_b[key] == 1}
    pairs = [(i, in_b[key]) for i, key in enumerate(a) if count_a[key] == 1 and key in in_b]
    # The longest increasing run of j, in O(n log n): tails[k] ends the best run of length k + 1.
    tails: list[int] = []
    ends: list[int] = []
    previous: list[int | None] = []
    for n, (_i, j) in enumerate(pairs):
        k = bisect.bisect_left(tails, j)
        if k == len(tails):
            tails.append(j)
            ends.append(n)
        else:
            tails[k], ends[k] = j, n
        previous.append(ends[k - 1] if k else None)
    run, n = [], ends[-1] if ends else None
    while n is not None:
        run.append(pairs[n])
        n = previous[n]
    return run[::-1]


def _opcodes(a: list, b: list) -> list[tuple[str, int, int, int, int]]:
    """difflib's opcodes turning `a` into `b`, its matcher run only between the anchors: on its own
    it spent 255 ms on a 3,000-segment edit with a change every tenth segment."""
    ops, i, j = [], 0, 0
    for ai, bj in [*_anchors(a, b), (len(a), len(b))]:
        matcher = difflib.SequenceMatcher(None, a[i:ai], b[j:bj], autojunk=False)
        ops.extend((op, i + i1, i + i2, j + j1, j + j2) for op, i1, i2, j1, j2 in matcher.get_opcodes())
        if ai < len(a):
            ops.append(("equal", ai, ai + 1, bj, bj + 1))
        i, j = ai + 1, bj + 1
    return ops


def segment_changes(old: list[dict], new: list[dict]) -> tuple[list[tuple[dict | None, dict | None]], int]:
    """The segments that were added, removed or changed, as (before, after) pairs in reading order
    (None on the side where a segment is missing), and how many stayed as they were."""
    changes, unchanged = [], 0
    for op, i1, i2, j1, j2 in _opcodes([_segment_key(s) for s in old], [_segment_key(s) for s in new]):
        if op == "equal":
            unchanged += i2 - i1
            continue
        before, after = old[i1:i2], new[j1:j2]
        for k in range(max(len(before), len(after))):
            changes.append((before[k] if k < len(before) else None, after[k] if k < len(after) else None))
    return changes, unchanged


def described(before: dict | None, after: dict | None) -> dict:
    """One changed segment as the page shows it, its changed words marked. Done only for the
    changes on the page shown: marking words is the costly part of a long comparison."""
    if before and after:
        return {
            "kind": "changed",
            "before": before,
            "segment": after,
            "speaker": word_diff(before.get("speaker") or "", after.get("speaker") or ""),
            "text": word_diff(before.get("text") or "", after.get("text") or ""),
            "keywords": word_diff(
                ", ".join(before.get("keywords") or []), ", ".join(after.get("keywords") or [])
            ),
        }
    s = after or before
    return {
        "kind": "added" if after else "removed",
        "before": before,
        "segment": s,
        "speaker": s.get("speaker") or "",
        "text": s.get("text") or "",
        "keywords": ", ".join(s.get("keywords") or []),
    }


def comparison(old: dict | None, new: dict) -> dict:
    """Two testimony bodies field by field and segment by segment, the changed words marked: the
    compare page puts any two saved versions side by side. `old` is None where there is nothing to
    compare with (never published)."""
    pairs, unchanged = segment_changes(old["segments"], new["segments"]) if old is not None else ([], 0)
    return {
        "fields": field_changes(old, new),
        "segments": [described(before, after) for before, after in pairs],
        "changes": len(pairs),
        "unchanged": unchanged,
    }


# The review page shows a long transcript, or a long list of changed segments, a page at a time
# rather than collapsed: a collapsed list still travels whole (a 3,000-segment entry weighed 729 KiB),
# and its changed words would all be marked; a page weighs the same at any length, and a timecode
# opens the page that holds its moment.
SEGMENTS_PER_PAGE = 100


def _pager(starts: list[int]) -> dict:
    """The page of segments asked for (`?page=`), else the one holding the moment asked for (`?t=`,
    in ms), with where each page starts in the recording, to name it."""
    pages = max(1, -(-len(starts) // SEGMENTS_PER_PAGE))
    page = request.args.get("page", type=int)
    at_ms = request.args.get("t", type=int)
    if page is None and at_ms is not None:
        page = max(bisect.bisect_right(starts, at_ms) - 1, 0) // SEGMENTS_PER_PAGE + 1
    page = min(max(page or 1, 1), pages)
    first = (page - 1) * SEGMENTS_PER_PAGE
    return {
        "page": page,
        "pages": pages,
        "first": first,
        "last": min(first + SEGMENTS_PER_PAGE, len(starts)),
        "total": len(starts),
        "starts": starts[::SEGMENTS_PER_PAGE],
    }


# Why a moderator may not decide, in words; the rule and its reason are the policy's. The other
# reasons never reach a page in words: where they hold, the page offers no form to refuse.
REFUSALS = {
    access.Reason.OWN_SUBMISSION: _l("Your own submission: another moderator decides."),
    access.Reason.LAST_EDITOR: _l("You edited it last: another moderator decides."),
    access.Reason.OWN_CONSENT_REQUEST: _l("You asked for this consent change: another moderator decides."),
}


def _why_not(answer: access.Answer) -> str:
    return "" if answer else str(REFUSALS.get(answer.reason, ""))


def _waited(testimony: Testimony) -> dt.timedelta | None:
    """How long the testimony has waited for a moderator: since it was sent to review, else since
    its pending consent widening was asked for."""
    if testimony.state == State.IN_REVIEW and testimony.submitted_at is not None:
        return utcnow() - testimony.submitted_at
    if testimony.pending_consent is not None:
        return utcnow() - testimony.pending_consent.created_at
    return None


def _queue_row(testimony: Testimony, size: review_service.Size) -> dict:
    kind = "content" if testimony.state == State.IN_REVIEW else "consent"
    if kind == "content":
        answer = access.may_decide(current_user, testimony)
    else:
        answer = access.may_decide_consent(current_user, testimony.pending_consent)
    return {
        "testimony": testimony,
        "kind": kind,
        "may_decide": bool(answer),
        "why_not": _why_not(answer),
        "size": size,
        "waited": _waited(testimony),
    }


# The ages the queue offers to filter by, in days; any other number in the address works too.
AGES = (1, 7, 14, 30, 90)


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
    age = form.age.data or ""
    days = int(age) if age.isdigit() and int(age) > 0 else None
    form.age.choices = [SelectChoice("", _("Any time"))] + [
        SelectChoice(str(n), _("more than %(num)d days", num=n))
        for n in sorted({*AGES, *([days] if days else [])})
    ]
    chosen = form.archivist.data or ""
    items = review_service.queue(
        current_user,
        archivist_id=int(chosen) if chosen.isdigit() else None,
        language=form.language.data or None,
        older_than_days=days,
    )
    sizes = review_service.sizes(items)
    return render_template(
        "review/queue.html",
        rows=[_queue_row(t, sizes[t.id]) for t in items],
        form=form,
        filtered=bool(chosen or form.language.data or days),
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
            operations.review(current_user, testimony, decision, comment, target)
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
    if published is not None:
        pairs, unchanged = segment_changes(published["segments"], working["segments"])
        pager = _pager([(after or before)["start_ms"] for before, after in pairs])
    else:
        pairs, unchanged = [], 0
        pager = _pager([s["start_ms"] for s in working["segments"]])
    shown = slice(pager["first"], pager["last"])
    forms = {
        target: posted
        if posted is not None and posted.target.data == target
        else DecisionForm(formdata=None, target=target)
        for target in ("content", "consent")
    }
    current, pending = testimony.consent, testimony.pending_consent
    content_answer = access.may_decide(current_user, testimony)
    consent_answer = access.may_decide_consent(current_user, pending)
    at_ms = request.args.get("t", type=int)
    return (
        render_template(
            "review/decide.html",
            testimony=testimony,
            published=published,
            comparison={
                "fields": field_changes(published, working),
                "segments": [described(before, after) for before, after in pairs[shown]],
                "changes": len(pairs),
                "unchanged": unchanged,
            },
            new_segments=working["segments"][shown],
            pager=pager,
            size=review_service.sizes([testimony])[testimony.id],
            waited=_waited(testimony),
            recordings=[
                m for m in media_for(current_user, testimony, media_url=stream_url) if m["kind"] in RECORDINGS
            ],
            start_s=at_ms / 1000 if at_ms and at_ms > 0 else 0,
            in_review=testimony.state == State.IN_REVIEW,
            may_review=bool(content_answer),
            why_not=_why_not(content_answer),
            current=current,
            pending=pending,
            pending_changes=pending_changes(testimony),
            may_decide_consent=bool(consent_answer),
            why_not_consent=_why_not(consent_answer),
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
        operations.unpublish(current_user, testimony, form.reason.data or "")
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
    may_unpublish = access.may_unpublish(current_user, testimony)
    may_submit = access.may_submit(current_user, testimony)
    return (
        render_template(
            "review/history.html",
            testimony=testimony,
            revisions=revisions[::-1],
            decisions=decisions,
            unpublish_form=unpublish_form if may_unpublish else None,
            compare_form=_compare_form(
                revisions, revisions[-2 if len(revisions) > 1 else -1].version, testimony.version
            ),
            submit_form=ActionForm() if may_submit else None,
        ),
        status,
    )


# --- saved versions: one read, two compared, an old one restored ---------------------------------


def _compare_form(revisions: list[Revision], a: int, b: int) -> CompareForm:
    form = CompareForm(formdata=None, a=str(a), b=str(b))
    choices = [SelectChoice(str(r.version), _("version %(n)s", n=r.version)) for r in revisions[::-1]]
    form.a.choices = form.b.choices = choices
    return form


# Versions are 32-bit integers in PostgreSQL (and SQLite refuses larger ones): beyond, none exists.
MAX_VERSION = 2**31 - 1


def _saved_version(version: int) -> int:
    if version > MAX_VERSION:
        raise NotFound(_("This testimony has no such version."))
    return version


@bp.route("/testimonies/<int:testimony_id>/revisions/<int:version>")
def revision(testimony_id: int, version: int):
    testimony = service.get_testimony(testimony_id)
    revision = review_service.get_revision(current_user, testimony, _saved_version(version))
    return _render_revision(testimony, revision, None, 200)


def _render_revision(testimony: Testimony, revision: Revision, refusal: str | None, status: int):
    snapshot = revision.snapshot
    may_restore = access.may_restore_revision(current_user, testimony, revision.version)
    # The version the user sees as current goes with the form: a restore never overwrites an edit
    # saved after the page was shown.
    restore_form = RestoreForm(formdata=None, if_match=str(testimony.version)) if may_restore else None
    return (
        render_template(
            "review/revision.html",
            testimony=testimony,
            revision=revision,
            fields=field_changes(None, snapshot),
            segments=snapshot.get("segments") or [],
            restore_form=restore_form,
            refusal=refusal,
        ),
        status,
    )


def _version_arg(name: str, default: int) -> int:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise Invalid(_("A version is a whole number."), {name: _("A version is a whole number.")})
    return int(raw)


@bp.route("/testimonies/<int:testimony_id>/compare")
def compare(testimony_id: int):
    testimony = service.get_testimony(testimony_id)
    revisions = review_service.revisions(current_user, testimony)
    by_version = {r.version: r for r in revisions}
    # Without a choice: what the public sees beside the working copy, else the last two versions.
    b = _version_arg("b", testimony.version)
    published = testimony.published_revision
    fallback = published.version if published is not None and published.version != b else max(b - 1, 1)
    a = _version_arg("a", fallback if fallback in by_version else b)
    if a not in by_version or b not in by_version:
        raise NotFound(_("This testimony has no such version."))
    old, new = by_version[a], by_version[b]
    return render_template(
        "review/compare.html",
        testimony=testimony,
        old=old,
        new=new,
        comparison=comparison(old.snapshot, new.snapshot),
        compare_form=_compare_form(revisions, a, b),
    )


@bp.post("/testimonies/<int:testimony_id>/revisions/<int:version>/restore")
def restore_revision(testimony_id: int, version: int):
    testimony = service.get_testimony(testimony_id)
    form = RestoreForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        operations.restore_revision(current_user, testimony, _saved_version(version), form.if_match.data)
    except StaleVersion:
        revision = review_service.get_revision(current_user, testimony, version)
        refusal = _(
            "Not restored: version %(current)s was saved after you opened this page. "
            "Compare it with version %(old)s below, then restore again if you still want to.",
            current=testimony.version,
            old=version,
        )
        return _render_revision(testimony, revision, refusal, 409)
    flash(
        _(
            "Version %(old)s is restored as version %(new)s, a draft: the public sees the published "
            "version until a moderator approves this one.",
            old=version,
            new=testimony.version,
        ),
        "success",
    )
    return redirect(url_for("review.history", testimony_id=testimony.id))


# --- the admins' pages: the audit log, deleted testimonies ---------------------------------------

AUDIT_PER_PAGE = 50


def _audit_filters() -> tuple[AuditFilterForm, dict]:
    """The audit filter form read from the address, and the filters it gives the audit service."""
    form = AuditFilterForm(formdata=request.args)
    form.actor.choices = [SelectChoice("", _("Anyone"))] + [
        SelectChoice(str(u.id), f"{u.display_name} ({u.email})") for u in list_users(current_user)
    ]
    if not form.validate():
        return form, {}
    filters: dict = {}
    if form.action.data:
        filters["action"] = form.action.data.strip()
    if (form.actor.data or "").isdigit():
        filters["actor_id"] = int(form.actor.data)
    if form.since.data:
        filters["since"] = dt.datetime.combine(form.since.data, dt.time.min)
    if form.until.data:
        # "To" includes the whole day it names.
        filters["until"] = dt.datetime.combine(form.until.data + dt.timedelta(days=1), dt.time.min)
    return form, filters


def _args_without(*names: str) -> dict:
    return {k: v for k, v in request.args.items() if k not in names and v}


@bp.route("/admin/audit")
@signed_in
def audit():
    access.require(current_user, Permission.AUDIT_READ)
    form, filters = _audit_filters()
    if form.errors:
        return (
            render_template(
                "admin/audit.html", form=form, events=[], page=1, more=False, args={}, filtered=True
            ),
            422,
        )
    page = form.page.data or 1
    events = audit_service.audit_log(
        current_user, **filters, limit=AUDIT_PER_PAGE + 1, offset=(page - 1) * AUDIT_PER_PAGE
    )
    return render_template(
        "admin/audit.html",
        form=form,
        events=events[:AUDIT_PER_PAGE],
        page=page,
        more=len(events) > AUDIT_PER_PAGE,
        args=_args_without("page"),
        filtered=bool(filters),
    )


@bp.route("/admin/audit.csv")
@signed_in
def audit_csv():
    access.require(current_user, Permission.AUDIT_READ)
    form, filters = _audit_filters()
    if form.errors:
        fields = {name: " ".join(str(m) for m in messages) for name, messages in form.errors.items()}
        raise Invalid(_("The filters are not valid: nothing was exported."), fields)
    text = audit_service.audit_csv(current_user, **filters)
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    return Response(
        text,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="audit-{stamp}.csv"'},
    )


@bp.route("/admin/deleted")
@signed_in
def deleted():
    return render_template(
        "admin/deleted.html", rows=service.deleted_listing(current_user), restore_form=ActionForm()
    )


@bp.post("/testimonies/<int:testimony_id>/restore-deleted")
@signed_in
def restore_deleted(testimony_id: int):
    # Asked before the testimony is looked up: whoever may not restore learns nothing of what exists.
    access.require(current_user, Permission.TESTIMONY_RESTORE)
    if not ActionForm().validate_on_submit():
        abort(400)
    testimony = service.get_testimony(testimony_id)
    try:
        operations.restore_testimony(current_user, testimony)
    except Conflict:
        flash(_("“%(title)s” is not deleted.", title=testimony.title), "info")
        return redirect(url_for("review.deleted"))
    flash(_("“%(title)s” is restored, in the state it was deleted in.", title=testimony.title), "success")
    return redirect(url_for("review.deleted"))
