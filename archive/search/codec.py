"""Whoosh's on-disk format reached through its private parts: writing a segment's postings and term
table, reading postings a block at a time, index files read from a memory map, reopening a
searcher without rereading its segments.

These are why whoosh-reloaded is pinned to one exact version (`WHOOSH_VERSION`, checked when an
index is opened): every name used here below Whoosh's public surface may change in any release,
and a change would write or read an index wrongly without an error. No other module of the search
engine touches Whoosh's private names; `tests/test_search_differential.py` checks what is written
here against Whoosh's own writer.
"""

# ruff: noqa: SLF001 - this module is the one place that uses Whoosh's private names (see above)

from __future__ import annotations

import hashlib
import io
import mmap
import os
import pickle
import shutil
import struct
import time
from array import array
from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from itertools import accumulate
from pathlib import Path
from pickle import loads
from typing import Any

import whoosh
from whoosh import query as wq
from whoosh.codec.whoosh3 import W3Codec, W3LeafMatcher
from whoosh.filedb.filestore import FileStorage
from whoosh.filedb.filetables import OrderedHashReader, OrderedHashWriter, md5_hash
from whoosh.filedb.structfile import BufferFile, StructFile
from whoosh.index import TOC
from whoosh.reading import MultiReader, SegmentReader, TermNotFound
from whoosh.searching import Searcher
from whoosh.system import _INT_SIZE, pack_ushort
from whoosh.util.numeric import length_to_byte

from archive.search import memory

# The whoosh-reloaded release this module is written against (pyproject.toml pins the same).
WHOOSH_VERSION = (2, 7, 5)

CODEC = W3Codec()
# Whoosh's name for the one index in each folder.
INDEX_NAME = "MAIN"
# A block of postings is compressed from this many postings on.
_COMPRESSED_FROM = 16


class WhooshVersionError(RuntimeError):
    """The installed Whoosh is not the release the index format code is written against."""


def check_whoosh_version(installed: tuple[int, ...] | None = None) -> None:
    """Refuse to open an index with another Whoosh than the pinned one: its private format may differ."""
    installed = tuple(whoosh.__version__) if installed is None else installed
    if installed != WHOOSH_VERSION:
        wanted = ".".join(map(str, WHOOSH_VERSION))
        found = ".".join(map(str, installed))
        raise WhooshVersionError(
            f"whoosh-reloaded {found} is installed, but the search engine is written against "
            f"whoosh-reloaded {wanted}, whose private index format it reads and writes. Install "
            f"that one (pip install whoosh-reloaded=={wanted}), or, to upgrade, port "
            f"archive/search/codec.py to the new release, run tests/test_search_differential.py, "
            f"then change WHOOSH_VERSION and the pin in pyproject.toml, and rebuild the indexes."
        )


# Writing: a field writer's term table and postings, fed whole lists instead of a posting a call.

# A term table entry's head, as W3TermInfo packs it: inlined, weight, documents, shortest and
# longest field length (as bytes), greatest weight, first and last document.
_TERM_INFO = struct.Struct("!BfIBBfII")
# A hash file entry's head: the lengths of key and value.
_ENTRY_HEAD = struct.Struct("!ii")
# Where a term's postings start in the postings file, after the head of its entry (W3TermInfo).
_LONG = struct.Struct("!q")


def field_key(terms: Any) -> bytes:
    """The prefix of the term table's keys of the field a field writer has started."""
    return pack_ushort(terms._fieldid)


def inlined(ids: list[int], weights: list[float], values: list[bytes], lengths: list[int]) -> bytes:
    """A term table entry holding the term's postings themselves (what W3TermInfo.to_bytes gives,
    pickled by the newest protocol, which Whoosh's `loads` reads as well and which is four times
    quicker to write for these small tuples of numbers and bytes)."""
    if len(ids) == 1:
        # Most terms of a large vocabulary: one document.
        docnum, weight = ids[0], weights[0]
        length = length_to_byte(lengths[docnum]) if lengths[docnum] else 0
        head = _TERM_INFO.pack(1, float(weight), 1, length, length, weight, docnum, docnum)
        return head + pickle.dumps(((docnum,), (weight,), (values[0],)), pickle.HIGHEST_PROTOCOL)
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
    return head + pickle.dumps((tuple(ids), tuple(weights), tuple(values)), pickle.HIGHEST_PROTOCOL)


def add_entries(terms: Any, entries: list[tuple[bytes, bytes]]) -> None:
    """Add entries, in key order, to a field writer's term table (Whoosh's OrderedHashWriter) in one
    write: what its `add` does for each, without a call and a write per entry."""
    _add_to_table(terms._tindex, entries)


def _add_to_table(table: OrderedHashWriter, entries: list[tuple[bytes, bytes]]) -> None:
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


def toc_segments(path: Path) -> list[Any]:
    """The segments of the index at path, as its latest TOC lists them."""
    return list(TOC.read(FileStorage(str(path)), INDEX_NAME).segments)


def combine_terms(storage: Any, segment: Any, others: list[tuple[Any, Any]]) -> None:
    """Make a segment's term table and postings (its files apart, not yet one) hold those of other
    segments of the same documents, each of other fields: their postings are appended to its
    postings file, the places their term entries point at moved by as much, and every entry is
    written again into one table, each field under its number in the new table. The others'
    files are removed."""
    terms_name = segment.make_filename(W3Codec.TERMS_EXT)
    postings_path = Path(storage.folder) / segment.make_filename(W3Codec.POSTS_EXT)
    fields: dict[str, list[tuple[bytes, bytes]]] = {}
    for n, (source, part, name) in enumerate(
        [(storage, segment, terms_name)]
        + [(other, theirs, theirs.make_filename(W3Codec.TERMS_EXT)) for other, theirs in others]
    ):
        moved_by = 0
        if n:
            moved_by = postings_path.stat().st_size
            with (
                open(Path(source.folder) / part.make_filename(W3Codec.POSTS_EXT), "rb") as theirs,
                open(postings_path, "ab") as ours,
            ):
                shutil.copyfileobj(theirs, ours, 1 << 20)
        for fieldname, entries in _table_entries(source, name):
            if fieldname in fields:
                raise ValueError(f"field {fieldname!r} was written twice")
            if moved_by:
                entries = [(key, _moved(value, moved_by)) for key, value in entries]
            fields[fieldname] = entries
    # Not named after the segment until whole: its files are those so named.
    combined = f"combined-{segment.segment_id()}{W3Codec.TERMS_EXT}"
    table = OrderedHashWriter(storage.create_file(combined))
    fieldmap = table.extras["fieldmap"] = {}
    for number, fieldname in enumerate(sorted(fields)):
        fieldmap[fieldname] = number
        prefix = pack_ushort(number)
        _add_to_table(table, [(prefix + key[2:], value) for key, value in fields[fieldname]])
    table.close()
    os.replace(Path(storage.folder) / combined, Path(storage.folder) / terms_name)
    for other, theirs in others:
        for name in theirs.list_files(other):
            other.delete_file(name)


def _table_entries(storage: Any, name: str) -> Iterator[tuple[str, list[tuple[bytes, bytes]]]]:
    """A term table's entries, field by field, each field's in key order, as raw bytes."""
    reader = OrderedHashReader.open(storage, name)
    try:
        numbers = {number: fieldname for fieldname, number in reader.extras["fieldmap"].items()}
        data = bytes(reader.dbfile.get(reader.startofdata, reader.endofdata - reader.startofdata))
    finally:
        reader.close()
    by_field: dict[int, list[tuple[bytes, bytes]]] = {}
    position, end = 0, len(data)
    head = _ENTRY_HEAD.unpack_from
    while position < end:
        key_length, value_length = head(data, position)
        position += _ENTRY_HEAD.size
        key = data[position : position + key_length]
        position += key_length
        by_field.setdefault(int.from_bytes(key[:2], "big"), []).append(
            (key, data[position : position + value_length])
        )
        position += value_length
    for number, entries in by_field.items():
        yield numbers[number], entries


def _moved(value: bytes, by: int) -> bytes:
    """A term entry whose postings now start `by` bytes later in the postings file (an inlined
    entry holds its postings and stays as it is)."""
    if value[0]:
        return value
    offset = _TERM_INFO.size
    (start,) = _LONG.unpack_from(value, offset)
    return value[:offset] + _LONG.pack(start + by) + value[offset + _LONG.size :]


def write_postings(
    terms: Any, ids: list[int], weights: list[float], values: list[bytes], lengths: list[int]
) -> None:
    """One term's postings (the field writer has started the term), in blocks as Whoosh's postings
    writer makes them one posting at a time."""
    writer = terms._postwriter
    size = CODEC._blocklimit
    for start in range(0, len(ids), size):
        block = ids[start : start + size]
        writer._ids = array("I", block)
        writer._weights = array("f", weights[start : start + size])
        writer._values = [v for v in values[start : start + size] if v]
        writer._maxweight = max(weights[start : start + size])
        found = [lengths[docnum] for docnum in block if lengths[docnum]]
        writer._minlength = min(found) if found else None
        writer._maxlength = max(found) if found else 0
        # Blocks of a few postings (most terms have no more) are left uncompressed, a flag readers
        # read per block: compressing them took longer than the rest of writing them.
        writer._compression = CODEC._compression if len(block) > _COMPRESSED_FROM else 0
        writer._write_block(last=start + size >= len(ids))


# Reading postings a block at a time into plain lists (Whoosh's matchers step a posting a call).


def term_info(leaf: Any, fieldname: str, text: str) -> Any | None:
    """A term's entry in one segment's term table (where its postings are, how many documents hold
    it), or None when the segment has no such term."""
    try:
        return leaf._terms.term_info(fieldname, text.encode("utf-8"))
    except (TermNotFound, KeyError):
        return None


def postings(leaf: Any, fieldname: str, text: str) -> tuple[Sequence[int], Sequence[float]]:
    """Every posting of a term in one segment, deleted documents included, a block at a time."""
    info = term_info(leaf, fieldname, text)
    return ((), ()) if info is None else info_postings(leaf, fieldname, info)


def info_postings(leaf: Any, fieldname: str, info: Any) -> tuple[Sequence[int], Sequence[float]]:
    """The same, from a term's table entry already read."""
    if info.is_inlined():
        # A rare term's few postings are in its entry.
        ids, weights, _ = info.inlined_postings()
        return ids, weights
    matcher = _info_matcher(leaf, fieldname, info)
    ids: list[int] = []
    weights: list[float] = []
    while matcher.is_active():
        block = _block_ids(matcher)
        ids.extend(block)
        # Whoosh keeps one number for a block whose weights are all the same (often all 1).
        found = matcher._data[1]
        if found is None:
            weights.extend([1.0] * len(block))
        elif isinstance(found, int | float):
            weights.extend([found] * len(block))
        else:
            weights.extend(found)
        matcher._next_block()
    return ids, weights


def positions(leaf: Any, fieldname: str, text: str, docnums: list[int]) -> Iterable[tuple[int, list[int]]]:
    """(local docnum, positions) of the given documents' postings of a located term in one segment."""
    info = term_info(leaf, fieldname, text)
    if info is not None:
        yield from info_positions(leaf, fieldname, info, docnums)


def info_positions(
    leaf: Any, fieldname: str, info: Any, docnums: list[int]
) -> Iterable[tuple[int, list[int]]]:
    """The same, from a term's table entry already read."""
    if info.is_inlined():
        # A rare term's few postings are in its entry: no postings to open.
        ids, _, values = info.inlined_postings()
        wanted = set(docnums)
        for docnum, value in zip(ids, values, strict=True):
            if docnum in wanted:
                yield docnum, _decoded(value)
        return
    yield from _matched_positions(_info_matcher(leaf, fieldname, info), docnums)


def info_ids(leaf: Any, fieldname: str, info: Any) -> Sequence[int]:
    """Every document of a term's postings (deleted ones too), from its table entry already read."""
    if info.is_inlined():
        return info.inlined_postings()[0]
    matcher = _info_matcher(leaf, fieldname, info)
    ids: list[int] = []
    while matcher.is_active():
        ids.extend(_block_ids(matcher))
        matcher._next_block()
    return ids


def terms_from(leaf: Any, fieldname: str, prefix: bytes) -> Iterable[tuple[bytes, Any]]:
    """(term, term info) of a segment's terms of a field that start with prefix, in one pass along
    its term table (looking each term up again costs more than reading its postings)."""
    if fieldname not in leaf.indexed_field_names():
        return
    for (found, term), info in leaf._terms.items_from(fieldname, prefix):
        if found != fieldname or not term.startswith(prefix):
            return
        yield term, info


def field_terms(leaf: Any, fieldname: str) -> list[str]:
    """Every term of a field of one segment, in order, read along its term table in one pass (the
    table is mapped: Whoosh's lexicon steps three generators and a method call a term, some 300 ms
    for the 63,000 words of one segment of 8,000 testimonies)."""
    if fieldname not in leaf.indexed_field_names():
        return []
    terms = leaf._terms
    table = terms._tindex
    buffer = getattr(table.dbfile, "_buf", None)
    prefix = terms._keycoder(fieldname, b"")
    position = table.closest_key_pos(prefix)
    if not isinstance(buffer, memoryview) or position is None:
        return [term.decode("utf-8") for term in leaf.lexicon(fieldname)]
    found: list[str] = []
    size, unpack, end, start = _ENTRY_HEAD.size, _ENTRY_HEAD.unpack_from, table.endofdata, len(prefix)
    while position < end:
        # A record: the key's length and the value's, the key (the field's number, then the
        # term), the value.
        key_length, value_length = unpack(buffer, position)
        key = position + size
        if buffer[key : key + start] != prefix:
            break
        found.append(str(buffer[key + start : key + key_length], "utf-8"))
        position = key + key_length + value_length
    return found


def wildcard_terms(node: wq.Wildcard, leaf: Any) -> Iterable[bytes]:
    """The terms of one segment a wildcard stands for, as Whoosh's Wildcard finds them."""
    return node._btexts(leaf)


def all_postings_ids(leaf: Any, fieldname: str, term: bytes) -> list[int]:
    """Every document number of a term in one segment, deleted or not (the segment's own postings)."""
    return list(leaf._terms.matcher(fieldname, term, leaf.schema[fieldname].format).all_ids())


def column_value(column: Any, docnum: int) -> bytes | memoryview:
    """A document's value of a bytes column (a VarBytesColumn's reader), as a view of the mapped
    segment where it is mapped: Whoosh copies it, and a transcript is some 60 KB, of which a search
    reads where its segments start and the three it shows."""
    buffer = getattr(column._dbfile, "_buf", None)
    if not isinstance(buffer, memoryview):
        return column[docnum]
    start = column._basepos + column._offsets[docnum]
    return buffer[start : start + column._lengths[docnum]]


def _info_matcher(leaf: Any, fieldname: str, info: Any) -> Any:
    terms = leaf._terms
    matcher = terms._codec.postings_reader(terms._postfile, info, leaf.schema[fieldname].format)
    blocks = getattr(terms, "_archive_blocks", None)
    if blocks is None:
        blocks = terms._archive_blocks = _Blocks()
    matcher._archive_blocks = blocks
    return matcher


class _Blocks:
    """The posting blocks a segment reader decoded last, with their document numbers: a common
    word's blocks are read by search after search, and undoing a block's compression and pickling
    cost more than the rest of reading it. Kept with the reader, so for as long as its segment is
    searched (a segment's files never change); at most `ROOM` blocks (some 4.5 MB, a block holding
    up to 128 postings with their positions), the least recently read going first. A reader is used
    by one search at a time (its audience's lock)."""

    ROOM = 256

    def __init__(self) -> None:
        self._kept: OrderedDict[int, tuple[Any, list[int]]] = OrderedDict()

    def ids(self, matcher: W3LeafMatcher) -> list[int]:
        """The document numbers of the matcher's current block, its data read or given again."""
        key = matcher._dataoffset
        found = self._kept.get(key)
        if found is None:
            matcher._read_data()
            found = self._kept[key] = (matcher._data, _undeltaed(matcher))
            if len(self._kept) > self.ROOM:
                self._kept.popitem(last=False)
        else:
            self._kept.move_to_end(key)
            matcher._data = found[0]
        return found[1]


def _matched_positions(matcher: Any, docnums: list[int]) -> Iterable[tuple[int, list[int]]]:
    """(docnum, positions) of those of the sorted docnums the matcher's postings hold (a term's
    postings not inlined in its entry: a W3LeafMatcher)."""
    # A block at a time: blocks ending before the next wanted document are passed by their
    # header, the others' ids searched, and positions decoded only for the documents found.
    wanted = 0
    while wanted < len(docnums) and matcher.is_active():
        last = matcher._maxid
        if docnums[wanted] <= last:
            ids = _block_ids(matcher)
            values = None
            while wanted < len(docnums) and docnums[wanted] <= last:
                docnum = docnums[wanted]
                at = bisect_left(ids, docnum)
                if at < len(ids) and ids[at] == docnum:
                    if values is None:
                        matcher._read_values()
                        values = matcher._values
                    yield docnum, _decoded(values[at])
                wanted += 1
        matcher._next_block()


def _block_ids(matcher: W3LeafMatcher) -> list[int]:
    """The document numbers of the current block of a matcher `_info_matcher` made (not to be
    changed: they are kept, see `_Blocks`)."""
    ids = matcher._archive_blocks.ids(matcher)
    matcher._ids = ids
    return ids


def _undeltaed(matcher: W3LeafMatcher) -> list[int]:
    """The block's document numbers from its data (Whoosh's own reading undoes their deltas a
    Python step each)."""
    ids = matcher._data[0]
    return ids if matcher._byteids else list(accumulate(ids))


def _decoded(value: bytes) -> list[int]:
    """Positions from their stored form, without a Python step per position."""
    return list(accumulate(loads(value[_INT_SIZE:] + b".")))


# Mapped files


def open_mapped(path: Path) -> Any:
    """An index opened for searching, its segments mapped into memory (see `_MappedStorage`)."""
    return _MappedStorage(str(path)).open_index(INDEX_NAME)


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
        # FileStorage._fpath: the path of a file of the folder.
        return _MappableFile(open(self._fpath(name), "rb"), name=name, **kwargs)  # noqa: SIM115 - Whoosh closes it


class _MappableFile(StructFile):
    """A segment's file; its parts are views of a map of it."""

    _map: mmap.mmap | None = None

    def subset(self, offset: int, length: int, name: str | None = None) -> StructFile:
        if self._map is None:
            self._map = mmap.mmap(self.file.fileno(), 0, access=mmap.ACCESS_READ)
            # The map holds the file: the handle is not needed, nor kept open for as long as the reader.
            self.file.close()
            memory.track(self._map)
        return _MappedPart(memoryview(self._map)[offset : offset + length], name=name)


class _MappedPart(BufferFile):
    """A part of a mapped file, read in place: slices for Whoosh's reads at a position, and a
    buffered stream over the view for its reads in sequence (Whoosh's own copies the part)."""

    def __init__(self, view: memoryview, name: str | None = None) -> None:
        super().__init__(b"", name=name)
        # BufferFile reads its parts at a position from _buf: the view, not a copy.
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


# Searchers


def latest_searcher(searcher: Searcher) -> Searcher:
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
    index = searcher._ix
    try:
        toc = index._read_toc()
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
                reader._segment = segment
                reader._perdoc._segment = segment
                reader._gen = toc.generation
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


@contextmanager
def locked_writer(index: Any, timeout: float) -> Iterator[Any]:
    """A Whoosh writer of `index` under its WRITELOCK, which is let go whatever happens.

    Whoosh's own writer takes the lock as a bare file descriptor before it opens its files; when
    opening or committing them fails (a full disk), the descriptor stays open and the lock held
    for the life of the process, so every later change met a LockError. Here the lock is ours,
    taken the same way (a merge process's writer still waits for it), and released in `finally`.
    """
    from whoosh.index import LockError

    lock = index.lock("WRITELOCK")
    deadline = time.monotonic() + timeout
    while not lock.acquire():
        if time.monotonic() > deadline:
            raise LockError
        time.sleep(0.05)
    try:
        writer = index.writer(codec=CODEC, _lk=False)
        try:
            yield writer
        except BaseException:
            # On a full disk cancelling may fail as well; the lock is let go below all the same.
            with suppress(Exception):
                writer.cancel()
            raise
    finally:
        lock.release()
