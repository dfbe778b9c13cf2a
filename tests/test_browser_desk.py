"""In a real browser: the staff's desk on a phone and by keyboard, and an archivist's typing kept
through a session that ended and a conflicting edit. All names and stories here are fictional."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import delete

from archive.accounts.models import WebSession
from archive.extensions import db
from tests.conftest import PASSWORD, browser_login
from tests.test_import_page import CSV_TEXT
from tests.test_staff_pages import long_transcript

pytestmark = pytest.mark.browser

TYPED_TITLE = "The quince orchard, as the archivist typed it"
THEIR_TITLE = "The quince orchard, as a second tab saved it"


def wider_than_the_screen(page) -> list[str]:
    """What makes the page, or any table on it, wider than the window: nothing, on a page that fits."""
    return page.evaluate(
        """() => {
          const wide = [...document.querySelectorAll('main table')]
            .filter(t => t.getBoundingClientRect().right > innerWidth)
            .map(t => 'table.' + t.className.replaceAll(' ', '.'));
          const page = document.documentElement.scrollWidth;
          return page > innerWidth ? [`the page, ${page} px`, ...wide] : wide;
        }"""
    )


def test_on_a_phone_the_staff_menu_opens_by_keyboard_and_no_desk_page_is_wider_than_the_screen(
    page, live_server, users, create_testimony, tmp_path
):
    from archive.operations import submit_for_review

    entry = create_testimony(state="draft", segments=long_transcript(30))
    submit_for_review(users["archivist"], entry)
    sheet = tmp_path / "orchard.csv"
    sheet.write_text(CSV_TEXT, encoding="utf-8")
    page.set_viewport_size({"width": 360, "height": 800})
    browser_login(page, live_server, users["admin"])

    menu = page.get_by_role("button", name="Menu")
    queue = page.get_by_role("link", name="Review queue")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(queue).to_be_hidden()
    menu.focus()
    page.keyboard.press("Enter")
    expect(queue).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Home", exact=True)).to_be_focused()
    page.keyboard.press("Escape")
    expect(queue).to_be_hidden()
    expect(menu).to_be_focused()
    page.keyboard.press("Space")
    page.get_by_role("link", name="Import", exact=True).focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Import testimonies")).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "false")
    menu.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("link", name="Import", exact=True)).to_have_attribute("aria-current", "page")
    expect(queue).not_to_have_attribute("aria-current", "page")

    page.get_by_label("File to import").set_input_files(str(sheet))
    page.get_by_role("button", name="Start").click()
    expect(page.locator(".job-summary")).to_contain_text("Dry run: 1 of 2 records would be imported")
    pages = {"an import's report": page.url}
    for name, path in (
        ("the editor", f"/testimonies/{entry.id}/edit"),
        ("the review queue", "/review"),
        ("the users", "/admin/users"),
        ("the audit log", "/admin/audit"),
    ):
        pages[name] = live_server + path
    for name, url in pages.items():
        page.goto(url)
        assert wider_than_the_screen(page) == [], name


def test_an_archivist_whose_session_ends_mid_edit_finds_the_typed_form_and_keeps_it_against_a_second_tab(
    app, page, live_server, users, create_testimony
):
    app.config["WTF_CSRF_ENABLED"] = True  # as in production: the form's token lives in the session
    testimony = create_testimony("draft")
    edit = f"{live_server}/testimonies/{testimony.id}/edit"
    browser_login(page, live_server, users["archivist"])
    page.goto(edit)
    page.get_by_label("Title").fill(TYPED_TITLE)
    db.session.rollback()  # a new transaction, after what the served app committed
    db.session.execute(delete(WebSession))  # the session ends: idle too long, or signed out elsewhere
    db.session.commit()

    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Your session had ended, so nothing was saved yet.")
    page.get_by_label("Email").fill(users["archivist"].email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(rf"/testimonies/{testimony.id}/edit\?draft=restore$"))
    expect(page.get_by_label("Title")).to_have_value(TYPED_TITLE)

    second_tab = page.context.new_page()
    second_tab.goto(edit)
    second_tab.get_by_label("Title").fill(THEIR_TITLE)
    second_tab.get_by_role("button", name="Save", exact=True).click()
    expect(second_tab.get_by_text("Saved version 2.")).to_be_visible()

    page.get_by_role("button", name="Save", exact=True).click()
    both = page.get_by_role("row", name=re.compile("^Title"))
    expect(both.locator(".theirs-side")).to_contain_text("second tab saved")
    expect(both.locator(".mine-side")).to_contain_text("archivist typed")
    expect(page.get_by_label("Title")).to_have_value(TYPED_TITLE)
