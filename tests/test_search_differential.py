"""The project's segment writer against Whoosh's own: the same fictional corpus and the same history
(edits, withdrawals, several segments, merges) written once through `archive.search` and once
through Whoosh's `Index.writer()`, then every stored field, every posting and the answer to every
kind of query compared. whoosh-reloaded is pinned because the writer uses Whoosh's private format;
this is the test to run before moving the pin."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from whoosh import index as whoosh_index
from whoosh.reading import SegmentReader

from archive.search import merging
from archive.search.analysis import pair_bucket
from archive.search.codec import INDEX_NAME
from archive.search.documents import AnalysisCache, fields_of
from archive.search.fields import PAIRED
from archive.search.index import TESTIMONIES, SearchIndex
from archive.search.query import search

# A small vocabulary per language, so that word pairs recur (and some are common enough to be
# terms of their own) while others stay rare (and go to the pair buckets).
WORDS = {
    "az": "qar gecə meşə ev ana ata yol kənd çay dağ səhər qış uşaq ürək xatirə qapı sükut ümid".split(),
    "ru": "снег ночь лес дом мама отец дорога село река гора утро зима дети сердце память дверь".split(),
    "tr": "kar gece orman ev anne baba yol köy nehir dağ sabah kış çocuk yürek anı kapı umut".split(),
    "en": "snow night forest house mother father road village river mountain morning winter lantern "
    "ember candle window silence hope".split(),
}
# Words are drawn the more often the earlier they come: a few in nearly every testimony, most in few.
ZIPF = [1 / rank for rank in range(1, 30)]
PLACES = ["Xocalı", "Ağdam", "Şuşa", "Ходжалы", "Agdam", "Kətik", "Hocalı"]
SUBJECTS = ["memory", "winter", "family", "return", "childhood"]
SPEAKERS = ["Narrator", "Interviewer", "Rəssam Uydurmaca"]


def fictional_testimony(testimony_id: int, rng: random.Random, version: int = 1) -> dict:
    """A clearly fictional testimony in one of the four languages, with a sprinkling of another."""
    lang = ["az", "ru", "tr", "en"][testimony_id % 4]
    other = ["en", "az", "az", "ru"][testimony_id % 4]

    def sentence(size: int) -> str:
        chosen = rng.choices(WORDS[lang], weights=ZIPF[: len(WORDS[lang])], k=size)
        if rng.random() < 0.3:
            chosen.insert(rng.randrange(len(chosen)), rng.choice(WORDS[other]))
        if rng.random() < 0.4:
            chosen.insert(rng.randrange(len(chosen)), rng.choice(PLACES))
        text = " ".join(chosen)
        return text[0].upper() + text[1:] + "."

    year = 1990 + testimony_id % 12
    return {
        "testimony_id": testimony_id,
        "version": version,
        "title": f"{sentence(3)} ({testimony_id})",
        "summary": sentence(8),
        "narrator": f"Uydurma Danışan {testimony_id}",
        "interview_date": None if testimony_id % 9 == 0 else f"{year}-0{1 + testimony_id % 9}-15",
        "interview_year": None if testimony_id % 9 == 0 else year,
        "birth_year": 1930 + testimony_id % 40,
        "languages": [lang] if testimony_id % 3 else [lang, other],
        "places": rng.sample(PLACES, rng.randint(0, 2)),
        "subjects": rng.sample(SUBJECTS, rng.randint(0, 2)),
        "access": "public",
        "state": "published",
        "segments": [
            {
                "id": testimony_id * 100 + n,
                "start_ms": n * 60_000 if n != 2 else None,
                "end_ms": (n + 1) * 60_000 if n != 2 else None,
                "speaker": rng.choice(SPEAKERS),
                "text": sentence(rng.randint(6, 14)),
                "keywords": rng.sample(SUBJECTS, rng.randint(0, 1)),
            }
            for n in range(rng.randint(2, 5))
        ],
    }


def history() -> list[list[tuple[int, dict | None]]]:
    """Batches of changes, each applied as one commit: a first batch, one-testimony batches enough
    to be merged, edits, withdrawals, and more."""
    rng = random.Random(1992)
    batches: list[list[tuple[int, dict | None]]] = [
        [(n, fictional_testimony(n, rng)) for n in range(1, 13)],
        *[[(n, fictional_testimony(n, rng))] for n in range(13, 33)],
        [(3, fictional_testimony(3, rng, version=2)), (14, fictional_testimony(14, rng, version=2))],
        [(5, None), (16, None)],
        [(n, fictional_testimony(n, rng)) for n in range(33, 41)],
        [(20, fictional_testimony(20, rng, version=2)), (7, None)],
    ]
    return batches


class WhooshWritten:
    """The same index written by Whoosh's own writer, in the project's folder layout (so that the
    project's reader can search it): one commit per batch, emptied segments dropped, and the
    project's merge policy applied through Whoosh's merge (`add_reader`)."""

    def __init__(self, root: Path) -> None:
        self.index = SearchIndex(root)
        self.index.clear()
        generation = (root / "public" / "CURRENT").read_text().strip()
        self.path = root / "public" / generation / TESTIMONIES

    def apply(self, batch: list[tuple[int, dict | None]]) -> None:
        ix = whoosh_index.open_dir(str(self.path))
        writer = ix.writer()
        for testimony_id, _ in batch:
            writer.delete_by_term("tid", str(testimony_id))
        for _, document in batch:
            if document is not None:
                writer.add_document(**fields_of(document, AnalysisCache()))
        writer.commit(mergetype=lambda _writer, segments: [s for s in segments if _live(s)])
        self._merge()

    def _merge(self) -> None:
        while True:
            ix = whoosh_index.open_dir(str(self.path))
            segments = whoosh_index.TOC.read(ix.storage, INDEX_NAME).segments
            due = merging.due(
                (s.segment_id(), tuple(sorted(s.deleted_docs())), s.doc_count_all()) for s in segments
            )
            if due is None:
                return
            chosen = {segid for segid, _ in due}

            def merge(writer, segments, chosen=chosen, ix=ix):
                kept = []
                for segment in segments:
                    if segment.segment_id() in chosen:
                        writer.add_reader(SegmentReader(ix.storage, ix.schema, segment))
                    else:
                        kept.append(segment)
                return kept

            ix.writer().commit(mergetype=merge)


def _live(segment) -> bool:
    return segment.deleted_count() < segment.doc_count_all()


def ours_written(root: Path, batches) -> SearchIndex:
    index = SearchIndex(root)
    for batch in batches:
        index.apply([(tid, {"public": doc} if doc is not None else {}) for tid, doc in batch])
        # Merges run in a process of their own; waiting keeps them at the same points as Whoosh's.
        index.wait_for_merges()
    return index


def contents(index: SearchIndex) -> dict:
    """Everything an index holds of its live documents, by testimony id: stored fields, the
    transcript column, field lengths, and every field's postings (weight and value) and term
    statistics; word pairs apart (see `pairs`)."""
    with index.reading("public") as snapshot:
        reader = snapshot.testimonies.reader()
        schema = reader.schema
        tids = {d: reader.stored_fields(d)["tid"] for d in reader.all_doc_ids()}
        stored = {tid: reader.stored_fields(d) for d, tid in tids.items()}
        transcripts: dict[str, bytes] = {}
        for leaf, offset in reader.leaf_readers():
            column = leaf.column_reader("transcript")
            for docnum in leaf.all_doc_ids():
                transcripts[tids[offset + docnum]] = bytes(column[docnum])
        scorable = [name for name in schema.names() if schema[name].scorable]
        lengths = {
            tid: {name: reader.doc_field_length(d, name, 0) for name in scorable} for d, tid in tids.items()
        }
        postings: dict[str, dict] = {}
        statistics: dict[tuple[str, bytes], tuple] = {}
        for name in reader.indexed_field_names():
            if name == PAIRED:
                continue
            for term in reader.lexicon(name):
                found = {}
                matcher = reader.postings(name, term)
                while matcher.is_active():
                    # The project's writer keeps a count as an int where Whoosh's keeps a float, and inlines
                    # a rare term's postings, which then read "no value" as "" rather than None.
                    found[tids[matcher.id()]] = (float(matcher.weight()), matcher.value() or None)
                    matcher.next()
                if found:
                    postings.setdefault(name, {})[term] = found
                info = reader.term_info(name, term)
                statistics[name, term] = (
                    info.weight(),
                    info.doc_frequency(),
                    info.min_length(),
                    info.max_length(),
                    info.max_weight(),
                    info.min_id(),
                    info.max_id(),
                )
        return {
            "count": reader.doc_count(),
            "count_all": reader.doc_count_all(),
            "stored": stored,
            "transcripts": transcripts,
            "lengths": lengths,
            "field_lengths": {name: reader.field_length(name) for name in scorable},
            "postings": postings,
            "statistics": statistics,
        }


def pairs(index: SearchIndex) -> dict[str, dict[bytes, float]]:
    """Testimony id to its word pair terms and their weights."""
    with index.reading("public") as snapshot:
        reader = snapshot.testimonies.reader()
        tids = {d: reader.stored_fields(d)["tid"] for d in reader.all_doc_ids()}
        found: dict[str, dict[bytes, float]] = {}
        for term in reader.lexicon(PAIRED):
            matcher = reader.postings(PAIRED, term)
            while matcher.is_active():
                found.setdefault(tids[matcher.id()], {})[term] = matcher.weight()
                matcher.next()
        return found


def assert_same_pairs(ours: SearchIndex, theirs: SearchIndex) -> None:
    """A pair the project's writer keeps has Whoosh's postings; one it does not is in its bucket,
    which then holds exactly the weights of the pairs put there."""
    mine, expected_all = pairs(ours), pairs(theirs)
    assert mine.keys() == expected_all.keys()
    buckets_seen = 0
    for tid, expected in expected_all.items():
        held = mine[tid]
        wanted: dict[bytes, float] = {}
        for term, weight in expected.items():
            if term in held:
                wanted[term] = weight
            else:
                bucket = pair_bucket(term).encode("utf-8")
                wanted[bucket] = wanted.get(bucket, 0.0) + weight
                buckets_seen += 1
        assert held == wanted, tid
    # The corpus reaches both kinds of pair.
    assert buckets_seen and any(not term.startswith(b"#") for held in mine.values() for term in held)


# Every kind of query the engine answers; phrases are ranked with their pairs' document frequency,
# which the pair buckets change, so their hits are compared as a set.
QUERIES = [
    ("snow", {}),
    ("Snow night", {}),
    ("qar", {}),
    ("gecə", {}),
    ("gece", {}),
    ("Ходжалы", {}),
    ("Xocali", {}),
    ("Khojaly", {}),
    ("Hocalı'dan", {}),
    ("дорога", {}),
    ("çocuklar", {}),
    ("lantern OR ember", {}),
    ("snow NOT night", {}),
    ("-night snow", {}),
    ("snow ANDNOT forest", {}),
    ("(qar OR снег) AND (gecə OR ночь)", {}),
    ("lan*", {}),
    ("qa*", {}),
    ("сн*", {}),
    ("xoc*", {}),
    ("xocal*", {}),
    ("l?ntern", {}),
    ("silense~", {}),
    ("lantren~2", {}),
    ("place:Ağdam", {}),
    ("speaker:interviewer", {}),
    ("keyword:memory", {}),
    ("subject:winter", {}),
    ("title:snow", {}),
    ("narrator:danisan", {}),
    ("", {}),
    ("", {"lang": "ru"}),
    ("snow", {"lang": ["en", "ru"]}),
    ("qar", {"place": "Xocalı"}),
    ("", {"subject": "family", "from": 1993, "to": 1998}),
    ("", {"decade": 1950}),
    ("lantren", {}),
    ('"snow night"', {}),
    ('"qar gecə"', {}),
    ('"ana ata"', {}),
    ('"снег ночь"', {}),
    ('"kar gece" orman', {}),
    ('"snow forest"~3', {}),
]
SORTS = ["relevance", "date", "title"]


def assert_same_answers(ours: SearchIndex, theirs: SearchIndex) -> None:
    asked = 0
    for q, filters in QUERIES:
        for sort in SORTS:
            mine = search(ours, "public", q, filters=filters, sort=sort, per_page=100, passages=5)
            expected = search(theirs, "public", q, filters=filters, sort=sort, per_page=100, passages=5)
            if q.startswith('"') and sort == "relevance":
                mine["hits"].sort(key=lambda hit: hit["id"])
                expected["hits"].sort(key=lambda hit: hit["id"])
            assert mine == expected, (q, filters, sort)
            asked += bool(expected["total"])
        first = search(theirs, "public", q, filters=filters)["hits"]
        if first:
            within = {"testimony_id": first[0]["id"], "per_page": 3, "page": 1}
            assert search(ours, "public", q, **within) == search(theirs, "public", q, **within), q
    # Four queries in five at least find something: the answers compared are not empty ones.
    assert asked >= len(QUERIES) * len(SORTS) * 4 // 5


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp("differential")
    batches = history()
    ours = ours_written(root / "ours", batches)
    theirs = WhooshWritten(root / "whoosh")
    for batch in batches:
        theirs.apply(batch)
    yield ours, theirs.index
    ours.close()
    theirs.index.close()


@pytest.mark.parametrize(("procs", "segment_words"), [(1, None), (2, None), (2, 3_000)])
def test_a_rebuild_writes_what_whoosh_would_write(tmp_path, procs, segment_words):
    # With two processes, each writes some fields' postings, and the two are made one segment; or
    # several, cut at the same documents by both.
    rng = random.Random(7)
    documents = [fictional_testimony(n, rng) for n in range(1, 41)]
    ours = SearchIndex(tmp_path / "ours")
    sized = {"segment_words": segment_words} if segment_words else {}
    ours.rebuild([(d["testimony_id"], {"public": d}) for d in documents], procs=procs, **sized)
    with ours.reading("public") as snapshot:
        segments = len(snapshot.testimonies.reader().leaf_readers())
    assert segments > 2 if segment_words else segments == 1
    theirs = WhooshWritten(tmp_path / "whoosh")
    theirs.apply([(d["testimony_id"], d) for d in documents])
    try:
        assert contents(ours) == contents(theirs.index)
        assert_same_pairs(ours, theirs.index)
        assert_same_answers(ours, theirs.index)
    finally:
        ours.close()
        theirs.index.close()


def test_changes_applied_one_by_one_and_merged_hold_what_whoosh_would_hold(written):
    ours, theirs = written
    with ours.reading("public") as snapshot:
        segments = len(snapshot.testimonies.reader().leaf_readers())
    # Several segments, one of them merged from one-testimony ones; edits and withdrawals applied.
    assert 2 < segments < 20
    found = contents(ours)
    assert found == contents(theirs)
    assert {"3", "14", "20"} <= found["stored"].keys()
    assert not {"5", "7", "16"} & found["stored"].keys()
    assert found["stored"]["3"]["meta"]["version"] == 2


def test_changes_applied_one_by_one_and_merged_answer_as_whoosh_written_ones(written):
    ours, theirs = written
    assert_same_pairs(ours, theirs)
    assert_same_answers(ours, theirs)
