"""People a testimony speaks of: entered with the testimony, one facet value and one entry of the
public list whatever the spelling or script, joined by the name authority, and never, outside the
staff, a name a narrator who asked for a pseudonym bears. Every name here is fictional."""

from __future__ import annotations

import re
from html import unescape
from pathlib import Path

import pytest

from archive.authority.models import Person
from archive.consent.service import validate_consent
from archive.extensions import db
from archive.operations import change_consent
from archive.preservation.service import export_bag
from archive.search.outbox import drain, index_root
from tests.conftest import login, sample_body


def text_of(response) -> str:
    return unescape(response.get_data(as_text=True))


def people_facet(client, **params) -> list[list]:
    return client.get("/api/v1/search", query_string=params).get_json()["facets"]["person"]


def total(client, **params) -> int:
    return client.get("/api/v1/search", query_string=params).get_json()["total"]


def narrator(name: str, pseudonym: str) -> dict:
    return {"name": name, "pseudonym": pseudonym, "birth_year": 1950, "gender": None}


def index_files(audience: str) -> list[Path]:
    folder = index_root() / audience
    generation = folder / (folder / "CURRENT").read_text().strip()
    return [path for path in generation.rglob("*") if path.is_file()]


def holds(audience: str, word: str) -> bool:
    return any(word.encode() in path.read_bytes() for path in index_files(audience))


@pytest.fixture
def malak(create_testimony):
    """Four public testimonies speaking of one woman in two scripts and by a nickname, one of
    another man."""
    typed = [["Mələk Ağayeva"], ["Малак Агаева"], ["Mələk Ağayeva"], ["Mələk xala"], ["Rəşid Quliyev"]]
    return [
        create_testimony(title=f"A fictional testimony, number {n}", people=people)
        for n, people in enumerate(typed, start=1)
    ]


def test_a_person_typed_in_two_scripts_is_one_value_whose_count_is_what_filtering_finds(
    app, client, users, malak
):
    reader = app.test_client()
    # Without an entry: the spellings that fold to one name are one value, under the commoner.
    assert people_facet(reader) == [["Mələk Ağayeva", 3], ["Mələk xala", 1], ["Rəşid Quliyev", 1]]
    for form in ("Mələk Ağayeva", "Малак Агаева", "Melek Agayeva"):
        assert total(reader, person=form) == 3
    assert total(reader, q='person:"Малак Агаева"') == 3

    # The authority joins what folding cannot: the nickname becomes a variant of the entry.
    login(client, users["archivist"])
    person = db.session.query(Person).filter_by(name="Mələk Ağayeva").one()
    assert person.updated_at is None  # only testimonies had named her
    joined = {"action": "add_variant", "variant": "Mələk xala"}
    response = client.post(f"/authority/people/{person.id}", data=joined)
    assert response.status_code == 302
    # The same question again, with no new commit to the index: the entry decides at once.
    assert people_facet(reader) == [["Mələk Ağayeva", 4], ["Rəşid Quliyev", 1]]
    assert total(reader, person="Mələk xala") == total(reader, person="Малак Агаева") == 4

    # The public list and the home page show it once, with the count its search finds.
    listed = text_of(reader.get("/people"))
    assert re.search(r'<a href="/search\?person=M%C9%99l%C9%99k\+A%C4%9Fayeva">Mələk Ağayeva</a> '
                     r'<span class="count">4</span>', listed)  # fmt: skip
    assert "Малак" not in listed and "Mələk xala" not in listed
    home = text_of(reader.get("/"))
    assert re.search(r"<h3>People</h3>.*Mələk Ağayeva</a> <span class=\"count\">4</span>", home, re.S)
    # The staff's list of people counts the testimonies naming each row.
    staff_list = text_of(client.get("/authority/people"))
    assert re.search(r"Mələk Ağayeva</a>.*?>2</a>", staff_list, re.S)


def test_the_testimony_shows_its_people_each_leading_to_their_testimonies(app, create_testimony):
    testimony = create_testimony(people=["Малак Агаева", "Rəşid Quliyev"])
    reader = app.test_client()
    assert reader.get(f"/api/v1/testimonies/{testimony.id}").get_json()["people"] == [
        "Rəşid Quliyev",
        "Малак Агаева",
    ]
    page = text_of(reader.get(f"/testimonies/{testimony.id}"))
    assert "<dt>People mentioned</dt>" in page
    assert 'href="/search?person=%D0%9C%D0%B0%D0%BB%D0%B0%D0%BA+%D0%90%D0%B3%D0%B0%D0%B5%D0%B2%D0%B0"' in page


def test_the_list_of_people_is_in_name_order_and_the_facet_stays_in_count_order(app, create_testimony):
    for n, people in enumerate([["Zəhra Əliyeva"], ["Zəhra Əliyeva"], ["Anar Babayev"]], start=1):
        create_testimony(title=f"A fictional testimony, number {n}", people=people)
    reader = app.test_client()
    assert people_facet(reader) == [["Zəhra Əliyeva", 2], ["Anar Babayev", 1]]
    listed = text_of(reader.get("/people"))
    assert listed.index("Anar Babayev") < listed.index("Zəhra Əliyeva")
    # The same answer, kept with the index, is asked again: the list's order did not become its.
    assert people_facet(reader) == [["Zəhra Əliyeva", 2], ["Anar Babayev", 1]]
    assert text_of(reader.get("/")).index("Zəhra Əliyeva") < text_of(reader.get("/")).index("Anar Babayev")


@pytest.fixture
def rauf(create_testimony):
    """A narrator who asked to be known by a pseudonym, and another public testimony that speaks of
    a man of his name, in Cyrillic."""
    anonymised = create_testimony(
        title="A fictional testimony of a narrator known by a pseudonym",
        narrator=narrator("Rauf Əliyev", "Dağlı"),
        consent_anonymize_narrator=True,
    )
    naming = create_testimony(
        title="A fictional testimony naming him", people=["Рауф Алиев", "Mələk Ağayeva"]
    )
    return anonymised, naming


def test_a_name_a_narrator_who_asked_for_a_pseudonym_bears_reaches_no_public_surface(
    app, client, users, rauf, tmp_path
):
    _anonymised, naming = rauf
    reader = app.test_client()
    assert reader.get(f"/api/v1/testimonies/{naming.id}").get_json()["people"] == ["Mələk Ağayeva"]
    assert people_facet(reader) == [["Mələk Ağayeva", 1]]
    assert total(reader, person="Рауф Алиев") == total(reader, person="Rauf Əliyev") == 0
    assert total(reader, q="Рауф") == total(reader, q="Rauf") == 0
    record = f"/oai?verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:localhost:testimony/{naming.id}"
    for url in (f"/testimonies/{naming.id}", "/people", "/", record):
        response = reader.get(url)
        assert response.status_code == 200, url
        shown = text_of(response)
        assert "Рауф" not in shown and "Rauf" not in shown, url
    assert "<dc:subject>Mələk Ağayeva</dc:subject>" in text_of(reader.get(record))
    # Nor in the bag handed on to the public (the other person is: the check can fail).
    export_bag(naming.id, tmp_path / "bag", kind="public")
    bag = [path.read_text("utf-8", "replace") for path in (tmp_path / "bag").rglob("*") if path.is_file()]
    assert not any("Рауф" in text or "Rauf" in text for text in bag)
    assert any("Mələk Ağayeva" in text for text in bag)
    # Not a word of it in the public index's files (the staff's holds it: the check can fail).
    assert not holds("public", "рауф") and holds("staff", "рауф")

    # The staff read it, marked as kept from everyone else.
    login(client, users["archivist"])
    staff_view = client.get(f"/api/v1/testimonies/{naming.id}").get_json()
    assert staff_view["people"] == ["Mələk Ağayeva", "Рауф Алиев"]
    page = text_of(client.get(f"/testimonies/{naming.id}"))
    assert re.search(r"Рауф Алиев</a> <span class=\"muted\">\(shown to the staff only", page)
    assert total(client, person="Rauf Əliyev") == 1


def test_a_narrator_asking_for_a_pseudonym_later_takes_their_name_off_the_testimonies_naming_them(
    app, users, create_testimony
):
    narrating = create_testimony(narrator=narrator("Rauf Əliyev", "Dağlı"))
    naming = create_testimony(title="A fictional testimony naming him", people=["Рауф Алиев"])
    reader = app.test_client()
    assert people_facet(reader) == [["Рауф Алиев", 1]]

    values = validate_consent({**sample_body()["consent"], "anonymize_narrator": True})
    applied, _version = change_consent(users["archivist"], narrating, values)
    assert applied  # a narrowing applies at once
    drain()
    # The other testimony was indexed again with his: no audience outside the staff reads the name.
    assert people_facet(reader) == []
    assert total(reader, person="Rauf Əliyev") == 0
    assert reader.get(f"/api/v1/testimonies/{naming.id}").get_json()["people"] == []


def test_people_are_entered_in_the_form_compared_in_review_and_imported_from_a_csv(
    app, client, users, create_testimony, tmp_path
):
    testimony = create_testimony(state="draft", people=["Rəşid Quliyev"])
    login(client, users["archivist"])
    form = text_of(client.get(f"/testimonies/{testimony.id}/edit"))
    assert re.search(r'<textarea[^>]*name="people"[^>]*>\s*Rəşid Quliyev</textarea>', form)

    edited = client.patch(
        f"/api/v1/testimonies/{testimony.id}",
        json={"people": ["Rəşid Quliyev", "Mələk Ağayeva"]},
        headers={"If-Match": str(testimony.version)},
    )
    assert edited.status_code == 200
    assert sorted(p.name for p in testimony.people) == ["Mələk Ağayeva", "Rəşid Quliyev"]
    assert client.post(f"/api/v1/testimonies/{testimony.id}/submit").status_code == 200
    moderator = app.test_client()
    login(moderator, users["moderator"])
    review = text_of(moderator.get(f"/review/{testimony.id}"))
    assert "People mentioned" in review and "Mələk Ağayeva" in review

    from archive.operations import import_file

    csv = tmp_path / "people.csv"
    csv.write_text(
        "title,narrator_name,people\r\n"
        "A fictional imported testimony,Nərmin Uydurmaca,Mələk Ağayeva; Рауф Алиев\r\n",
        encoding="utf-8",
    )
    report = import_file(users["archivist"], csv, echo=lambda _line: None)
    assert report.counts["added"] == 1, report.records
    imported = db.session.query(Person).filter_by(name="Рауф Алиев").one()
    assert imported.updated_at is None
