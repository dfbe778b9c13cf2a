"""In a real browser: the transcript editor of a long testimony, segment by segment beside the
recording, driven by the keyboard as archivists use it all day."""

from __future__ import annotations

import io
import os
import re

import pytest
from playwright.sync_api import expect

from archive.catalogue import models
from archive.extensions import db
from tests.conftest import SCREENSHOTS, browser_login

pytestmark = pytest.mark.browser


def long_vtt(count: int) -> str:
    cues = (
        f"{i // 60:02d}:{i % 60:02d}.000 --> {i // 60:02d}:{i % 60:02d}.900\n"
        f"<v {('Narrator', 'Interviewer')[i % 2]}>Fictional segment {i + 1}: the river in winter.\n"
        for i in range(count)
    )
    return "WEBVTT\n\n" + "\n".join(cues)


def screenshot(page, name: str) -> None:
    """With ARCHIVE_TEST_SCREENSHOTS set, screenshots of the editor at the archivist's width and at a
    phone's, in tests/screenshots/, to look at after a change to the page."""
    if not os.environ.get("ARCHIVE_TEST_SCREENSHOTS"):
        return
    os.makedirs(SCREENSHOTS, exist_ok=True)
    for width in (1280, 360):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=os.path.join(SCREENSHOTS, f"editor-{name}-{width}.png"), full_page=width == 360)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_a_pasted_transcript_of_a_thousand_segments_is_edited_segment_by_segment_and_saved(
    page, live_server, users, create_testimony
):
    testimony = create_testimony("draft")
    browser_login(page, live_server, users["archivist"])
    page.goto(f"{live_server}/testimonies/{testimony.id}/edit")

    # As a paste lands: the whole text at once, then one input event. (Playwright's fill types it
    # through the editing commands, some twenty seconds for 70 kB in headless Chromium.)
    page.get_by_label("Transcript (WebVTT)").evaluate(
        "(area, text) => { area.value = text; area.dispatchEvent(new Event('input', {bubbles: true})); }",
        long_vtt(1000),
    )
    page.get_by_role("button", name="Edit segment by segment").click()
    expect(page.locator("#seg-page-label")).to_have_text("Segments 1–25 of 1000")
    page.get_by_label("Text", exact=True).press("Alt+ArrowDown")
    expect(page.locator("#segment-current-legend")).to_have_text("Segment 2 of 1000")
    page.get_by_label("Text", exact=True).fill("Fictional segment 2, corrected by the archivist.")
    page.get_by_label("Speaker").fill("Narr")
    expect(page.locator("#speakers option")).to_have_count(3)
    screenshot(page, "segments")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_text("Saved version 2.")).to_be_visible()
    db.session.rollback()  # a new transaction, which sees what the served app committed
    saved = db.session.get(models.Testimony, testimony.id)
    assert len(saved.segments) == 1000
    assert (saved.segments[1].speaker, saved.segments[1].text) == (
        "Narr",
        "Fictional segment 2, corrected by the archivist.",
    )


def test_the_keyboard_starts_a_segment_at_the_players_time_plays_jumps_back_and_splits(
    page, live_server, users, create_testimony
):
    from archive.operations import add_media
    from tests.test_media import wav_bytes

    testimony = create_testimony("draft")
    add_media(users["archivist"], testimony, io.BytesIO(wav_bytes(4)), "visit.wav", "audio")
    browser_login(page, live_server, users["archivist"])
    page.goto(f"{live_server}/testimonies/{testimony.id}/edit")
    page.get_by_role("button", name="Edit segment by segment").click()
    page.wait_for_function("document.getElementById('editor-player').readyState >= 1")
    text = page.get_by_label("Text", exact=True)

    page.evaluate("document.getElementById('editor-player').currentTime = 2.5")
    text.press("Alt+T")
    expect(page.get_by_label("Start", exact=True)).to_have_value("0:02.500")
    text.press("Alt+K")
    page.wait_for_function("!document.getElementById('editor-player').paused")
    text.press("Alt+K")
    page.wait_for_function("document.getElementById('editor-player').paused")
    page.evaluate("document.getElementById('editor-player').currentTime = 3.5")
    text.press("Alt+J")
    page.wait_for_function("document.getElementById('editor-player').currentTime < 0.1")
    text.evaluate("area => area.setSelectionRange(12, 12)")
    text.press("Alt+X")
    expect(page.locator("#segment-current-legend")).to_have_text(re.compile(r"^Segment 2 of \d+$"))
    screenshot(page, "player")
    page.get_by_role("button", name="Save", exact=True).click()

    expect(page.get_by_text(re.compile(r"Saved version \d+\."))).to_be_visible()
    db.session.rollback()  # a new transaction, which sees what the served app committed
    assert db.session.get(models.Testimony, testimony.id).segments[0].start_ms == 2500
