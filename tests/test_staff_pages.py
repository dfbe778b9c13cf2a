"""The staff pages, driven through the test client as archivists and moderators use them: entering
a testimony, sending it to review, deciding on it, recording consent, and who may open what."""

from __future__ import annotations

import datetime as dt
import html
import io
import re

import pytest
from flask import g
from flask.testing import FlaskClient
from sqlalchemy import func, select

from archive.catalogue import models
from archive.extensions import db
from tests.conftest import PASSWORD, login

VTT = """WEBVTT

00:00:00.000 --> 00:00:30.000
<v Narrator>The orchard behind our house had seven quince trees.

00:00:30.000 --> 00:01:05.500
<v Interviewer>Who planted them?
"""


ENTRY_VTT = """WEBVTT

NOTE keywords: quince, autumn

00:00:00.000 --> 00:00:45.000
<v Narrator>Every autumn we picked the quinces together.

00:00:45.000 --> 01:02:03.000
<v Interviewer>What happened to the orchard later?
"""


def entry_form(**changes) -> dict:
    """The new-testimony form as an archivist fills it in, with a transcript of two cues."""
    data = {
        "title": "A fictional testimony about the quince orchard",
        "summary": "Fictional sample: a narrator remembers the family orchard.",
        "narrator_name": "Samira Fictiyeva",
        "narrator_pseudonym": "S. F.",
        "narrator_birth_year": "1948",
        "narrator_gender": "female",
        "interview_date": "2018-05-02",
        "interview_place": "Bakı",
        "interviewer": "Test Interviewer",
        "languages": "az, ru",
        "places": "Xocalı\nAğdam",
        "subjects": "orchard, family",
        "vtt": ENTRY_VTT,
        "consent-access": "public",
        "consent-release_to": "",
        "consent-publish_transcript": "y",
        "consent-publish_media": "y",
        "consent-redactions": "",
        "consent-signed_on": "2018-05-02",
        "consent-obtained_by": "Test Interviewer",
        "action": "save",
    }
    data.update(changes)
    return data


def errors_of(page: str, field_id: str) -> str:
    """The messages shown beside one input, as a reader sees them."""
    match = re.search(rf'<ul class="field-errors" id="{re.escape(field_id)}-errors">(.*?)</ul>', page, re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))).strip() if match else ""


def value_of(page: str, field_id: str) -> str:
    match = re.search(rf'<(?:input|textarea)[^>]*\bid="{re.escape(field_id)}"[^>]*>', page)
    assert match, f"no input {field_id}"
    tag = match.group(0)
    if tag.startswith("<textarea"):
        body = page[match.end() : page.index("</textarea>", match.end())]
        return html.unescape(body).removeprefix("\r\n").removeprefix("\n")
    value = re.search(r'\bvalue="([^"]*)"', tag)
    return html.unescape(value.group(1)) if value else ""


def count_testimonies() -> int:
    return db.session.scalar(select(func.count()).select_from(models.Testimony))


class Visitor(FlaskClient):
    """One person's browser. The app fixture keeps one app context open for the whole test, so what
    Flask-Login and Flask-WTF cache in `g` (the user, the CSRF token) would follow one client's request
    into another's: forget it."""

    def open(self, *args, **kwargs):
        g.pop("_login_user", None)
        g.pop("csrf_token", None)
        return super().open(*args, **kwargs)


def visitor(app) -> Visitor:
    return Visitor(app, app.response_class, use_cookies=True)


def as_user(app, user) -> Visitor:
    client = visitor(app)
    assert login(client, user).status_code == 302
    return client


@pytest.fixture
def client(app) -> Visitor:
    """The public: nobody signed in."""
    return visitor(app)


def enter(client, **changes) -> models.Testimony:
    response = client.post("/testimonies/new", data=entry_form(**changes))
    assert response.status_code == 302, response.text
    testimony_id = int(response.headers["Location"].split("/")[-2])
    return db.session.get(models.Testimony, testimony_id)


# --- entering a testimony -------------------------------------------------------------------


def test_an_archivist_enters_a_testimony_with_its_transcript_and_it_is_a_draft_hidden_from_the_public(
    app, client, users
):
    archivist = as_user(app, users["archivist"])

    response = archivist.post("/testimonies/new", data=entry_form(), follow_redirects=True)

    assert response.status_code == 200
    assert "Saved as a draft" in response.text
    testimony = db.session.scalar(select(models.Testimony))
    assert testimony.state == "draft"
    assert testimony.narrator.birth_year == 1948
    assert testimony.languages == ["az", "ru"]
    assert [p.name for p in testimony.places] == ["Ağdam", "Xocalı"]
    assert [(s.start_ms, s.end_ms, s.speaker, s.keywords) for s in testimony.segments] == [
        (0, 45_000, "Narrator", ["quince", "autumn"]),
        (45_000, 3_723_000, "Interviewer", []),
    ]
    assert testimony.consent.access == "public"
    assert client.get(f"/testimonies/{testimony.id}").status_code == 404
    assert "quince orchard" not in client.get("/search?q=quince").text


def test_the_edit_form_holds_the_saved_transcript_as_webvtt_text_with_speakers_and_keywords(app, users):
    archivist = as_user(app, users["archivist"])
    testimony = enter(archivist)

    page = archivist.get(f"/testimonies/{testimony.id}/edit").text
    download = archivist.get(f"/testimonies/{testimony.id}/edit/transcript.vtt")

    assert value_of(page, "vtt") == ENTRY_VTT
    assert 'id="segments-0-start"' not in page
    assert download.headers["Content-Disposition"] == f'attachment; filename="testimony-{testimony.id}.vtt"'
    assert download.text == ENTRY_VTT


def test_an_uploaded_vtt_file_replaces_the_transcript_and_saving_the_text_again_changes_nothing(app, users):
    archivist = as_user(app, users["archivist"])
    testimony = enter(archivist)

    response = archivist.post(
        f"/testimonies/{testimony.id}/edit",
        data={**entry_form(), "version": "1", "vtt_file": (io.BytesIO(VTT.encode()), "visit.vtt")},
        content_type="multipart/form-data",
    )

    assert response.status_code == 302
    db.session.refresh(testimony)
    assert [s.speaker for s in testimony.segments] == ["Narrator", "Interviewer"]
    assert testimony.segments[1].end_ms == 65_500
    page = archivist.get(f"/testimonies/{testimony.id}/edit").text
    again = archivist.post(
        f"/testimonies/{testimony.id}/edit",
        data={**entry_form(), "version": "2", "vtt": value_of(page, "vtt")},
        follow_redirects=True,
    )
    assert "Nothing was changed" in again.text
    assert testimony.version == 2


def test_a_pasted_webvtt_transcript_becomes_the_segments_of_the_entry(app, users):
    archivist = as_user(app, users["archivist"])

    testimony = enter(archivist, vtt=VTT)

    assert [(s.start_ms, s.end_ms, s.speaker, s.text) for s in testimony.segments] == [
        (0, 30_000, "Narrator", "The orchard behind our house had seven quince trees."),
        (30_000, 65_500, "Interviewer", "Who planted them?"),
    ]


def test_bad_input_shows_each_message_beside_its_field_keeps_what_was_typed_and_saves_nothing(app, users):
    archivist = as_user(app, users["archivist"])
    out_of_order = ENTRY_VTT + "\n00:00:10.000 --> 00:00:20.000\nToo early.\n"

    response = archivist.post(
        "/testimonies/new",
        data=entry_form(
            title="",
            narrator_birth_year="1700",
            vtt=out_of_order,
            **{"consent-access": "sealed", "consent-release_to": "public"},
        ),
    )

    page = response.text
    assert response.status_code == 422
    assert "Nothing was saved" in page
    assert errors_of(page, "title") == "This field is required."
    assert "Must be between 1850 and" in errors_of(page, "narrator_birth_year")
    assert errors_of(page, "vtt") == "Cue 3 (line 11): Segments must be in order of time."
    assert "needs the date its seal ends" in errors_of(page, "consent-sealed_until")
    assert value_of(page, "narrator_birth_year") == "1700"
    assert value_of(page, "vtt") == out_of_order
    assert value_of(page, "summary") == "Fictional sample: a narrator remembers the family orchard."
    assert count_testimonies() == 0


def test_a_timecode_or_redaction_that_cannot_be_read_is_named_beside_its_field(app, users):
    archivist = as_user(app, users["archivist"])

    response = archivist.post(
        "/testimonies/new",
        data=entry_form(
            vtt=ENTRY_VTT.replace("00:00:00.000 -->", "soon -->"),
            **{"consent-redactions": "\n0:10-0:05 a neighbour's name"},
        ),
    )

    assert response.status_code == 422
    message = "Cue 1 (line 5): the timing “soon --> 00:00:45.000” cannot be read."
    assert message in errors_of(response.text, "vtt")
    assert errors_of(response.text, "consent-redactions") == "Line 2: The end must be after the start."
    assert count_testimonies() == 0


def test_a_bad_webvtt_paste_names_the_cue_and_line_and_saves_nothing(app, users):
    archivist = as_user(app, users["archivist"])
    broken = VTT.replace("00:00:30.000 --> 00:01:05.500", "00:00:30.000 --> 00:00:10.000")

    response = archivist.post("/testimonies/new", data=entry_form(vtt=broken))

    assert response.status_code == 422
    assert "Cue 2 (line 6): the end time must be after the start time." in errors_of(response.text, "vtt")
    assert value_of(response.text, "vtt").startswith("WEBVTT")
    assert count_testimonies() == 0


def test_an_edit_that_changes_nothing_saves_no_new_version(app, users):
    archivist = as_user(app, users["archivist"])
    testimony = enter(archivist)

    response = archivist.post(
        f"/testimonies/{testimony.id}/edit", data={**entry_form(), "version": "1"}, follow_redirects=True
    )

    assert "Nothing was changed" in response.text
    assert testimony.version == 1


def test_an_edit_saves_a_new_version_of_what_was_changed(app, users):
    archivist = as_user(app, users["archivist"])
    testimony = enter(archivist)

    response = archivist.post(
        f"/testimonies/{testimony.id}/edit",
        data={**entry_form(), "version": "1",
              "vtt": ENTRY_VTT + "\n1:02:03.000 --> 1:03:00.000\nThey cut the trees down for firewood.\n"},
    )  # fmt: skip

    assert response.status_code == 302
    db.session.refresh(testimony)
    assert testimony.version == 2
    assert testimony.segments[-1].text == "They cut the trees down for firewood."


# --- two people editing at once ---------------------------------------------------------------


def test_a_stale_save_keeps_what_was_typed_shows_the_other_persons_values_and_loses_nothing(app, users):
    first = as_user(app, users["archivist"])
    second = as_user(app, users["archivist2"])
    testimony = enter(first)
    second.post(
        f"/testimonies/{testimony.id}/edit",
        data={**entry_form(), "version": "1", "title": "The quince orchard (second archivist)",
              "interviewer": "Second Interviewer"},
    )  # fmt: skip

    response = first.post(
        f"/testimonies/{testimony.id}/edit",
        data={**entry_form(), "version": "1", "title": "The quince orchard (first archivist)",
              "summary": "A summary the first archivist typed."},
    )  # fmt: skip

    page = response.text
    assert response.status_code == 409
    assert "Not saved: Archivist2 saved version 2 while you were editing." in html.unescape(page)
    assert value_of(page, "title") == "The quince orchard (first archivist)"
    assert value_of(page, "summary") == "A summary the first archivist typed."
    assert "The quince orchard (second archivist)" in html.unescape(page[page.index('id="theirs-title"') :])
    assert value_of(page, "interviewer") == "Second Interviewer"
    assert value_of(page, "version") == "2"
    db.session.refresh(testimony)
    assert (testimony.version, testimony.title) == (2, "The quince orchard (second archivist)")

    again = first.post(
        f"/testimonies/{testimony.id}/edit",
        data={**entry_form(), "version": "2", "title": "The quince orchard (first archivist)",
              "summary": "A summary the first archivist typed.", "interviewer": "Second Interviewer"},
    )  # fmt: skip

    assert again.status_code == 302
    db.session.refresh(testimony)
    assert (testimony.version, testimony.title, testimony.interviewer) == (
        3,
        "The quince orchard (first archivist)",
        "Second Interviewer",
    )


# --- review -------------------------------------------------------------------------------------


def test_a_submitted_entry_approved_by_a_moderator_appears_on_the_public_page_and_in_search(
    app, client, users
):
    archivist = as_user(app, users["archivist"])
    testimony = enter(archivist)

    sent = archivist.post(f"/testimonies/{testimony.id}/submit", follow_redirects=True)
    assert "was sent to review" in html.unescape(sent.text)
    assert testimony.state == "in_review"

    moderator = as_user(app, users["moderator"])
    queue = moderator.get("/review").text
    assert testimony.title in queue
    assert f'href="/review/{testimony.id}"' in queue
    page = moderator.get(f"/review/{testimony.id}").text
    assert "Every autumn we picked the quinces together." in page
    decided = moderator.post(
        f"/review/{testimony.id}", data={"target": "content", "decision": "approve", "comment": ""}
    )

    assert decided.status_code == 302
    assert testimony.state == "published"
    public_page = client.get(f"/testimonies/{testimony.id}")
    assert public_page.status_code == 200
    assert testimony.title in public_page.text
    assert testimony.title in client.get("/search?q=quinces").text


def test_a_moderator_requests_changes_and_the_archivist_reads_the_comment_on_my_entries(app, users):
    archivist = as_user(app, users["archivist"])
    testimony = enter(archivist)
    archivist.post(f"/testimonies/{testimony.id}/submit")
    moderator = as_user(app, users["moderator"])

    without_comment = moderator.post(
        f"/review/{testimony.id}", data={"target": "content", "decision": "request_changes", "comment": " "}
    )
    assert without_comment.status_code == 422
    assert "Say what needs to change" in html.unescape(errors_of(without_comment.text, "comment"))
    assert testimony.state == "in_review"

    moderator.post(
        f"/review/{testimony.id}",
        data={
            "target": "content",
            "decision": "request_changes",
            "comment": "Please check the interview date.",
        },
    )

    mine = archivist.get("/mine").text
    assert testimony.state == "changes_requested"
    assert "Please check the interview date." in mine
    assert "Changes requested" in mine


def test_a_moderator_cannot_decide_on_their_own_submission(app, users):
    moderator = as_user(app, users["moderator"])
    testimony = enter(moderator)
    moderator.post(f"/testimonies/{testimony.id}/submit")

    queue = moderator.get("/review").text
    page = moderator.get(f"/review/{testimony.id}").text
    attempt = moderator.post(
        f"/review/{testimony.id}", data={"target": "content", "decision": "approve", "comment": ""}
    )

    assert "Your own submission: another moderator decides." in queue
    assert "Your own submission: another moderator decides." in page
    assert 'value="approve"' not in page
    assert attempt.status_code == 403
    assert "Nobody may review their own submission" in attempt.text
    assert testimony.state == "in_review"
    other = as_user(app, users["moderator2"])
    assert 'value="approve"' in other.get(f"/review/{testimony.id}").text


def test_the_review_page_marks_the_changed_words_of_an_edited_testimony_escaped(app, users, create_testimony):
    testimony = create_testimony(state="published")
    archivist = as_user(app, users["archivist"])
    edit = archivist.get(f"/testimonies/{testimony.id}/edit").text
    form = {name: value_of(edit, name) for name in ("title", "summary", "narrator_name")}
    archivist.post(
        f"/testimonies/{testimony.id}/edit",
        data={**{k: v for k, v in form.items()}, "version": "1", "narrator_pseudonym": "L. F.",
              "narrator_birth_year": "1950", "narrator_gender": "female", "interview_date": "2019-03-14",
              "interview_place": "Bakı", "interviewer": "Test Interviewer", "languages": "en",
              "places": "Ağdam\nXocalı", "subjects": "family\nwinter",
              "vtt": value_of(edit, "vtt").replace("blue", "&lt;b&gt;red&lt;/b&gt;")},
    )  # fmt: skip
    archivist.post(f"/testimonies/{testimony.id}/submit")
    moderator = as_user(app, users["moderator"])

    page = moderator.get(f"/review/{testimony.id}").text

    assert "<del>blue</del><ins>&lt;b&gt;red&lt;/b&gt;</ins>" in page
    assert "2 segments unchanged." in page
    assert "<b>red</b>" not in page


def long_transcript(count: int) -> list[dict]:
    """`count` fictional three-second segments, each saying its own number."""
    return [
        {"start_ms": i * 3000, "end_ms": (i + 1) * 3000, "speaker": "Narrator",
         "text": f"Fictional sentence number {i} about the road to the mill.", "keywords": []}
        for i in range(count)
    ]  # fmt: skip


def test_a_thousand_segment_submission_shows_the_decision_first_on_a_light_page(app, users, create_testimony):
    testimony = create_testimony(state="in_review", segments=long_transcript(1000))
    moderator = as_user(app, users["moderator"])

    first = moderator.get(f"/review/{testimony.id}")
    at_the_end = moderator.get(f"/review/{testimony.id}?t=2997500").text

    page = first.text
    assert len(first.data) < 80_000
    assert (
        page.index('name="decision"')
        < page.index('id="consent-heading"')
        < page.index('id="content-heading"')
    )
    assert "Fictional sentence number 99 about" in page
    assert "Fictional sentence number 100 about" not in page
    assert "Page 1 of 10" in page
    assert "1000 segments" in page
    assert "Fictional sentence number 999 about" in at_the_end
    assert "Page 10 of 10" in at_the_end


def test_an_edit_of_a_long_testimony_shows_only_the_segments_it_added_or_changed(
    app, users, create_testimony
):
    from archive.operations import submit_for_review, update_testimony

    segments = long_transcript(300)
    testimony = create_testimony(state="published", segments=segments)
    inserted = {
        "start_ms": 0,
        "end_ms": 1000,
        "speaker": "Interviewer",
        "text": "A fictional opening.",
        "keywords": [],
    }
    changed = {**segments[150], "text": "Fictional sentence number 150, corrected."}
    edited = [inserted, *segments[:150], changed, *segments[151:]]
    update_testimony(users["archivist"], testimony, {"segments": edited}, testimony.version)
    submit_for_review(users["archivist"], testimony)
    moderator = as_user(app, users["moderator"])

    page = moderator.get(f"/review/{testimony.id}").text

    assert "299 segments unchanged." in page
    assert page.count('class="segment-change') == 2
    assert "A fictional opening." in page
    assert "corrected.</ins>" in page


def test_the_queue_shows_each_submissions_size_and_how_long_it_has_waited_oldest_first(
    app, users, create_testimony
):
    from archive.operations import add_media, submit_for_review
    from archive.timeutil import utcnow
    from tests.test_media import wav_bytes

    older = create_testimony(state="draft", title="A fictional entry sent three days ago")
    add_media(users["archivist"], older, io.BytesIO(wav_bytes(2)), "visit.wav", "audio")
    submit_for_review(users["archivist"], older)
    newer = create_testimony(state="in_review", title="A fictional entry sent just now")
    older.submitted_at = utcnow() - dt.timedelta(days=3, hours=1)
    db.session.commit()
    moderator = as_user(app, users["moderator"])

    queue = moderator.get("/review").text

    rows = [
        html.unescape(re.sub(r"<[^>]+>|\s+", " ", row)) for row in re.findall(r"<tr>.*?</tr>", queue, re.S)
    ]
    assert older.title in rows[1] and newer.title in rows[2]
    assert "3 days" in rows[1] and "3 segments · 0:02 of recording" in rows[1]
    assert "3 segments" in rows[2] and "of recording" not in rows[2]


# --- consent ------------------------------------------------------------------------------------


def consent_form(**changes) -> dict:
    data = {
        "access": "public",
        "publish_transcript": "y",
        "publish_media": "y",
        "signed_on": "2019-03-14",
        "obtained_by": "Test Interviewer",
        "redactions": "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_a_narrowing_consent_applies_at_once_and_a_widening_waits_for_another_moderator(
    app, users, create_testimony
):
    testimony = create_testimony(state="published")
    archivist = as_user(app, users["archivist"])
    page = archivist.get(f"/testimonies/{testimony.id}/consent").text
    assert '<option selected value="public">' in page

    narrowed = archivist.post(
        f"/testimonies/{testimony.id}/consent", data=consent_form(access="research"), follow_redirects=True
    )
    assert "is in force from now on" in narrowed.text
    assert testimony.consent.access == "research"

    widened = archivist.post(
        f"/testimonies/{testimony.id}/consent", data=consent_form(access="public"), follow_redirects=True
    )
    assert "waits for a moderator" in widened.text
    assert testimony.consent.access == "research"
    assert testimony.pending_consent.access == "public"
    assert "Waiting for a moderator" in widened.text

    moderator = as_user(app, users["moderator"])
    moderator.post(
        f"/review/{testimony.id}",
        data={"target": "consent", "decision": "approve", "comment": "Form checked."},
    )
    assert testimony.consent.access == "public"
    history = archivist.get(f"/testimonies/{testimony.id}/consent").text
    assert "Form checked." in history
    assert "Who may see it: Research: " not in history
    assert "Who may see it: open to everyone → researchers and staff" in html.unescape(history)


def test_a_consent_sealed_without_a_date_is_refused_beside_the_field(app, users, create_testimony):
    testimony = create_testimony(state="published")
    archivist = as_user(app, users["archivist"])

    response = archivist.post(
        f"/testimonies/{testimony.id}/consent", data=consent_form(access="sealed", release_to="public")
    )

    assert response.status_code == 422
    assert "needs the date its seal ends" in errors_of(response.text, "sealed_until")
    assert len(testimony.consents) == 1


# --- deleting, unpublishing, history ---------------------------------------------------------


def test_deleting_an_entry_needs_the_confirmation_box_and_then_hides_it(app, users):
    archivist = as_user(app, users["archivist"])
    testimony = enter(archivist)

    unconfirmed = archivist.post(f"/testimonies/{testimony.id}/delete", data={})
    assert unconfirmed.status_code == 422
    assert "Tick this box" in errors_of(unconfirmed.text, "confirm")
    assert testimony.deleted_at is None

    archivist.post(f"/testimonies/{testimony.id}/delete", data={"confirm": "y"})

    assert testimony.deleted_at is not None
    assert f'href="/testimonies/{testimony.id}/edit"' not in archivist.get("/mine").text
    assert archivist.get(f"/testimonies/{testimony.id}/edit").status_code == 404


def test_a_moderator_unpublishes_only_with_a_reason(app, client, users, create_testimony):
    testimony = create_testimony(state="published")
    moderator = as_user(app, users["moderator"])

    without = moderator.post(f"/testimonies/{testimony.id}/unpublish", data={"reason": ""})
    assert without.status_code == 422
    assert errors_of(without.text, "reason") == "Say why it is taken offline."
    assert client.get(f"/testimonies/{testimony.id}").status_code == 200

    moderator.post(f"/testimonies/{testimony.id}/unpublish", data={"reason": "The family asked us to."})

    assert testimony.state == "unpublished"
    assert client.get(f"/testimonies/{testimony.id}").status_code == 404


def test_the_history_lists_versions_and_decisions_with_their_comments(app, users, create_testimony):
    testimony = create_testimony(state="changes_requested")
    archivist = as_user(app, users["archivist"])

    page = html.unescape(archivist.get(f"/testimonies/{testimony.id}/history").text)

    assert "Please check the dates." in page
    assert "Moderator" in page
    assert "created" in page
    assert "Take offline" not in page


def test_the_queue_filters_by_language(app, users):
    archivist = as_user(app, users["archivist"])
    azeri = enter(archivist, title="A fictional entry in Azerbaijani", languages="az")
    russian = enter(archivist, title="A fictional entry in Russian", languages="ru")
    for testimony in (azeri, russian):
        archivist.post(f"/testimonies/{testimony.id}/submit")
    moderator = as_user(app, users["moderator"])

    everything = moderator.get("/review").text
    filtered = moderator.get("/review?language=ru").text

    assert azeri.title in everything and russian.title in everything
    assert russian.title in filtered
    assert azeri.title not in filtered


# --- who may open the staff pages --------------------------------------------------------------

TESTIMONY_PAGES = [
    ("get", "/testimonies/{id}/edit"),
    ("get", "/testimonies/{id}/consent"),
    ("get", "/testimonies/{id}/history"),
    ("get", "/review/{id}"),
    ("post", "/testimonies/{id}/submit"),
    ("post", "/testimonies/{id}/delete"),
    ("post", "/testimonies/{id}/unpublish"),
]
STAFF_PAGES = [("get", "/testimonies/new"), ("get", "/mine"), ("get", "/review")]


@pytest.mark.parametrize(("method", "path"), STAFF_PAGES)
def test_the_public_is_sent_to_sign_in_from_the_staff_pages(client, method, path):
    response = getattr(client, method)(path)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


@pytest.mark.parametrize(("method", "path"), TESTIMONY_PAGES)
def test_the_staff_pages_of_a_testimony_are_not_found_for_the_public(client, create_testimony, method, path):
    testimony = create_testimony(state="published")

    response = getattr(client, method)(path.format(id=testimony.id), data={"reason": "x", "confirm": "y"})

    assert response.status_code == 404
    assert testimony.state == "published" and testimony.deleted_at is None


@pytest.mark.parametrize(("method", "path"), STAFF_PAGES + TESTIMONY_PAGES)
def test_a_researcher_is_refused_every_staff_page(app, users, create_testimony, method, path):
    testimony = create_testimony(state="published", access="research")
    researcher = as_user(app, users["researcher"])

    response = getattr(researcher, method)(path.format(id=testimony.id), data={"reason": "x", "confirm": "y"})

    assert response.status_code == 403
    assert testimony.state == "published" and testimony.deleted_at is None


def test_a_researcher_cannot_learn_that_a_draft_exists(app, users, create_testimony):
    testimony = create_testimony(state="draft")
    researcher = as_user(app, users["researcher"])

    assert researcher.get(f"/testimonies/{testimony.id}/edit").status_code == 404


@pytest.mark.parametrize("path", ["/review", "/review/{id}"])
def test_an_archivist_may_not_open_the_moderators_pages(app, users, create_testimony, path):
    testimony = create_testimony(state="in_review")
    archivist = as_user(app, users["archivist2"])

    assert archivist.get(path.format(id=testimony.id)).status_code == 403


def csrf_token_of(page: str) -> str:
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def test_every_staff_form_carries_a_csrf_token_and_a_decision_without_one_is_refused(
    app, users, create_testimony
):
    testimony = create_testimony(state="in_review")
    app.config["WTF_CSRF_ENABLED"] = True
    moderator = visitor(app)
    token = csrf_token_of(moderator.get("/login").text)
    moderator.post(
        "/login", data={"email": users["moderator"].email, "password": PASSWORD, "csrf_token": token}
    )

    for path in (
        "/testimonies/new",
        "/testimonies/{id}/edit",
        "/testimonies/{id}/consent",
        "/review/{id}",
    ):
        page = moderator.get(path.format(id=testimony.id)).text
        forms = re.findall(r'<form method="post".*?</form>', page, re.S)
        assert forms, path
        assert all('name="csrf_token"' in form for form in forms), path

    # A testimony form without its token saves nothing; what was typed goes back into the form.
    refused = moderator.post("/testimonies/new", data=entry_form())
    assert (refused.status_code, refused.headers["Location"]) == (302, "/testimonies/new?draft=restore")
    assert count_testimonies() == 1

    data = {"target": "content", "decision": "approve", "comment": ""}
    refused = moderator.post(f"/review/{testimony.id}", data=data)
    assert refused.status_code == 400
    assert testimony.state == "in_review"

    token = csrf_token_of(moderator.get(f"/review/{testimony.id}").text)
    accepted = moderator.post(f"/review/{testimony.id}", data={**data, "csrf_token": token})
    assert accepted.status_code == 302
    assert testimony.state == "published"
