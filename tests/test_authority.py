"""The name authority as archivists keep it and readers meet it: variants added on the staff pages,
and a search for any name of a place or person finds the testimonies that use another."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import func, select

from archive.audit.models import AuditEvent
from archive.authority.models import Person
from archive.catalogue.models import Place
from archive.extensions import db
from tests.conftest import PASSWORD, login, make_app, sample_body

XOCALI_TITLE = "A fictional testimony about the night on the hill road"
SEFER_TITLE = "A fictional testimony about the last bus"


def _segments(text: str) -> list[dict]:
    return [{"start_ms": 0, "end_ms": 60000, "speaker": "Narrator", "text": text, "keywords": []}]


def text_of(response) -> str:
    return unescape(response.get_data(as_text=True))


def public_titles(app, q: str) -> set[str]:
    """What the public finds: a fresh client, signed in as nobody, through the search page."""
    page = text_of(app.test_client().get("/search", query_string={"q": q}))
    return {title for title in (XOCALI_TITLE, SEFER_TITLE) if title in page}


def place(name: str) -> Place:
    return db.session.scalar(select(Place).where(Place.name == name))


def audit_count() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent))


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request) -> str:
    """The authority's queries (counts, the anonymised narrators, the search version) on both."""
    return request.param


@pytest.fixture
def xocali(create_testimony):
    """A public testimony that names Xocalı, and only that spelling of it."""
    return create_testimony(
        title=XOCALI_TITLE,
        places=["Xocalı"],
        segments=_segments("We left Xocalı at night and walked towards the river."),
    )


@pytest.fixture
def archivist(client, users):
    login(client, users["archivist"])
    return client


def add_variant(client, entry, variant: str):
    kind = "places" if isinstance(entry, Place) else "people"
    return client.post(f"/authority/{kind}/{entry.id}", data={"action": "add_variant", "variant": variant})


def field_errors(page: str, field: str) -> list[str]:
    found = re.search(rf'<ul class="field-errors" id="{field}-errors">(.*?)</ul>', page, re.S)
    return re.findall(r"<li>(.*?)</li>", found.group(1)) if found else []


def test_a_variant_added_by_an_archivist_finds_a_testimony_that_only_says_the_preferred_name(
    app, archivist, xocali
):
    # The Turkish spelling meets the Azerbaijani one by its name key, with no entry (h is x there);
    # the German one does not, until an archivist says it is the same town.
    assert public_titles(app, "Hocalı") == {XOCALI_TITLE}
    assert public_titles(app, "Chodschali") == set()

    listing = text_of(archivist.get("/authority/places"))
    assert "Xocalı" in listing
    response = add_variant(archivist, place("Xocalı"), "Chodschali")
    assert response.status_code == 302
    shown = text_of(archivist.get(response.headers["Location"]))
    assert "“Chodschali” is now a variant of “Xocalı”." in shown

    assert public_titles(app, "Chodschali") == {XOCALI_TITLE}
    assert public_titles(app, "chodschali") == {XOCALI_TITLE}
    # The passage found shows the word the testimony uses, marked.
    page = text_of(app.test_client().get("/search", query_string={"q": "Chodschali"}))
    assert "<mark>Xocalı</mark>" in page
    api = app.test_client().get("/api/v1/search", query_string={"q": "Chodschali"}).get_json()
    assert [hit["id"] for hit in api["hits"]] == [xocali.id]


def test_a_person_found_by_the_cyrillic_spelling_of_a_latin_name(app, archivist, create_testimony):
    create_testimony(
        title=SEFER_TITLE,
        places=[],
        segments=_segments("Səfər Uydurmalı drove the last bus out of the village."),
    )
    # The Cyrillic spelling meets the Latin one by its name key, before any authority entry.
    assert public_titles(app, "Сафар") == {SEFER_TITLE}

    response = archivist.post(
        "/authority/people", data={"name": "Səfər Uydurmalı", "note": "The bus driver."}
    )
    assert response.status_code == 302
    person = db.session.scalar(select(Person).where(Person.name == "Səfər Uydurmalı"))
    assert add_variant(archivist, person, "Сафар Уйдурмалы").status_code == 302

    assert public_titles(app, "Сафар") == {SEFER_TITLE}
    assert public_titles(app, "Сафар Уйдурмалы") == {SEFER_TITLE}
    people = text_of(archivist.get("/authority/people", query_string={"q": "Сафар"}))
    assert "Səfər Uydurmalı" in people and "Сафар Уйдурмалы" in people


def test_autocomplete_offers_the_preferred_name_when_a_variant_is_typed(
    app, archivist, xocali, create_testimony
):
    create_testimony(access="staff", places=["Zəngilan"], title="A fictional staff-only testimony")
    public = app.test_client()
    assert public.get("/search/suggest?q=Hoc").get_json() == []

    add_variant(archivist, place("Xocalı"), "Hocalı")
    add_variant(archivist, place("Zəngilan"), "Zangelan")

    assert public.get("/search/suggest?q=Hoc").get_json() == ["Xocalı"]
    # A place only a staff-only testimony names is offered to staff, never to the public.
    assert public.get("/search/suggest?q=Zang").get_json() == []
    assert archivist.get("/search/suggest?q=Zang").get_json() == ["Zəngilan"]


@pytest.mark.parametrize("role", [None, "researcher"])
def test_the_public_and_researchers_cannot_reach_the_authority_pages(app, client, users, xocali, role):
    entry = place("Xocalı")
    if role:
        login(client, users[role])
    expected = 403 if role else 302
    for url in ("/authority/places", "/authority/people", f"/authority/places/{entry.id}"):
        assert client.get(url).status_code == expected, url
    before = audit_count()
    assert add_variant(client, entry, "Hocalı").status_code == expected
    assert client.post("/authority/places", data={"name": "Fictionalia"}).status_code == expected
    db.session.expire_all()
    assert place("Xocalı").variants == []
    assert place("Fictionalia") is None
    assert audit_count() == before


def test_staff_see_the_places_with_their_variants_and_how_many_testimonies_name_them(
    app, archivist, xocali, create_testimony
):
    create_testimony(places=["Xocalı", "Ağdam"])
    add_variant(archivist, place("Xocalı"), "Khodzhaly")
    page = text_of(archivist.get("/authority/places"))
    row = re.search(r"<tr>\s*<td><a[^>]*>Xocalı</a></td>(.*?)</tr>", page, re.S).group(1)
    assert "Khodzhaly" in row
    assert re.search(r'<td class="number"[^>]*><a [^>]*>2</a></td>', row)
    # The filter finds a place by a variant, in another script too.
    found = text_of(archivist.get("/authority/places", query_string={"q": "Ходжалы"}))
    assert ">Xocalı</a>" in found and ">Ağdam</a>" not in found


def test_each_refusal_is_shown_beside_its_field_and_nothing_is_saved(app, archivist, xocali):
    entry = place("Xocalı")
    before = audit_count()
    for typed, message in (
        ("", "Give a name."),
        ("   ", "Give a name."),
        ("X" * 301, "Use at most 300 characters."),
        ("1992", "A name needs at least one letter."),
    ):
        response = add_variant(archivist, entry, typed)
        assert response.status_code == 422
        assert field_errors(text_of(response), "variant") == [message]
    response = archivist.post("/authority/places", data={"name": ""})
    assert response.status_code == 422
    assert field_errors(text_of(response), "name") == ["Give a name."]
    response = archivist.post(f"/authority/places/{entry.id}", data={"action": "rename", "name": "Xocalı"})
    assert field_errors(text_of(response), "name") == ["This is the preferred name already."]
    db.session.expire_all()
    assert place("Xocalı").variants == []
    assert audit_count() == before


def test_a_variant_that_belongs_to_another_place_is_refused_and_nothing_changes(app, archivist, xocali):
    assert add_variant(archivist, place("Xocalı"), "Hocalı").status_code == 302
    agdam = Place(name="Ağdam", variants=[])
    db.session.add(agdam)
    db.session.commit()
    before = audit_count()

    # Another spelling of the same name is the same name to search: it would merge the two places.
    response = add_variant(archivist, agdam, "Hocali")
    assert response.status_code == 422
    assert field_errors(text_of(response), "variant") == ["“Hocali” is already a name of the place “Xocalı”."]
    response = add_variant(archivist, place("Xocalı"), "hocalı")
    assert field_errors(text_of(response), "variant") == ["“hocalı” is already listed here."]
    response = archivist.post("/authority/places", data={"name": "Hocalı"})
    assert field_errors(text_of(response), "name") == ["“Hocalı” is already a name of the place “Xocalı”."]

    db.session.expire_all()
    assert place("Ağdam").variants == []
    assert place("Xocalı").variants == ["Hocalı"]
    assert place("Hocalı") is None
    assert audit_count() == before


def test_the_name_of_an_anonymised_narrator_cannot_join_the_authority(app, archivist, create_testimony):
    anonymised = create_testimony(
        title="A fictional testimony told under a pseudonym",
        narrator={"name": "Zilda Imaginova", "pseudonym": "The ferry keeper", "birth_year": 1948,
                  "gender": None},
        consent_anonymize_narrator=True,
    )  # fmt: skip
    response = archivist.post("/authority/people", data={"name": "The ferryman of the lower village"})
    ferryman = db.session.scalar(select(Person))
    before = audit_count()

    for spelling in ("Zilda Imaginova", "zilda imaginova", "Зильда Имагинова"):
        response = add_variant(archivist, ferryman, spelling)
        assert response.status_code == 422
        page = text_of(response)
        assert field_errors(page, "variant") == ["This name cannot be used as a variant."]
        # Which testimony it protects is not said.
        assert anonymised.title not in page and f"/testimonies/{anonymised.id}" not in page
    response = archivist.post("/authority/people", data={"name": "Zilda Imaginova"})
    assert field_errors(text_of(response), "name") == ["This name cannot be used as a preferred name."]
    response = archivist.post(
        f"/authority/people/{ferryman.id}", data={"action": "rename", "name": "Zilda Imaginova"}
    )
    assert field_errors(text_of(response), "name") == ["This name cannot be used as a preferred name."]

    db.session.expire_all()
    assert ferryman.variants == [] and ferryman.name == "The ferryman of the lower village"
    assert audit_count() == before


def test_a_narrator_anonymised_later_is_left_out_of_the_search_names(app, archivist, users, create_testimony):
    from archive.authority.service import name_key, search_names
    from archive.consent.service import validate_consent
    from archive.operations import change_consent

    told = create_testimony(
        narrator={"name": "Tamila Vydumka", "pseudonym": "T.", "birth_year": 1950, "gender": None}
    )
    archivist.post("/authority/people", data={"name": "Tamila Vydumka"})
    person = db.session.scalar(select(Person))
    assert add_variant(archivist, person, "Тамила Выдумкина").status_code == 302
    vydumka = name_key("Vydumka")
    assert vydumka in search_names().synonyms

    consent = validate_consent({**sample_body()["consent"], "anonymize_narrator": True})
    change_consent(users["archivist"], told, consent)
    assert vydumka not in search_names().synonyms


def test_every_change_is_in_the_audit_log(app, archivist, users, xocali):
    entry = place("Xocalı")
    add_variant(archivist, entry, "Hocalı")
    archivist.post(f"/authority/places/{entry.id}", data={"action": "remove_variant", "variant": "Hocalı"})
    archivist.post(f"/authority/places/{entry.id}", data={"action": "rename", "name": "Khojaly"})
    archivist.post("/authority/people", data={"name": "Səfər Uydurmalı"})

    events = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action.startswith("authority.")).order_by(AuditEvent.id)
    ).all()
    assert [(e.action, e.actor_id) for e in events] == [
        ("authority.place.variant_add", users["archivist"].id),
        ("authority.place.variant_remove", users["archivist"].id),
        ("authority.place.rename", users["archivist"].id),
        ("authority.person.create", users["archivist"].id),
    ]
    assert events[0].details["variant"] == "Hocalı"
    assert (events[2].details["old"], events[2].details["new"]) == ("Xocalı", "Khojaly")
    db.session.expire_all()
    # The old preferred name stays a variant: the published version still says Xocalı.
    assert place("Khojaly").variants == ["Xocalı"]


def test_a_renamed_place_is_still_found_by_its_old_name_and_by_the_new_one(app, archivist, xocali):
    entry = place("Xocalı")
    response = archivist.post(f"/authority/places/{entry.id}", data={"action": "rename", "name": "Hocalı"})
    assert "The preferred name is now “Hocalı”; “Xocalı” is kept as a variant." in text_of(
        archivist.get(response.headers["Location"])
    )
    assert public_titles(app, "Xocalı") == {XOCALI_TITLE}
    assert public_titles(app, "Hocalı") == {XOCALI_TITLE}


def test_the_authority_forms_refuse_a_request_without_its_csrf_token(tmp_path):
    from archive.accounts.service import create_user

    app = make_app(tmp_path / "csrf", WTF_CSRF_ENABLED=True)
    with app.app_context():
        db.create_all()
        user = create_user(None, "archivist@example.org", "archivist", PASSWORD)
        client = app.test_client()
        form = text_of(client.get("/login"))
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
        client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": token})
        assert client.post("/authority/places", data={"name": "Fictionalia"}).status_code == 400
        assert db.session.scalar(select(Place).where(Place.name == "Fictionalia")) is None
        page = text_of(client.get("/authority/places"))
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
        response = client.post("/authority/places", data={"name": "Fictionalia", "csrf_token": token})
        assert response.status_code == 302
        db.session.remove()
        db.engine.dispose()


@pytest.mark.browser
@pytest.mark.parametrize("backend", ["sqlite"])
def test_in_a_browser_an_archivist_adds_a_variant_and_the_public_finds_the_place_by_it(
    page, live_server, users, xocali
):
    from playwright.sync_api import expect

    from tests.conftest import browser_login

    browser_login(page, live_server, users["archivist"])
    page.get_by_role("link", name="Places and people").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Places")
    page.get_by_label("Find a place by any of its names").fill("Xoc")
    page.get_by_role("button", name="Find").click()
    page.get_by_role("link", name="Xocalı", exact=True).click()

    page.get_by_label("Variant name", exact=True).fill("")
    page.get_by_role("button", name="Add the variant").click()
    expect(page.locator("#variant-errors")).to_have_text("Give a name.")
    page.get_by_label("Variant name", exact=True).fill("Hocalı")
    page.get_by_role("button", name="Add the variant").click()
    expect(page.get_by_role("status")).to_have_text("“Hocalı” is now a variant of “Xocalı”.")
    expect(page.locator(".variants")).to_contain_text("Hocalı")
    page.get_by_role("button", name="Sign out").click()

    page.goto(f"{live_server}/search?q=Hocalı")
    expect(page.locator(".hit").get_by_role("heading")).to_have_text(XOCALI_TITLE)
