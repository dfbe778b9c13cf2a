"""The on-disk Whoosh indexes, one set per audience: their generations, applying changes, rebuilding,
and the open searchers each search reads (the rooms below do the work: `building` and `segments`
write, `merging` merges, `searchers` and `memory` read, `codec` is Whoosh's format)."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from whoosh import index as whoosh_index
from whoosh.fields import Schema
from whoosh.filedb.filestore import FileStorage
from whoosh.reading import SegmentReader

from archive.search import codec, merging, searchers
from archive.search.building import (
    AUDIENCES,
    GroupWriters,
    build_here,
    build_in_processes,
    check_audience,
    check_documents,
    group,
    sources_for,
)
from archive.search.codec import INDEX_NAME
from archive.search.fields import testimony_schema
from archive.search.memory import release_pages
from archive.search.merging import LOCK_WAIT_SECONDS, merge_jobs
from archive.search.searchers import Snapshot
from archive.search.segments import SEGMENT_WORDS, link_segments, linked_segments, live

__all__ = ["AUDIENCES", "FORMAT", "SearchIndex", "Snapshot", "TESTIMONIES"]

TESTIMONIES = "testimonies"
# The layout of the files in an index folder. A folder written in another layout is not read: it is
# rebuilt from the database (`archive serve` and the outbox writer do so by themselves). 4: the
# schema's field class moved to `archive.search.fields`, and the TOC names it by its module. 6: each
# segment the transcript column keeps holds where its words are (`documents.word_spans`). 7: the
# people a testimony speaks of (the `person` field, and in each stored entry). 8: the transcript
# column's segments are pickled, no longer compressed: undoing zlib took 13 of the 15 µs a shown
# segment cost to read, some 0.2 ms a search, and saved 5% of the index's size. 9: an apostrophe's
# suffix is part of its word (`analysis.bare`), and a name key reads h as x (Turkish "Hocalı"). 10: a
# name key drops a y softening a consonant (Russian "Гянджа" meets "Gəncə").
FORMAT = 10
_CURRENT = "CURRENT"
_GENERATION_PREFIX = "gen-"


@dataclass
class _Opened:
    generation: str
    snapshot: Snapshot


class SearchIndex:
    """Every audience's indexes under `root/<audience>/`, so restricted text never meets the public.

    Each audience directory holds generations (`gen-*`, each with its testimony index) and a
    `CURRENT` file naming the live one; a rebuild writes a new generation and swaps `CURRENT` with
    an atomic rename, so readers never see a half-built index.
    """

    def __init__(self, root: Path) -> None:
        # Before any index is read or written: another Whoosh may read or write this one wrongly.
        codec.check_whoosh_version()
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
        check_audience(audience)
        try:
            with self._locks[audience]:
                yield self._refresh(audience)
        finally:
            release_pages()

    def _refresh(self, audience: str) -> Snapshot:
        generation = self._current_generation(audience)
        opened = self._opened.get(audience)
        if opened is not None and opened.generation != generation:
            searchers.close(opened.snapshot)
            opened = None
        if generation is None:
            self._opened.pop(audience, None)
            return Snapshot(None)
        if opened is None:
            snapshot = searchers.opened(self.root / audience / generation / TESTIMONIES)
            self._opened[audience] = _Opened(generation, snapshot)
            return snapshot
        opened.snapshot = searchers.refreshed(opened.snapshot)
        return opened.snapshot

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
                    searchers.close(opened.snapshot)

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
            check_documents(testimony_id, documents)
            latest[testimony_id] = documents
        if not latest:
            return
        keys = [str(testimony_id) for testimony_id in latest]
        staging = self.root / f".apply-{uuid.uuid4().hex}"
        try:
            writers = GroupWriters(staging)
            try:
                for testimony_id, documents in latest.items():
                    writers.add(group(testimony_id, documents))
                built = writers.commit()
            except BaseException:
                writers.cancel()
                raise
            for audience in AUDIENCES:
                path = self._ensure_generation(audience)
                # A group's index holds only documents for every audience of the group.
                sources = [source for source, _ in sources_for(built, audience)]
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
            toc = whoosh_index.TOC.read(storage, INDEX_NAME)
            small = merging.due(
                (
                    segment.segment_id(),
                    tuple(sorted(segment.deleted_docs())),
                    len(self._testimonies_in(storage, toc.schema, segment)),
                )
                for segment in toc.segments
            )
            if small is not None:
                groups.setdefault(small, []).append(str(path))
        jobs += [(paths, [segid for segid, _ in small]) for small, paths in groups.items()]
        if not jobs:
            return
        # A fresh interpreter, not a fork of one that may hold threads, sessions and locks.
        merger = multiprocessing.get_context("spawn").Process(target=merge_jobs, args=(jobs,), daemon=True)
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
        with codec.locked_writer(whoosh_index.open_dir(str(path)), LOCK_WAIT_SECONDS) as writer:
            changed = False
            for segment in writer.segments:
                found = self._testimonies_in(writer.storage, writer.schema, segment)
                for key in keys:
                    for docnum in found.get(key, ()):
                        if not segment.is_deleted(docnum):
                            segment.delete_document(docnum)
                            changed = True
            linked = [s for source in sources for s in linked_segments(source, path)]
            if not changed and not linked:
                writer.cancel()
                return False
            # No merging here: the change is searchable first, and small segments are merged
            # afterwards. A segment left with no live document is dropped (its files with it): a
            # testimony published and then withdrawn must not leave an empty segment every query
            # still reads.
            writer.commit(mergetype=lambda _writer, segments: [*live(segments), *linked])
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
                toc = whoosh_index.TOC.read(storage, INDEX_NAME)
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
        segment_words: int = SEGMENT_WORDS,
    ) -> None:
        """Index everything afresh into new generations, then swap every audience over to them.

        A document that several audiences share is indexed once, in the tier of the least trusted
        of them (see `building`), and its segment files are linked into each of their indexes:
        most testimonies are public, so this divides the work by nearly three while the public
        folder still holds only what the public may read. With `procs` 2 (the default where there
        are two CPUs or more), two processes each write half the fields of every testimony, made
        one segment afterwards, while the caller's process reads the documents; with 1, the caller
        does it all. A tier's segment holds up to `segment_words` words (see `segments`).
        """
        if procs is None:
            procs = min(2, os.cpu_count() or 1)
        self.wait_for_merges()
        self.remove_dead_staging()
        fresh = {audience: self._new_generation(audience) for audience in AUDIENCES}
        staging = self.root / f".rebuild-{uuid.uuid4().hex}"
        try:
            shared = (group(testimony_id, docs) for testimony_id, docs in documents)
            if procs > 1:
                built = build_in_processes(shared, staging, progress, procs, segment_words)
            else:
                built = build_here(shared, staging, progress, segment_words)
            for audience, path in fresh.items():
                link_segments(sources_for(built, audience), path / TESTIMONIES)
        except BaseException:
            for path in fresh.values():
                shutil.rmtree(path, ignore_errors=True)
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        for audience, path in fresh.items():
            self._swap(audience, path)

    def remove_dead_staging(self) -> None:
        """Remove what writers killed mid-way left: staging folders of rebuilds and changes, and
        pointers never swapped in (their unfinished generations go at the next swap). The caller
        holds the single-writer lock, so no live writer is using any of them."""
        for dead in (*self.root.glob(".rebuild-*"), *self.root.glob(".apply-*")):
            shutil.rmtree(dead, ignore_errors=True)
        for pointer in self.root.glob(f"*/.{_CURRENT}.*"):
            pointer.unlink(missing_ok=True)

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


def _tid_postings(reader: Any) -> dict[str, list[int]]:
    """Testimony id to every document number of a segment holding it, deleted or not."""
    if "tid" not in reader.indexed_field_names():
        return {}
    return {
        term.decode("utf-8"): codec.all_postings_ids(reader, "tid", term) for term in reader.lexicon("tid")
    }
