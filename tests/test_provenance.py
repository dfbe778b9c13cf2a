"""Moderation and provenance, as staff use them: reading and comparing saved versions, restoring an
old one through review, the admins' audit log and its export, restoring deleted testimonies, what
changed since one's last visit, and the review queue's filters."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re

import pytest
from sqlalchemy import select

from archive.audit.models import AuditEvent
from archive.audit.service import record_event
from archive.consent.service import validate_consent
from archive.extensions import db
from archive.operations import change_consent, delete_testimony, review, submit_for_review, update_testimony
from archive.timeutil import utcnow
from tests.conftest import sample_body
from tests.test_staff_pages import as_user, csrf_token_of, visitor


@pytest.fixture
def client(app):
    """The public: nobody signed in."""
    return visitor(app)


def text_of(page: str) -> str:
    """What a reader sees of a page: its words without the markup."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def section(page: str, marker: str) -> str:
    start = page.index(marker)
    return page[start : page.index("</section>", start)]


def hidden(page: str, name: str) -> str:
    """The value of a hidden form field, as the browser would send it back."""
    tag = re.search(rf'<input[^>]*name="{name}"[^>]*>', page).group(0)
    return html.unescape(re.search(r'value="([^"]*)"', tag).group(1))


def table_of(page: str) -> str:
    """The words of a page's first table: its rows, without the filters above it."""
    return text_of(page[page.index("<table") : page.index("</table>")]) if "<table" in page else ""


def events(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def long_transcript(changed: dict[int, str] | None = None) -> list[dict]:
    """Forty one-minute segments; `changed` gives some of them (counted from 1) another text."""
    changed = changed or {}
    return [
        {
            "start_ms": (n - 1) * 60_000,
            "end_ms": n * 60_000,
            "speaker": "Narrator",
            "text": changed.get(n, f"In part {n} of the road the snow was deep and we walked on."),
            "keywords": [],
        }
        for n in range(1, 41)
    ]


def edit(user, testimony, **changes) -> None:
    update_testimony(user, testimony, changes, testimony.version)


# --- reading, comparing and restoring versions ------------------------------------------------


def test_staff_read_an_old_version_as_it_was_saved(app, client, users, create_testimony):
    testimony = create_testimony(state="published", title="The winter road, as first entered")
    edit(users["archivist"], testimony, title="The winter road, corrected")
    archivist = as_user(app, users["archivist2"])

    first = archivist.get(f"/testimonies/{testimony.id}/revisions/1")

    assert first.status_code == 200
    seen = text_of(first.text)
    assert "Version 1: The winter road, as first entered" in seen
    assert "My brother carried our grandmother's blue shawl." in seen
    assert "This is the version the public sees." in seen
    assert "Restore version 1" in seen
    assert "The winter road, corrected" in text_of(
        archivist.get(f"/testimonies/{testimony.id}/revisions/2").text
    )
    assert archivist.get(f"/testimonies/{testimony.id}/revisions/9").status_code == 404
    assert archivist.get(f"/testimonies/{testimony.id}/revisions/{2**70}").status_code == 404
    assert client.get(f"/testimonies/{testimony.id}/revisions/1").status_code == 404
    assert (
        as_user(app, users["researcher"]).get(f"/testimonies/{testimony.id}/revisions/1").status_code == 403
    )


def test_the_history_links_every_version_and_what_each_changed(app, users, create_testimony):
    testimony = create_testimony(state="published")
    edit(users["archivist"], testimony, title="A second title")
    archivist = as_user(app, users["archivist"])

    page = archivist.get(f"/testimonies/{testimony.id}/history").text

    assert f'href="/testimonies/{testimony.id}/revisions/1"' in page
    assert f'href="/testimonies/{testimony.id}/revisions/2"' in page
    assert f'href="/testimonies/{testimony.id}/compare?a=1&amp;b=2"' in page
    assert f'action="/testimonies/{testimony.id}/compare"' in page


def test_comparing_two_versions_of_a_long_transcript_marks_exactly_the_one_changed_word(
    app, users, create_testimony
):
    testimony = create_testimony(state="published", segments=long_transcript())
    changed = "In part 17 of the road the snow was white and we walked on."
    edit(users["archivist"], testimony, segments=long_transcript({17: changed}))
    moderator = as_user(app, users["moderator"])

    response = moderator.get(f"/testimonies/{testimony.id}/compare?a=1&b=2")

    page = response.text
    assert response.status_code == 200
    assert re.findall(r"<del>(.*?)</del>", page) == ["deep"]
    assert re.findall(r"<ins>(.*?)</ins>", page) == ["white"]
    assert "39 segments unchanged." in page
    assert page.count('class="segment-change changed"') == 1
    changed_segment = page[page.index('class="segment-change changed"') :]
    assert "16:00–17:00" in text_of(changed_segment[: changed_segment.index("</div>")])
    assert '<tr class="changed">' not in page


def test_the_compare_page_without_a_choice_shows_the_published_version_beside_the_working_copy(
    app, users, create_testimony
):
    testimony = create_testimony(state="published")
    edit(users["archivist"], testimony, title="A title changed once")
    edit(users["archivist"], testimony, title="A title changed twice")
    archivist = as_user(app, users["archivist"])

    page = archivist.get(f"/testimonies/{testimony.id}/compare").text

    assert "Version 1 (saved by Archivist" in text_of(page)
    assert "beside version 3" in text_of(page)
    assert '<tr class="changed">' in page
    assert archivist.get(f"/testimonies/{testimony.id}/compare?a=1&b=7").status_code == 404
    assert archivist.get(f"/testimonies/{testimony.id}/compare?a=one").status_code == 422


def test_restoring_an_old_version_makes_a_new_version_that_the_public_sees_only_once_approved(
    app, client, users, create_testimony
):
    testimony = create_testimony(state="published", title="The first title")
    edit(users["archivist"], testimony, title="The second title")
    submit_for_review(users["archivist"], testimony)
    review(users["moderator"], testimony, "approve", "")
    archivist = as_user(app, users["archivist2"])

    restored = archivist.post(
        f"/testimonies/{testimony.id}/revisions/1/restore", data={"if_match": "2"}, follow_redirects=True
    )

    assert restored.status_code == 200
    assert "Version 1 is restored as version 3, a draft" in text_of(restored.text)
    assert (testimony.version, testimony.state, testimony.title) == (3, "draft", "The first title")
    assert testimony.published_revision.version == 2
    assert "restored from version 1" in text_of(restored.text)
    public = client.get(f"/testimonies/{testimony.id}").text
    assert "The second title" in public and "The first title" not in public
    assert [e.details["version"] for e in events("testimony.restore_revision")] == [1]

    archivist.post(f"/testimonies/{testimony.id}/submit")
    assert testimony.state == "in_review"
    assert "The first title" not in client.get(f"/testimonies/{testimony.id}").text
    review(users["moderator"], testimony, "approve", "")
    assert "The first title" in client.get(f"/testimonies/{testimony.id}").text


def test_a_restore_from_a_stale_page_is_refused_with_a_clear_message_and_changes_nothing(
    app, users, create_testimony
):
    testimony = create_testimony(state="published")
    edit(users["archivist2"], testimony, title="Saved by someone else")
    archivist = as_user(app, users["archivist"])
    shown = archivist.get(f"/testimonies/{testimony.id}/revisions/1").text
    edit(users["archivist2"], testimony, title="Saved again while the page was open")

    response = archivist.post(
        f"/testimonies/{testimony.id}/revisions/1/restore", data={"if_match": hidden(shown, "if_match")}
    )

    assert hidden(shown, "if_match") == "2"
    assert response.status_code == 409
    assert "Not restored: version 3 was saved after you opened this page." in text_of(response.text)
    assert hidden(response.text, "if_match") == "3"
    assert (testimony.version, testimony.title) == (3, "Saved again while the page was open")
    assert events("testimony.restore_revision") == []


def test_a_researcher_may_not_restore_a_version_and_the_public_learns_nothing(
    app, client, users, create_testimony
):
    testimony = create_testimony(state="published", access="research")
    edit(users["archivist"], testimony, title="A later title")
    researcher = as_user(app, users["researcher"])
    path = f"/testimonies/{testimony.id}/revisions/1/restore"

    assert researcher.post(path, data={"if_match": "2"}).status_code == 403
    assert client.post(path, data={"if_match": "2"}).status_code == 404
    assert testimony.version == 2


# --- the audit log ------------------------------------------------------------------------------


def test_an_admin_filters_the_audit_log_by_action_actor_and_dates(app, users, create_testimony):
    testimony = create_testimony(state="published")
    admin = as_user(app, users["admin"])
    today = utcnow().date()

    by_action = table_of(admin.get("/admin/audit?action=testimony.pub").text)
    by_actor = table_of(admin.get(f"/admin/audit?actor={users['archivist'].id}").text)
    from_tomorrow = text_of(admin.get(f"/admin/audit?since={today + dt.timedelta(days=1)}").text)
    until_today = table_of(admin.get(f"/admin/audit?until={today}&action=testimony.").text)

    assert "testimony.publish" in by_action and "testimony.submit" not in by_action
    assert f"testimony {testimony.id}" in by_action
    assert "testimony.submit" in by_actor and "testimony.publish" not in by_actor
    assert "No entry matches these filters." in from_tomorrow
    assert "testimony.submit" in until_today and "testimony.publish" in until_today
    bad = admin.get("/admin/audit?since=yesterday")
    assert bad.status_code == 422
    assert "Not a valid date value." in text_of(bad.text)


def test_the_audit_log_is_paged_newest_first(app, users):
    for n in range(55):
        record_event(users["admin"], f"test.step{n:02d}")
    db.session.commit()
    admin = as_user(app, users["admin"])

    first = admin.get("/admin/audit?action=test.").text
    second = admin.get("/admin/audit?action=test.&page=2").text

    steps = re.findall(r"test\.step(\d\d)", first)
    assert steps[0] == "54" and steps[-1] == "05" and len(steps) == 50
    assert 'href="/admin/audit?page=2&amp;action=test."' in first or "action=test.&amp;page=2" in first
    assert re.findall(r"test\.step(\d\d)", second) == ["04", "03", "02", "01", "00"]
    assert "Older entries" not in second and "Newer entries" in second


def test_an_admin_exports_the_filtered_audit_log_as_csv_and_the_export_is_itself_logged(
    app, users, create_testimony
):
    testimony = create_testimony(state="published")
    admin = as_user(app, users["admin"])

    response = admin.get("/admin/audit.csv?action=testimony.publish")

    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith('attachment; filename="audit-')
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["action"], r["actor"], r["target_id"]) for r in rows] == [
        ("testimony.publish", "moderator@example.org", str(testimony.id))
    ]
    (export,) = events("audit.export")
    assert export.actor_id == users["admin"].id
    assert export.details["rows"] == 1
    assert export.details["filters"] == {"action": "testimony.publish"}
    assert "audit.export" in text_of(admin.get("/admin/audit").text)


@pytest.mark.parametrize("path", ["/admin/audit", "/admin/audit.csv", "/admin/deleted"])
def test_only_admins_open_the_audit_log_and_deleted_testimonies(app, client, users, path):
    public = client.get(path)

    assert public.status_code == 302
    assert public.headers["Location"].startswith("/login")
    for role in ("researcher", "archivist", "moderator"):
        assert as_user(app, users[role]).get(path).status_code == 403, role
    assert as_user(app, users["admin"]).get(path).status_code == 200
    assert len(events("audit.export")) == (1 if path.endswith(".csv") else 0)


def test_an_audit_entry_cannot_be_changed_or_deleted(app, users):
    entry = record_event(users["admin"], "user.role", users["archivist"], role="moderator")
    db.session.commit()

    entry.action = "user.nothing_happened"
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.commit()
    db.session.rollback()
    db.session.delete(entry)
    with pytest.raises(RuntimeError, match="append-only"):
        db.session.commit()
    db.session.rollback()

    assert [e.action for e in db.session.scalars(select(AuditEvent))].count("user.role") == 1
    audit_rules = [r for r in app.url_map.iter_rules() if r.rule.startswith("/admin/audit")]
    assert audit_rules and all(r.methods <= {"GET", "HEAD", "OPTIONS"} for r in audit_rules)


# --- deleted testimonies ------------------------------------------------------------------------


def test_an_admin_sees_who_deleted_a_testimony_and_restores_it(app, client, users, create_testimony):
    testimony = create_testimony(state="published", title="A fictional testimony deleted by mistake")
    delete_testimony(users["archivist"], testimony)
    admin = as_user(app, users["admin"])

    listing = admin.get("/admin/deleted").text
    row = listing[listing.index(testimony.title) :]
    assert "Archivist" in text_of(row[: row.index("</tr>")])
    assert client.get(f"/testimonies/{testimony.id}").status_code == 404

    restored = admin.post(f"/testimonies/{testimony.id}/restore-deleted", follow_redirects=True)

    assert "is restored" in text_of(restored.text)
    assert testimony.deleted_at is None
    assert "No testimony is deleted." in restored.text
    assert client.get(f"/testimonies/{testimony.id}").status_code == 200
    assert len(events("testimony.restore_deleted")) == 1


def test_an_archivist_cannot_restore_a_deleted_testimony(app, users, create_testimony):
    testimony = create_testimony(state="published")
    delete_testimony(users["archivist"], testimony)
    archivist = as_user(app, users["archivist"])

    assert archivist.post(f"/testimonies/{testimony.id}/restore-deleted").status_code == 403
    assert archivist.post("/testimonies/999999/restore-deleted").status_code == 403
    assert testimony.deleted_at is not None
    assert events("testimony.restore_deleted") == []


def test_an_admin_restores_a_deleted_testimony_through_the_api(app, client, users, tokens, create_testimony):
    testimony = create_testimony(state="published")
    path = f"/api/v1/testimonies/{testimony.id}"

    def call(method: str, url: str, role: str | None = None):
        headers = {"Authorization": f"Bearer {tokens[role]}"} if role else {}
        return client.open(url, method=method, headers=headers)

    assert call("POST", f"{path}/restore", "admin").status_code == 409
    assert call("DELETE", path, "archivist").status_code == 204
    assert call("POST", f"{path}/restore", "archivist").status_code == 404
    assert call("POST", f"{path}/restore").status_code == 404
    assert testimony.deleted_at is not None

    response = call("POST", f"{path}/restore", "admin")

    assert response.status_code == 204
    assert call("GET", path).status_code == 200
    assert len(events("testimony.restore_deleted")) == 1


# --- what changed since the last visit ----------------------------------------------------------


def changes_section(client) -> str:
    return text_of(section(client.get("/mine").text, 'class="since-last-visit"'))


def test_my_entries_shows_what_others_changed_since_my_last_visit_and_nothing_from_before(
    app, users, create_testimony
):
    before = create_testimony(state="published", title="Edited by another before the visit")
    edited = create_testimony(state="published", title="Edited by another after the visit")
    decided = create_testimony(state="in_review", title="Decided on after the visit")
    consented = create_testimony(state="published", title="Consent narrowed after the visit")
    own = create_testimony(state="published", title="Edited by myself after the visit")
    edit(users["archivist2"], before, summary="A change made before the visit.")
    archivist = as_user(app, users["archivist"])

    first = changes_section(archivist)
    edit(users["archivist2"], edited, summary="A change made after the visit.")
    review(users["moderator"], decided, "approve", "Checked.")
    change_consent(
        users["archivist2"], consented, validate_consent({**sample_body()["consent"], "access": "staff"})
    )
    edit(users["archivist"], own, summary="My own change.")
    second = changes_section(archivist)
    third = changes_section(archivist)

    assert "This is your first visit" in first
    assert users["archivist"].last_seen_at is not None
    assert "Edited by another after the visit Draft Edited by Archivist2, now version 2" in second
    assert "Review: approved by Moderator: “Checked.”" in second
    assert "Consent version 2 (staff only): in force" in second
    assert before.title not in second
    assert own.title not in second
    assert "Nothing was changed by others since" in third


# --- the review queue ---------------------------------------------------------------------------


def test_the_queue_filters_submissions_and_consent_changes_by_archivist_language_and_age(
    app, users, create_testimony
):
    def interview(language: str) -> dict:
        return {**sample_body()["interview"], "languages": [language]}

    old_az = create_testimony(
        state="in_review", title="Submission in Azerbaijani, waiting long", interview=interview("az")
    )
    new_ru = create_testimony(
        state="draft", title="Submission in Russian, just sent", interview=interview("ru")
    )
    submit_for_review(users["archivist2"], new_ru)
    old_az.submitted_at = utcnow() - dt.timedelta(days=10)
    wider_en = create_testimony(state="published", access="research", title="Consent widening in English")
    wider_az = create_testimony(
        state="published",
        access="research",
        title="Consent widening in Azerbaijani",
        interview=interview("az"),
    )
    public = validate_consent(sample_body()["consent"])
    change_consent(users["archivist2"], wider_en, public)
    change_consent(users["archivist"], wider_az, public)
    wider_az.pending_consent.created_at = utcnow() - dt.timedelta(days=8)
    db.session.commit()
    moderator = as_user(app, users["moderator"])
    titles = [old_az.title, new_ru.title, wider_en.title, wider_az.title]

    def shown(query: str) -> list[str]:
        page = text_of(moderator.get(f"/review?{query}").text)
        return [t for t in titles if t in page]

    assert shown("") == titles
    assert shown(f"archivist={users['archivist2'].id}") == [new_ru.title, wider_en.title]
    assert shown(f"archivist={users['archivist'].id}") == [old_az.title, wider_az.title]
    assert shown("language=az") == [old_az.title, wider_az.title]
    assert shown("age=7") == [old_az.title, wider_az.title]
    assert shown("age=9") == [old_az.title]
    assert shown(f"age=7&language=az&archivist={users['archivist'].id}") == [old_az.title, wider_az.title]
    assert "Nothing waiting matches these filters." in text_of(moderator.get("/review?age=30").text)


# --- forms --------------------------------------------------------------------------------------


def test_every_new_staff_form_carries_a_csrf_token_and_a_restore_without_one_is_refused(
    app, users, create_testimony
):
    from tests.conftest import PASSWORD

    testimony = create_testimony(state="published")
    edit(users["archivist"], testimony, title="A later title")
    gone = create_testimony(state="draft")
    delete_testimony(users["archivist"], gone)
    app.config["WTF_CSRF_ENABLED"] = True
    admin = visitor(app)
    token = csrf_token_of(admin.get("/login").text)
    admin.post("/login", data={"email": users["admin"].email, "password": PASSWORD, "csrf_token": token})

    for path in (
        f"/testimonies/{testimony.id}/history",
        f"/testimonies/{testimony.id}/revisions/1",
        "/admin/deleted",
    ):
        page = admin.get(path).text
        forms = re.findall(r'<form method="post".*?</form>', page, re.S)
        assert forms, path
        assert all('name="csrf_token"' in form for form in forms), path

    refused = admin.post(f"/testimonies/{testimony.id}/revisions/1/restore", data={"if_match": "2"})
    assert refused.status_code == 400
    assert admin.post(f"/testimonies/{gone.id}/restore-deleted").status_code == 400
    assert (testimony.version, gone.deleted_at is not None) == (2, True)


def test_an_exported_audit_cell_never_runs_as_a_spreadsheet_formula(app, users):
    from archive.audit.service import audit_csv, record_event

    record_event(users["admin"], '=HYPERLINK("http://example.invalid")', None)
    db.session.commit()
    exported = audit_csv(users["admin"], action="=HYPER")
    assert "'=HYPERLINK" in exported
    assert ",=HYPERLINK" not in exported
