"""The map of places as readers and archivists meet it: an archivist says where a place lies, and
`/places/map` draws the places of the testimonies the reader may see, one dot per place however
each testimony spelled it, with the count the search itself finds, from assets the archive serves."""

from __future__ import annotations

import re
from html import unescape
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from archive.authority import service
from archive.authority.models import PlaceCoordinates
from archive.authority.places_map import Point, draw
from archive.catalogue.models import Place
from archive.extensions import db
from tests.conftest import login


def text_of(response) -> str:
    return unescape(response.get_data(as_text=True))


def place(name: str) -> Place:
    return db.session.scalar(select(Place).where(Place.name == name))


def dots(page: str) -> dict[str, tuple[str, float, float, str]]:
    """The map's dots by their tooltip: (link, x, y, the name written beside it or "")."""
    svg = re.search(r'<svg class="map".*?</svg>', page, re.S)
    if svg is None:
        return {}
    found = {}
    for href, body in re.findall(r'<a href="([^"]*)"[^>]*>(.*?)</a>', svg.group(0), re.S):
        title = re.search(r"<title>(.*?)</title>", body).group(1)
        x, y = re.search(r'<circle class="map-dot" cx="([\d.]+)" cy="([\d.]+)"', body).groups()
        label = re.search(r'<text class="map-label"[^>]*>(.*?)</text>', body)
        found[title] = (href, float(x), float(y), label.group(1) if label else "")
    return found


def listed(page: str) -> list[str]:
    items = re.search(r'<ul class="map-list">(.*?)</ul>', page, re.S)
    return (
        [
            " ".join(re.sub(r"<[^>]+>", " ", item).split())
            for item in re.findall(r"<li>(.*?)</li>", items.group(1), re.S)
        ]
        if items
        else []
    )


def search_total(client, href: str) -> int:
    params = parse_qs(urlsplit(href).query)
    answer = client.get("/api/v1/search", query_string={**params, "per_page": 1})
    return answer.get_json()["total"]


@pytest.fixture
def archivist(client, users):
    login(client, users["archivist"])
    return client


def locate(client, entry: Place, latitude: str, longitude: str):
    return client.post(
        f"/authority/places/{entry.id}",
        data={"action": "coordinates", "latitude": latitude, "longitude": longitude},
    )


def test_a_place_an_archivist_locates_is_drawn_with_its_count_and_opens_its_testimonies(
    app, archivist, create_testimony
):
    create_testimony(places=["Ağdam", "Xocalı"])
    create_testimony(places=["Ağdam"])
    saved = locate(archivist, place("Ağdam"), "39,99", "46.93")
    assert saved.status_code == 302
    assert locate(archivist, place("Xocalı"), "39.91", "46.79").status_code == 302
    entry = text_of(archivist.get(f"/authority/places/{place('Ağdam').id}"))
    assert 'value="39.99"' in entry and 'value="46.93"' in entry and 'href="/places/map"' in entry

    reader = app.test_client()
    page = text_of(reader.get("/places/map"))

    drawn = dots(page)
    assert set(drawn) == {"Ağdam: 2 testimonies", "Xocalı: 1 testimony"}
    href, x, y, label = drawn["Ağdam: 2 testimonies"]
    assert label == "Ağdam (2)" and drawn["Xocalı: 1 testimony"][3] == "Xocalı (1)"
    assert search_total(reader, href) == 2
    # East is right, north is up, and both lie inside the view fitted to them.
    _href, x2, y2, _label = drawn["Xocalı: 1 testimony"]
    width, height = (float(n) for n in re.search(r'viewBox="0 0 (\d+) (\d+)"', page).groups())
    assert x > x2 and y < y2
    assert all(0 < v < width for v in (x, x2)) and all(0 < v < height for v in (y, y2))
    assert listed(page) == ["Ağdam 2 testimonies", "Xocalı 1 testimony"]
    assert "/places/map" in text_of(reader.get("/"))


def test_coordinates_out_of_range_are_refused_naming_the_field_and_nothing_is_saved(
    archivist, create_testimony
):
    create_testimony(places=["Ağdam"])
    ağdam = place("Ağdam")

    refused = locate(archivist, ağdam, "91", "46.93")
    assert refused.status_code == 422
    assert "The latitude is a number of degrees from -90 (south) to 90 (north)" in text_of(refused)
    refused = locate(archivist, ağdam, "39.99", "east")
    assert "The longitude is a number of degrees from -180 (west) to 180 (east)" in text_of(refused)
    refused = locate(archivist, ağdam, "39.99", "")
    assert "Give the longitude as well as the latitude." in text_of(refused)
    assert db.session.get(PlaceCoordinates, ağdam.id) is None


# The map's own queries (the authority's entries, their coordinates) on both databases.
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_place_typed_in_three_scripts_is_one_dot_whose_count_is_what_its_search_finds(
    app, archivist, create_testimony
):
    create_testimony(places=["Ağdam"])
    create_testimony(places=["Aghdam"])
    create_testimony(places=["Агдам"])
    create_testimony(places=["Ağdam", "Aghdam"])
    ağdam = place("Ağdam")
    for variant in ("Aghdam", "Агдам"):
        archivist.post(f"/authority/places/{ağdam.id}", data={"action": "add_variant", "variant": variant})
    locate(archivist, ağdam, "39.99", "46.93")

    reader = app.test_client()
    page = text_of(reader.get("/places/map"))

    [(title, (href, _x, _y, label))] = dots(page).items()
    assert (title, label) == ("Ağdam: 4 testimonies", "Ağdam (4)")
    assert search_total(reader, href) == 4
    assert listed(page) == ["Ağdam 4 testimonies"]


def test_the_map_counts_only_the_testimonies_the_reader_may_see(app, client, users, create_testimony):
    create_testimony(places=["Ağdam"])
    create_testimony(places=["Ağdam", "Şuşa"], access="research")
    create_testimony(places=["Laçın"], state="draft")
    service.set_coordinates(users["archivist"], place("Şuşa"), "39.76", "46.75")

    public = text_of(app.test_client().get("/places/map"))
    assert listed(public) == ["Ağdam 1 testimony · not on the map: no coordinates yet"]
    assert dots(public) == {}
    assert "Şuşa" not in public and "Laçın" not in public

    login(client, users["researcher"])
    research = text_of(client.get("/places/map"))
    assert set(dots(research)) == {"Şuşa: 1 testimony"}
    assert listed(research)[0] == "Ağdam 2 testimonies · not on the map: no coordinates yet"


def test_the_map_is_drawn_from_the_archives_own_assets_without_script_or_inline_style(
    app, users, create_testimony
):
    create_testimony(places=["Ağdam"])
    service.set_coordinates(users["archivist"], place("Ağdam"), "39.99", "46.93")
    reader = app.test_client()

    page = reader.get("/places/map").get_data(as_text=True)

    assert "<script>" not in page.replace('<script src="', "") and " style=" not in page
    outline = re.search(r'<image href="([^"]+)"', page).group(1)
    assert outline.startswith("/static/")
    assert not re.search(r'(?:href|src)="(?:https?:)?//', page)
    with reader.get(outline) as served:
        assert served.status_code == 200 and served.mimetype == "image/svg+xml"
        assert b"<path" in served.data and b"http://www.w3.org/2000/svg" in served.data
        assert b"href" not in served.data


def test_the_view_fits_the_places_however_far_apart_they_lie():
    near = draw([Point("Ağdam", 3, 39.99, 46.93, None)])
    far = draw([Point("Bakı", 1, 40.41, 49.87, None), Point("Qars", 1, 40.6, 43.1, None)])

    [dot] = near.dots
    assert (dot.x, dot.y) == (near.width / 2, near.height / 2)
    for drawing in (near, far):
        assert 0.5 <= drawing.height / drawing.width <= 0.9
        assert all(0 < d.x < drawing.width and 0 < d.y < drawing.height for d in drawing.dots)
    baki, qars = far.dots
    assert baki.x > qars.x and qars.x > far.width * 0.1 and baki.x < far.width * 0.9


def test_names_that_would_cover_one_another_are_left_to_the_tooltip_and_the_list():
    crowded = draw(
        [Point("Ağdam", 7, 39.99, 46.93, None), Point("Əsgəran", 1, 39.94, 46.83, None)]
        + [Point(f"Kənd {n}", 1, 39.95 + n * 0.002, 46.88, None) for n in range(6)]
    )

    labels = [dot.label for dot in crowded.dots if dot.label is not None]
    assert crowded.dots[0].label.text == "Ağdam (7)"
    assert 2 <= len(labels) < len(crowded.dots)
