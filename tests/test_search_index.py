"""Searching the per-audience indexes: what each audience finds, ranks, counts and is offered."""

import pytest

from archive.search import codec
from archive.search.index import SearchIndex
from archive.search.query import search, suggest


def fictional(testimony_id, *texts, version=1, **overrides):
    document = {
        "testimony_id": testimony_id,
        "version": version,
        "title": f"Fictional testimony {testimony_id}",
        "summary": "",
        "narrator": f"Narrator {testimony_id}",
        "interview_date": "1995-05-01",
        "interview_year": 1995,
        "birth_year": 1950,
        "languages": ["az"],
        "places": [],
        "subjects": [],
        "access": "public",
        "state": "published",
        "segments": [
            {
                "id": testimony_id * 100 + n,
                "start_ms": n * 60000,
                "end_ms": (n + 1) * 60000,
                "speaker": "Narrator",
                "text": text,
                "keywords": [],
            }
            for n, text in enumerate(texts)
        ],
    }
    document.update(overrides)
    return document


def everywhere(document):
    return {"public": document, "research": document, "staff": document}


@pytest.fixture
def index(tmp_path):
    built = SearchIndex(tmp_path / "index")
    yield built
    built.close()


def ids(result):
    return [hit["id"] for hit in result["hits"]]


def test_query_without_diacritics_finds_agdam(index):
    index.apply([(1, everywhere(fictional(1, "Biz Ağdamda yaşayırdıq.")))])
    assert ids(search(index, "public", "Agdam")) == [1]


def test_query_without_diacritics_finds_xocali_and_susa(index):
    index.apply([(1, everywhere(fictional(1, "Xocalı yolu Şuşaya gedirdi.")))])
    assert ids(search(index, "public", "Xocali")) == [1]
    assert ids(search(index, "public", "Susa")) == [1]


def test_exact_spelling_ranks_above_a_folded_match(index):
    index.apply(
        [
            (1, everywhere(fictional(1, "Agdam deyə yazılmışdı."))),
            (2, everywhere(fictional(2, "Ağdam deyə yazılmışdı."))),
        ]
    )
    assert ids(search(index, "public", "Ağdam")) == [2, 1]


def test_cyrillic_query_finds_latin_name(index):
    index.apply([(1, everywhere(fictional(1, "Biz Xocalıdan çıxdıq. Xocalı qarlı idi.")))])
    assert ids(search(index, "public", "Ходжалы")) == [1]


def test_english_romanisation_finds_azerbaijani_name(index):
    index.apply([(1, everywhere(fictional(1, "Xocalı qarlı idi.")))])
    result = search(index, "public", "Khojaly")
    assert ids(result) == [1]
    assert "<mark>Xocalı</mark>" in result["hits"][0]["segments"][0]["snippet"]


def test_inflected_query_finds_other_forms_by_stem(index):
    index.apply([(1, everywhere(fictional(1, "The families were evacuated at night.", languages=["en"])))])
    assert ids(search(index, "public", "evacuation")) == [1]


def test_words_are_all_required_by_default(index):
    index.apply(
        [
            (1, everywhere(fictional(1, "bread and water"))),
            (2, everywhere(fictional(2, "bread only"))),
        ]
    )
    assert ids(search(index, "public", "bread water")) == [1]
    assert sorted(ids(search(index, "public", "water OR only"))) == [1, 2]
    assert ids(search(index, "public", "bread NOT water")) == [2]


def test_phrase_query_matches_only_adjacent_words(index):
    index.apply(
        [
            (1, everywhere(fictional(1, "the old bridge over the river"))),
            (2, everywhere(fictional(2, "the bridge was old, the river cold"))),
        ]
    )
    result = search(index, "public", '"old bridge"')
    assert ids(result) == [1]
    assert result["hits"][0]["segments"][0]["snippet"].count("<mark>") == 2


def test_phrase_query_finds_words_with_diacritics_typed_plain(index):
    index.apply([(1, everywhere(fictional(1, "Biz Ağdamdan çıxdıq.")))])
    result = search(index, "public", '"agdamdan cixdiq"')
    assert ids(result) == [1]
    assert result["hits"][0]["segments"][0]["snippet"].count("<mark>") == 2


def test_phrase_is_not_found_across_two_segments(index):
    index.apply([(1, everywhere(fictional(1, "we crossed the old", "bridge at dawn")))])
    assert search(index, "public", '"old bridge"')["total"] == 0
    assert ids(search(index, "public", "old bridge")) == [1]


def test_prefix_and_fuzzy_queries_find_the_word(index):
    index.apply([(1, everywhere(fictional(1, "Xocalı qarlı idi.")))])
    assert ids(search(index, "public", "Xoca*")) == [1]
    assert ids(search(index, "public", "Xocaly~")) == [1]


def test_malformed_query_is_read_as_words(index):
    index.apply([(1, everywhere(fictional(1, "bread and water")))])
    for q in ['"bread water', "(bread OR", "bread AND", "bread ) water ((", "bread^^ water~~"]:
        assert ids(search(index, "public", q)) == [1], q


def test_field_query_reaches_only_that_field(index):
    index.apply(
        [
            (1, everywhere(fictional(1, "nothing here", places=["Ağdam"]))),
            (2, everywhere(fictional(2, "we spoke of Ağdam"))),
        ]
    )
    result = search(index, "public", "place:Agdam")
    assert ids(result) == [1]
    assert result["hits"][0]["segments"] == []


def test_speaker_query_finds_what_that_speaker_said(index):
    document = fictional(1, "bread", "bread")
    document["segments"][1]["speaker"] = "Interviewer"
    index.apply([(1, everywhere(document))])
    result = search(index, "public", "speaker:Interviewer bread")
    assert [s["speaker"] for s in result["hits"][0]["segments"]] == ["Interviewer"]


def test_passages_are_the_best_segments_of_the_testimony(index):
    index.apply(
        [
            (
                1,
                everywhere(fictional(1, "snow", "a long day with nothing", "snow snow on the road", "snow")),
            )
        ]
    )
    segments = search(index, "public", "snow road", passages=2)["hits"][0]["segments"]
    # Both words first; then the earlier of two equal "snow" segments.
    assert [s["id"] for s in segments] == [102, 100]


def test_snippet_escapes_html_and_marks_matches(index):
    index.apply([(1, everywhere(fictional(1, "<b>snow</b> & wind")))])
    snippet = search(index, "public", "snow")["hits"][0]["segments"][0]["snippet"]
    assert snippet == "&lt;b&gt;<mark>snow</mark>&lt;/b&gt; &amp; wind"


def test_long_segment_snippet_is_cut_around_the_match(index):
    text = "filler " * 200 + "lantern " + "filler " * 200
    index.apply([(1, everywhere(fictional(1, text)))])
    snippet = search(index, "public", "lantern")["hits"][0]["segments"][0]["snippet"]
    assert "<mark>lantern</mark>" in snippet
    assert snippet.startswith("…") and snippet.endswith("…")
    assert len(snippet) < 400


def test_removing_a_testimony_from_public_leaves_it_in_staff(index):
    index.apply([(1, everywhere(fictional(1, "lantern")))])
    index.apply([(1, {"staff": fictional(1, "lantern")})])
    assert ids(search(index, "public", "lantern")) == []
    assert ids(search(index, "research", "lantern")) == []
    assert ids(search(index, "staff", "lantern")) == [1]


def test_a_testimony_given_as_none_is_removed_from_every_index(index):
    index.apply([(1, everywhere(fictional(1, "lantern")))])
    index.apply([(1, {"public": None})])
    assert all(index.stamps(audience) == {} for audience in ("public", "research", "staff"))
    assert search(index, "staff", "lantern")["total"] == 0


def test_restricted_text_never_reaches_the_public_index(index):
    index.apply([(1, {"public": fictional(1, "lantern"), "staff": fictional(1, "lantern secretword")})])
    assert search(index, "public", "secretword")["total"] == 0
    assert ids(search(index, "staff", "secretword")) == [1]


def test_applying_the_same_change_twice_indexes_it_once(index):
    change = (1, everywhere(fictional(1, "lantern", "lantern")))
    index.apply([change])
    index.apply([change, change])
    result = search(index, "public", "lantern")
    assert result["total"] == 1
    assert len(result["hits"][0]["segments"]) == 2


def test_an_edit_replaces_the_old_text(index):
    index.apply([(1, everywhere(fictional(1, "lantern")))])
    index.apply([(1, everywhere(fictional(1, "candle", version=2)))])
    assert search(index, "public", "lantern")["total"] == 0
    assert ids(search(index, "public", "candle")) == [1]
    assert index.stamps("public") == {1: 2}


def test_a_document_under_the_wrong_id_is_refused(index):
    with pytest.raises(ValueError):
        index.apply([(2, everywhere(fictional(1, "lantern")))])


def test_rebuild_replaces_everything_and_reports_progress(index):
    index.apply([(9, everywhere(fictional(9, "stale")))])
    seen = []
    index.rebuild(
        [(1, everywhere(fictional(1, "lantern"))), (2, {"staff": fictional(2, "lantern")})],
        progress=seen.append,
    )
    assert seen == [1, 2]
    assert index.stamps("public") == {1: 1}
    assert index.stamps("staff") == {1: 1, 2: 1}
    assert search(index, "staff", "stale")["total"] == 0


@pytest.mark.parametrize("procs", [1, 2])
def test_rebuild_keeps_each_audiences_text_to_that_audience(index, procs):
    index.rebuild(
        [
            (1, everywhere(fictional(1, "lantern"))),
            (2, {"public": fictional(2, "candle"), "staff": fictional(2, "candle secretword")}),
            (3, {"research": fictional(3, "candle"), "staff": fictional(3, "candle")}),
        ],
        procs=procs,
    )
    assert search(index, "public", "secretword")["total"] == 0
    assert search(index, "public", "secretwerd")["suggestion"] is None
    assert ids(search(index, "staff", "secretword")) == [2]
    assert ids(search(index, "public", "candle")) == [2]
    assert ids(search(index, "research", "candle")) == [3]
    assert sorted(ids(search(index, "staff", "candle"))) == [2, 3]
    assert all(ids(search(index, audience, "lantern")) == [1] for audience in ("public", "research", "staff"))


@pytest.mark.parametrize("procs", [1, 2])
def test_a_rebuilt_public_index_holds_public_documents_only_each_once(index, procs):
    index.rebuild(
        [
            (1, everywhere(fictional(1, "lantern"))),
            (2, {"public": fictional(2, "candle"), "staff": fictional(2, "candle secretword")}),
            (3, {"research": fictional(3, "candle"), "staff": fictional(3, "candle")}),
            (4, {"public": fictional(4, "candle"), "research": fictional(4, "candle secretword")}),
        ],
        procs=procs,
    )
    # The public tier's segments hold no restricted word, not even in the term table.
    public = index.root / "public" / (index.root / "public" / "CURRENT").read_text().strip()
    assert not [p for p in public.rglob("*") if p.is_file() and b"secretword" in p.read_bytes()]
    # The others link the public tier too, with its documents not for them deleted there: a
    # testimony is counted, faceted and listed once, as the audience's own document.
    for audience, expected in (("public", [2, 4]), ("research", [3, 4]), ("staff", [2, 3])):
        result = search(index, audience, "candle")
        assert sorted(ids(result)) == expected
        assert result["total"] == 2
        assert dict(result["facets"]["language"]) == {"az": 2}
    assert sorted(index.stamps("staff")) == [1, 2, 3]
    assert ids(search(index, "research", "secretword")) == [4]
    # A later change to a testimony whose public document the research index holds deleted.
    index.apply([(4, {"public": fictional(4, "candle", version=2), "research": None})])
    assert sorted(ids(search(index, "research", "candle"))) == [3]
    assert sorted(ids(search(index, "public", "candle"))) == [2, 4]


def test_an_index_rebuilt_from_shared_documents_takes_later_changes(index):
    index.rebuild([(1, everywhere(fictional(1, "lantern"))), (2, everywhere(fictional(2, "lantern")))])
    index.apply([(1, {"staff": fictional(1, "lantern", version=2)})])
    assert ids(search(index, "public", "lantern")) == [2]
    assert sorted(ids(search(index, "staff", "lantern"))) == [1, 2]
    assert index.stamps("staff") == {1: 2, 2: 1}


def test_many_single_changes_stay_searchable_as_their_segments_are_merged(index):
    index.rebuild([(n, everywhere(fictional(n, "lantern"))) for n in range(1, 4)], procs=1)
    for n in range(4, 16):
        index.apply([(n, everywhere(fictional(n, "lantern candle")))])
    index.apply([(2, {"staff": fictional(2, "lantern", version=2)})])
    assert search(index, "public", "lantern")["total"] == 14
    assert search(index, "public", "candle")["total"] == 12
    assert search(index, "staff", "lantern")["total"] == 15
    assert index.stamps("staff")[2] == 2


def _segment_ids(index, audience, kind):
    from whoosh.filedb.filestore import FileStorage
    from whoosh.index import TOC

    generation = (index.root / audience / "CURRENT").read_text().strip()
    storage = FileStorage(str(index.root / audience / generation / kind))
    return [s.segment_id() for s in TOC.read(storage, "MAIN").segments]


def test_small_segments_are_merged_in_the_background_without_losing_a_change(index):
    index.rebuild([(n, everywhere(fictional(n, "lantern"))) for n in range(1, 4)], procs=1)
    for n in range(4, 30):
        index.apply([(n, everywhere(fictional(n, "lantern candle", "ember")))])
    index.apply([(5, {})])
    index.wait_for_merges()
    for audience in ("public", "research", "staff"):
        assert len(_segment_ids(index, audience, "testimonies")) < 20
        assert search(index, audience, "lantern")["total"] == 28
        assert search(index, audience, "ember")["total"] == 25
        assert 5 not in index.stamps(audience)


def test_merged_segments_are_merged_again_so_changes_one_by_one_never_pile_up(index, monkeypatch):
    from collections import Counter

    from archive.search import merging as module

    # Tiers of 1, 3, 9 testimonies, three of a tier merged into one of the next: the same policy as
    # ten of ten, seen over three tiers with nine testimonies (each merge is a process of its own).
    monkeypatch.setattr(module, "_SMALL_SEGMENT_DOCS", 1)
    monkeypatch.setattr(module, "_SMALL_SEGMENTS_MERGED", 3)
    index.rebuild([(1, everywhere(fictional(1, "lantern")))], procs=1)
    for n in range(2, 10):
        index.apply([(n, everywhere(fictional(n, "lantern candle")))])
        if n % 3 == 0:
            index.wait_for_merges()
    index.wait_for_merges()
    sizes = [len(ids) for ids in _tid_postings_per_segment(index)]
    tiers = Counter(module._tier(size) for size in sizes)
    assert all(count < 3 for count in tiers.values()), tiers
    assert max(tiers) >= 2, tiers
    assert len(sizes) < 7, sizes
    assert search(index, "public", "candle")["total"] == 8


def _tid_postings_per_segment(index):
    from whoosh.filedb.filestore import FileStorage
    from whoosh.index import TOC

    generation = (index.root / "public" / "CURRENT").read_text().strip()
    storage = FileStorage(str(index.root / "public" / generation / "testimonies"))
    toc = TOC.read(storage, "MAIN")
    return [index._testimonies_in(storage, toc.schema, s) for s in toc.segments]


def test_a_testimony_withdrawn_while_its_segment_is_being_merged_stays_withdrawn(index, monkeypatch):
    from archive.search import merging as module

    monkeypatch.setattr(module, "_SMALL_SEGMENTS_MERGED", 1_000)
    index.rebuild([(1, everywhere(fictional(1, "lantern")))], procs=1)
    for n in range(2, 8):
        index.apply([(n, everywhere(fictional(n, "lantern candle", "ember")))])
    real = module._swap_in_merged
    for kind, withdrawn in (("testimonies", 4), ("testimonies", 5)):
        small = _segment_ids(index, "public", kind)[1:]
        swaps = []

        def withdrawing(*args, withdrawn=withdrawn, swaps=swaps):
            # The merged segment is written; the small ones are not yet swapped for it. The
            # withdrawn testimony's own segment is left empty, and so dropped, meanwhile.
            if not swaps:
                index.apply([(withdrawn, {"staff": fictional(withdrawn, "lantern")})])
            swaps.append(args)
            return real(*args)

        monkeypatch.setattr(module, "_swap_in_merged", withdrawing)
        generation = (index.root / "public" / "CURRENT").read_text().strip()
        module._merge_small_segments([str(index.root / "public" / generation / kind)], small)
        monkeypatch.setattr(module, "_swap_in_merged", real)
        assert swaps
        assert not set(small) & set(_segment_ids(index, "public", kind))
    with index.reading("public") as snapshot:
        found = {
            snapshot.testimonies.stored_fields(d)["tid"] for d in snapshot.testimonies.reader().all_doc_ids()
        }
    assert found == {"1", "2", "3", "6", "7"}
    assert search(index, "public", "candle")["total"] == 4
    assert sorted(index.stamps("public")) == [1, 2, 3, 6, 7]
    assert search(index, "staff", "candle")["total"] == 4
    assert search(index, "staff", "lantern")["total"] == 7


def test_a_testimony_published_then_withdrawn_leaves_no_segment_behind(index):
    index.rebuild([(1, everywhere(fictional(1, "lantern")))], procs=1)
    before = _segment_ids(index, "public", "testimonies")
    for n in range(2, 5):
        index.apply([(n, everywhere(fictional(n, "candle")))])
        index.apply([(n, {"staff": fictional(n, "candle")})])
    # Every query reads every segment: an emptied one would be read for nothing, forever.
    assert _segment_ids(index, "public", "testimonies") == before
    assert len(_segment_ids(index, "staff", "testimonies")) == 4
    assert search(index, "public", "candle")["total"] == 0
    assert search(index, "staff", "candle")["total"] == 3


def test_a_searcher_opened_before_a_rebuild_sees_the_new_index(index, tmp_path):
    index.apply([(1, everywhere(fictional(1, "lantern")))])
    other = SearchIndex(tmp_path / "index")
    assert search(other, "public", "lantern")["total"] == 1
    index.rebuild([(2, everywhere(fictional(2, "candle")))], procs=1)
    assert search(other, "public", "lantern")["total"] == 0
    assert ids(search(other, "public", "candle")) == [2]
    other.close()


def test_a_failed_rebuild_leaves_the_old_index_in_place(index):
    index.apply([(1, everywhere(fictional(1, "lantern")))])

    def broken():
        yield 2, everywhere(fictional(2, "candle"))
        raise RuntimeError("database went away")

    with pytest.raises(RuntimeError):
        index.rebuild(broken())
    assert ids(search(index, "public", "lantern")) == [1]
    assert search(index, "public", "candle")["total"] == 0


def test_clear_empties_every_audience(index):
    index.apply([(1, everywhere(fictional(1, "lantern")))])
    index.clear()
    assert search(index, "staff", "lantern")["total"] == 0


def test_an_index_never_written_answers_empty(index):
    result = search(index, "public", "lantern")
    assert result["total"] == 0 and result["hits"] == []
    assert index.stamps("public") == {}


def test_facet_counts_reflect_filters(index):
    index.apply(
        [
            (1, everywhere(fictional(1, "snow", places=["Ağdam"], languages=["az"]))),
            (2, everywhere(fictional(2, "snow", places=["Ağdam", "Şuşa"], languages=["ru"]))),
            (3, everywhere(fictional(3, "snow", places=["Şuşa"], languages=["az"]))),
        ]
    )
    everything = search(index, "public", "snow")
    assert everything["facets"]["place"] == [["Ağdam", 2], ["Şuşa", 2]]
    filtered = search(index, "public", "snow", filters={"lang": "az"})
    assert filtered["total"] == 2
    assert filtered["facets"]["place"] == [["Ağdam", 1], ["Şuşa", 1]]
    assert filtered["facets"]["language"] == [["az", 2]]


def test_filters_by_place_year_range_and_birth_decade(index):
    index.apply(
        [
            (1, everywhere(fictional(1, "snow", places=["Ağdam"], interview_year=1993))),
            (2, everywhere(fictional(2, "snow", interview_year=2001, birth_year=1962))),
            (3, everywhere(fictional(3, "snow", interview_year=None, interview_date=None))),
        ]
    )
    assert ids(search(index, "public", "snow", filters={"place": ["Ağdam", "Şuşa"]})) == [1]
    assert ids(search(index, "public", "snow", filters={"from": 2000, "to": 2005})) == [2]
    assert ids(search(index, "public", "snow", filters={"decade": 1960})) == [2]


def test_an_unknown_filter_is_refused(index):
    with pytest.raises(ValueError):
        search(index, "public", "snow", filters={"colour": "red"})


def test_empty_query_browses_by_date(index):
    index.apply(
        [
            (1, everywhere(fictional(1, "a", interview_date="2001-01-01", interview_year=2001))),
            (2, everywhere(fictional(2, "b", interview_date="1993-01-01", interview_year=1993))),
            (3, everywhere(fictional(3, "c", interview_date="1997-01-01", interview_year=1997))),
        ]
    )
    result = search(index, "public", "", filters={"from": 1995})
    assert ids(result) == [3, 1]
    assert result["hits"][0]["segments"] == []


def test_results_sort_by_title_and_page(index):
    titles = {1: "Cherry orchard", 2: "Apple tree", 3: "Birch grove"}
    index.apply([(n, everywhere(fictional(n, "snow", title=t))) for n, t in titles.items()])
    assert ids(search(index, "public", "snow", sort="title")) == [2, 3, 1]
    second = search(index, "public", "snow", sort="title", page=2, per_page=2)
    assert second["total"] == 3 and ids(second) == [1]


def test_search_within_one_testimony_lists_its_matching_segments_in_order(index):
    index.apply(
        [
            (1, everywhere(fictional(1, "snow", "rain", "snow again", "snow at last"))),
            (2, everywhere(fictional(2, "snow"))),
        ]
    )
    result = search(index, "public", "snow", testimony_id=1, per_page=2, page=2)
    assert ids(result) == [1]
    assert result["hits"][0]["segments_total"] == 3
    assert [s["id"] for s in result["hits"][0]["segments"]] == [103]


def test_suggestion_proposes_a_word_from_the_index(index):
    index.apply([(1, everywhere(fictional(1, "lantern")))])
    result = search(index, "public", "lanturn")
    assert result["total"] == 0
    assert result["suggestion"] == "lantern"


def test_suggestion_never_comes_from_another_audience(index):
    index.apply([(1, {"public": fictional(1, "candle"), "staff": fictional(1, "candle secretword")})])
    assert search(index, "public", "secretwerd")["suggestion"] is None
    assert search(index, "staff", "secretwerd")["suggestion"] == "secretword"


def test_autocomplete_offers_places_and_narrators_of_the_audience_only(index):
    index.apply(
        [
            (1, everywhere(fictional(1, "a", places=["Ağdam"], narrator="Aygün Q."))),
            (2, {"staff": fictional(2, "b", places=["Ağcabədi"])}),
        ]
    )
    assert suggest(index, "public", "ag") == ["Ağdam"]
    assert suggest(index, "public", "ayg") == ["Aygün Q."]
    assert "Ağcabədi" not in suggest(index, "public", "ag")
    assert "Ağcabədi" in suggest(index, "staff", "ag")


def test_an_unknown_audience_is_refused(index):
    with pytest.raises(ValueError):
        search(index, "everyone", "snow")


def test_posting_blocks_read_again_from_the_kept_ones_are_each_terms_own(tmp_path):
    # Two words in 300 testimonies (several compressed blocks each, kept once read): searches
    # taking turns between them must each find their own testimonies and passages, as the first
    # search of each did before anything was kept.
    index = SearchIndex(tmp_path / "index")
    changes = []
    for tid in range(1, 301):
        texts = ["qar yağırdı axşam"] if tid % 3 else ["külək əsirdi gecə"]
        if tid % 5 == 0:
            texts.append("qar və külək birlikdə")
        changes.append((tid, {"public": fictional(tid, *texts)}))
    index.apply(changes)
    first = {q: search(index, "public", q, per_page=50) for q in ("qar", "külək")}
    assert first["qar"]["total"] == 200 + 20 and first["külək"]["total"] == 100 + 40
    for _ in range(3):
        for q in ("külək", "qar"):
            again = search(index, "public", q, per_page=50)
            assert again == first[q]
    index.close()


def test_a_fields_words_read_along_the_term_table_are_whooshs_lexicon(index):
    # Fuzzy words and "did you mean" read a segment's word list in one pass over the mapped term
    # table; it must be exactly the field's terms as Whoosh lists them, in order, no other field's.
    index.apply(
        [
            (1, everywhere(fictional(1, "qar yağırdı Ağdam yolunda", "снег шёл всю ночь"))),
            (2, everywhere(fictional(2, "külək əsirdi, Şuşa", "the lantern went out", places=["Şuşa"]))),
        ]
    )
    with index.reading("public") as snapshot:
        leaves = [leaf for leaf, _ in snapshot.testimonies.reader().leaf_readers()]
        assert leaves
        for leaf in leaves:
            for field in ("folded", "stem", "name", "prefix", "place", "exact"):
                listed = [term.decode("utf-8") for term in leaf.lexicon(field)]
                assert codec.field_terms(leaf, field) == listed
            assert codec.field_terms(leaf, "no such field") == []
        assert any("qar" in codec.field_terms(leaf, "folded") for leaf in leaves)
