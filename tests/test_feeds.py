"""The sitemap and the Atom feed: search engines and feed readers are the public, and get exactly the
testimonies the public may open, as the public may see them, the moment that changes."""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pytest

from tests.conftest import sample_body

SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
ATOM = "{http://www.w3.org/2005/Atom}"


def sitemap(client) -> dict[str, str | None]:
    """The sitemap as {page address: lastmod}."""
    response = client.get("/sitemap.xml")
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    root = ET.fromstring(response.data)
    assert root.tag == f"{SITEMAP}urlset"
    return {url.findtext(f"{SITEMAP}loc"): url.findtext(f"{SITEMAP}lastmod") for url in root}


def feed(client) -> ET.Element:
    response = client.get("/feed.atom")
    assert response.status_code == 200
    assert response.mimetype == "application/atom+xml"
    root = ET.fromstring(response.data)
    assert root.tag == f"{ATOM}feed"
    return root


def entry_links(root: ET.Element) -> list[str]:
    return [e.find(f"{ATOM}link[@rel='alternate']").get("href") for e in root.findall(f"{ATOM}entry")]


def page(testimony) -> str:
    return f"http://localhost/testimonies/{testimony.id}"


def stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def withdraw(users, testimony) -> None:
    from archive.consent.service import validate_consent
    from archive.operations import change_consent

    values = validate_consent({**sample_body()["consent"], "access": "withdrawn"})
    change_consent(users["archivist"], testimony, values)


@pytest.fixture
def archive(create_testimony):
    """Two public testimonies among every kind the public may not open."""
    return {
        "public": create_testimony(title="An open testimony about the river crossing"),
        "anonymised": create_testimony(
            narrator={"name": "Krasimira Oblenskaya", "pseudonym": "The teacher", "birth_year": 1950},
            consent_anonymize_narrator=True,
        ),
        "research": create_testimony(access="research", title="Research quellmorvant"),
        "staff": create_testimony(access="staff", title="Staff travenhollow"),
        "sealed": create_testimony(access="sealed", title="Sealed zorblaquint"),
        "draft": create_testimony(state="draft", title="Draft mirthwaldex"),
        "in_review": create_testimony(state="in_review", title="In review plondersky"),
        "withdrawn": create_testimony(access="withdrawn", title="Withdrawn gondrevalle"),
    }


HIDDEN_WORDS = ("quellmorvant", "travenhollow", "zorblaquint", "mirthwaldex", "plondersky", "gondrevalle",
                "Krasimira", "Oblenskaya")  # fmt: skip


# --- the sitemap --------------------------------------------------------------------------------


def test_the_sitemap_lists_the_home_page_and_exactly_the_public_testimonies(client, archive):
    pages = sitemap(client)
    assert set(pages) == {"http://localhost/", page(archive["public"]), page(archive["anonymised"])}
    assert pages["http://localhost/"] is None
    for key in ("public", "anonymised"):
        assert pages[page(archive[key])] == stamp(archive[key].published_at)


def test_the_sitemap_drops_a_withdrawn_testimony_at_once(client, archive, users):
    assert page(archive["public"]) in sitemap(client)
    withdraw(users, archive["public"])
    assert set(sitemap(client)) == {"http://localhost/", page(archive["anonymised"])}


def test_the_sitemap_drops_an_unpublished_or_deleted_testimony_at_once(client, archive, users):
    from archive.operations import delete_testimony, unpublish

    unpublish(users["moderator"], archive["public"], "Taken offline for checking.")
    delete_testimony(users["archivist"], archive["anonymised"])
    assert set(sitemap(client)) == {"http://localhost/"}


# --- the Atom feed ------------------------------------------------------------------------------


def test_the_feed_lists_exactly_the_public_testimonies_newest_first(client, archive):
    from archive.extensions import db

    archive["public"].published_at = dt.datetime(2024, 5, 1, 10, 0, 0)
    archive["anonymised"].published_at = dt.datetime(2023, 1, 2, 3, 4, 5)
    db.session.commit()
    root = feed(client)
    assert entry_links(root) == [page(archive["public"]), page(archive["anonymised"])]
    assert root.findtext(f"{ATOM}updated") == "2024-05-01T10:00:00Z"
    assert root.findtext(f"{ATOM}id") == "http://localhost/feed.atom"
    assert root.find(f"{ATOM}link[@rel='self']").get("href") == "http://localhost/feed.atom"
    assert root.findtext(f"{ATOM}title")
    assert root.findtext(f"{ATOM}author/{ATOM}name")


def test_a_feed_entry_shows_the_public_title_narrator_summary_link_and_publication(client, archive):
    entries = {e.findtext(f"{ATOM}id"): e for e in feed(client).findall(f"{ATOM}entry")}
    public = entries[page(archive["public"])]
    assert public.findtext(f"{ATOM}title") == "An open testimony about the river crossing"
    assert public.findtext(f"{ATOM}author/{ATOM}name") == "Leyla Fictionova"
    assert public.findtext(f"{ATOM}summary") == sample_body()["summary"]
    assert public.find(f"{ATOM}link[@rel='alternate']").get("href") == page(archive["public"])
    assert public.findtext(f"{ATOM}updated") == stamp(archive["public"].published_at)
    anonymised = entries[page(archive["anonymised"])]
    assert anonymised.findtext(f"{ATOM}author/{ATOM}name") == "The teacher"


def test_nothing_the_public_may_not_read_is_in_the_feed_or_the_sitemap(client, archive):
    for url in ("/feed.atom", "/sitemap.xml"):
        body = client.get(url).get_data(as_text=True)
        for word in HIDDEN_WORDS:
            assert word not in body, (word, url)


def test_the_feed_drops_a_withdrawn_testimony_at_once(client, archive, users):
    assert page(archive["public"]) in entry_links(feed(client))
    withdraw(users, archive["public"])
    assert entry_links(feed(client)) == [page(archive["anonymised"])]
    assert "river crossing" not in client.get("/feed.atom").get_data(as_text=True)


def test_the_feed_shows_the_published_version_not_an_unapproved_edit(client, create_testimony, users):
    from archive.operations import update_testimony

    public = create_testimony()
    update_testimony(users["archivist"], public, {"summary": "An edit not yet approved: fennicortex"}, 1)
    root = feed(client)
    assert root.findtext(f"{ATOM}entry/{ATOM}summary") == sample_body()["summary"]
    assert "fennicortex" not in client.get("/feed.atom").get_data(as_text=True)


def test_the_feed_holds_the_thirty_most_recently_published(client, create_testimony):
    from archive.extensions import db

    made = [create_testimony() for _ in range(32)]
    for day, testimony in enumerate(made, start=1):
        testimony.published_at = dt.datetime(2024, 1, day % 28 + 1, day % 24)
    db.session.commit()
    newest_first = sorted(made, key=lambda t: t.published_at, reverse=True)
    assert entry_links(feed(client)) == [page(t) for t in newest_first[:30]]


def test_an_empty_archive_has_a_valid_empty_feed(client):
    root = feed(client)
    assert root.findall(f"{ATOM}entry") == []
    assert root.findtext(f"{ATOM}updated")


class _HeadLinks(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.in_head, self.links = False, []

    def handle_starttag(self, tag, attrs):
        if tag == "head":
            self.in_head = True
        elif tag == "link" and self.in_head:
            self.links.append(dict(attrs))

    def handle_endtag(self, tag):
        if tag == "head":
            self.in_head = False


def test_every_page_points_feed_readers_to_the_feed(client, archive):
    for url in ("/", f"/testimonies/{archive['public'].id}"):
        parser = _HeadLinks()
        parser.feed(client.get(url).get_data(as_text=True))
        feeds = [link for link in parser.links if link.get("type") == "application/atom+xml"]
        assert [(link["rel"], link["href"]) for link in feeds] == [("alternate", "/feed.atom")]
