"""The query language as a reader types it: a minus sign leaves a word out, a hyphenated word stays
whole, a query of nothing but left-out words finds nothing rather than its opposite, and a query with
no word at all finds nothing and says so, where an empty one browses everything."""

import pytest

from archive.search import parsing
from archive.search.index import SearchIndex
from archive.search.query import search
from tests.conftest import login


def _doc(tid: int, text: str) -> dict:
    return {"testimony_id": tid, "version": 1, "title": f"Fictional {tid}", "summary": "", "narrator": "N",
            "interview_date": None, "interview_year": None, "birth_year": None, "languages": ["az"],
            "places": [], "subjects": [], "access": "public", "state": "published",
            "segments": [{"id": 1, "start_ms": 0, "end_ms": 1000, "speaker": "", "text": text,
                          "keywords": []}]}  # fmt: skip


def _ids(index, q: str) -> set[int]:
    return {h["id"] for h in search(index, "public", q)["hits"]}


def test_a_minus_sign_leaves_a_word_out(tmp_path):
    index = SearchIndex(tmp_path)
    index.apply(
        [(1, {"public": _doc(1, "qış gecəsi Ağdam yolunda")}), (2, {"public": _doc(2, "qış səhəri")})]
    )
    assert _ids(index, "qış") == {1, 2}
    assert _ids(index, "qış -Ağdam") == {2}
    assert _ids(index, "qış NOT Ağdam") == {2}


def test_a_hyphenated_word_is_not_read_as_leaving_out(tmp_path):
    index = SearchIndex(tmp_path)
    index.apply([(1, {"public": _doc(1, "Ağdam-da qaldıq")}), (2, {"public": _doc(2, "Bakıda qaldıq")})])
    assert _ids(index, "Ağdam-da") == {1}


def test_only_left_out_words_find_nothing_rather_than_those_words(tmp_path):
    index = SearchIndex(tmp_path)
    index.apply([(1, {"public": _doc(1, "Ağdam yolunda")}), (2, {"public": _doc(2, "Bakıda")})])
    assert 1 not in _ids(index, "-Ağdam")


@pytest.mark.parametrize("q", ["?!", "AND OR", "-", '""', "*"])
def test_a_query_with_no_word_finds_nothing_and_says_so(client, create_testimony, q):
    create_testimony()
    answer = client.get("/api/v1/search", query_string={"q": q})
    assert answer.status_code == 200
    body = answer.get_json()
    assert (body["total"], body["hits"], body["notice"]) == (0, [], "no_words")
    assert all(values == [] for values in body["facets"].values())
    page = client.get("/search", query_string={"q": q}).get_data(as_text=True)
    assert "holds no word to search for" in page
    assert "winter road" not in page


def test_the_no_word_message_speaks_the_readers_language(client, create_testimony):
    create_testimony()
    client.get("/lang/ru")
    assert "нет слов для поиска" in client.get("/search?q=%3F%21").get_data(as_text=True)


def test_an_empty_query_still_lists_every_testimony(client, create_testimony):
    create_testimony()
    body = client.get("/api/v1/search?q=").get_json()
    assert body["total"] == 1 and body["notice"] is None
    assert "winter road" in client.get("/search").get_data(as_text=True)


@pytest.mark.parametrize(("access", "reader"), [("research", "researcher"), ("staff", "archivist")])
def test_did_you_mean_and_autocomplete_never_offer_the_public_a_restricted_word(
    app, users, create_testimony, access, reader
):
    create_testimony(access=access, places=["Zorbalintaq Hollow"])
    public, privileged = app.test_client(), app.test_client()
    login(privileged, users[reader])
    for client, offered in ((public, False), (privileged, True)):
        misspelt = client.get("/api/v1/search?q=Zorbalintuq").get_json()
        assert (misspelt["suggestion"] == "Zorbalintaq") is offered
        assert ("Did you mean" in client.get("/search?q=Zorbalintuq").get_data(as_text=True)) is offered
        assert (client.get("/search/suggest?q=Zorbal").get_json() == ["Zorbalintaq Hollow"]) is offered


@pytest.mark.parametrize(
    "q",
    ["Xocalı", "Ağdam Şuşa", "шуша 1992", "Ко\u0301уз", "qış qış gecəsi", "Ağdam\u00a0Bakı", "village fire"],
)
def test_plain_words_are_read_as_the_parser_reads_them(q):
    # Plain words skip the parser's character-by-character tagging: the tree must be the parser's.
    plain = parsing._plain(q.split())
    assert plain is not None
    assert plain == parsing._PARSER.parse(q)


@pytest.mark.parametrize(
    "q", ['"qış gecəsi"', "qış OR yay", "place:Ağdam", "Xocal*", "Xocalı~", "-Ağdam", "Ağdam-da", "(qış)"]
)
def test_anything_but_plain_words_goes_to_the_parser(q):
    assert parsing._plain(q.split()) is None
