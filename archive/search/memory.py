"""The searchers' memory: the budget of mapped index pages a process keeps in its page tables, and
letting go of them beyond it (the index files are mapped by `codec.open_mapped`)."""

from __future__ import annotations

import mmap
import weakref
from contextlib import suppress


def track(mapped: mmap.mmap) -> None:
    """Count a map of an index file in this process's budget."""
    _MAPPED.add(mapped)


# The index files this process has mapped, and how many of their pages it may keep in its page
# tables: beyond that, it lets go of them all (the pages stay in the page cache, shared by every
# worker, and are mapped again, without reading the disk, when next touched). A long-running worker
# would otherwise hold in its resident memory every page of the index it ever read.
_MAPPED: weakref.WeakSet[mmap.mmap] = weakref.WeakSet()
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
        if not mapped.closed:
            with suppress(OSError, ValueError):
                mapped.madvise(mmap.MADV_DONTNEED)
