"""The searchers' memory: index files read through one shared memory map each, and the budget of
mapped pages a process keeps in its page tables before it lets go of them."""

from __future__ import annotations

import io
import mmap
import weakref
from contextlib import suppress
from pathlib import Path
from typing import Any

from whoosh.filedb.filestore import FileStorage
from whoosh.filedb.structfile import BufferFile, StructFile

from archive.search.codec import INDEX_NAME


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


def release_pages() -> None:
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
