"""Open searchers follow every commit: a removed testimony is gone at once, and an index that was
empty when first read finds what is added later."""

from archive.search.index import SearchIndex
from archive.search.query import search


def _doc(tid: int, word: str) -> dict:
    return {"testimony_id": tid, "version": 1, "title": f"Fictional {word}", "summary": "", "narrator": "N",
            "interview_date": None, "interview_year": None, "birth_year": None, "languages": ["en"],
            "places": [], "subjects": [], "access": "public", "state": "published",
            "segments": [{"id": 1, "start_ms": 0, "end_ms": 1000, "speaker": "", "text": f"the {word}",
                          "keywords": []}]}  # fmt: skip


def test_a_removed_testimony_is_not_found_by_a_searcher_opened_before(tmp_path):
    index = SearchIndex(tmp_path)
    index.apply([(1, {"public": _doc(1, "lantern")}), (2, {"public": _doc(2, "lantern")})])
    assert search(index, "public", "lantern")["total"] == 2
    index.apply([(1, {})])
    assert [h["id"] for h in search(index, "public", "lantern")["hits"]] == [2]
    index.apply([(2, {})])
    assert search(index, "public", "lantern")["total"] == 0


def test_an_index_read_while_empty_finds_what_is_added_later(tmp_path):
    index = SearchIndex(tmp_path)
    index.apply([(1, {"staff": _doc(1, "orchard")})])
    assert search(index, "public", "orchard")["total"] == 0
    index.apply([(1, {"public": _doc(1, "orchard"), "staff": _doc(1, "orchard")})])
    assert search(index, "public", "orchard")["total"] == 1
