"""One place, one facet value: a place typed in several scripts and spellings is one value on the
search page, in the API and on the home page, and filtering by it finds as many testimonies as it
counts. Subjects likewise, shown in the reader's language. All names and testimonies are fictional."""

from __future__ import annotations

import re
from html import unescape

import pytest

from archive.catalogue.models import Place
from archive.extensions import db
from tests.conftest import login

AGDAM_FORMS = ["Ağdam", "Ağdam", "Ağdam", "Aghdam", "Агдам"]


def text_of(response) -> str:
    return unescape(response.get_data(as_text=True))


def shown_facet(page: str, heading: str) -> list[tuple[str, int]]:
    """The values and counts of one facet of the search page, as a reader sees them."""
    section = re.search(rf"<h3>{heading}</h3>\s*<ul>(.*?)</section>", page, re.S)
    assert section, f"no {heading} facet"
    return [
        (value, int(count))
        for value, count in re.findall(
            r'<a href="[^"]*"[^>]*>([^<]+)</a> <span class="count">(\d+)</span>', section.group(1)
        )
    ]


def home_places(page: str) -> list[tuple[str, int]]:
    column = re.search(r"<h3>Places</h3>\s*<ul class=\"tags\">(.*?)</ul>", page, re.S)
    return [
        (v, int(c))
        for v, c in re.findall(r">([^<]+)</a> <span class=\"count\">(\d+)</span>", column.group(1))
    ]


@pytest.fixture
def agdam(create_testimony):
    """Five public testimonies naming one town three ways, and one naming another town."""
    made = [
        create_testimony(title=f"A fictional testimony, number {n}", places=[form])
        for n, form in enumerate(AGDAM_FORMS, start=1)
    ]
    create_testimony(title="A fictional testimony from elsewhere", places=["Kətik"])
    return made


def test_a_place_typed_three_ways_is_one_value_whose_count_is_what_filtering_by_it_finds(app, agdam):
    reader = app.test_client()

    api = reader.get("/api/v1/search").get_json()
    assert api["facets"]["place"] == [["Ağdam", 5], ["Kətik", 1]]
    for form in ("Ağdam", "Aghdam", "Агдам"):
        assert reader.get("/api/v1/search", query_string={"place": form}).get_json()["total"] == 5
    assert reader.get("/api/v1/search", query_string={"q": "place:Ağdam"}).get_json()["total"] == 5

    page = text_of(reader.get("/search"))
    assert shown_facet(page, "Place") == [("Ağdam", 5), ("Kətik", 1)]
    clicked = text_of(reader.get("/search", query_string={"place": "Ağdam"}))
    assert "5 testimonies" in clicked
    assert shown_facet(clicked, "Place") == [("Ağdam", 5)]

    assert home_places(text_of(reader.get("/"))) == [("Ağdam", 5), ("Kətik", 1)]
    assert reader.get("/search/suggest?q=Ag").get_json() == ["Ağdam"]


def test_a_turkish_spelling_of_a_place_is_the_same_value_as_the_others(app, create_testimony):
    for n, form in enumerate(["Xocalı", "Xocalı", "Hocalı", "Khojaly", "Ходжалы"], start=1):
        create_testimony(title=f"A fictional testimony, number {n}", places=[form])
    reader = app.test_client()
    assert reader.get("/api/v1/search").get_json()["facets"]["place"] == [["Xocalı", 5]]
    for form in ("Hocalı", "Xocalı", "Ходжалы"):
        assert reader.get("/api/v1/search", query_string={"place": form}).get_json()["total"] == 5
        assert reader.get("/api/v1/search", query_string={"q": form}).get_json()["total"] == 5


def test_the_authority_names_the_value_and_joins_what_folding_cannot(app, client, users, create_testimony):
    for n, form in enumerate(["Aghdam", "Aghdam", "Ağdam", "Akdam"], start=1):
        create_testimony(title=f"A fictional testimony, number {n}", places=[form])
    reader = app.test_client()
    # Without an entry: the spellings that fold to one name are one value, under the commoner.
    assert reader.get("/api/v1/search").get_json()["facets"]["place"] == [["Aghdam", 3], ["Akdam", 1]]

    login(client, users["archivist"])
    entry = db.session.query(Place).filter_by(name="Ağdam").one()
    assert (
        client.post(
            f"/authority/places/{entry.id}", data={"action": "add_variant", "variant": "Akdam"}
        ).status_code
        == 302
    )

    # The same question again, with no new commit to the index: the entry decides at once.
    answer = reader.get("/api/v1/search").get_json()
    assert answer["facets"]["place"] == [["Ağdam", 4]]
    assert reader.get("/api/v1/search", query_string={"place": "Ağdam"}).get_json()["total"] == 4
    assert reader.get("/api/v1/search", query_string={"place": "Akdam"}).get_json()["total"] == 4


def add_subject(client, en: str, az: str, ru: str):
    return client.post("/authority/subjects", data={"label_en": en, "label_az": az, "label_ru": ru})


# On both databases: the labels are JSON, matched and grouped as each database reads them back.
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_subject_typed_in_any_language_is_one_subject_shown_in_the_readers_language(
    app, client, users, create_testimony
):
    typed_before = create_testimony(
        title="A fictional testimony typed before the entry", subjects=["Депортация"]
    )
    login(client, users["archivist"])
    assert add_subject(client, "Deportation", "Sürgün", "Депортация").status_code == 302
    typed = ["deportation", "Депортация", "Sürgün"]
    made = [
        create_testimony(title=f"A fictional testimony, number {n}", subjects=[subject])
        for n, subject in enumerate(typed, start=1)
    ]
    create_testimony(title="A fictional research testimony", access="research", subjects=["Депортация"])
    # An import or an edit that types a label stores the subject itself; one saved before the
    # entry existed keeps what it typed, and is counted with it all the same.
    assert {tuple(s.name for s in t.subjects) for t in made} == {("Deportation",)}
    assert [s.name for s in typed_before.subjects] == ["Депортация"]

    reader = app.test_client()
    assert reader.get("/api/v1/search").get_json()["facets"]["subject"] == [["Deportation", 4]]
    page = text_of(reader.get("/search", query_string={"lang_ui": "az"}))
    assert shown_facet(page, "Mövzu") == [("Sürgün", 4)]
    shown = text_of(reader.get(f"/testimonies/{made[0].id}", query_string={"lang_ui": "ru"}))
    assert ">Депортация</a>" in shown

    # The public list of subjects counts only what the caller may see, each leading to its search.
    subjects = text_of(reader.get("/subjects", query_string={"lang_ui": "ru"}))
    assert re.search(
        r'<a href="/search\?subject=Deportation">Депортация</a> <span class="count">4</span>', subjects
    )
    researcher = app.test_client()
    login(researcher, users["researcher"])
    assert '<span class="count">5</span>' in text_of(researcher.get("/subjects"))
    assert researcher.get("/api/v1/search", query_string={"subject": "Sürgün"}).get_json()["total"] == 5


def test_labels_given_to_a_subject_testimonies_already_name_show_at_once(
    app, client, users, create_testimony
):
    testimony = create_testimony(subjects=["winter"])
    reader = app.test_client()
    facet = shown_facet(text_of(reader.get("/search", query_string={"lang_ui": "az"})), "Mövzu")
    assert facet == [("winter", 1)]

    login(client, users["archivist"])
    winter = next(s for s in testimony.subjects if s.name == "winter")
    labels = {"label_en": "Winter", "label_az": "Qış", "label_ru": "Зима"}
    assert client.post(f"/authority/subjects/{winter.id}", data=labels).status_code == 302

    # Asked again with no new commit to the index: the labels are in force at once.
    facet = shown_facet(text_of(reader.get("/search", query_string={"lang_ui": "az"})), "Mövzu")
    assert facet == [("Qış", 1)]
    assert reader.get("/api/v1/search", query_string={"subject": "Зима"}).get_json()["total"] == 1


def test_a_label_of_another_subject_is_refused_and_nothing_is_saved(app, client, users):
    login(client, users["archivist"])
    assert add_subject(client, "Deportation", "Sürgün", "Депортация").status_code == 302
    response = add_subject(client, "Exile", "Surgun", "Ссылка")

    assert response.status_code == 422
    assert "“Surgun” is already a label of the subject “Deportation”." in text_of(response)
    assert "Exile" not in text_of(client.get("/authority/subjects"))
