"""The testimony editor over long days: nothing typed is lost to a session that ended or a form
left open too long, drafts come back, two people's edits meet side by side, and a possible
duplicate is named on saving. Driven through the test client, CSRF tokens on, as a browser sends."""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit

import pytest

from archive.catalogue.models import EditorDraft
from archive.extensions import db
from tests.conftest import PASSWORD
from tests.test_staff_pages import ENTRY_VTT, csrf_token_of, entry_form, value_of

TYPED_TITLE = "The quince orchard, as typed before the session ended"
TYPED_VTT = ENTRY_VTT + "\n01:02:03.000 --> 01:03:00.000\n<v Narrator>They cut the trees down for firewood.\n"


@pytest.fixture
def csrf_on(app):
    app.config["WTF_CSRF_ENABLED"] = True


def signed_in(app, user):
    """A browser signed in through the sign-in form, token and all."""
    browser = app.test_client()
    token = csrf_token_of(browser.get("/login").text)
    response = browser.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    return browser


def sign_in_again(browser, user, next_path: str):
    """The sign-in page the person was sent to, filled in and sent: where it leads, followed."""
    page = browser.get(next_path)
    assert page.status_code == 200
    form = {
        "email": user.email,
        "password": PASSWORD,
        "csrf_token": csrf_token_of(page.text),
        "next": html.unescape(re.search(r'name="next" type="hidden" value="([^"]*)"', page.text).group(1)),
    }
    return browser.post("/login", data=form, follow_redirects=True)


def test_a_session_that_ends_mid_edit_loses_nothing_the_archivist_signs_in_and_finds_the_form_as_left(
    app, users, create_testimony, csrf_on
):
    testimony = create_testimony(state="draft")
    browser = signed_in(app, users["archivist"])
    edit = browser.get(f"/testimonies/{testimony.id}/edit").text
    typed = {**entry_form(), "version": "1", "title": TYPED_TITLE, "vtt": TYPED_VTT}
    typed = {k: v for k, v in typed.items() if not k.startswith("consent-")}
    app.config["SESSION_IDLE_HOURS"] = 0  # the archivist typed all afternoon: the session ended

    refused = browser.post(
        f"/testimonies/{testimony.id}/edit", data={**typed, "csrf_token": csrf_token_of(edit)}
    )

    assert refused.status_code == 302
    login_page = urlsplit(refused.headers["Location"])
    assert login_page.path == "/login"
    assert testimony.title != TYPED_TITLE
    app.config["SESSION_IDLE_HOURS"] = 8
    login_text = browser.get(f"{login_page.path}?{login_page.query}").text
    assert "Your session had ended, so nothing was saved yet." in html.unescape(login_text)
    shown = sign_in_again(browser, users["archivist"], f"{login_page.path}?{login_page.query}")
    assert shown.status_code == 200
    assert "The form as you left it, not saved yet" in html.unescape(shown.text)
    assert value_of(shown.text, "title") == TYPED_TITLE
    assert value_of(shown.text, "vtt").replace("\r\n", "\n") == TYPED_VTT
    assert value_of(shown.text, "version") == "1"
    # What was kept is the archivist's alone now: the browser's key to it is gone.
    assert db.session.query(EditorDraft).filter(EditorDraft.key_hash.is_not(None)).count() == 0


def test_a_stale_form_token_keeps_what_was_typed_and_says_so_in_the_readers_language(
    app, users, create_testimony, csrf_on
):
    testimony = create_testimony(state="draft")
    browser = signed_in(app, users["archivist"])
    browser.get("/lang/ru", headers={"Referer": "http://localhost/"})

    refused = browser.post(
        f"/testimonies/{testimony.id}/edit",
        data={**entry_form(), "version": "1", "title": TYPED_TITLE, "csrf_token": "stale"},
        follow_redirects=True,
    )

    page = html.unescape(refused.text)
    assert refused.status_code == 200
    assert "CSRF" not in page
    assert "Форма была слишком старой" in page
    assert value_of(refused.text, "title") == TYPED_TITLE


def test_a_draft_saved_as_the_archivist_types_is_offered_back_and_is_never_a_version(
    app, users, create_testimony, csrf_on
):
    testimony = create_testimony(state="draft")
    browser = signed_in(app, users["archivist"])
    edit = browser.get(f"/testimonies/{testimony.id}/edit").text
    typed = {**entry_form(), "version": "1", "title": TYPED_TITLE, "vtt": TYPED_VTT}

    saved = browser.post(
        f"/testimonies/{testimony.id}/edit/draft", data=typed, headers={"X-CSRFToken": csrf_token_of(edit)}
    )

    assert saved.status_code == 200
    assert re.fullmatch(r"Draft saved at \d{1,2}:\d\d\s?[AP]M", saved.json["message"])
    assert (testimony.version, testimony.title) == (1, "A fictional testimony about the winter road")
    offered = browser.get(f"/testimonies/{testimony.id}/edit").text
    assert "You have a draft of this form from" in offered
    assert value_of(offered, "title") == "A fictional testimony about the winter road"
    restored = browser.get(f"/testimonies/{testimony.id}/edit?draft=restore").text
    assert value_of(restored, "title") == TYPED_TITLE
    discard = re.search(r'action="([^"]+/draft/discard)"', offered).group(1)
    browser.post(discard, data={"csrf_token": csrf_token_of(offered)})
    assert "You have a draft" not in browser.get(f"/testimonies/{testimony.id}/edit").text


def test_an_autosave_after_the_session_ended_answers_sign_in_and_keeps_the_text(
    app, users, create_testimony, csrf_on
):
    testimony = create_testimony(state="draft")
    browser = signed_in(app, users["archivist"])
    token = csrf_token_of(browser.get(f"/testimonies/{testimony.id}/edit").text)
    app.config["SESSION_IDLE_HOURS"] = 0

    refused = browser.post(
        f"/testimonies/{testimony.id}/edit/draft",
        data={"title": TYPED_TITLE, "vtt": TYPED_VTT, "version": "1"},
        headers={"X-CSRFToken": token},
    )

    assert refused.status_code == 401
    assert refused.json["sign_in"].startswith("/login?next=")
    assert refused.json["error"]["message"].startswith("Your session had ended")
    app.config["SESSION_IDLE_HOURS"] = 8
    shown = sign_in_again(browser, users["archivist"], refused.json["sign_in"])
    assert value_of(shown.text, "title") == TYPED_TITLE


def test_two_edits_of_the_transcript_meet_side_by_side_and_the_typed_one_is_kept_on_top_of_theirs(app, users):
    from tests.test_staff_pages import as_user, enter

    first = as_user(app, users["archivist"])
    second = as_user(app, users["archivist2"])
    testimony = enter(first)
    theirs = ENTRY_VTT.replace("picked the quinces together", "picked the ripe quinces together")
    mine = ENTRY_VTT.replace("picked the quinces together", "gathered the quinces together")
    second.post(f"/testimonies/{testimony.id}/edit", data={**entry_form(), "version": "1", "vtt": theirs})

    response = first.post(
        f"/testimonies/{testimony.id}/edit", data={**entry_form(), "version": "1", "vtt": mine}
    )

    page = response.text
    assert response.status_code == 409
    compared = page[
        page.index('class="side-by-side"') : page.index("</section>", page.index('class="side-by-side"'))
    ]
    assert "Cue 1" in compared
    assert "we <del>picked</del> the <del>ripe</del> quinces" in compared
    assert "we <ins>gathered</ins> the quinces" in compared
    assert "Cue 2" not in compared
    assert value_of(page, "vtt").replace("\r\n", "\n") == mine
    again = first.post(
        f"/testimonies/{testimony.id}/edit",
        data={**entry_form(), "version": value_of(page, "version"), "vtt": mine},
    )
    assert again.status_code == 302
    db.session.refresh(testimony)
    assert testimony.version == 3
    assert testimony.segments[0].text == "Every autumn we gathered the quinces together."


def test_the_same_entry_saved_twice_is_named_as_a_possible_duplicate_with_a_link_and_still_saved(app, users):
    from tests.test_staff_pages import as_user, count_testimonies, enter

    archivist = as_user(app, users["archivist"])
    first = enter(archivist)

    second = enter(archivist)

    page = html.unescape(archivist.get(f"/testimonies/{second.id}/edit").text)
    assert count_testimonies() == 2
    assert "This entry may be the same testimony as:" in page
    assert f'<a href="/testimonies/{first.id}/edit">{first.title}</a> (#{first.id}):' in page
    assert "the same narrator and interview date" in page
    assert "may be the same testimony" not in archivist.get(f"/testimonies/{second.id}/edit").text


def test_a_very_similar_title_and_transcript_are_named_with_how_alike_and_a_different_entry_is_not(
    app, users
):
    from tests.test_staff_pages import as_user, enter

    archivist = as_user(app, users["archivist"])
    first = enter(archivist)
    elsewhere = {"narrator_name": "Another Fictional", "interview_date": "2020-01-01"}

    alike = enter(archivist, title=first.title.replace("orchard", "orchard."), **elsewhere)
    alike_page = html.unescape(archivist.get(f"/testimonies/{alike.id}/edit").text)
    other = enter(
        archivist, title="A fictional testimony about the mountain school", narrator_name="A Third Fictional"
    )
    other_page = archivist.get(f"/testimonies/{other.id}/edit").text

    assert "a very similar title, and 100% of the transcript alike" in alike_page
    assert "may be the same testimony" not in other_page


def test_forms_sent_without_a_session_cannot_fill_the_archive_with_drafts(app, create_testimony, csrf_on):
    """Anybody may send the edit form with no session: what is kept for them to sign in again has a
    size and a number it never passes, and past either nothing is kept and the page says so."""
    testimony = create_testimony(state="draft")
    path = f"/testimonies/{testimony.id}/edit"
    app.config.update(DRAFT_MAX_BYTES=10_000, DRAFTS_WAITING_MAX=2)

    huge = app.test_client().post(path, data={"title": "A fictional title", "vtt": "x" * 20_000})
    assert huge.status_code == 400
    assert "nothing was saved" in html.unescape(huge.text)
    assert db.session.query(EditorDraft).count() == 0

    kept = [app.test_client().post(path, data={"title": f"Fictional {n}"}) for n in range(3)]
    assert [r.status_code for r in kept] == [302, 302, 400]
    assert db.session.query(EditorDraft).filter(EditorDraft.user_id.is_(None)).count() == 2
