"""In a real browser: an archivist enters a testimony and sends it to review, another person
approves it as moderator, and then the public finds it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import browser_login

pytestmark = pytest.mark.browser

TITLE = "A fictional testimony about the apricot harvest"


def sign_out(page) -> None:
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()


def test_an_entry_made_in_the_form_is_approved_by_a_moderator_and_found_by_the_public(
    page, live_server, users
):
    browser_login(page, live_server, users["archivist"])
    page.get_by_role("link", name="New testimony").click()
    page.get_by_label("Title").fill(TITLE)
    page.get_by_label("Summary").fill(
        "Fictional sample: a narrator remembers the last harvest before leaving."
    )
    page.get_by_label("Narrator's name").fill("Rauf Fictional")
    page.get_by_label("Birth year").fill("1947")
    page.get_by_label("Languages").fill("en")
    page.get_by_label("Places").fill("Xocalı")
    page.get_by_label("Transcript (WebVTT)").fill(
        "WEBVTT\n\n00:00.000 --> 01:10.000\n"
        "<v Narrator>We dried the apricots on the flat roof of the house.\n"
    )
    page.get_by_label("Who may see it").select_option("public")
    page.get_by_role("button", name="Save as draft").click()

    expect(page.get_by_text("Saved as a draft.")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/testimonies/\d+/edit$"))
    saved = re.compile("00:00:00.000 --> 00:01:10.000")
    expect(page.get_by_label("Transcript (WebVTT)")).to_have_value(saved)
    page.get_by_role("button", name="Send the saved version to review").click()
    expect(page.get_by_role("status")).to_contain_text("was sent to review")
    expect(page.get_by_role("row", name=re.compile(TITLE))).to_contain_text("Waiting for a moderator")
    sign_out(page)

    browser_login(page, live_server, users["moderator"])
    page.get_by_role("link", name="Review queue").click()
    page.get_by_role("link", name=TITLE).click()
    expect(page.get_by_text("We dried the apricots on the flat roof of the house.")).to_be_visible()
    page.get_by_label("Approve").check()
    page.get_by_role("button", name="Record the decision").click()
    expect(page.get_by_role("status")).to_contain_text("is published")
    expect(page.get_by_text("Nothing is waiting for review.")).to_be_visible()
    sign_out(page)

    page.goto(f"{live_server}/search?q=apricots")
    hit = page.locator(".hit")
    expect(hit).to_have_count(1)
    expect(hit.get_by_role("heading")).to_have_text(TITLE)
    hit.get_by_role("link", name=TITLE).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    expect(page.get_by_text("We dried the apricots on the flat roof of the house.")).to_be_visible()


def test_an_archivist_uploads_a_recording_and_the_signed_form_and_names_the_form_in_the_consent(
    page, live_server, users, create_testimony, tmp_path
):
    from tests.test_media import PDF, wav_bytes

    testimony = create_testimony("draft")
    recording = tmp_path / "second-visit.wav"
    recording.write_bytes(wav_bytes(2))
    scan = tmp_path / "signed-form.pdf"
    scan.write_bytes(PDF)
    browser_login(page, live_server, users["archivist"])
    page.goto(f"{live_server}/testimonies/{testimony.id}/edit")
    page.get_by_role("link", name="Recordings and forms").first.click()

    page.locator("input#file").set_input_files(str(scan))
    page.get_by_role("button", name="Upload").click()
    expect(page.locator(".flash").first).to_contain_text("signed-form.pdf")
    page.locator("input#file").set_input_files(str(recording))
    page.get_by_label("Kind").select_option("video")
    page.get_by_role("button", name="Upload").click()
    expect(page.locator(".field-errors")).to_contain_text("Expected video")
    page.locator("input#file").set_input_files(str(recording))
    page.get_by_label("Kind").select_option("audio")
    page.get_by_role("button", name="Upload").click()
    rows = page.locator("table.media-files tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(1)).to_contain_text("0:02")

    page.get_by_role("link", name="Consent").click()
    choice = page.get_by_label("Scan of the signed form")
    choice.select_option(choice.locator("option", has_text="signed-form.pdf").get_attribute("value"))
    page.get_by_role("button", name="Record this consent").click()
    expect(page.locator(".consent-summary").first.get_by_role("link", name="signed-form.pdf")).to_be_visible()
