"""The public's pages: the home page, search results grouped by testimony, a testimony at its minute,
and the promise that nothing the public may not see ever reaches these pages."""

from __future__ import annotations

import re

import pytest

from tests.conftest import login

SECRET_WORD = "quillfeather"
SECRET_SEGMENTS = [
    {
        "start_ms": 0,
        "end_ms": 30000,
        "speaker": "Narrator",
        "text": f"The old {SECRET_WORD} clock stopped on the wall that night.",
        "keywords": [],
    }
]


def text_of(response) -> str:
    return response.get_data(as_text=True)


def test_home_page_introduces_the_archive_and_lists_a_published_testimony(client, create_testimony):
    testimony = create_testimony(title="The orchard by the river")
    page = text_of(client.get("/"))
    assert "Testimony Archive" in page
    assert "timecoded" in page
    assert f'href="/testimonies/{testimony.id}"' in page
    assert "The orchard by the river" in page
    # Browse links go through the search page.
    assert 'href="/search?place=Xocal%C4%B1"' in page
    assert 'href="/search?subject=winter"' in page


def test_home_page_never_lists_a_draft(client, create_testimony):
    create_testimony(state="draft", title="An entry still being typed")
    page = text_of(client.get("/"))
    assert "An entry still being typed" not in page
    assert "0 testimonies are open to you." in page


def test_public_search_shows_passages_grouped_by_testimony_with_timecodes(client, create_testimony):
    testimony = create_testimony()
    response = client.get("/search?q=shawl")
    page = text_of(response)
    assert response.status_code == 200
    assert "1 testimony matches" in page
    assert page.count("A fictional testimony about the winter road") == 1
    link = f"/testimonies/{testimony.id}?t=60000#t-60000"
    assert f'<h2><a href="{link}">A fictional testimony about the winter road</a></h2>' in page
    assert f'<a class="timecode" href="{link}"' in page
    assert ">1:00</a>" in page
    assert "blue <mark>shawl</mark>" in page
    assert "Leyla Fictionova" in page


@pytest.mark.parametrize(
    "state, consent",
    [
        ("draft", "public"),
        ("in_review", "public"),
        ("changes_requested", "public"),
        ("published", "research"),
        ("published", "staff"),
        ("published", "sealed"),
        ("published", "withdrawn"),
    ],
)
def test_public_search_never_shows_a_testimony_it_may_not_see(client, create_testimony, state, consent):
    create_testimony(title="A testimony open to all")
    create_testimony(state=state, access=consent, title="The hidden clock", segments=SECRET_SEGMENTS)
    searched = text_of(client.get(f"/search?q={SECRET_WORD}"))
    assert "The hidden clock" not in searched
    assert "clock stopped" not in searched
    assert "No testimony matches" in searched
    browsed = text_of(client.get("/search"))
    assert "A testimony open to all" in browsed
    assert "The hidden clock" not in browsed
    assert "1 testimony" in browsed


def test_researchers_find_what_is_open_to_research(client, users, create_testimony):
    create_testimony(access="research", title="The hidden clock", segments=SECRET_SEGMENTS)
    login(client, users["researcher"])
    page = text_of(client.get(f"/search?q={SECRET_WORD}"))
    assert "The hidden clock" in page
    assert f"old <mark>{SECRET_WORD}</mark> clock" in page


@pytest.mark.parametrize(
    "state, consent", [("draft", "public"), ("published", "research"), ("published", "withdrawn")]
)
def test_testimony_page_is_not_found_for_the_public_where_it_is_not_visible(
    client, create_testimony, state, consent
):
    testimony = create_testimony(state=state, access=consent)
    response = client.get(f"/testimonies/{testimony.id}")
    assert response.status_code == 404
    assert "Leyla Fictionova" not in text_of(response)
    assert "This page is not here" in text_of(response)


def test_unknown_testimony_is_not_found(client, app):
    assert client.get("/testimonies/999999").status_code == 404


def test_testimony_page_shows_the_transcript_with_timecode_anchors(client, create_testimony):
    testimony = create_testimony()
    page = text_of(client.get(f"/testimonies/{testimony.id}"))
    assert "<h1>A fictional testimony about the winter road</h1>" in page
    assert "Leyla Fictionova" in page
    for start in (0, 60000, 120000):
        assert f'id="t-{start}"' in page
    assert 'href="/search?place=A%C4%9Fdam"' in page
    assert 'href="/search?subject=family"' in page
    assert "We walked through the forest along the river in deep snow." in page
    assert 'class="segment current"' not in page


def test_testimony_page_marks_the_segment_at_the_requested_minute(client, create_testimony):
    testimony = create_testimony()
    page = text_of(client.get(f"/testimonies/{testimony.id}?t=90000"))
    current = re.findall(r'<li class="segment current"\s+id="(t-\d+)" aria-current="true">', page)
    assert current == ["t-60000"]


def test_anonymised_narrator_is_shown_to_the_public_by_pseudonym(client, create_testimony):
    testimony = create_testimony(consent_anonymize_narrator=True)
    page = text_of(client.get(f"/testimonies/{testimony.id}"))
    assert "L. F." in page
    assert "Leyla" not in page
    found = text_of(client.get("/search?q=shawl"))
    assert "L. F." in found
    assert "Leyla" not in found


def test_redacted_segment_is_absent_for_the_public(client, create_testimony):
    redaction = [{"start_ms": 60000, "end_ms": 120000, "reason": "names a living relative"}]
    testimony = create_testimony(consent_redactions=redaction)
    page = text_of(client.get(f"/testimonies/{testimony.id}"))
    assert "We walked through the forest" in page
    assert "blue shawl" not in page
    assert 'id="t-60000"' not in page
    assert "names a living relative" not in page
    searched = text_of(client.get("/search?q=shawl"))
    assert "carried our grandmother" not in searched
    assert "No testimony matches" in searched


def test_staff_see_a_redacted_segment_marked_as_hidden_from_the_public(client, users, create_testimony):
    redaction = [{"start_ms": 60000, "end_ms": 120000, "reason": "names a living relative"}]
    testimony = create_testimony(consent_redactions=redaction)
    login(client, users["archivist"])
    page = text_of(client.get(f"/testimonies/{testimony.id}"))
    assert "blue shawl" in page
    assert re.search(r'class="segment hidden-from-public"\s+id="t-60000"', page)
    assert page.count("hidden-from-public") == 1


def test_staff_see_the_state_and_consent_of_a_draft(client, users, create_testimony):
    testimony = create_testimony(state="draft", access="research")
    login(client, users["archivist"])
    page = text_of(client.get(f"/testimonies/{testimony.id}"))
    assert "Draft: not published" in page
    assert "researchers and staff" in page
    assert f'href="/testimonies/{testimony.id}/edit"' in page


def test_staff_see_that_a_published_testimony_has_unpublished_edits(client, users, create_testimony):
    from archive.operations import update_testimony

    testimony = create_testimony()
    update_testimony(users["archivist"], testimony, {"title": "A new working title"}, testimony.version)
    login(client, users["moderator"])
    page = text_of(client.get(f"/testimonies/{testimony.id}"))
    assert "A new working title" in page
    assert "edits that are not published" in page
    client.post("/logout")
    public = text_of(client.get(f"/testimonies/{testimony.id}"))
    assert "A fictional testimony about the winter road" in public
    assert "A new working title" not in public


def test_search_within_a_testimony_lists_its_matching_passages(client, create_testimony):
    testimony = create_testimony()
    page = text_of(client.get(f"/testimonies/{testimony.id}?q=bread"))
    assert "1 passage matches." in page
    assert "gave us <mark>bread</mark>" in page
    assert f'href="/testimonies/{testimony.id}?t=120000&amp;q=bread#t-120000"' in page
    missing = text_of(client.get(f"/testimonies/{testimony.id}?q=volcano"))
    assert "No passage of this testimony matches" in missing


def test_a_facet_link_narrows_the_results(client, create_testimony):
    create_testimony(title="In the forest", places=["Naxçıvanik"])
    create_testimony(title="In the city", places=["Bakı"])
    page = text_of(client.get("/search?q=snow"))
    assert "2 testimonies match" in page
    assert 'href="/search?q=snow&amp;place=Bak%C4%B1"' in page
    narrowed = text_of(client.get("/search?q=snow&place=Bakı"))
    assert "1 testimony matches" in narrowed
    assert "In the city" in narrowed
    assert "In the forest" not in narrowed


def test_results_can_be_sorted_by_title_and_paged(client, app, create_testimony):
    app.config["PER_PAGE"] = 2
    for title in ("Cedar", "Apple", "Birch"):
        create_testimony(title=title)
    first = text_of(client.get("/search?sort=title"))
    assert first.index("Apple") < first.index("Birch")
    assert "Cedar" not in first
    assert "Page 1 of 2" in first
    second = text_of(client.get("/search?sort=title&page=2"))
    assert "Cedar" in second
    assert "Apple" not in second


@pytest.mark.parametrize(
    "query",
    [
        'q="unbalanced (quote AND OR',
        "q=AND&sort=sideways",
        "q=snow&page=abc&decade=1950s&year=soon",
        "q=snow&year=%C2%B2&decade=99999999999999999999&page=-3",
        "q=" + "word " * 400,
        "q=title:&place=",
    ],
)
def test_a_malformed_query_is_never_an_error_page(client, create_testimony, query):
    create_testimony()
    response = client.get(f"/search?{query}")
    assert response.status_code == 200
    assert '<h1 id="results-heading">' in text_of(response)


def test_a_misspelt_word_gets_a_did_you_mean_link(client, create_testimony):
    create_testimony()
    page = text_of(client.get("/search?q=blue+shawk"))
    assert "Did you mean" in page
    assert 'href="/search?q=blue+shawl"' in page


def test_search_suggests_places_as_you_type(client, create_testimony):
    create_testimony()
    response = client.get("/search/suggest?q=Ağ")
    assert response.status_code == 200
    assert response.get_json() == ["Ağdam"]


def test_only_staff_may_filter_by_access(client, users, create_testimony):
    create_testimony()
    assert "Access</h3>" not in text_of(client.get("/search"))
    login(client, users["archivist"])
    assert "Access</h3>" in text_of(client.get("/search"))


@pytest.mark.parametrize(
    "code, search_button, nav_link, found",
    [
        ("az", "Axtar", "Bütün müsahibələr", "1 müsahibə uyğundur"),
        ("ru", "Найти", "Все свидетельства", "1 свидетельство найдено"),
    ],
)
def test_the_language_switch_renders_the_interface_in_that_language(
    client, create_testimony, code, search_button, nav_link, found
):
    create_testimony()
    assert "All testimonies" in text_of(client.get("/"))
    assert client.get(f"/lang/{code}").status_code == 302
    home = text_of(client.get("/"))
    assert f'<html lang="{code}">' in home
    assert f">{search_button}</button>" in home
    assert nav_link in home
    assert "All testimonies" not in home
    assert found in text_of(client.get("/search?q=shawl"))
