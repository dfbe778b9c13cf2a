"""Building segments from documents: each testimony's documents grouped by the audiences that
share them, written by one process or several into a staging folder.

A change writes one index per group of audiences. A rebuild writes one per tier instead: each
document goes to the index of the least trusted audience it is for (public, then research, then
staff), and each audience's index links the segments of its own tier and of the tiers below, with
the documents not for it marked deleted there. The public index then reads the segments of one
tier only, holding nothing but public documents, and most searches read half as many segments."""

from __future__ import annotations

import gc
import multiprocessing
import queue
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from archive.search.documents import AnalysisCache, fields_of
from archive.search.segments import SegmentWriter

AUDIENCES = ("public", "research", "staff")

# Documents waiting for a rebuild process: enough to keep it busy, little memory.
_QUEUED = 8
# How long the rebuild waits on its processes before checking that they are still alive.
_POLL_SECONDS = 1.0

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

    def __init__(self, staging: Path, tiers: bool = False) -> None:
        self.staging = staging
        self._tiers = tiers
        self._writers: dict[tuple[str, ...], Any] = {}
        self._members: dict[tuple[str, ...], list[tuple[str, ...]]] = {}

    def add(self, shared: Shared) -> None:
        analysed = AnalysisCache()
        for audiences, document in shared:
            # AUDIENCES runs from the least trusted, and a group lists its audiences in that order.
            key = audiences[:1] if self._tiers else audiences
            writer = self._writers.get(key) or self._open(key)
            writer.add_document(**fields_of(document, analysed))
            self._members[key].append(audiences)

    def _path(self, audiences: tuple[str, ...]) -> Path:
        return self.staging / "+".join(audiences)

    def _open(self, audiences: tuple[str, ...]) -> Any:
        path = self._path(audiences)
        path.mkdir(parents=True)
        writer = self._writers[audiences] = SegmentWriter(path)
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


def build_here(shared: Iterable[Shared], staging: Path, progress: Callable[[int], None] | None) -> Built:
    writers = GroupWriters(staging, tiers=True)
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
    writers = GroupWriters(Path(staging), tiers=True)
    try:
        while (shared := inbox.get()) is not None:
            writers.add(shared)
        results.put(writers.commit())
    except BaseException as error:
        writers.cancel()
        results.put(error)


def build_in_processes(
    shared: Iterable[Shared], staging: Path, progress: Callable[[int], None] | None, procs: int
) -> Built:
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

    def hand_over(inbox: Any, item: Shared | None) -> None:
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
        built: Built = []
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
