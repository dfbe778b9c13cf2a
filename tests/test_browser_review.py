"""In a real browser: a moderator opens a 1,000-segment submission, finds the decision without
scrolling, plays the recording from a segment by keyboard, and decides by keyboard."""

from __future__ import annotations

import io
import re

import pytest
from playwright.sync_api import expect

from tests.conftest import browser_login
from tests.test_media import wav_bytes
from tests.test_staff_pages import long_transcript

pytestmark = pytest.mark.browser


def test_a_moderator_plays_a_segment_and_decides_a_thousand_segment_submission_from_the_first_screen(
    page, live_server, users, create_testimony
):
    from archive.operations import add_media, submit_for_review

    testimony = create_testimony(state="draft", segments=long_transcript(1000))
    add_media(users["archivist"], testimony, io.BytesIO(wav_bytes(12)), "visit.wav", "audio")
    submit_for_review(users["archivist"], testimony)
    page.set_viewport_size({"width": 1280, "height": 800})
    browser_login(page, live_server, users["moderator"])

    page.goto(f"{live_server}/review/{testimony.id}")
    record = page.get_by_role("button", name="Record the decision")
    expect(record).to_be_in_viewport()

    page.get_by_role("link", name="Play from 0:09").focus()
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => { const a = document.querySelector('audio[data-main]');"
        " return a.currentTime >= 9 && !a.paused; }"
    )
    expect(page).to_have_url(re.compile(r"[?&]t=9000#t-9000$"))
    expect(page.locator("#t-9000")).to_have_attribute("aria-current", "true")

    page.get_by_label("Approve").focus()
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Comment")).to_be_focused()
    page.keyboard.press("Tab")
    expect(record).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("is published")
