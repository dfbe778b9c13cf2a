"""In a real browser: the public finds a passage and lands on its minute; a user signs in and out."""

from __future__ import annotations

import io
import os
import re
import shutil

import pytest
from playwright.sync_api import expect

from tests.conftest import browser_login

pytestmark = pytest.mark.browser


def test_the_public_searches_a_phrase_and_lands_on_the_minute_it_is_spoken(
    page, live_server, create_testimony
):
    testimony = create_testimony()
    page.goto(f"{live_server}/")
    page.get_by_label("Search names, places and words in the transcripts").fill('"blue shawl"')
    page.keyboard.press("Enter")

    hit = page.locator(".hit")
    expect(hit).to_have_count(1)
    expect(hit.get_by_role("heading")).to_have_text("A fictional testimony about the winter road")
    passage = hit.locator(".passages li").first
    expect(passage.locator("mark")).to_have_text(["blue", "shawl"])
    timecode = passage.locator("a.timecode")
    expect(timecode).to_have_text("1:00")

    timecode.click()
    expect(page).to_have_url(re.compile(rf"/testimonies/{testimony.id}\?t=60000#t-60000$"))
    segment = page.locator("#t-60000")
    expect(segment).to_have_class(re.compile(r"\bcurrent\b"))
    expect(segment).to_contain_text("My brother carried our grandmother's blue shawl.")
    expect(segment).to_be_in_viewport()
    expect(page.locator(".segment.current")).to_have_count(1)


def test_a_link_to_a_minute_without_its_fragment_still_scrolls_there(page, live_server, create_testimony):
    segments = [
        {
            "start_ms": i * 60000,
            "end_ms": (i + 1) * 60000,
            "speaker": "Narrator",
            "text": f"Passage {i}. " * 40,
        }
        for i in range(30)
    ]
    testimony = create_testimony(segments=segments)
    page.goto(f"{live_server}/testimonies/{testimony.id}?t=1530000")
    segment = page.locator("#t-1500000")
    expect(segment).to_have_class(re.compile(r"\bcurrent\b"))
    expect(segment).to_be_in_viewport()
    assert page.evaluate("window.scrollY") > 0


def test_a_user_signs_in_and_out(page, live_server, users):
    browser_login(page, live_server, users["researcher"])
    expect(page.get_by_text("You are signed in.")).to_be_visible()
    expect(page.get_by_role("link", name="Researcher")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)


def test_a_wrong_password_keeps_the_user_signed_out(page, live_server, users):
    browser_login(page, live_server, users["researcher"], password="not the password at all")
    expect(page.get_by_role("alert")).to_have_text("The email or password is not right.")
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_label("Email")).to_have_value(users["researcher"].email)
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)


@pytest.mark.skipif(
    shutil.which("ffmpeg") is None and not os.environ.get("CI"), reason="ffmpeg is not installed"
)
# A player drops a range request half-read when it seeks; the test server (werkzeug's) then leaves
# that response's file to the garbage collector instead of closing it. gunicorn closes it.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_a_listener_opens_a_moment_and_the_recording_plays_from_there(
    page, live_server, client, users, create_testimony
):
    from archive.operations import add_media as upload
    from tests.test_media import fetch_when_ready, publish_again, wav_bytes

    testimony = create_testimony(consent_publish_media=True)
    recording = upload(users["archivist"], testimony, io.BytesIO(wav_bytes(150)), "tape.wav", None)
    publish_again(users, testimony)
    assert fetch_when_ready(client, f"/media/{recording.id}").status_code == 200

    page.goto(f"{live_server}/testimonies/{testimony.id}")
    player = page.locator("audio[data-main]")
    expect(player).to_have_count(1)
    page.wait_for_function("document.querySelector('audio[data-main]').duration > 100")
    page.locator("#t-60000 a.timecode").click()
    page.wait_for_function("document.querySelector('audio[data-main]').currentTime >= 60")
    expect(page.locator("#t-60000")).to_have_class(re.compile(r"\bcurrent\b"))
    expect(page).to_have_url(re.compile(rf"/testimonies/{testimony.id}\?t=60000#t-60000$"))
    # A link to the minute opens the page with the player already there.
    page.goto(f"{live_server}/testimonies/{testimony.id}?t=60000")
    page.wait_for_function("document.querySelector('audio[data-main]').currentTime >= 60")
