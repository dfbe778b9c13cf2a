"""The query language as a reader types it: a minus sign leaves a word out, a hyphenated word stays
whole, and a query of nothing but left-out words finds nothing rather than its opposite."""

from archive.search.index import SearchIndex
from archive.search.query import search


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
