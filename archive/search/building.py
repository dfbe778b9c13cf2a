"""Building segments from documents: each testimony's documents grouped by the audiences that
share them, written by one process or several into a staging folder.

A change writes one index per group of audiences. A rebuild writes one per tier instead: each
document goes to the index of the least trusted audience it is for (public, then research, then
staff), and each audience's index links the segments of its own tier and of the tiers below, with
the documents not for it marked deleted there. The public index then reads the segments of one
tier only, holding nothing but public documents; and as a rebuild's processes each write some of the
fields of every document, made one afterwards (`build_in_processes`), a tier is one segment (per
`segments.SEGMENT_WORDS`), where it was one per process and group of audiences."""

from __future__ import annotations

import gc
import multiprocessing
import pickle
import queue
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from archive.search.documents import AnalysisCache, fields_of
from archive.search.fields import testimony_schema
from archive.search.segments import SEGMENT_WORDS, SegmentWriter, combine, field_length

AUDIENCES = ("public", "research", "staff")

# Documents waiting for a rebuild process: enough to keep it busy, little memory.
_QUEUED = 8
# How long the rebuild waits on its processes before checking that they are still alive.
_POLL_SECONDS = 1.0
# How many testimonies the caller's process reads between two passes of the cycle collector, which
# is paused meanwhile (see `build_in_processes`).
_COLLECTED_EVERY = 200
# What writing each field's postings costs a rebuild, roughly, relative to the others (set from
# how many terms and postings each holds in the benchmark's corpus; the two processes' times came
# within a tenth of each other at 500 testimonies), and writing the documents' stored values,
# lengths and columns; fields not named cost next to nothing.
_WRITING_COST = {
    "pair": 3.0,
    "stem": 2.5,
    "folded": 2.0,
    "stem_count": 1.5,
    "folded_count": 1.5,
    "exact": 1.5,
    "prefix": 1.5,
}
_PER_DOCUMENT_COST = 1.0

Shared = list[tuple[tuple[str, ...], dict]]
# Each index written: the audiences of each of its documents, in the order written, and its folder.
Built = list[tuple[list[tuple[str, ...]], Path]]


def check_audience(audience: str) -> None:
    if audience not in AUDIENCES:
        raise ValueError(f"unknown audience {audience!r}")


def check_documents(testimony_id: int, documents: dict[str, dict | None]) -> None:
    for audience, document in documents.items():
        check_audience(audience)
        if document is not None and document["testimony_id"] != testimony_id:
            raise ValueError(f"document for testimony {document['testimony_id']} given as {testimony_id}")


def group(testimony_id: int, documents: dict[str, dict | None]) -> Shared:
    """One testimony's documents, each with the audiences it is the very document of."""
    check_documents(testimony_id, documents)
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


class GroupWriters:
    """Writers of the testimony index in a staging folder, one per group of audiences, or with
    `tiers` one per least trusted audience of a group (see the module's note)."""

    def __init__(
        self,
        staging: Path,
        tiers: bool = False,
        fields: frozenset[str] | None = None,
        per_document: bool = True,
        segment_words: int = SEGMENT_WORDS,
    ) -> None:
        self.staging = staging
        self._segment_words = segment_words
        self._tiers = tiers
        # Only these fields' postings, and with `per_document` the documents' stored values, lengths
        # and columns: the rest is another writer's (see `segments.SegmentWriter`).
        self._fields = fields
        self._per_document = per_document
        self._writers: dict[tuple[str, ...], Any] = {}
        self._members: dict[tuple[str, ...], list[tuple[str, ...]]] = {}

    def add(self, shared: Shared) -> None:
        analysed = AnalysisCache()
        for audiences, document in shared:
            self.add_analysed(audiences, fields_of(document, analysed))

    def add_analysed(
        self, audiences: tuple[str, ...], fields: dict[str, Any], lengths: dict[str, int] | None = None
    ) -> None:
        """Add a document already analysed (see `SegmentWriter.add_document`)."""
        # AUDIENCES runs from the least trusted, and a group lists its audiences in that order.
        key = audiences[:1] if self._tiers else audiences
        writer = self._writers.get(key) or self._open(key)
        writer.add_document(fields, lengths)
        self._members[key].append(audiences)

    def _path(self, audiences: tuple[str, ...]) -> Path:
        return self.staging / "+".join(audiences)

    def _open(self, audiences: tuple[str, ...]) -> Any:
        path = self._path(audiences)
        path.mkdir(parents=True)
        writer = self._writers[audiences] = SegmentWriter(
            path, self._fields, self._per_document, self._fields is None, self._segment_words
        )
        self._members[audiences] = []
        return writer

    def commit(self) -> Built:
        """Commit every writer; the indexes written (see `Built`)."""
        written = []
        for key, writer in self._writers.items():
            writer.commit()
            written.append((self._members[key], self._path(key)))
        return written

    def cancel(self) -> None:
        for writer in self._writers.values():
            if not writer.is_closed:
                writer.cancel()


def sources_for(built: Built, audience: str) -> list[tuple[Path, list[bool]]]:
    """The indexes written that hold a document for this audience, each with whether each of its
    documents is one (in the order written)."""
    found = []
    for members, path in built:
        wanted = [audience in audiences for audiences in members]
        if any(wanted):
            found.append((path, wanted))
    return found


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


def build_here(
    shared: Iterable[Shared],
    staging: Path,
    progress: Callable[[int], None] | None,
    segment_words: int = SEGMENT_WORDS,
) -> Built:
    writers = GroupWriters(staging, tiers=True, segment_words=segment_words)
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


# The schema's fields, looked at for every document a rebuild hands over.
_schema = cache(testimony_schema)


def field_parts(procs: int) -> list[frozenset[str]]:
    """The indexed fields split between `procs` rebuild processes, each part about as costly to
    write as the others; the first process also writes each document's stored values, lengths
    and columns."""
    schema = _schema()
    indexed = [name for name in schema.names() if schema[name].indexed]
    parts: list[list[str]] = [[] for _ in range(procs)]
    load = [_PER_DOCUMENT_COST] + [0.0] * (procs - 1)
    for name in sorted(indexed, key=lambda name: -_WRITING_COST.get(name, 0.1)):
        lightest = load.index(min(load))
        parts[lightest].append(name)
        load[lightest] += _WRITING_COST.get(name, 0.1)
    return [frozenset(part) for part in parts]


Parted = list[tuple[tuple[str, ...], dict[str, Any], dict[str, int]]]


def parted(shared: Shared, parts: list[frozenset[str]]) -> list[Parted]:
    """One testimony's documents analysed once, for each rebuild process: its part of the indexed
    fields' values (the first part also every value stored or kept in a column), and the length of
    each other indexed field."""
    schema = _schema()
    analysed = AnalysisCache()
    out: list[Parted] = [[] for _ in parts]
    for audiences, document in shared:
        fields = fields_of(document, analysed)
        for n, part in enumerate(parts):
            mine: dict[str, Any] = {}
            lengths: dict[str, int] = {}
            for name, value in fields.items():
                field = schema[name]
                if name in part or (n == 0 and (field.stored or field.column_type or not field.indexed)):
                    mine[name] = value
                elif field.indexed:
                    lengths[name] = field_length(field, value)
            out[n].append((audiences, mine, lengths))
    return out


def _build_worker(
    inbox: Any, results: Any, staging: str, part: int, fields: frozenset[str], segment_words: int
) -> None:
    """A rebuild process writing its part of the fields of the documents that arrive analysed (see
    `parted`) into indexes of its own, until told to stop; the first part also writes the
    documents' stored values, lengths and columns."""
    gc.disable()
    writers = GroupWriters(
        Path(staging), tiers=True, fields=fields, per_document=part == 0, segment_words=segment_words
    )
    try:
        while (packed := inbox.get()) is not None:
            for audiences, fields, lengths in pickle.loads(packed):
                writers.add_analysed(audiences, fields, lengths)
        results.put((part, writers.commit()))
    except BaseException as error:
        writers.cancel()
        results.put((part, error))


def build_in_processes(
    shared: Iterable[Shared],
    staging: Path,
    progress: Callable[[int], None] | None,
    procs: int,
    segment_words: int = SEGMENT_WORDS,
) -> Built:
    """Processes writing every testimony each, each the postings of some of the fields
    (`field_parts`), into segments of their own that are then made one (`segments.combine`): each
    audience's index gets one segment per tier (and per `segment_words`), not one per process,
    and a search reads each of its words in fewer segments. The caller's process reads and
    analyses the documents, once, and hands each process its part."""
    # A fresh interpreter per process, not a fork of one that may hold threads, sessions and locks.
    context = multiprocessing.get_context("spawn")
    inboxes = [context.Queue(maxsize=_QUEUED) for _ in range(procs)]
    results = context.Queue()
    parts = field_parts(procs)
    workers = [
        context.Process(
            target=_build_worker,
            args=(inbox, results, str(staging / f"w{n}"), n, parts[n], segment_words),
            daemon=True,
        )
        for n, inbox in enumerate(inboxes)
    ]
    for worker in workers:
        worker.start()

    def hand_over(inbox: Any, item: bytes | None) -> None:
        while True:
            try:
                inbox.put(item, timeout=_POLL_SECONDS)
                return
            except queue.Full:
                _check_alive(workers)

    try:
        # The caller's process makes a hundred thousand small objects a testimony: its cycle
        # collector, run as often as that asks, took a sixth of its time, most of it in full passes
        # over everything the process holds. Paused, it is run once every so many testimonies, for
        # the cycles the database session leaves behind the batches it has let go of.
        with _collection_paused():
            for done, documents in enumerate(shared, start=1):
                # Analysed here once; each process gets its part, pickled here rather than by the queue.
                for inbox, part in zip(inboxes, parted(documents, parts), strict=True):
                    hand_over(inbox, pickle.dumps(part, pickle.HIGHEST_PROTOCOL))
                if progress is not None:
                    progress(done)
                if done % _COLLECTED_EVERY == 0:
                    gc.collect()
        for inbox in inboxes:
            hand_over(inbox, None)
        built: dict[int, Built] = {}
        for _ in workers:
            while True:
                try:
                    part, reported = results.get(timeout=_POLL_SECONDS)
                    break
                except queue.Empty:
                    _check_alive(workers)
            if isinstance(reported, BaseException):
                raise reported
            built[part] = reported
        jobs = []
        for members, path in built[0]:
            others = [
                (theirs, other)
                for n in range(1, procs)
                for theirs, other in built[n]
                if other.name == path.name
            ]
            if len(others) != procs - 1 or any(theirs != members for theirs, _ in others):
                raise RuntimeError(f"the rebuild processes wrote other documents into {path.name}")
            jobs.append((path, [other for _, other in others]))
        # Each tier's parts made one by a process of its own, the public tier's (the largest) first.
        with context.Pool(min(procs, len(jobs)) or 1) as pool:
            pool.starmap(combine, jobs, chunksize=1)
        return built[0]
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
