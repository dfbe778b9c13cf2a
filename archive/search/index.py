"""The on-disk Whoosh indexes, one set per audience: schemas, writing, rebuilding and open searchers."""

from __future__ import annotations

import gc
import hashlib
import io
import logging
import mmap
import multiprocessing
import os
import pickle
import queue
import shutil
import struct
import sys
import threading
import time
import unicodedata
import uuid
import weakref
import zlib
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from itertools import accumulate, pairwise
from pathlib import Path
from typing import Any

from whoosh import index as whoosh_index
from whoosh.codec.whoosh3 import W3Codec
from whoosh.columns import VarBytesColumn
from whoosh.fields import COLUMN, ID, STORED, FieldType, Schema
from whoosh.filedb.filestore import FileStorage
from whoosh.filedb.filetables import md5_hash
from whoosh.filedb.structfile import BufferFile, StructFile
from whoosh.formats import Frequency, Positions
from whoosh.reading import MultiReader, SegmentReader
from whoosh.searching import Searcher
from whoosh.system import pack_uint, pack_ushort
from whoosh.util.numeric import length_to_byte

from archive.search.analysis import (
    PAIR_KEPT_FROM,
    TextTerms,
    analyze,
    exact_analyzer,
    fold,
    lowercase_auto,
    multilingual_analyzer,
    pair_bucket,
    prefix_term,
)

log = logging.getLogger(__name__)

AUDIENCES = ("public", "research", "staff")

TESTIMONIES = "testimonies"
# The layout of the files in an index folder. A folder written in another layout is not read: it is
# rebuilt from the database (`archive serve` and the outbox writer do so by themselves).
FORMAT = 3
_CURRENT = "CURRENT"
_GENERATION_PREFIX = "gen-"
_CODEC = W3Codec()
# Whoosh's name for the one index in each folder.
_INDEX_NAME = "MAIN"
# A block of postings is compressed from this many postings on.
_COMPRESSED_FROM = 16
# A term of fewer postings keeps them in its entry of the term table, not in a block of its own.
_INLINED_BELOW = 8
# Postings gathered in memory before they are written out as a segment: about 1.5 GB of lists,
# some 3,000 testimonies of 5,000 words; a larger archive gets more segments.
_SEGMENT_POSTINGS = 20_000_000
# Documents waiting for a rebuild process: enough to keep it busy, little memory.
_QUEUED = 8
# Segments of at most this many documents are merged by `apply` once there are this many of them.
_SMALL_SEGMENT_DOCS = 10
_SMALL_SEGMENTS_MERGED = 10


def _tier(testimonies: int) -> int:
    """A segment's size class: up to 10 testimonies is tier 0, up to 100 tier 1, and so on. Ten
    segments of one tier are merged into one of the next, so that however many changes are applied
    one by one, an index holds a few segments per tier, not one per change."""
    tier, limit = 0, _SMALL_SEGMENT_DOCS
    while testimonies > limit:
        tier, limit = tier + 1, limit * _SMALL_SEGMENTS_MERGED
    return tier


# How long a writer waits for another (a merge swapping its segments in) to let go of an index.
_LOCK_WAIT_SECONDS = 60.0
# A merge's staging folder older than this was left by a process that stopped.
_STALE_MERGE_SECONDS = 3600.0
# How long the rebuild waits on its processes before checking that they are still alive.
_POLL_SECONDS = 1.0


class TermListField(FieldType):
    """A text field fed terms already analysed by `archive.search.analysis.analyze`.

    The analyser is kept so that Whoosh can still analyse a plain string given to the field, but
    indexing takes the analysed terms: every text is analysed once. A field of `Positions` takes
    `(term, position)` pairs (see `_fields`): passages are found from the testimony's own postings,
    the transcript column telling which segment a position is in, without an index of segments.
    """

    def __init__(self, fmt: Any, analyzer: Any) -> None:
        super().__init__(fmt, analyzer, scorable=True)

    def index(self, value: Any, **kwargs: Any) -> Iterator[tuple[bytes, int, float, bytes]]:
        if isinstance(value, str):
            yield from super().index(value, **kwargs)
            return
        fmt = self.format
        if isinstance(fmt, Positions):
            for term, places in _positions_by_term(value).items():
                yield term.encode("utf-8"), len(places), float(len(places)), fmt.encode(places)
        else:
            for term, count in Counter(value).items():
                yield term.encode("utf-8"), count, float(count), pack_uint(count)


def _positions_by_term(pairs: Iterable[tuple[str, int]]) -> dict[str, list[int]]:
    """Term to the positions it occurs at, in order."""
    places: dict[str, list[int]] = defaultdict(list)
    for term, place in pairs:
        places[term].append(place)
    return places


def _frequency(analyzer: Any = None) -> TermListField:
    return TermListField(Frequency(), analyzer or multilingual_analyzer())


def _located(analyzer: Any = None) -> TermListField:
    return TermListField(Positions(), analyzer or multilingual_analyzer())


def testimony_schema() -> Schema:
    """One document per testimony: all its visible text, for ranking, totals, facets and passages."""
    return Schema(
        tid=ID(stored=True, unique=True),
        meta=STORED(),
        # The transcript as hits show it, in a column of its own: read for the testimonies shown only,
        # each segment compressed on its own, so that only those shown are unpacked (`Transcript`).
        transcript=COLUMN(VarBytesColumn()),
        exact=_frequency(exact_analyzer()),
        # The located fields' terms again, counted only: ranking reads every posting of a query's
        # words, and a located posting carries every position of the word in the testimony, which
        # ranking never needs (a common word's were most of a search's time).
        folded_count=_frequency(),
        stem_count=_frequency(),
        name_count=_frequency(),
        folded=_located(),
        # Each two words that follow each other in a text, as one term ("snow fell"): a phrase is
        # found from the postings of its word pairs, not by reading positions in every testimony
        # that holds its words.
        pair=_frequency(),
        # The first letters of each word, at its position (see `analysis.prefix_term`).
        prefix=_located(),
        stem=_located(),
        name=_located(),
        title=_frequency(),
        place=_frequency(),
        narrator=_frequency(),
        subject=_frequency(),
        speaker=_located(),
        keyword=_located(),
    )


class Transcript:
    """A testimony's segments as the transcript column keeps them: where each one's words start (a
    position of the located fields), and each one packed on its own, read only when shown.

    The column holds, as unsigned 32-bit numbers, the count of segments, their starts and the ends
    of their packed forms, then the packed forms one after another (a pickled tuple of the same
    took longer to read than a whole search otherwise takes).
    """

    __slots__ = ("starts", "_ends", "_data", "_base")

    def __init__(self, data: bytes | memoryview = b"") -> None:
        count = int.from_bytes(data[:4], "little") if data else 0
        numbers = array("I")
        numbers.frombytes(data[4 : 4 + 8 * count])
        if _BIG_ENDIAN:
            numbers.byteswap()
        self.starts = numbers[:count]
        self._ends = numbers[count:]
        self._data = data
        self._base = 4 + 8 * count

    @staticmethod
    def pack(starts: list[int], packed: list[bytes]) -> bytes:
        ends = list(accumulate(len(part) for part in packed))
        numbers = array("I", [*starts, *ends])
        if _BIG_ENDIAN:
            numbers.byteswap()
        return len(starts).to_bytes(4, "little") + numbers.tobytes() + b"".join(packed)

    def __len__(self) -> int:
        return len(self.starts)

    def segment(self, number: int) -> tuple:
        """Segment `number` (from 1) as (id, start_ms, end_ms, speaker, text)."""
        begin = self._base + (self._ends[number - 2] if number > 1 else 0)
        end = self._base + self._ends[number - 1]
        return pickle.loads(zlib.decompress(self._data[begin:end]))  # noqa: S301 - our own index


_BIG_ENDIAN = sys.byteorder == "big"


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
    # The (facet, value) pairs the testimony counts once in, made once: facets are counted per search.
    facet_keys: tuple[tuple[str, Any], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = [("place", value) for value in dict.fromkeys(self.places)]
        keys += [("subject", value) for value in dict.fromkeys(self.subjects)]
        keys += [("language", value) for value in dict.fromkeys(self.languages)]
        if self.interview_year is not None:
            keys.append(("year", self.interview_year))
        if self.birth_decade is not None:
            keys.append(("decade", self.birth_decade))
        if self.access:
            keys.append(("access", self.access))
        object.__setattr__(self, "facet_keys", tuple(keys))


@dataclass
class Snapshot:
    """An audience's searcher at one moment, with a table of its testimonies by docnum."""

    testimonies: Searcher | None
    _entries: dict[int, TestimonyEntry] | None = field(default=None, repr=False)
    _docnums: dict[int, int] | None = field(default=None, repr=False)
    # Segment id to {docnum in the segment: entry}, shared with the audience's later snapshots: a
    # segment's stored documents never change, so each is read once, not once per commit.
    _known: dict[str, dict[int, TestimonyEntry]] = field(default_factory=dict, repr=False)
    # (segment id, what) to what was read of a segment once for every query: a field's length in
    # each document, a column's reader, the folded words' list. Shared likewise.
    cache: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)
    # (facet, value) to the docnums counted in it, as the bits of one integer (`facet_bits`).
    _facet_bits: dict[tuple[str, Any], int] | None = field(default=None, repr=False)

    @property
    def entries(self) -> dict[int, TestimonyEntry]:
        """Docnum to entry, made once per snapshot: facets are counted from it, not from Whoosh."""
        if self._entries is None:
            self._entries = {}
            if self.testimonies is not None:
                seen = set()
                for reader, offset in self.testimonies.reader().leaf_readers():
                    segment = reader.segment() if isinstance(reader, SegmentReader) else None
                    if segment is None:
                        for docnum, stored in reader.iter_docs():
                            self._entries[offset + docnum] = TestimonyEntry(**stored["meta"])
                        continue
                    segid = segment.segment_id()
                    seen.add(segid)
                    known = self._known.get(segid)
                    if known is None:
                        # Deleted documents are left out: a deletion is never undone.
                        known = self._known[segid] = {
                            docnum: TestimonyEntry(**stored["meta"]) for docnum, stored in reader.iter_docs()
                        }
                    for docnum, entry in known.items():
                        if not reader.is_deleted(docnum):
                            self._entries[offset + docnum] = entry
                for segid in set(self._known) - seen:
                    del self._known[segid]
                for key in [key for key in self.cache if key[0] not in seen]:
                    del self.cache[key]
        return self._entries

    @property
    def facet_bits(self) -> dict[tuple[str, Any], int]:
        """(facet, value) to the set of docnums counted in it, as an integer's bits: a facet's count
        over a result is one AND and a bit count, not a step per testimony."""
        if self._facet_bits is None:
            members: dict[tuple[str, Any], list[int]] = defaultdict(list)
            for docnum, entry in self.entries.items():
                for key in entry.facet_keys:
                    members[key].append(docnum)
            self._facet_bits = {key: bits_of(docnums) for key, docnums in members.items()}
        return self._facet_bits

    @property
    def docnums(self) -> dict[int, int]:
        """Testimony id to docnum in the testimony index."""
        if self._docnums is None:
            self._docnums = {e.testimony_id: d for d, e in self.entries.items()}
        return self._docnums


def bits_of(docnums: Iterable[int]) -> int:
    """A set of docnums as the bits of one integer."""
    found = bytearray()
    for docnum in docnums:
        byte = docnum >> 3
        if byte >= len(found):
            found.extend(bytes(byte + 1 - len(found)))
        found[byte] |= 1 << (docnum & 7)
    return int.from_bytes(found, "little")


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
    fresh = _reopened(searcher)
    if fresh is None:
        fresh = searcher._ix.searcher()
        searcher.close()
    return fresh


def _reopened(searcher: Searcher) -> Searcher | None:
    """A searcher at the index's latest commit that keeps the old one's readers of the segments
    still there (None where it cannot): opening a segment reads much of it, which made every
    commit cost each searcher a reading of the whole index.

    A segment's files never change; its deletions are in the TOC, so a kept reader is given the
    segment as the new TOC has it. The old searcher is not used again (its audience's lock is held
    while it is replaced), and only the readers of segments gone are closed.
    """
    index = searcher._ix  # noqa: SLF001
    try:
        toc = index._read_toc()  # noqa: SLF001
    except OSError:
        return None
    leaves = [reader for reader, _ in searcher.reader().leaf_readers()]
    if not toc.segments or not all(isinstance(reader, SegmentReader) for reader in leaves):
        return None
    kept = {reader.segment().segment_id(): reader for reader in leaves}
    readers: list[SegmentReader] = []
    try:
        for segment in toc.segments:
            reader = kept.pop(segment.segment_id(), None)
            if reader is None:
                reader = SegmentReader(index.storage, toc.schema, segment, generation=toc.generation)
            else:
                reader._segment = segment  # noqa: SLF001
                reader._perdoc._segment = segment  # noqa: SLF001
                reader._gen = toc.generation  # noqa: SLF001
                # Whoosh caches the deleted documents on the reader: read them from the new segment.
                reader.__dict__.pop("deleted_docs_set", None)
            readers.append(reader)
    except OSError:
        # A commit removed a segment just now: open afresh (closing what was opened here).
        for reader in readers:
            if reader not in leaves:
                reader.close()
        return None
    for reader in kept.values():
        reader.close()
    combined = readers[0] if len(readers) == 1 else MultiReader(readers, generation=toc.generation)
    return Searcher(combined, fromindex=index)


class SearchIndex:
    """Every audience's indexes under `root/<audience>/`, so restricted text never meets the public.

    Each audience directory holds generations (`gen-*`, each with its testimony index) and a
    `CURRENT` file naming the live one; a rebuild writes a new generation and swaps `CURRENT` with
    an atomic rename, so readers never see a half-built index.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._locks = {audience: threading.Lock() for audience in AUDIENCES}
        self._opened: dict[str, _Opened] = {}
        # Segment id to {testimony id: document numbers}, for deleting without a searcher.
        self._segment_tids: dict[str, dict[str, list[int]]] = {}
        self._merger: Any = None

    # Reading

    @contextmanager
    def reading(self, audience: str) -> Iterator[Snapshot]:
        """Hold the audience's searchers, refreshed to the latest commit, for one search.

        Whoosh searchers share file handles, so one thread at a time uses an audience's searchers.
        """
        _check_audience(audience)
        try:
            with self._locks[audience]:
                yield self._refresh(audience)
        finally:
            _release_pages()

    def _refresh(self, audience: str) -> Snapshot:
        generation = self._current_generation(audience)
        opened = self._opened.get(audience)
        if opened is not None and opened.generation != generation:
            _close(opened.snapshot)
            opened = None
        if generation is None:
            self._opened.pop(audience, None)
            return Snapshot(None)
        if opened is None:
            path = self.root / audience / generation
            snapshot = Snapshot(_reading(path / TESTIMONIES).searcher())
            self._opened[audience] = _Opened(generation, snapshot)
            return snapshot
        snapshot = opened.snapshot
        testimonies = _fresh(snapshot.testimonies)
        if testimonies is not snapshot.testimonies:
            snapshot = Snapshot(testimonies, _known=snapshot._known, cache=snapshot.cache)
            opened.snapshot = snapshot
        return snapshot

    def stamps(self, audience: str) -> dict[int, int]:
        """`{testimony_id: version}` of what the audience's index holds."""
        with self.reading(audience) as snapshot:
            return {e.testimony_id: e.version for e in snapshot.entries.values()}

    def close(self) -> None:
        """Close every open searcher (they reopen on the next search); wait for running merges."""
        self.wait_for_merges()
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

        As in a rebuild, a document several audiences share is written once, into a staging
        folder, and its segment is linked into each of their indexes: writing postings is most of
        the cost of a change, and most testimonies are the same document for every audience.
        """
        latest: dict[int, dict[str, dict | None]] = {}
        for testimony_id, documents in changes:
            _check_documents(testimony_id, documents)
            latest[testimony_id] = documents
        if not latest:
            return
        keys = [str(testimony_id) for testimony_id in latest]
        staging = self.root / f".apply-{uuid.uuid4().hex}"
        try:
            writers = _GroupWriters(staging)
            try:
                for testimony_id, documents in latest.items():
                    writers.add(_group(testimony_id, documents))
                built = writers.commit()
            except BaseException:
                writers.cancel()
                raise
            for audience in AUDIENCES:
                path = self._ensure_generation(audience)
                sources = [source for group, source in built if audience in group]
                self._replace(path / TESTIMONIES, keys, sources)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        self._forget_segments()
        # Every change is searchable by now; small segments are merged afterwards, elsewhere.
        self._merge_later()

    def _merge_later(self) -> None:
        """Start merging the indexes' one-change segments in a process of its own, once there are
        enough of them: a merge rewrites their postings and takes seconds, which the next change
        must not wait for. Only its last step, swapping the segments, takes an index's lock. The
        audiences whose small segments are the very same (linked) ones share one merge."""
        running = self._merger
        if running is not None:
            if running.is_alive():
                return
            running.join()
            self._merger = None
        jobs: list[tuple[list[str], list[str]]] = []
        groups: dict[tuple, list[str]] = {}
        for audience in AUDIENCES:
            generation = self._current_generation(audience)
            if generation is None:
                continue
            path = self.root / audience / generation / TESTIMONIES
            storage = FileStorage(str(path))
            toc = whoosh_index.TOC.read(storage, _INDEX_NAME)
            tiers: dict[int, list] = defaultdict(list)
            for segment in toc.segments:
                size = len(self._testimonies_in(storage, toc.schema, segment))
                tiers[_tier(size)].append((segment.segment_id(), tuple(sorted(segment.deleted_docs()))))
            # The lowest tier that has filled up: merged, its segments make one of the next tier.
            full = [tier for tier, members in sorted(tiers.items()) if len(members) >= _SMALL_SEGMENTS_MERGED]
            if full:
                groups.setdefault(tuple(sorted(tiers[full[0]])), []).append(str(path))
        jobs += [(paths, [segid for segid, _ in small]) for small, paths in groups.items()]
        if not jobs:
            return
        # A fresh interpreter, not a fork of one that may hold threads, sessions and locks.
        merger = multiprocessing.get_context("spawn").Process(target=_merge_jobs, args=(jobs,), daemon=True)
        merger.start()
        self._merger = merger

    def wait_for_merges(self, timeout: float | None = None) -> None:
        """Wait until no merge this object started is running, merging what gathered meanwhile:
        changes applied during a merge leave small segments that only the next merge takes."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._merger is not None:
            self._merger.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
            if self._merger.is_alive():
                return
            self._merger = None
            self._merge_later()

    def _replace(self, path: Path, keys: list[str], sources: list[Path]) -> bool:
        """Delete the testimonies' documents from one index and link in the staged segments;
        whether the index changed."""
        # A merge process may be swapping segments in: it holds the lock for a moment.
        writer = whoosh_index.open_dir(str(path)).writer(codec=_CODEC, timeout=_LOCK_WAIT_SECONDS)
        try:
            changed = False
            for segment in writer.segments:
                found = self._testimonies_in(writer.storage, writer.schema, segment)
                for key in keys:
                    for docnum in found.get(key, ()):
                        if not segment.is_deleted(docnum):
                            segment.delete_document(docnum)
                            changed = True
            linked = [s for source in sources for s in _linked_segments(source, path)]
        except BaseException:
            writer.cancel()
            raise
        if not changed and not linked:
            writer.cancel()
            return False
        # No merging here: the change is searchable first, and small segments are merged afterwards.
        # A segment left with no live document is dropped (its files with it): a testimony
        # published and then withdrawn must not leave an empty segment every query still reads.
        writer.commit(mergetype=lambda _writer, segments: [*_live(segments), *linked])
        return True

    def _testimonies_in(self, storage: Any, schema: Schema, segment: Any) -> dict[str, list[int]]:
        """Testimony id to the segment's document numbers holding it (deleted ones included).

        A segment's files never change once written (deletions live in the TOC), so this is read
        once per segment and kept, keyed by the segment's id: linked copies share it. Deleting by
        term would open a searcher over every segment of the index for each change instead.
        """
        segid = segment.segment_id()
        found = self._segment_tids.get(segid)
        if found is None:
            reader = SegmentReader(storage, schema, segment)
            try:
                found = _tid_postings(reader)
            finally:
                reader.close()
            self._segment_tids[segid] = found
        return found

    def _forget_segments(self) -> None:
        """Drop what is kept about segments that no audience's index holds any more."""
        live: set[str] = set()
        for audience in AUDIENCES:
            generation = self._current_generation(audience)
            if generation is None:
                continue
            storage = FileStorage(str(self.root / audience / generation / TESTIMONIES))
            try:
                toc = whoosh_index.TOC.read(storage, _INDEX_NAME)
            except Exception:  # noqa: BLE001 - only a cache: forgetting everything is safe
                self._segment_tids.clear()
                return
            live.update(s.segment_id() for s in toc.segments)
        for segid in set(self._segment_tids) - live:
            del self._segment_tids[segid]

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
        indexes, each every other testimony, while the caller's process reads the documents; with
        1, the caller does it all.
        """
        if procs is None:
            procs = min(2, os.cpu_count() or 1)
        self.wait_for_merges()
        fresh = {audience: self._new_generation(audience) for audience in AUDIENCES}
        staging = self.root / f".rebuild-{uuid.uuid4().hex}"
        try:
            shared = (_group(testimony_id, docs) for testimony_id, docs in documents)
            if procs > 1:
                built = _build_in_processes(shared, staging, progress, procs)
            else:
                built = _build_here(shared, staging, progress)
            for audience, path in fresh.items():
                _link_segments([source for group, source in built if audience in group], path / TESTIMONIES)
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
        self.wait_for_merges()
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
        (path / TESTIMONIES).mkdir(parents=True)
        whoosh_index.create_in(str(path / TESTIMONIES), testimony_schema())
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


def _reading(path: Path) -> Any:
    """An index opened for searching, its segments mapped into memory (see `_MappedStorage`)."""
    return _MappedStorage(str(path)).open_index(_INDEX_NAME)


class _MappedStorage(FileStorage):
    """A folder of index files whose segments are read from a memory map, never copied.

    Whoosh maps a segment's file, then copies each of its parts (postings, terms, columns) into a
    buffer of its own: every open index was resident in full, as private memory, in each worker.
    Here Whoosh is told not to map (so it asks the file for each part) and the file hands out views
    of one map: pages are read when touched, and shared by every process reading the index.
    """

    def __init__(self, path: str) -> None:
        super().__init__(path, supports_mmap=False)

    def open_file(self, name: str, **kwargs: Any) -> StructFile:
        return _MappableFile(open(self._fpath(name), "rb"), name=name, **kwargs)  # noqa: SIM115 - Whoosh closes it


class _MappableFile(StructFile):
    """A segment's file; its parts are views of a map of it."""

    _map: mmap.mmap | None = None

    def subset(self, offset: int, length: int, name: str | None = None) -> StructFile:
        if self._map is None:
            self._map = mmap.mmap(self.file.fileno(), 0, access=mmap.ACCESS_READ)
            # The map holds the file: the handle is not needed, nor kept open for as long as the reader.
            self.file.close()
            _MAPPED.add(self)
        return _MappedPart(memoryview(self._map)[offset : offset + length], name=name)


# The index files this process has mapped, and how many of their pages it may keep in its page
# tables: beyond that, it lets go of them all (the pages stay in the page cache, shared by every
# worker, and are mapped again, without reading the disk, when next touched). A long-running worker
# would otherwise hold in its resident memory every page of the index it ever read.
_MAPPED: weakref.WeakSet = weakref.WeakSet()
_MAPPED_BUDGET = 64 * 1024 * 1024
_mapped_baseline: int | None = None


def _release_pages() -> None:
    """Let go of the mapped index pages once this process holds more of them than the budget."""
    global _mapped_baseline  # noqa: PLW0603 - one per process
    try:
        with open("/proc/self/statm", "rb") as statm:
            # Resident pages backed by files: the index's, and the program's own libraries.
            shared = int(statm.read().split()[2]) * mmap.PAGESIZE
    except (OSError, IndexError, ValueError):
        return
    if _mapped_baseline is None or shared < _mapped_baseline:
        _mapped_baseline = shared
        return
    if shared - _mapped_baseline > _MAPPED_BUDGET:
        _let_go_of_pages()


def _let_go_of_pages() -> None:
    """Drop every mapped index page from this process's page tables (not from the page cache)."""
    for mapped in list(_MAPPED):
        if mapped._map is not None and not mapped._map.closed:
            with suppress(OSError, ValueError):
                mapped._map.madvise(mmap.MADV_DONTNEED)


class _MappedPart(BufferFile):
    """A part of a mapped file, read in place: slices for Whoosh's reads at a position, and a
    buffered stream over the view for its reads in sequence (Whoosh's own copies the part)."""

    def __init__(self, view: memoryview, name: str | None = None) -> None:
        super().__init__(b"", name=name)
        self._buf = view
        self.file = io.BufferedReader(_View(view))


class _View(io.RawIOBase):
    """A read-only stream over a memory view."""

    def __init__(self, view: memoryview) -> None:
        super().__init__()
        self._view = view
        self._at = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        size = max(0, min(len(buffer), len(self._view) - self._at))
        buffer[:size] = self._view[self._at : self._at + size]
        self._at += size
        return size

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._at, io.SEEK_END: len(self._view)}[whence]
        self._at = base + offset
        return self._at

    def tell(self) -> int:
        return self._at


def _check_audience(audience: str) -> None:
    if audience not in AUDIENCES:
        raise ValueError(f"unknown audience {audience!r}")


def _check_documents(testimony_id: int, documents: dict[str, dict | None]) -> None:
    for audience, document in documents.items():
        _check_audience(audience)
        if document is not None and document["testimony_id"] != testimony_id:
            raise ValueError(f"document for testimony {document['testimony_id']} given as {testimony_id}")


def _close(snapshot: Snapshot) -> None:
    if snapshot.testimonies is not None:
        snapshot.testimonies.close()


def _merge_jobs(jobs: list[tuple[list[str], list[str]]]) -> None:
    """The merge process: each job, one after another, at the lowest priority (searches and changes
    come first)."""
    with suppress(OSError):
        os.nice(19)
    for paths, segids in jobs:
        _merge_small_segments(paths, segids)


def _merge_small_segments(paths: list[str], segids: list[str]) -> None:
    """Merge the one-change segments that applying leaves into one, for each index at paths (which
    hold the very same segments, linked).

    Only small segments (of few testimonies) are merged: Whoosh's default policy would rewrite the
    large segments of a rebuild now and then, which takes seconds to minutes. The next rebuild
    makes one of them all. The merged segment is written beside the first index, without its lock;
    then, holding each index's lock in turn, its small segments are swapped for the merged one, with
    what was deleted from them meanwhile deleted from it too. An index whose small segments are
    gone by then (another merge, a rebuild), or differ, is left as it is.
    """
    source = Path(paths[0])
    # What a merge process stopped midway (its interpreter exiting) left behind.
    with suppress(OSError):
        for stale in source.parent.glob(".merge-*"):
            if time.time() - stale.stat().st_mtime > _STALE_MERGE_SECONDS:
                shutil.rmtree(stale, ignore_errors=True)
    staging = source.parent / f".merge-{uuid.uuid4().hex}"
    try:
        index = whoosh_index.open_dir(str(source))
        segments = whoosh_index.TOC.read(index.storage, _INDEX_NAME).segments
        small = [s for s in segments if s.segment_id() in segids]
        if len(small) != len(segids):
            return
        staging.mkdir()
        staged = whoosh_index.create_in(str(staging), index.schema)
        # Where each live document of the small segments lands in the merged one: Whoosh copies a
        # segment's documents not deleted, in order, after those already written.
        moved: dict[str, dict[int, int]] = {}
        writer = staged.writer(codec=_CODEC)
        try:
            for segment in small:
                reader = SegmentReader(index.storage, index.schema, segment)
                try:
                    live = [d for d in reader.all_doc_ids() if not reader.is_deleted(d)]
                    moved[segment.segment_id()] = {d: writer.docnum + n for n, d in enumerate(live)}
                    writer.add_reader(reader)
                finally:
                    reader.close()
        except BaseException:
            writer.cancel()
            raise
        writer.commit(merge=False)
        for path in paths:
            try:
                _swap_in_merged(Path(path), staging, small, moved)
            except Exception:  # noqa: BLE001 - an index swapped or removed meanwhile
                log.info("merging small segments into %s failed", path, exc_info=True)
    except Exception:  # noqa: BLE001 - the next change starts another merge
        log.info("merging small segments of %s failed", paths, exc_info=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _swap_in_merged(target: Path, staging: Path, small: list, moved: dict[str, dict[int, int]]) -> None:
    """Swap the small segments of the index at target for the merged segment in staging.

    What was deleted from a small segment while the merge ran is deleted from the merged one too;
    a small segment no longer there lost all its documents meanwhile (an emptied segment is
    dropped), or another merge took them: either way none of its documents stays in the merged one.
    """
    segids = {s.segment_id() for s in small}
    # Read afresh for each index: deletions are marked on these objects.
    merged = list(whoosh_index.TOC.read(FileStorage(str(staging)), _INDEX_NAME).segments)
    live = whoosh_index.open_dir(str(target)).writer(codec=_CODEC, timeout=_LOCK_WAIT_SECONDS)
    try:
        if len(merged) != 1:
            raise RuntimeError(f"a merge wrote {len(merged)} segments, not one")
        current = {s.segment_id(): s for s in live.segments}
        for segment in small:
            now = current.get(segment.segment_id())
            before = set(segment.deleted_docs())
            if now is not None and not before <= set(now.deleted_docs()):
                # Deletions are never undone: this is another index's segment of the same name.
                live.cancel()
                return
            copied = moved[segment.segment_id()]
            gone = copied if now is None else set(now.deleted_docs()) - before
            for docnum in gone:
                merged[0].delete_document(copied[docnum])
        for name in merged[0].list_files(FileStorage(str(staging))):
            os.link(staging / name, target / name)
    except BaseException:
        live.cancel()
        raise
    live.commit(
        mergetype=lambda _writer, segments: [
            *(s for s in segments if s.segment_id() not in segids),
            *_live(merged),
        ]
    )


def _live(segments: Iterable[Any]) -> list[Any]:
    """The segments that still hold a document not deleted."""
    return [segment for segment in segments if segment.deleted_count() < segment.doc_count_all()]


def _tid_postings(reader: Any) -> dict[str, list[int]]:
    """Testimony id to every document number of a segment holding it, deleted or not."""
    found: dict[str, list[int]] = {}
    if "tid" in reader.indexed_field_names():
        terms = reader._terms  # noqa: SLF001 - the segment's own postings, without its deletions
        fmt = reader.schema["tid"].format
        for term in reader.lexicon("tid"):
            found[term.decode("utf-8")] = list(terms.matcher("tid", term, fmt).all_ids())
    return found


def _linked_segments(source: Path, target: Path) -> list:
    """Hard-link the segments of the index at source into the folder of the index at target; the
    segments, for the target's next TOC."""
    storage = FileStorage(str(source))
    segments = whoosh_index.TOC.read(storage, _INDEX_NAME).segments
    for segment in segments:
        for name in segment.list_files(storage):
            os.link(source / name, target / name)
    return list(segments)


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


_Built = list[tuple[tuple[str, ...], Path]]


class _SegmentWriter:
    """Writes a new index at `path`, through Whoosh's codec but not its writer.

    Whoosh's writer pools every posting as a tuple, sorts the pool, spills it to disk and merges it
    back, then adds the postings one call at a time: most of a rebuild's time. Here the postings of
    each term are gathered in lists as documents arrive, and written a block at a time, in the
    very format Whoosh reads (and merges): one segment, or one per `_SEGMENT_POSTINGS` postings.
    """

    def __init__(self, path: Path) -> None:
        self._index = whoosh_index.create_in(str(path), testimony_schema())
        self._schema = self._index.schema
        self._segments: list[Any] = []
        self._docs: list[tuple[dict[str, Any], dict[str, int], dict[str, Any]]] = []
        self._postings: dict[str, dict[bytes, tuple[list, list, list]]] = {
            name: {} for name in self._schema.names() if self._schema[name].indexed
        }
        self._gathered = 0
        self.is_closed = False

    def add_document(self, **fields: Any) -> None:
        docnum = len(self._docs)
        stored: dict[str, Any] = {}
        lengths: dict[str, int] = {}
        columns: dict[str, Any] = {}
        for name, value in fields.items():
            if value is None:
                continue
            fieldobj = self._schema[name]
            if fieldobj.stored:
                stored[name] = value
            if fieldobj.column_type:
                columns[name] = value
            if not fieldobj.indexed:
                continue
            postings = self._postings[name]
            length = 0
            for term, count, _, encoded in fieldobj.index(value):
                found = postings.get(term)
                if found is None:
                    found = postings[term] = ([], [], [])
                found[0].append(docnum)
                # The count, not its float weight (the same here, no field is boosted): small
                # numbers are shared objects, which makes a large rebuild's lists much smaller.
                found[1].append(count)
                found[2].append(encoded)
                length += count
                self._gathered += 1
            if fieldobj.scorable and length:
                lengths[name] = length
        self._docs.append((stored, lengths, columns))
        if self._gathered >= _SEGMENT_POSTINGS:
            self._flush()

    def commit(self) -> None:
        if self._docs or not self._segments:
            self._flush()
        toc = whoosh_index.TOC(self._schema, self._segments, self._index.latest_generation() + 1)
        toc.write(self._index.storage, _INDEX_NAME)
        self.is_closed = True

    def _flush(self) -> None:
        """Write what was gathered as a segment."""
        storage = self._index.storage
        schema = self._schema
        segment = _CODEC.new_segment(storage, _INDEX_NAME)
        perdoc = _CODEC.per_document_writer(storage, segment)
        for docnum, (stored, lengths, columns) in enumerate(self._docs):
            perdoc.start_doc(docnum)
            for name in sorted(set(stored) | set(lengths)):
                perdoc.add_field(name, schema[name], stored.get(name), lengths.get(name, 0))
            for name, value in columns.items():
                fieldobj = schema[name]
                perdoc.add_column_value(name, fieldobj.column_type, fieldobj.to_column_value(value))
            perdoc.finish_doc()
        perdoc.close()
        terms = _CODEC.field_writer(storage, segment)
        for name in sorted(self._postings):
            postings = self._postings[name]
            if not postings:
                continue
            if name == "pair":
                postings = _bucketed(postings)
            lengths = [doc_lengths.get(name, 0) for _, doc_lengths, _ in self._docs]
            terms.start_field(name, schema[name])
            field_id = pack_ushort(terms._fieldid)  # noqa: SLF001
            # A rare term's few postings go in its entry of the term table, as Whoosh's own writer
            # means to (it misnames the method and never does); such entries, most of a large
            # vocabulary, are written together.
            entries: list[tuple[bytes, bytes]] = []
            for term in sorted(postings):
                ids, weights, values = postings[term]
                if len(ids) < _INLINED_BELOW:
                    entries.append((field_id + term, _inlined(ids, weights, values, lengths)))
                    continue
                _add_entries(terms._tindex, entries)  # noqa: SLF001
                entries.clear()
                terms.start_term(term)
                _write_postings(terms._postwriter, ids, weights, values, lengths)  # noqa: SLF001
                terms.finish_term()
            _add_entries(terms._tindex, entries)  # noqa: SLF001
            terms.finish_field()
        terms.close()
        segment.set_doc_count(len(self._docs))
        # One file per segment, as Whoosh's writer makes it: readers map it whole.
        segment.create_compound_file(storage)
        segment.compound = True
        self._segments.append(segment)
        for postings in self._postings.values():
            postings.clear()
        self._docs.clear()
        self._gathered = 0

    def cancel(self) -> None:
        # Nothing is written before commit; the caller removes the folder.
        self.is_closed = True


def _bucketed(postings: dict[bytes, tuple[list, list, list]]) -> dict[bytes, tuple[list, list, list]]:
    """A segment's word pairs, the rare ones gathered into buckets (see `pair_bucket`).

    Most word pairs occur once in the whole archive; a term each made the term table many times
    larger than the words' and took most of a rebuild. A bucket's postings are the documents
    holding any of its pairs, so a phrase checks its words' positions in those few documents only.
    """
    kept: dict[bytes, tuple[list, list, list]] = {}
    buckets: dict[bytes, dict[int, int]] = defaultdict(dict)
    for term, found in postings.items():
        if len(found[0]) >= PAIR_KEPT_FROM:
            kept[term] = found
            continue
        bucket = buckets[pair_bucket(term).encode("utf-8")]
        for docnum, count in zip(found[0], found[1], strict=True):
            bucket[docnum] = bucket.get(docnum, 0) + count
    for term, counts in buckets.items():
        ids = sorted(counts)
        weights = [counts[docnum] for docnum in ids]
        kept[term] = (ids, weights, [pack_uint(weight) for weight in weights])
    return kept


# A term table entry's head, as W3TermInfo packs it: inlined, weight, documents, shortest and
# longest field length (as bytes), greatest weight, first and last document.
_TERM_INFO = struct.Struct("!BfIBBfII")
# A hash file entry's head: the lengths of key and value.
_ENTRY_HEAD = struct.Struct("!ii")


def _inlined(ids: list[int], weights: list[float], values: list[bytes], lengths: list[int]) -> bytes:
    """A term table entry holding the term's postings themselves (what W3TermInfo.to_bytes gives)."""
    found = [lengths[docnum] for docnum in ids if lengths[docnum]]
    head = _TERM_INFO.pack(
        1,
        float(sum(weights)),
        len(ids),
        length_to_byte(min(found)) if found else 0,
        length_to_byte(max(found)) if found else 0,
        max(weights),
        ids[0],
        ids[-1],
    )
    return head + pickle.dumps((tuple(ids), tuple(weights), tuple(values)), 2)


def _add_entries(table: Any, entries: list[tuple[bytes, bytes]]) -> None:
    """Add entries, in key order, to a term table (Whoosh's OrderedHashWriter) in one write: what
    its `add` does for each, without a call and a write per entry."""
    if not entries:
        return
    if table.hashfn is not md5_hash or entries[0][0] <= table.lastkey:
        for key, value in entries:
            table.add(key, value)
        return
    position = table.dbfile.tell()
    parts: list[bytes] = []
    starts = table.index
    buckets = table.buckets
    head = _ENTRY_HEAD.pack
    for key, value in entries:
        starts.append(position)
        parts += (head(len(key), len(value)), key, value)
        # md5_hash: the digest's last four bytes, as a number.
        hashed = int.from_bytes(hashlib.md5(key, usedforsecurity=False).digest()[12:], "big")
        buckets[hashed & 255].append((hashed, position))
        position += _ENTRY_HEAD.size + len(key) + len(value)
    table.dbfile.write(b"".join(parts))
    table.lastkey = entries[-1][0]


def _write_postings(
    writer: Any, ids: list[int], weights: list[float], values: list[bytes], lengths: list[int]
) -> None:
    """One term's postings, in blocks as Whoosh's postings writer makes them one posting at a time."""
    size = _CODEC._blocklimit  # noqa: SLF001
    for start in range(0, len(ids), size):
        block = ids[start : start + size]
        writer._ids = array("I", block)  # noqa: SLF001
        writer._weights = array("f", weights[start : start + size])  # noqa: SLF001
        writer._values = [v for v in values[start : start + size] if v]  # noqa: SLF001
        writer._maxweight = max(weights[start : start + size])  # noqa: SLF001
        found = [lengths[docnum] for docnum in block if lengths[docnum]]
        writer._minlength = min(found) if found else None  # noqa: SLF001
        writer._maxlength = max(found) if found else 0  # noqa: SLF001
        # Blocks of a few postings (most terms have no more) are left uncompressed, a flag readers
        # read per block: compressing them took longer than the rest of writing them.
        writer._compression = _CODEC._compression if len(block) > _COMPRESSED_FROM else 0  # noqa: SLF001
        writer._write_block(last=start + size >= len(ids))  # noqa: SLF001


class _GroupWriters:
    """Writers of the testimony index, one per group of audiences, in a staging folder."""

    def __init__(self, staging: Path) -> None:
        self.staging = staging
        self._writers: dict[tuple[str, ...], Any] = {}

    def add(self, shared: _Shared) -> None:
        analysed = _AnalysisCache()
        for audiences, document in shared:
            writer = self._writers.get(audiences) or self._open(audiences)
            _add(writer, document, analysed)

    def _path(self, audiences: tuple[str, ...]) -> Path:
        return self.staging / "+".join(audiences)

    def _open(self, audiences: tuple[str, ...]) -> Any:
        path = self._path(audiences)
        path.mkdir(parents=True)
        writer = self._writers[audiences] = _SegmentWriter(path)
        return writer

    def commit(self) -> _Built:
        """Commit every writer; the groups written, each with its index folder."""
        written = []
        for audiences, writer in self._writers.items():
            writer.commit()
            written.append((audiences, self._path(audiences)))
        return written

    def cancel(self) -> None:
        for writer in self._writers.values():
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


def _build_here(shared: Iterable[_Shared], staging: Path, progress: Callable[[int], None] | None) -> _Built:
    writers = _GroupWriters(staging)
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


def _build_worker(inbox: Any, results: Any, staging: str) -> None:
    """A rebuild process writing what arrives into indexes of its own, until told to stop."""
    gc.disable()
    writers = _GroupWriters(Path(staging))
    try:
        while (shared := inbox.get()) is not None:
            writers.add(shared)
        results.put(writers.commit())
    except BaseException as error:
        writers.cancel()
        results.put(error)


def _build_in_processes(
    shared: Iterable[_Shared], staging: Path, progress: Callable[[int], None] | None, procs: int
) -> _Built:
    """Processes writing every `procs`-th testimony each, into segments of their own that are
    linked side by side: no term's postings need merging across them."""
    # A fresh interpreter per process, not a fork of one that may hold threads, sessions and locks.
    context = multiprocessing.get_context("spawn")
    inboxes = [context.Queue(maxsize=_QUEUED) for _ in range(procs)]
    results = context.Queue()
    workers = [
        context.Process(target=_build_worker, args=(inbox, results, str(staging / f"w{n}")), daemon=True)
        for n, inbox in enumerate(inboxes)
    ]
    for worker in workers:
        worker.start()

    def hand_over(inbox: Any, item: _Shared | None) -> None:
        while True:
            try:
                inbox.put(item, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                _check_alive(workers)

    try:
        for done, documents in enumerate(shared, start=1):
            hand_over(inboxes[done % procs], documents)
            if progress is not None:
                progress(done)
        for inbox in inboxes:
            hand_over(inbox, None)
        built: _Built = []
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
        for channel in (*inboxes, results):
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


def _fields(document: dict, analysed: Any) -> dict[str, Any]:
    """The testimony index's fields of a document, each text analysed once (through `analysed`).

    Located fields give word positions, counted through the describing texts, then the transcript;
    a gap follows each text, so that no phrase is found across two. The transcript column keeps
    where each segment's words start, so a position tells its segment.
    """
    languages = tuple(document.get("languages") or ())
    exact: list[str] = []
    folded: list[tuple[str, int]] = []
    stems: list[tuple[str, int]] = []
    names: list[tuple[str, int]] = []
    pairs: list[str] = []
    beginnings: list[tuple[str, int]] = []
    position = 0

    def described(texts: Iterable[str | None]) -> list[str]:
        nonlocal position
        words: list[str] = []
        for text in texts:
            part = analysed(text, languages)
            exact.extend(part.exact)
            folded.extend((term, at) for at, term in enumerate(part.folded, start=position))
            stems.extend((term, position + at) for term, at in part.stems)
            names.extend((term, position + at) for term, at in part.names)
            pairs.extend(f"{first} {second}" for first, second in pairwise(part.folded))
            for at, word in enumerate(part.folded, start=position):
                term = prefix_term(word)
                if term:
                    beginnings.append((term, at))
            position += len(part.folded) + 1
            words += part.folded
        return words

    title = described([document.get("title")])
    described([document.get("summary")])
    narrator = described([document.get("narrator")])
    places = described(document.get("places") or ())
    subjects = described(document.get("subjects") or ())
    speakers: list[tuple[str, int]] = []
    keywords: list[tuple[str, int]] = []
    starts: list[int] = []
    packed: list[bytes] = []
    for segment in document.get("segments") or ():
        text = segment.get("text") or ""
        start = position
        # Keywords follow the words, so that a tagged segment is a passage for its keyword.
        described([text])
        tagged = described(segment.get("keywords") or ())
        speakers += [(term, start) for term in analysed(segment.get("speaker"), languages).folded]
        keywords += [(term, start) for term in tagged]
        starts.append(start)
        # As analysed (NFC): a snippet marks the words at the positions a query matched.
        shown = (segment["id"], segment.get("start_ms"), segment.get("end_ms"), segment.get("speaker"),
                 unicodedata.normalize("NFC", text))  # fmt: skip
        packed.append(zlib.compress(pickle.dumps(shown, pickle.HIGHEST_PROTOCOL)))
    return {
        "tid": str(document["testimony_id"]),
        "meta": _entry(document),
        "transcript": Transcript.pack(starts, packed),
        "exact": exact,
        "folded": folded,
        "stem": stems,
        "name": names,
        "folded_count": [term for term, _ in folded],
        "stem_count": [term for term, _ in stems],
        "name_count": [term for term, _ in names],
        "pair": pairs,
        "prefix": beginnings,
        "title": title,
        "place": places,
        "narrator": narrator,
        "subject": subjects,
        "speaker": speakers,
        "keyword": keywords,
    }


def _add(writer: Any, document: dict, analysed: Any) -> None:
    """Add a document to the testimony index being written."""
    writer.add_document(**_fields(document, analysed))
