"""Search filters are read once for the search page and the API: the same values give the same
filters, the API names what it cannot read, the page drops it, and the consent-level facet is the
staff's alone."""

from __future__ import annotations

import pytest
from werkzeug.datastructures import MultiDict

from archive.errors import Invalid
from archive.search.filters import read_filters
from tests.conftest import login, sample_body


def _read(query: list[tuple[str, str]]):
    return read_filters(MultiDict(query))


def test_filters_read_from_a_query_string():
    filters = _read(
        [
            ("place", " Ağdam "),
            ("place", ""),
            ("subject", "winter"),
            ("lang", "AZ"),
            ("lang", "en-GB"),
            ("decade", "1950"),
            ("access", "research"),
            ("year", "2019"),
            ("year", "2005"),
        ]
    )
    assert filters.errors == {}
    assert filters.values == {
        "place": ["Ağdam"],
        "subject": ["winter"],
        "lang": ["az", "en-GB"],
        "decade": [1950],
        "access": ["research"],
        "from": 2005,
        "to": 2019,
    }


def test_years_and_bounds_all_apply():
    assert _read([("from", "2010"), ("year", "2000"), ("year", "2015")]).values == {"from": 2010, "to": 2015}


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ([("decade", "fifties")], {"decade"}),
        ([("from", "last year")], {"from"}),
        ([("to", "10000")], {"to"}),
        ([("from", "2020"), ("to", "2010")], {"from", "to"}),
        ([("year", "²")], {"year"}),
        ([("decade", "x"), ("year", "soon")], {"decade", "year"}),
    ],
)
def test_a_value_that_cannot_be_read_is_named(query, fields):
    filters = _read(query)
    assert set(filters.errors) == fields
    with pytest.raises(Invalid) as refused:
        filters.or_invalid()
    assert set(refused.value.fields) == fields
    # The page searches on without it.
    assert fields.isdisjoint(filters.values)


def test_the_api_and_the_page_filter_by_year_alike(client, create_testimony):
    interview = {**sample_body()["interview"], "date": "2005-06-01"}
    older = create_testimony(title="A fictional testimony from the mill", interview=interview)
    create_testimony(title="A fictional testimony from the orchard")

    api = client.get("/api/v1/search?year=2005").json
    assert [hit["id"] for hit in api["hits"]] == [older.id]
    page = client.get("/search?from=2000&to=2010").get_data(as_text=True)
    assert "from the mill" in page
    assert "from the orchard" not in page
    assert client.get("/api/v1/search?year=soon").json["error"]["fields"] == {
        "year": "Must be a whole number."
    }


def test_only_staff_filter_by_consent_level_or_see_it_in_use(client, users, create_testimony):
    create_testimony(title="A fictional public testimony")
    create_testimony(title="A fictional research testimony", access="research")
    login(client, users["researcher"])

    page = client.get("/search?access=public").get_data(as_text=True)
    assert "A fictional research testimony" in page
    assert "Remove this filter" not in page
    assert "access" not in client.get("/api/v1/search?access=public").json["facets"]

    login(client, users["archivist"])
    page = client.get("/search?access=public").get_data(as_text=True)
    assert "A fictional research testimony" not in page
    assert "Remove this filter" in page
    assert client.get("/api/v1/search?access=public").json["facets"]["access"] == [["public", 1]]
