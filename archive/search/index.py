"""The on-disk Whoosh indexes, one set per audience: schemas, writing, rebuilding and open searchers."""

from __future__ import annotations

import os
import shutil
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whoosh import index as whoosh_index
from whoosh.codec.whoosh3 import W3Codec
from whoosh.fields import ID, STORED, FieldType, Schema
from whoosh.formats import Existence, Frequency, Positions
from whoosh.searching import Searcher
from whoosh.system import pack_uint

from archive.search.analysis import (
    TextTerms,
    analyze,
    exact_analyzer,
    fold,
    lowercase_auto,
    multilingual_analyzer,
)

AUDIENCES = ("public", "research", "staff")

TESTIMONIES = "testimonies"
SEGMENTS = "segments"
_CURRENT = "CURRENT"
_GENERATION_PREFIX = "gen-"
# Pooled postings are held in memory up to this size before spilling to disk: a rebuild of a
# large audience is much faster when one run fits.
_WRITER_LIMIT_MB = 512
_CODEC = W3Codec()


class TermListField(FieldType):
    """A text field fed term lists already analysed by `archive.search.analysis.analyze`.

    The analyser is kept so that Whoosh can still analyse a plain string given to the field, but
    indexing takes the list: every text is analysed once and shared by both indexes.
    """

    def __init__(self, fmt: Any, analyzer: Any) -> None:
        super().__init__(fmt, analyzer, scorable=True)

    def index(self, value: Any, **kwargs: Any) -> Iterator[tuple[bytes, int, float, bytes]]:
        if isinstance(value, str):
            yield from super().index(value, **kwargs)
            return
        fmt = self.format
        if isinstance(fmt, Positions):
            positions: dict[str, list[int]] = defaultdict(list)
            for position, term in enumerate(value):
                positions[term].append(position)
            for term, found in positions.items():
                yield term.encode("utf-8"), len(found), float(len(found)), fmt.encode(found)
        elif isinstance(fmt, Frequency):
            for term, count in Counter(value).items():
                yield term.encode("utf-8"), count, float(count), pack_uint(count)
        else:
            for term in set(value):
                yield term.encode("utf-8"), 1, 1.0, b""


def _frequency(analyzer: Any = None) -> TermListField:
    return TermListField(Frequency(), analyzer or multilingual_analyzer())


def testimony_schema() -> Schema:
    """One document per testimony: all its visible text, for ranking, totals and facets."""
    return Schema(
        tid=ID(stored=True, unique=True),
        meta=STORED(),
        exact=_frequency(exact_analyzer()),
        folded=_frequency(),
        stem=_frequency(),
        name=_frequency(),
        # Scorable although no length is needed: Whoosh looks for a missing lengths file per posting.
        pair=TermListField(Existence(), multilingual_analyzer()),
        title=_frequency(),
        place=_frequency(),
        narrator=_frequency(),
        subject=_frequency(),
        speaker=_frequency(),
        keyword=_frequency(),
    )


def segment_schema() -> Schema:
    """One document per transcript segment: where passages are found and snippets are cut."""
    return Schema(
        tid=ID(stored=True),
        segment=STORED(),
        folded=TermListField(Positions(), multilingual_analyzer()),
        stem=_frequency(),
        name=_frequency(),
        speaker=_frequency(),
        keyword=_frequency(),
    )


@dataclass(frozen=True, slots=True)
class TestimonyEntry:
    """What a hit shows and what facets, filters and sorting read, for one indexed testimony."""

    testimony_id: int
    version: int
    title: str
    narrator: str
    interview_date: str | None
    interview_year: int | None
    birth_decade: int | None
    languages: tuple[str, ...]
    places: tuple[str, ...]
    subjects: tuple[str, ...]
    access: str
    title_key: str


@dataclass
class Snapshot:
    """An audience's two searchers at one moment, with a table of its testimonies by docnum."""

    testimonies: Searcher | None
    segments: Searcher | None
    _entries: dict[int, TestimonyEntry] | None = field(default=None, repr=False)
    _docnums: dict[int, int] | None = field(default=None, repr=False)

    @property
    def entries(self) -> dict[int, TestimonyEntry]:
        """Docnum to entry, read once per snapshot: facets are counted from it, not from Whoosh."""
        if self._entries is None:
            self._entries = {}
            if self.testimonies is not None:
                for docnum, stored in self.testimonies.reader().iter_docs():
                    self._entries[docnum] = TestimonyEntry(**stored["meta"])
        return self._entries

    @property
    def docnums(self) -> dict[int, int]:
        """Testimony id to docnum in the testimony index."""
        if self._docnums is None:
            self._docnums = {e.testimony_id: d for d, e in self.entries.items()}
        return self._docnums


@dataclass
class _Opened:
    generation: str
    snapshot: Snapshot


class SearchIndex:
    """Every audience's indexes under `root/<audience>/`, so restricted text never meets the public.

    Each audience directory holds generations (`gen-*`, each with a testimony and a segment
    index) and a `CURRENT` file naming the live one; a rebuild writes a new generation and swaps
    `CURRENT` with an atomic rename, so readers never see a half-built index.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._locks = {audience: threading.Lock() for audience in AUDIENCES}
        self._opened: dict[str, _Opened] = {}

    # Reading

    @contextmanager
    def reading(self, audience: str) -> Iterator[Snapshot]:
        """Hold the audience's searchers, refreshed to the latest commit, for one search.

        Whoosh searchers share file handles, so one thread at a time uses an audience's searchers.
        """
        _check_audience(audience)
        with self._locks[audience]:
            yield self._refresh(audience)

    def _refresh(self, audience: str) -> Snapshot:
        generation = self._current_generation(audience)
        opened = self._opened.get(audience)
        if opened is not None and opened.generation != generation:
            _close(opened.snapshot)
            opened = None
        if generation is None:
            self._opened.pop(audience, None)
            return Snapshot(None, None)
        if opened is None:
            path = self.root / audience / generation
            snapshot = Snapshot(
                whoosh_index.open_dir(str(path / TESTIMONIES)).searcher(),
                whoosh_index.open_dir(str(path / SEGMENTS)).searcher(),
            )
            self._opened[audience] = _Opened(generation, snapshot)
            return snapshot
        snapshot = opened.snapshot
        testimonies = snapshot.testimonies.refresh()
        segments = snapshot.segments.refresh()
        if testimonies is not snapshot.testimonies or segments is not snapshot.segments:
            snapshot = Snapshot(testimonies, segments)
            opened.snapshot = snapshot
        return snapshot

    def stamps(self, audience: str) -> dict[int, int]:
        """`{testimony_id: version}` of what the audience's index holds."""
        with self.reading(audience) as snapshot:
            return {e.testimony_id: e.version for e in snapshot.entries.values()}

    def close(self) -> None:
        """Close every open searcher (they reopen on the next search)."""
        for audience in AUDIENCES:
            with self._locks[audience]:
                opened = self._opened.pop(audience, None)
                if opened is not None:
                    _close(opened.snapshot)

    # Writing: the caller holds the single-writer lock.

    def apply(self, changes: Iterable[tuple[int, dict[str, dict | None]]]) -> None:
        """Upsert or remove testimonies; each mapping is the whole truth for its testimony.

        An audience absent from the mapping, or given None, loses the testimony. Applying the same
        change twice gives the same index. One commit per index of each audience.
        """
        latest: dict[int, dict[str, dict | None]] = {}
        for testimony_id, documents in changes:
            _check_documents(testimony_id, documents)
            latest[testimony_id] = documents
        if not latest:
            return
        analysed = _AnalysisCache()
        for audience in AUDIENCES:
            path = self._ensure_generation(audience)
            testimony_writer = whoosh_index.open_dir(str(path / TESTIMONIES)).writer(codec=_CODEC)
            segment_writer = whoosh_index.open_dir(str(path / SEGMENTS)).writer(codec=_CODEC)
            changed = False
            try:
                # One searcher per writer for all deletions; the default opens one per call.
                with testimony_writer.searcher() as held, segment_writer.searcher() as segments:
                    for testimony_id in latest:
                        key = str(testimony_id)
                        changed |= bool(testimony_writer.delete_by_term("tid", key, held))
                        segment_writer.delete_by_term("tid", key, segments)
                for documents in latest.values():
                    document = documents.get(audience)
                    if document is not None:
                        _add(testimony_writer, segment_writer, document, analysed)
                        changed = True
            except BaseException:
                segment_writer.cancel()
                testimony_writer.cancel()
                raise
            if changed:
                # Segments first: a testimony is never findable before its passages are.
                segment_writer.commit()
                testimony_writer.commit()
            else:
                segment_writer.cancel()
                testimony_writer.cancel()

    def rebuild(
        self,
        documents: Iterable[tuple[int, dict[str, dict]]],
        progress: Callable[[int], None] | None = None,
    ) -> None:
        """Index everything afresh into new generations, then swap every audience over to them."""
        fresh = {audience: self._new_generation(audience) for audience in AUDIENCES}
        writers = {}
        try:
            for audience, path in fresh.items():
                writers[audience] = (
                    whoosh_index.open_dir(str(path / TESTIMONIES)).writer(
                        limitmb=_WRITER_LIMIT_MB, codec=_CODEC
                    ),
                    whoosh_index.open_dir(str(path / SEGMENTS)).writer(
                        limitmb=_WRITER_LIMIT_MB, codec=_CODEC
                    ),
                )
            for done, (testimony_id, audience_documents) in enumerate(documents, start=1):
                _check_documents(testimony_id, audience_documents)
                analysed = _AnalysisCache()
                for audience, document in audience_documents.items():
                    if document is not None:
                        _add(*writers[audience], document, analysed)
                if progress is not None:
                    progress(done)
            for testimony_writer, segment_writer in writers.values():
                segment_writer.commit()
                testimony_writer.commit()
        except BaseException:
            for pair in writers.values():
                for writer in pair:
                    if not writer.is_closed:
                        writer.cancel()
            for path in fresh.values():
                shutil.rmtree(path, ignore_errors=True)
            raise
        for audience, path in fresh.items():
            self._swap(audience, path)

    def clear(self) -> None:
        """Empty every audience's index (swapping in empty generations, as a rebuild would)."""
        for audience in AUDIENCES:
            self._swap(audience, self._new_generation(audience))

    # Generations

    def _current_generation(self, audience: str) -> str | None:
        try:
            return (self.root / audience / _CURRENT).read_text().strip() or None
        except FileNotFoundError:
            return None

    def _ensure_generation(self, audience: str) -> Path:
        generation = self._current_generation(audience)
        if generation is None:
            return self._swap(audience, self._new_generation(audience))
        return self.root / audience / generation

    def _new_generation(self, audience: str) -> Path:
        path = self.root / audience / f"{_GENERATION_PREFIX}{uuid.uuid4().hex}"
        for name, schema in ((TESTIMONIES, testimony_schema()), (SEGMENTS, segment_schema())):
            (path / name).mkdir(parents=True)
            whoosh_index.create_in(str(path / name), schema)
        return path

    def _swap(self, audience: str, path: Path) -> Path:
        directory = self.root / audience
        previous = self._current_generation(audience)
        pointer = directory / f".{_CURRENT}.{uuid.uuid4().hex}"
        pointer.write_text(path.name)
        os.replace(pointer, directory / _CURRENT)
        # The previous generation stays for readers that opened it a moment ago; older go.
        for old in directory.glob(f"{_GENERATION_PREFIX}*"):
            if old.name not in (path.name, previous):
                shutil.rmtree(old, ignore_errors=True)
        return path


def _check_audience(audience: str) -> None:
    if audience not in AUDIENCES:
        raise ValueError(f"unknown audience {audience!r}")


def _check_documents(testimony_id: int, documents: dict[str, dict | None]) -> None:
    for audience, document in documents.items():
        _check_audience(audience)
        if document is not None and document["testimony_id"] != testimony_id:
            raise ValueError(f"document for testimony {document['testimony_id']} given as {testimony_id}")


def _close(snapshot: Snapshot) -> None:
    for searcher in (snapshot.testimonies, snapshot.segments):
        if searcher is not None:
            searcher.close()


class _AnalysisCache:
    """Analyses each distinct text once per testimony: audiences mostly see the same segments."""

    def __init__(self) -> None:
        self._terms: dict[tuple[str, tuple[str, ...]], TextTerms] = {}

    def __call__(self, text: str | None, languages: tuple[str, ...]) -> TextTerms:
        if not text:
            return TextTerms()
        key = (text, languages)
        terms = self._terms.get(key)
        if terms is None:
            terms = self._terms[key] = analyze(text, languages)
        return terms


def _entry(document: dict) -> dict[str, Any]:
    birth_year = document.get("birth_year")
    title = document.get("title") or ""
    return {
        "testimony_id": document["testimony_id"],
        "version": document["version"],
        "title": title,
        "narrator": document.get("narrator") or "",
        "interview_date": document.get("interview_date"),
        "interview_year": document.get("interview_year"),
        "birth_decade": birth_year // 10 * 10 if birth_year is not None else None,
        "languages": tuple(document.get("languages") or ()),
        "places": tuple(document.get("places") or ()),
        "subjects": tuple(document.get("subjects") or ()),
        "access": document.get("access") or "",
        "title_key": fold(lowercase_auto(title)),
    }


def _add(testimony_writer: Any, segment_writer: Any, document: dict, analysed: Any) -> None:
    languages = tuple(document.get("languages") or ())

    def terms(texts: Iterable[str | None]) -> TextTerms:
        joined = TextTerms()
        for text in texts:
            joined.extend(analysed(text, languages))
        return joined

    title = terms([document.get("title")])
    narrator = terms([document.get("narrator")])
    places = terms(document.get("places") or ())
    subjects = terms(document.get("subjects") or ())
    described = [title, terms([document.get("summary")]), narrator, places, subjects]

    everything = TextTerms()
    pairs: list[str] = []
    for part in described:
        everything.extend(part)
        pairs += part.pairs()
    speakers: list[str] = []
    keywords: list[str] = []
    testimony_id = str(document["testimony_id"])
    for segment in document.get("segments") or ():
        text = analysed(segment.get("text"), languages)
        speaker = analysed(segment.get("speaker"), languages)
        keyword = terms(segment.get("keywords") or ())
        everything.extend(text)
        everything.extend(keyword)
        pairs += text.pairs()
        speakers += speaker.folded
        keywords += keyword.folded
        segment_writer.add_document(
            tid=testimony_id,
            segment={
                "id": segment["id"],
                "start_ms": segment.get("start_ms"),
                "end_ms": segment.get("end_ms"),
                "speaker": segment.get("speaker"),
                "text": segment.get("text") or "",
            },
            # Keywords follow the words, so a tagged segment is a passage for its keyword.
            folded=text.folded + keyword.folded,
            stem=text.stems + keyword.stems,
            name=text.names + keyword.names,
            speaker=speaker.folded,
            keyword=keyword.folded,
        )
    testimony_writer.add_document(
        tid=testimony_id,
        meta=_entry(document),
        exact=everything.exact,
        folded=everything.folded,
        stem=everything.stems,
        name=everything.names,
        pair=pairs,
        title=title.folded,
        place=places.folded,
        narrator=narrator.folded,
        subject=subjects.folded,
        speaker=speakers,
        keyword=keywords,
    )
