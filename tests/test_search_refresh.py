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


# --- answers kept with a snapshot: given again only while nothing in the index changed --------------


def test_an_answer_kept_for_a_search_asked_again_ends_with_the_next_commit(tmp_path):
    index = SearchIndex(tmp_path)
    index.apply([(1, {"public": _doc(1, "lantern")}), (2, {"public": _doc(2, "lantern")})])
    assert search(index, "public", "lantern", remember=8)["total"] == 2
    index.apply([(1, {})])
    assert [h["id"] for h in search(index, "public", "lantern", remember=8)["hits"]] == [2]
    index.apply([(3, {"public": _doc(3, "lantern")})])
    assert sorted(h["id"] for h in search(index, "public", "lantern", remember=8)["hits"]) == [2, 3]


def test_a_kept_answer_is_the_same_whatever_its_first_reader_did_with_it(tmp_path):
    index = SearchIndex(tmp_path)
    index.apply([(n, {"public": _doc(n, "lantern")}) for n in (1, 2)])
    first = search(index, "public", "lantern", remember=8)
    first["hits"][0]["segments"].clear()
    first["hits"][0]["title"] = "changed by a reader"
    first["hits"].pop()
    first["facets"].pop("language")
    first["total"] = 0
    again = search(index, "public", "lantern", remember=8)
    assert again == search(index, "public", "lantern") and again["total"] == 2
    assert all(hit["segments"] and hit["title"] == "Fictional lantern" for hit in again["hits"])


def test_an_answer_is_given_again_only_for_the_very_same_question(tmp_path, monkeypatch):
    from archive.search import query as module

    evaluated = []
    real = module._search
    monkeypatch.setattr(module, "_search", lambda *args: evaluated.append(args[1]) or real(*args))
    index = SearchIndex(tmp_path)
    index.apply([(n, {"public": _doc(n, "lantern" if n % 2 else "orchard")}) for n in range(1, 5)])
    search(index, "public", "lantern", remember=2)
    assert search(index, "public", "lantern", remember=2)["total"] == 2
    assert len(evaluated) == 1, "asked again with nothing changed: the kept answer"
    # Another page, filter, hidden testimony or name authority is another question.
    assert search(index, "public", "lantern", remember=2, hidden={1})["total"] == 1
    assert search(index, "public", "lantern", remember=2, filters={"lang": "az"})["total"] == 0
    assert search(index, "public", "lantern", remember=2, synonyms={})["total"] == 2
    assert len(evaluated) == 4
    # At most `remember` answers are kept (here one on trial, one asked again), none without it.
    evaluated.clear()
    search(index, "public", "orchard", remember=2)
    search(index, "public", "lantern", remember=2, page=2)
    search(index, "public", "lantern", remember=2, hidden={1})
    assert len(evaluated) == 3, "the third was pushed out by the two asked after it"
    search(index, "public", "orch*")
    search(index, "public", "orch*")
    assert len(evaluated) == 5


def test_an_answer_asked_again_outlasts_a_stream_of_searches_asked_once(tmp_path, monkeypatch):
    from archive.search import query as module

    evaluated = []
    real = module._search
    monkeypatch.setattr(module, "_search", lambda *args: evaluated.append(args[1]) or real(*args))
    index = SearchIndex(tmp_path)
    index.apply([(n, {"public": _doc(n, "lantern")}) for n in (1, 2)])
    search(index, "public", "lantern", remember=10)
    search(index, "public", "lantern", remember=10)
    for n in range(50):  # the long tail: each typed once, many more than there is room for
        search(index, "public", f"orchard{n}", remember=10)
    evaluated.clear()
    assert search(index, "public", "lantern", remember=10)["total"] == 2
    assert evaluated == [], "asked twice, it was kept ahead of the searches asked once"
    search(index, "public", "orchard0", remember=10)
    assert evaluated == ["orchard0"], "asked once, it made room for those after it"
