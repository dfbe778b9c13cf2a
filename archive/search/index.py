"""The on-disk Whoosh indexes, one set per audience: schemas, writing, rebuilding and open searchers."""

from __future__ import annotations

import gc
import multiprocessing
import os
import queue
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
from whoosh.filedb.filestore import FileStorage
from whoosh.formats import Frequency, Positions
from whoosh.reading import SegmentReader
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
# Whoosh's name for the one index in each folder.
_INDEX_NAME = "MAIN"
# Documents waiting for a rebuild process: enough to keep it busy, little memory.
_QUEUED = 8
# Segments of at most this many documents are merged by `apply` once there are this many of them.
_SMALL_SEGMENT_DOCS = 10
_SMALL_SEGMENTS_MERGED = 10
# How long the rebuild waits on its processes before checking that they are still alive.
_POLL_SECONDS = 1.0


class TermListField(FieldType):
    """A text field fed term lists already analysed by `archive.search.analysis.analyze`.

    The analyser is kept so that Whoosh can still analyse a plain string given to the field, but
    indexing takes the list: every text is analysed once and shared by both indexes. A None in a
    list is a gap between two texts, so that no phrase is found across them.
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
                if term is not None:
                    positions[term].append(position)
            for term, found in positions.items():
                yield term.encode("utf-8"), len(found), float(len(found)), fmt.encode(found)
        else:
            for term, count in Counter(value).items():
                yield term.encode("utf-8"), count, float(count), pack_uint(count)


def _frequency(analyzer: Any = None) -> TermListField:
    return TermListField(Frequency(), analyzer or multilingual_analyzer())


def testimony_schema() -> Schema:
    """One document per testimony: all its visible text, for ranking, totals and facets."""
    return Schema(
        tid=ID(stored=True, unique=True),
        meta=STORED(),
        exact=_frequency(exact_analyzer()),
        # Positions, for phrases: far fewer terms to write than indexing every pair of words.
        folded=TermListField(Positions(), multilingual_analyzer()),
        stem=_frequency(),
        name=_frequency(),
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


def _fresh(searcher):
    """A searcher at the index's latest commit.

    whoosh-reloaded's Searcher.refresh() keeps the old reader's segments beside the new ones (so a
    removed document stays findable) and fails on an empty reader: open a new searcher instead.
    """
    if searcher.up_to_date():
        return searcher
    fresh = searcher._ix.searcher()
    searcher.close()
    return fresh


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
        testimonies = _fresh(snapshot.testimonies)
        segments = _fresh(snapshot.segments)
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
                # Segments first: a testimony is never findable before its passages are. No merging
                # here: the change is searchable first, and small segments are merged afterwards.
                segment_writer.commit(merge=False)
                testimony_writer.commit(merge=False)
                for kind in _SCHEMAS:
                    _merge_small_segments(path / kind)
            else:
                segment_writer.cancel()
                testimony_writer.cancel()

    def rebuild(
        self,
        documents: Iterable[tuple[int, dict[str, dict]]],
        progress: Callable[[int], None] | None = None,
        procs: int | None = None,
    ) -> None:
        """Index everything afresh into new generations, then swap every audience over to them.

        A document that several audiences share is indexed once and its segment files are linked
        into each of their indexes: most testimonies are public, so this divides the work by
        nearly three while each audience's folder still holds only what that audience may read.
        With `procs` 2 (the default where there are two CPUs or more), two processes write the
        indexes while the caller's process reads the documents; with 1, the caller does it all.
        """
        if procs is None:
            procs = min(2, os.cpu_count() or 1)
        fresh = {audience: self._new_generation(audience) for audience in AUDIENCES}
        staging = self.root / f".rebuild-{uuid.uuid4().hex}"
        try:
            shared = (_group(testimony_id, docs) for testimony_id, docs in documents)
            if procs > 1:
                built = _build_in_processes(shared, staging, progress)
            else:
                built = _build_here(shared, staging, progress)
            for audience, path in fresh.items():
                for kind in _SCHEMAS:
                    groups = ["+".join(group) for group, built_kind in built if built_kind == kind]
                    _link_segments(
                        [staging / group / kind for group in groups if audience in group.split("+")],
                        path / kind,
                    )
        except BaseException:
            for path in fresh.values():
                shutil.rmtree(path, ignore_errors=True)
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
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


def _merge_small_segments(path: Path) -> None:
    """Merge the one-change segments that applying leaves, once there are enough of them.

    Only small segments are merged: Whoosh's default policy would rewrite the large segments of a
    rebuild now and then, which takes seconds to minutes. The next rebuild makes one of them all.
    """
    index = whoosh_index.open_dir(str(path))
    segments = whoosh_index.TOC.read(index.storage, _INDEX_NAME).segments
    small = [s for s in segments if s.doc_count_all() <= _SMALL_SEGMENT_DOCS]
    if len(small) < _SMALL_SEGMENTS_MERGED:
        return

    def merge(writer: Any, segments: list) -> list:
        for segment in small:
            writer.add_reader(SegmentReader(writer.storage, writer.schema, segment))
        return [s for s in segments if s not in small]

    writer = index.writer(codec=_CODEC)
    writer.commit(mergetype=merge)


# Rebuilding: documents grouped by the audiences sharing them, written by one or more processes into
# a staging folder, then linked into each audience's new generation.

_Shared = list[tuple[tuple[str, ...], dict]]


def _group(testimony_id: int, documents: dict[str, dict | None]) -> _Shared:
    """One testimony's documents, each with the audiences it is the very document of."""
    _check_documents(testimony_id, documents)
    groups: list[tuple[list[str], dict]] = []
    for audience in AUDIENCES:
        document = documents.get(audience)
        if document is None:
            continue
        for audiences, same in groups:
            if same == document:
                audiences.append(audience)
                break
        else:
            groups.append(([audience], document))
    return [(tuple(audiences), document) for audiences, document in groups]


_SCHEMAS = {TESTIMONIES: testimony_schema, SEGMENTS: segment_schema}


class _GroupWriters:
    """Writers of some index kinds, one per group of audiences, in the staging area."""

    def __init__(self, staging: Path, kinds: tuple[str, ...]) -> None:
        self.staging = staging
        self.kinds = kinds
        self._writers: dict[tuple[str, ...], dict[str, Any]] = {}

    def add(self, shared: _Shared) -> None:
        analysed = _AnalysisCache()
        for audiences, document in shared:
            writers = self._writers.get(audiences) or self._open(audiences)
            _add(writers.get(TESTIMONIES), writers.get(SEGMENTS), document, analysed)

    def _open(self, audiences: tuple[str, ...]) -> dict[str, Any]:
        writers = self._writers[audiences] = {}
        for kind in self.kinds:
            path = self.staging / "+".join(audiences) / kind
            path.mkdir(parents=True)
            created = whoosh_index.create_in(str(path), _SCHEMAS[kind]())
            writers[kind] = created.writer(limitmb=_WRITER_LIMIT_MB, codec=_CODEC)
        return writers

    def commit(self) -> list[tuple[tuple[str, ...], str]]:
        """Commit every writer; the groups written, as (audiences, kind) pairs."""
        written = []
        for audiences, writers in self._writers.items():
            # Segments first: a testimony is never findable before its passages are.
            for kind in sorted(writers, key=(SEGMENTS, TESTIMONIES).index):
                writers[kind].commit()
                written.append((audiences, kind))
        return written

    def cancel(self) -> None:
        for writers in self._writers.values():
            for writer in writers.values():
                if not writer.is_closed:
                    writer.cancel()


@contextmanager
def _collection_paused() -> Iterator[None]:
    """Pause Python's cycle collector: with millions of postings pooled, each of its full passes
    walks them all and a rebuild takes twice as long. Postings hold no cycles to collect."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _build_here(
    shared: Iterable[_Shared], staging: Path, progress: Callable[[int], None] | None
) -> list[tuple[tuple[str, ...], str]]:
    writers = _GroupWriters(staging, (TESTIMONIES, SEGMENTS))
    try:
        with _collection_paused():
            for done, documents in enumerate(shared, start=1):
                writers.add(documents)
                if progress is not None:
                    progress(done)
            return writers.commit()
    except BaseException:
        writers.cancel()
        raise


def _build_worker(inbox: Any, results: Any, staging: str, kind: str) -> None:
    """A rebuild process writing one kind of index: what arrives, until told to stop."""
    gc.disable()
    writers = _GroupWriters(Path(staging), (kind,))
    try:
        while (shared := inbox.get()) is not None:
            writers.add(shared)
        results.put(writers.commit())
    except BaseException as error:
        writers.cancel()
        results.put(error)


def _build_in_processes(
    shared: Iterable[_Shared], staging: Path, progress: Callable[[int], None] | None
) -> list[tuple[tuple[str, ...], str]]:
    """One process writes the testimony indexes, another the segment indexes: split this way,
    neither writes a term the other writes too, and their loads are about even."""
    # A fresh interpreter per process, not a fork of one that may hold threads, sessions and locks.
    context = multiprocessing.get_context("spawn")
    inboxes = {kind: context.Queue(maxsize=_QUEUED) for kind in _SCHEMAS}
    results = context.Queue()
    workers = [
        context.Process(target=_build_worker, args=(inbox, results, str(staging), kind), daemon=True)
        for kind, inbox in inboxes.items()
    ]
    for worker in workers:
        worker.start()

    def hand_over(item: _Shared | None) -> None:
        for inbox in inboxes.values():
            while True:
                try:
                    inbox.put(item, timeout=_POLL_SECONDS)
                    break
                except queue.Full:
                    _check_alive(workers)

    try:
        for done, documents in enumerate(shared, start=1):
            hand_over(documents)
            if progress is not None:
                progress(done)
        hand_over(None)
        built: list[tuple[tuple[str, ...], str]] = []
        for _ in workers:
            while True:
                try:
                    reported = results.get(timeout=_POLL_SECONDS)
                    break
                except queue.Empty:
                    _check_alive(workers)
            if isinstance(reported, BaseException):
                raise reported
            built += reported
        return built
    finally:
        for worker in workers:
            if worker.is_alive() and worker.exitcode is None:
                worker.join(timeout=_POLL_SECONDS)
            if worker.is_alive():
                worker.terminate()
            worker.join()
        for channel in (*inboxes.values(), results):
            channel.close()
            channel.cancel_join_thread()


def _check_alive(workers: list[Any]) -> None:
    for worker in workers:
        if worker.exitcode not in (None, 0):
            raise RuntimeError(f"a rebuild process stopped with exit code {worker.exitcode}")


def _link_segments(sources: list[Path], target: Path) -> None:
    """Make the empty index at target hold every segment of the source indexes, by hard links."""
    segments = []
    for source in sources:
        storage = FileStorage(str(source))
        for segment in whoosh_index.TOC.read(storage, _INDEX_NAME).segments:
            for name in segment.list_files(storage):
                os.link(source / name, target / name)
            segments.append(segment)
    if segments:
        index = whoosh_index.open_dir(str(target))
        toc = whoosh_index.TOC(index.schema, segments, index.latest_generation() + 1)
        toc.write(index.storage, _INDEX_NAME)


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
    """Add a document to the testimony index and its segments to the segment index (a writer may
    be None: a rebuild process writes one of them)."""
    languages = tuple(document.get("languages") or ())

    def terms(texts: Iterable[str | None]) -> TextTerms:
        joined = TextTerms()
        for text in texts:
            joined.extend(analysed(text, languages))
        return joined

    everything = TextTerms()
    # Every text's folded words, a gap after each: the positions a phrase is looked for in.
    phrased: list[str | None] = []

    def described(texts: Iterable[str | None]) -> TextTerms:
        joined = TextTerms()
        for text in texts:
            part = analysed(text, languages)
            joined.extend(part)
            everything.extend(part)
            phrased.extend(part.folded)
            phrased.append(None)
        return joined

    title = described([document.get("title")])
    described([document.get("summary")])
    narrator = described([document.get("narrator")])
    places = described(document.get("places") or ())
    subjects = described(document.get("subjects") or ())
    speakers: list[str] = []
    keywords: list[str] = []
    testimony_id = str(document["testimony_id"])
    for segment in document.get("segments") or ():
        text = analysed(segment.get("text"), languages)
        speaker = analysed(segment.get("speaker"), languages)
        keyword = described(segment.get("keywords") or ())
        everything.extend(text)
        phrased.extend(text.folded)
        phrased.append(None)
        speakers += speaker.folded
        keywords += keyword.folded
        if segment_writer is None:
            continue
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
    if testimony_writer is None:
        return
    testimony_writer.add_document(
        tid=testimony_id,
        meta=_entry(document),
        exact=everything.exact,
        folded=phrased,
        stem=everything.stems,
        name=everything.names,
        title=title.folded,
        place=places.folded,
        narrator=narrator.folded,
        subject=subjects.folded,
        speaker=speakers,
        keyword=keywords,
    )
