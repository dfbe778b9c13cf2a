"""In a real browser, under the archive's Content-Security-Policy: the main pages load with nothing
refused (no inline script or style slipped in), and the player and search autocomplete still work."""

from __future__ import annotations

import io
import os
import shutil

import pytest
from playwright.sync_api import expect

from tests.conftest import browser_login

pytestmark = pytest.mark.browser

# Runs before any page script, in every page: each refusal the browser reports is kept.
WATCH = """
window.__refused = [];
document.addEventListener("securitypolicyviolation", function (e) {
  window.__refused.push(e.violatedDirective + " " + (e.blockedURI || "inline") + " at " + e.sourceFile);
});
"""


@pytest.fixture
def watched(page):
    """The test's page, with every CSP refusal (as an event and on the console) and every script
    error collected. A missing file (the favicon, a 404 page) is not the policy's business."""
    problems: list[str] = []
    page.add_init_script(WATCH)

    def on_console(message) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            problems.append(f"console: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda e: problems.append(f"script error: {e}"))

    def visit(url: str) -> None:
        page.goto(url)
        page.wait_for_load_state("load")
        check()

    def check() -> None:
        refused = page.evaluate("window.__refused || []")
        assert not refused and not problems, (page.url, refused, problems)

    page.visit = visit
    page.check_policy = check
    return page


def test_the_browser_reports_what_the_policy_refuses(watched, live_server):
    """The watch is real: an inline script and an inline style are refused and reported."""
    watched.visit(f"{live_server}/")
    watched.evaluate(
        """() => {
          const s = document.createElement("script");
          s.textContent = "window.__ran = true";
          document.body.appendChild(s);
          document.body.setAttribute("style", "background: red");
        }"""
    )
    watched.wait_for_function("window.__refused.length >= 2")
    refused = watched.evaluate("window.__refused")
    assert any(r.startswith("script-src") for r in refused), refused
    assert any(r.startswith("style-src") for r in refused), refused
    assert watched.evaluate("window.__ran === undefined")


def test_the_public_pages_load_with_nothing_refused_and_autocomplete_works(
    watched, live_server, users, create_testimony
):
    from archive.authority.service import set_coordinates
    from archive.catalogue.models import Place
    from archive.extensions import db

    testimony = create_testimony()
    # The map draws its dot over the shipped outline: an SVG image, under the same policy.
    set_coordinates(
        users["archivist"], db.session.scalar(db.select(Place).filter_by(name="Ağdam")), 39.99, 46.93
    )
    for path in (
        "/",
        "/search?q=snow",
        f"/testimonies/{testimony.id}?t=60000",
        "/places/map",
        "/login",
        "/no/such/page",
    ):
        watched.visit(live_server + path)

    watched.visit(f"{live_server}/")
    box = watched.locator("input[data-suggest]").first
    box.fill("")
    box.press_sequentially("Ağ", delay=30)
    options = watched.locator(f"datalist#{box.get_attribute('list')} option")
    expect(options).to_have_count(1)
    expect(options.first).to_have_attribute("value", "Ağdam")
    watched.check_policy()


@pytest.mark.skipif(
    shutil.which("ffmpeg") is None and not os.environ.get("CI"), reason="ffmpeg is not installed"
)
# As in test_browser_public: a seeking player leaves a half-read range response to the collector.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_the_player_plays_from_a_timecode_under_the_policy(
    watched, live_server, client, users, create_testimony
):
    from archive.operations import add_media as upload
    from tests.test_media import fetch_when_ready, publish_again, wav_bytes

    testimony = create_testimony(consent_publish_media=True)
    recording = upload(users["archivist"], testimony, io.BytesIO(wav_bytes(90)), "tape.wav", None)
    publish_again(users, testimony)
    assert fetch_when_ready(client, f"/media/{recording.id}").status_code == 200

    watched.visit(f"{live_server}/testimonies/{testimony.id}")
    watched.wait_for_function("document.querySelector('audio[data-main]').duration > 60")
    watched.locator("#t-60000 a.timecode").click()
    watched.wait_for_function("document.querySelector('audio[data-main]').currentTime >= 60")
    watched.check_policy()


def test_the_staff_and_admin_pages_load_with_nothing_refused(watched, live_server, users, create_testimony):
    published = create_testimony()
    draft = create_testimony("in_review", title="A fictional entry waiting for review")
    browser_login(watched, live_server, users["admin"])
    expect(watched.get_by_text("You are signed in.")).to_be_visible()
    watched.check_policy()
    for path in (
        "/mine",
        "/testimonies/new",
        f"/testimonies/{draft.id}/edit",
        f"/testimonies/{draft.id}/media",
        f"/testimonies/{published.id}/consent",
        f"/testimonies/{published.id}/history",
        "/review",
        f"/review/{draft.id}",
        "/authority/places",
        "/admin/users",
        "/admin/audit",
        "/admin/deleted",
        "/account",
    ):
        watched.visit(live_server + path)
    watched.get_by_role("button", name="Sign out", exact=True).click()
    expect(watched.get_by_text("You are signed out.")).to_be_visible()
    watched.check_policy()
