"""The one way changes reach the search indexes.

A change writes an outbox row in its own transaction (the unit of work it is made in, see
`archive.unit_of_work`, writes them). One writer at a time (a file lock
beside the index) reads rows it has not applied yet, asks the access policy for each audience's
document and applies them. The position it reached is kept beside the index, so any node with its
own index catches up from the database, and a writer that dies leaves rows that the next one
applies again (applying is idempotent).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import time
import traceback
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from flask import current_app
from sqlalchemy import ColumnElement, ScalarSelect, Select, bindparam, delete, exists, func, select
from sqlalchemy.orm import Session

from archive import access
from archive.access import Audience
from archive.catalogue.bodies import published_body, working_body
from archive.catalogue.models import Testimony
from archive.consent.service import release_due_seals
from archive.extensions import db
from archive.search.models import IndexNode, OutboxEntry
from archive.timeutil import utcnow
from archive.unit_of_work import unit_of_work

log = logging.getLogger(__name__)

# An id below the position that was not there when the writer passed it may still commit later
# (ids are handed out before commit); such gaps are looked at again for this long.
GAP_SECONDS = 120
# How many ids below a rebuild's position are looked at again (transactions open while it ran).
GAP_WINDOW = 1000
BATCH = 200


def index_root() -> Path:
    return Path(current_app.config["INDEX_PATH"])


def search_index():
    """The app's SearchIndex, opened once and shared by the threads of this process."""
    from archive.search.index import SearchIndex

    ext = current_app.extensions
    if "archive_search_index" not in ext:
        ext["archive_search_index"] = SearchIndex(index_root())
    return ext["archive_search_index"]


@contextmanager
def writer_lock(blocking: bool = True, timeout: float = 30.0) -> Iterator[bool]:
    """The single-writer lock of this index folder, across threads and processes."""
    root = index_root()
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".writer.lock", "a+") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not blocking or time.monotonic() > deadline:
                    yield False
                    return
                time.sleep(0.01)
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _state_path() -> Path:
    return index_root() / "outbox-position.json"


def _read_state() -> dict:
    """Where this folder's index is in the outbox, and the layout it was written in (a state from
    before layouts were recorded has none, so it counts as another layout)."""
    from archive.search.index import FORMAT

    try:
        return json.loads(_state_path().read_text())
    except (FileNotFoundError, ValueError):
        return {"format": FORMAT, "position": 0, "gaps": {}}


def has_index() -> bool:
    """Has this index folder been built, in the layout this code reads?"""
    from archive.search.index import FORMAT

    return _state_path().exists() and _read_state().get("format") == FORMAT


def _write_state(state: dict) -> None:
    from archive.search.index import FORMAT

    path = _state_path()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**state, "format": FORMAT}))
    tmp.replace(path)


@dataclass(frozen=True)
class Behind:
    """Where this node's index stood in the outbox when a search began, and the testimonies with a
    change committed since that it has not applied: their documents in the index may be stale."""

    position: int
    gaps: tuple[int, ...]
    testimonies: frozenset[int]

    def unapplied(self) -> ColumnElement[bool]:
        """The outbox rows this index had not applied: a condition on the values of `bound`, the
        same object for every search (one with gaps, one without: most have none), so a statement
        built with it once is compiled once, and, without gaps, run with no list to expand."""
        return unapplied(bool(self.gaps))

    @property
    def bound(self) -> dict[str, object]:
        """The values `unapplied` is run with."""
        if self.gaps:
            return {"position": self.position, "gaps": list(self.gaps)}
        return {"position": self.position}


@cache
def unapplied(gaps: bool) -> ColumnElement[bool]:
    """`Behind.unapplied` of a search with gaps below its position, or without."""
    after = OutboxEntry.id > bindparam("position")
    return after | OutboxEntry.id.in_(bindparam("gaps", expanding=True)) if gaps else after


def _live_gaps(state: dict) -> dict[int, float]:
    """The ids below the position not seen yet that may still commit, with when each was passed."""
    cutoff = time.time() - GAP_SECONDS
    return {int(k): v for k, v in state["gaps"].items() if v > cutoff}


def _behind_at() -> Behind:
    state = _read_state()
    return Behind(state["position"], tuple(sorted(_live_gaps(state))), frozenset())


def behind() -> Behind:
    """The testimonies with an outbox row this node's index has not applied (one small query, a
    second only while some row is unapplied).

    The position is read before the caller reads the index, so whatever the index holds is at
    least that far on; anything committed later has a row after it and is found here. The list is
    small: the rows a writer has not reached yet, normally none.
    """
    return behind_with(())[0]


def behind_with(columns: tuple[ScalarSelect, ...]) -> tuple[Behind, tuple]:
    """`behind()`, and the values of these columns (scalar subqueries, the same objects at every
    call) read in the same statement: a search's checks before it reads the index are one trip
    to the database, two only while some row is unapplied."""
    found = _behind_at()
    connection = db.session.connection()
    row = connection.execute(_unapplied_with(bool(found.gaps), columns), found.bound).one()
    ids: frozenset[int] = frozenset()
    if row[0]:
        ids = frozenset(connection.execute(_unapplied_testimonies(bool(found.gaps)), found.bound).scalars())
    return Behind(found.position, found.gaps, ids), tuple(row[1:])


@cache
def _unapplied_with(gaps: bool, columns: tuple[ScalarSelect, ...]) -> Select:
    """Whether any row is unapplied, then `columns`: built once for each (a statement's cache key
    costs more to make than it takes to run)."""
    return select(exists().where(unapplied(gaps)), *columns)


@cache
def _unapplied_testimonies(gaps: bool) -> Select:
    return select(OutboxEntry.testimony_id).where(unapplied(gaps)).distinct()


def stamp(document: dict) -> int:
    """A fingerprint of a document: the index and the database agree when their stamps do."""
    body = {k: v for k, v in document.items() if k != "version"}
    return zlib.crc32(json.dumps(body, sort_keys=True, default=str).encode())


def documents_for(testimony) -> dict[str, dict]:
    """Each audience's document for this testimony, as the access policy builds it."""
    working, published = working_body(testimony), published_body(testimony)
    out = {}
    for audience in Audience:
        doc = access.index_document(audience, testimony, working, published)
        if doc is not None:
            doc["version"] = stamp(doc)
            out[audience.value] = doc
    return out


def drain(*, blocking: bool = True, timeout: float = 30.0) -> int:
    """Apply every outbox row not applied yet. Returns how many testimonies were re-indexed, or -1
    when another writer held the lock (not blocking, or past the timeout)."""
    with _own_reads():
        return _drain(blocking, timeout)


@contextmanager
def _own_reads() -> Iterator[None]:
    """Building documents reads through db.session too (the media room): a read transaction left
    open there from before the writer recorded its position would be a stale snapshot on SQLite,
    and the caller's next write through it would fail. One opened inside is ended here."""
    idle = not db.session().in_transaction()
    try:
        yield
    finally:
        if idle and db.session().in_transaction():
            db.session.commit()


def _drain(blocking: bool, timeout: float) -> int:
    with writer_lock(blocking=blocking, timeout=timeout) as locked:
        if not locked:
            return -1
        done = 0
        if _state_path().exists() and not has_index():
            # Written by an older version in another layout: built anew, then nothing is behind.
            return _rebuild_locked()
        state = _read_state()
        with Session(db.engine) as session:
            pruned = session.get(IndexNode, IndexNode.PRUNED)
            if pruned is not None and state["position"] < pruned.position:
                # Gone long enough that rows it never applied were pruned: only a rebuild is whole.
                log.warning(
                    "search index at %s, below the pruned outbox (%s): rebuilding",
                    state["position"],
                    pruned.position,
                )
                session.close()
                return _rebuild_locked()
            while True:
                gaps = _live_gaps(state)
                position = Behind(state["position"], tuple(sorted(gaps)), frozenset())
                query = select(OutboxEntry.id, OutboxEntry.testimony_id).order_by(OutboxEntry.id)
                rows = session.execute(query.where(position.unapplied()).limit(BATCH), position.bound).all()
                if not rows:
                    state["gaps"] = {str(k): v for k, v in gaps.items()}
                    break
                ids = sorted({tid for _, tid in rows})
                testimonies = {
                    t.id: t for t in session.scalars(select(Testimony).where(Testimony.id.in_(ids)))
                }
                search_index().apply(
                    (tid, documents_for(testimonies[tid]) if tid in testimonies else {}) for tid in ids
                )
                done += len(ids)
                seen = {rid for rid, _ in rows}
                for rid in seen:
                    gaps.pop(rid, None)
                top = max(seen)
                for missing in range(state["position"] + 1, top):
                    if missing not in seen:
                        gaps.setdefault(missing, time.time())
                state = {
                    "position": max(top, state["position"]),
                    "gaps": {str(k): v for k, v in gaps.items()},
                }
                _write_state(state)
                session.expire_all()
            _write_state(state)
            _record_position(session, state["position"])
        return done


# Fewer testimonies than this are indexed by the rebuilding process itself, not by two of its own.
REBUILD_IN_ONE_PROCESS_BELOW = 20


def rebuild(progress: Callable[[int, int], None] | None = None) -> int:
    """Rebuild every audience's index from the database. Returns the number of testimonies."""
    with _own_reads(), writer_lock():
        return _rebuild_locked(progress)


def _rebuild_locked(progress: Callable[[int, int], None] | None = None) -> int:
    with Session(db.engine) as session:
        # Past every row there is, and past what was pruned when there is none: a position below
        # the pruned one would have the next drain rebuild again.
        pruned = session.get(IndexNode, IndexNode.PRUNED)
        top = session.scalar(select(func.max(OutboxEntry.id))) or 0
        position = max(top, pruned.position if pruned else 0)
        ids = list(session.scalars(select(Testimony.id).order_by(Testimony.id)))
        total = len(ids)

        def documents():
            for n, start in enumerate(range(0, total, BATCH)):
                chunk = ids[start : start + BATCH]
                for t in session.scalars(select(Testimony).where(Testimony.id.in_(chunk))):
                    yield t.id, documents_for(t)
                session.expunge_all()
                if progress:
                    progress(min(total, (n + 1) * BATCH), total)

        # Starting the building processes costs more than a few testimonies take to index.
        search_index().rebuild(documents(), procs=1 if total < REBUILD_IN_ONE_PROCESS_BELOW else None)
        # A change whose row id is below the position but had not committed when the documents
        # were read is not in the rebuilt index: the missing ids near the top are looked at again,
        # as a drain does with the ids it passes.
        recent = set(session.scalars(select(OutboxEntry.id).where(OutboxEntry.id > position - GAP_WINDOW)))
        now = time.time()
        # Not the ids pruning removed: every node applied those, and they were older than a gap
        # is looked at for. Counted as gaps, they were an expanding list of hundreds of ids in both
        # of every search's checks for the two minutes after a rebuild (about a millisecond each).
        lowest = max(1, position - GAP_WINDOW + 1, (pruned.position if pruned else 0) + 1)
        gaps = {str(i): now for i in range(lowest, position + 1) if i not in recent}
        _write_state({"position": position, "gaps": gaps})
        _record_position(session, position, force=True)
        return total


def check() -> list[str]:
    """Differences between each audience's index and what the database says it should hold."""
    expected: dict[str, dict[int, int]] = {a.value: {} for a in Audience}
    with Session(db.engine) as session:
        for t in session.scalars(select(Testimony)):
            for audience, doc in documents_for(t).items():
                expected[audience][t.id] = doc["version"]
    problems = []
    for audience in Audience:
        indexed = search_index().stamps(audience.value)
        want = expected[audience.value]
        for tid in sorted(set(want) - set(indexed)):
            problems.append(f"{audience.value}: testimony {tid} is missing from the index")
        for tid in sorted(set(indexed) - set(want)):
            problems.append(f"{audience.value}: testimony {tid} is in the index but should not be")
        for tid in sorted(set(want) & set(indexed)):
            if want[tid] != indexed[tid]:
                problems.append(f"{audience.value}: testimony {tid} is out of date in the index")
    return problems


@dataclass(frozen=True)
class Lag:
    """How far this node's index is behind the database: outbox rows not applied yet, and how long
    the oldest of them has waited."""

    rows: int
    seconds: float


def lag() -> Lag:
    stale = _behind_at()
    rows, oldest = db.session.execute(
        select(func.count(), func.min(OutboxEntry.created_at)).where(stale.unapplied()), stale.bound
    ).one()
    seconds = max(0.0, (utcnow() - oldest).total_seconds()) if oldest else 0.0
    return Lag(rows, round(seconds, 1))


def drain_after_commit() -> int:
    """Apply a request's own change before its answer leaves, if the index can be written now.

    The change is committed whatever happens here: a full disk, a lock another process holds, any
    failure of the index leaves the outbox row for the background writer (or the next request)
    and is logged, never turned into an error answer. Meanwhile searches leave the testimony out.
    """
    try:
        done = drain(timeout=current_app.config["OUTBOX_DRAIN_WAIT_SECONDS"])
    except Exception:
        # The traceback as text: a record holding the frames would keep a failed Whoosh writer,
        # and the files it opened, alive as long as the record.
        waits = "search index not written after a commit; the outbox row waits"
        log.warning("%s\n%s", waits, traceback.format_exc())
        return 0
    if done < 0:
        log.warning("search index writer lock busy after a commit; the outbox row waits")
        return 0
    return done


def _note_lag(app, state: WriterState) -> None:
    """One warning in the log when the lag passes the setting, one line when it is back under."""
    behind_by = lag()
    over = behind_by.seconds > app.config["INDEX_LAG_MAX_SECONDS"]
    if over and not state.warned:
        log.warning("search index %s rows and %.0f s behind the database", behind_by.rows, behind_by.seconds)
    elif state.warned and not over:
        log.info("search index caught up with the database")
    state.warned = over


# --- one background writer per index folder -----------------------------------------------------------
#
# Every web worker of a node starts a writer thread, but only the one holding the folder's leadership
# lock writes: it holds it for the life of its process, and the kernel lets go of it when that process
# ends however it ends (a SIGKILL, a worker restarted), so a standby thread in another worker, trying
# the lock every poll and doing nothing else, takes over within one poll. The leader publishes what
# it did each round in a small file beside the index, which every worker reads for the health report.

LEADER_LOCK = ".leader.lock"
WRITER_STATE = "writer-state"
# The published state is overwritten in place, in blocks the file already has: a disk full of index
# files can still be told that writing them fails.
STATE_BYTES = 4096


@dataclass
class WriterState:
    """What the node's background writer last did, as it publishes it for every worker to read."""

    started: float
    pid: int = 0
    last_round: float = 0.0
    last_success: float = 0.0
    failures: int = 0
    last_error: str = ""
    lock_busy_since: float = 0.0
    stopped: bool = False
    warned: bool = False


def _encode_state(state: WriterState) -> bytes:
    # 500 characters of an error are at most 2000 bytes: the whole state fits in its block.
    fields = {**asdict(state), "last_error": state.last_error[:500]}
    body = json.dumps(fields, ensure_ascii=False).encode()
    return f"{zlib.crc32(body):08x} ".encode() + body.ljust(STATE_BYTES - 9)


def _decode_state(data: bytes) -> WriterState | None:
    """None for a state torn by a write in progress (its checksum does not match) or no state."""
    checksum, _, body = data.partition(b" ")
    body = body.rstrip()
    try:
        if int(checksum, 16) != zlib.crc32(body):
            return None
        return WriterState(**json.loads(body))
    except (ValueError, TypeError):
        return None


class _Publication:
    """The leader's handle on the state file, opened once when it takes the lead."""

    def __init__(self, root: Path) -> None:
        self.fd = os.open(root / WRITER_STATE, os.O_RDWR | os.O_CREAT, 0o644)

    def __call__(self, state: WriterState) -> None:
        try:
            os.pwrite(self.fd, _encode_state(state), 0)
        except OSError:
            log.warning("the index writer could not publish its state", exc_info=True)

    def close(self) -> None:
        os.close(self.fd)


def _leader_present(root: Path) -> bool:
    """Does a process hold this folder's leadership? Asked with a shared lock taken and let go at
    once: it never waits, and a standby that tries the lock meanwhile simply tries again next poll."""
    try:
        fd = os.open(root / LEADER_LOCK, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def writer_state() -> WriterState | None:
    """The node's background writer as it last published itself, whichever worker asks; None when
    no process leads this index folder. A writer that was stopped says so until another leads."""
    root = index_root()
    leading = _leader_present(root)
    state = None
    try:
        fd = os.open(root / WRITER_STATE, os.O_RDONLY)
    except FileNotFoundError:
        pass
    else:
        try:
            for _ in range(5):  # a read that met a write half done is read again
                state = _decode_state(os.pread(fd, STATE_BYTES, 0))
                if state is not None:
                    break
        finally:
            os.close(fd)
    if not leading:
        return state if state is not None and state.stopped else None
    if state is None or state.stopped:
        # A leader that has not published yet: the moment after it took over.
        return WriterState(started=time.time())
    return state


def writer_expected(app) -> bool:
    """Whether this process runs a writer thread (leading or standing by): then the node should have
    a writer, and none leading is a fault."""
    return "archive_outbox_writer" in app.extensions


def start_background_writer(app) -> threading.Event:
    """Keep this node's index in step with changes made elsewhere, and open seals on their day.

    The thread stands by until it holds the index folder's leadership, then leads until stopped or
    until its process ends. A failed round applies nothing it cannot finish (the position moves only
    after the index has the change) and is tried again after a pause that doubles up to
    OUTBOX_BACKOFF_MAX_SECONDS. Returns an event that stops the writer when set.
    """
    stop = threading.Event()
    app.extensions["archive_outbox_writer"] = stop
    with app.app_context():
        root = index_root()
    root.mkdir(parents=True, exist_ok=True)

    def run() -> None:
        with open(root / LEADER_LOCK, "a+") as leadership:
            while True:
                try:
                    fcntl.flock(leadership, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if stop.wait(app.config["OUTBOX_POLL_SECONDS"]):
                        return
            publish = _Publication(root)
            try:
                _lead(app, stop, publish)
            finally:
                publish.close()
                fcntl.flock(leadership, fcntl.LOCK_UN)

    threading.Thread(target=run, name="search-outbox", daemon=True).start()
    return stop


def _lead(app, stop: threading.Event, publish: Callable[[WriterState], None]) -> None:
    state = WriterState(started=time.time(), pid=os.getpid())
    publish(state)
    log.info("this process (%s) now writes the search index", state.pid)
    last_seal_check = last_prune = 0.0
    try:
        with app.app_context(), writer_lock(blocking=False) as locked:
            if locked:
                search_index().remove_dead_staging()
    except OSError:  # left for the next leader; writing the index matters more
        log.warning("could not remove dead staging folders of the search index", exc_info=True)
    poll = app.config["OUTBOX_POLL_SECONDS"]
    pause = poll
    while not stop.wait(pause):
        state.last_round = time.time()
        try:
            with app.app_context():
                try:
                    if time.monotonic() - last_seal_check > 60:
                        with unit_of_work() as work:
                            release_due_seals(work)
                        last_seal_check = time.monotonic()
                    busy = drain(blocking=False) < 0
                    _note_lag(app, state)
                    if not busy and time.monotonic() - last_prune > app.config["OUTBOX_PRUNE_EVERY_SECONDS"]:
                        prune()
                        last_prune = time.monotonic()
                finally:
                    db.session.remove()
        except Exception as error:  # the writer must outlive a failed round; the rows stay for the next
            state.failures += 1
            state.last_error = f"{type(error).__name__}: {error}"
            pause = min(poll * 2**state.failures, app.config["OUTBOX_BACKOFF_MAX_SECONDS"])
            log.warning("search outbox round failed (%s in a row)", state.failures, exc_info=True)
            publish(state)
            continue
        state.failures, state.last_error, pause = 0, "", poll
        if busy:
            # Another writer has the lock: normal for a moment (a request's drain), not for long.
            state.lock_busy_since = state.lock_busy_since or time.time()
        else:
            state.lock_busy_since = 0.0
            state.last_success = time.time()
        publish(state)
    state.stopped = True
    publish(state)


def node_id() -> str:
    """This index folder's identity in the node table, kept in the folder (a rebuild keeps it)."""
    path = index_root() / "node-id"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(uuid.uuid4().hex)
        return path.read_text().strip()


# node id -> (position, when it was last recorded): an idle node still says it is alive, hourly.
_recorded: dict[str, tuple[int, float]] = {}
RECORD_EVERY_SECONDS = 3600


def _record_position(session: Session, position: int, force: bool = False) -> None:
    """Tell the database how far this node's index is (called under the writer lock)."""
    node = node_id()
    last = _recorded.get(node)
    if (
        not force
        and last is not None
        and last[0] == position
        and time.time() - last[1] < RECORD_EVERY_SECONDS
    ):
        return
    row = session.get(IndexNode, node)
    if row is None:
        session.add(IndexNode(node_id=node, position=position))
    else:
        row.position, row.updated_at = position, utcnow()
    session.commit()
    _recorded[node] = (position, time.time())


def prune(active_days: int | None = None) -> int:
    """Drop the outbox rows every node active in the last `active_days` has applied; returns how
    many. A node silent for longer holds nothing back: if it comes back below what was pruned,
    its next drain rebuilds its index. Rows young enough to be another writer's gap are kept."""
    import datetime as dt

    days = active_days if active_days is not None else current_app.config["OUTBOX_NODE_ACTIVE_DAYS"]
    now = utcnow()
    with Session(db.engine) as session:
        horizon = session.scalar(
            select(func.min(IndexNode.position)).where(
                IndexNode.node_id != IndexNode.PRUNED, IndexNode.updated_at >= now - dt.timedelta(days=days)
            )
        )
        if not horizon:
            return 0
        done = (OutboxEntry.id <= horizon) & (
            OutboxEntry.created_at < now - dt.timedelta(seconds=GAP_SECONDS)
        )
        top = session.scalar(select(func.max(OutboxEntry.id)).where(done))
        if top is None:
            return 0
        count = session.execute(delete(OutboxEntry).where(done)).rowcount
        pruned = session.get(IndexNode, IndexNode.PRUNED)
        if pruned is None:
            session.add(IndexNode(node_id=IndexNode.PRUNED, position=top))
        else:
            pruned.position, pruned.updated_at = max(pruned.position, top), now
        session.commit()
        return count
