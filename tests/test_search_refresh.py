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


def test_a_worker_that_lets_go_of_its_mapped_pages_still_reads_the_index(tmp_path, monkeypatch):
    from archive.search import memory as module

    # No budget: every search ends by letting go of every mapped index page, so each next search
    # maps them again from the page cache.
    monkeypatch.setattr(module, "_MAPPED_BUDGET", -1)
    monkeypatch.setattr(module, "_mapped_baseline", 0)
    index = SearchIndex(tmp_path)
    index.apply([(n, {"public": _doc(n, "lantern" if n % 2 else "orchard")}) for n in range(1, 41)])
    real = module._let_go_of_pages
    released = []
    monkeypatch.setattr(module, "_let_go_of_pages", lambda: released.append(1) or real())
    for _ in range(3):
        found = search(index, "public", "lantern")
        assert found["total"] == 20
        assert "<mark>lantern</mark>" in found["hits"][0]["segments"][0]["snippet"]
        assert search(index, "public", "orch*")["total"] == 20
        assert search(index, "public", '"the orchard"')["total"] == 20
    assert len(released) == 9
