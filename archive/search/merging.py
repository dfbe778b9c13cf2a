"""Merging the small segments that changes applied one by one leave, in a process of its own,
and swapping the merged segment into every index that links the same small ones."""

from __future__ import annotations

import logging
import os
import shutil
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path

from whoosh import index as whoosh_index
from whoosh.filedb.filestore import FileStorage
from whoosh.reading import SegmentReader

from archive.search.codec import CODEC, INDEX_NAME
from archive.search.segments import live

log = logging.getLogger(__name__)

# Segments of at most this many documents are merged by `apply` once there are this many of them.
_SMALL_SEGMENT_DOCS = 10
_SMALL_SEGMENTS_MERGED = 10
# How long a writer waits for another (a merge swapping its segments in) to let go of an index.
LOCK_WAIT_SECONDS = 60.0
# A merge's staging folder older than this was left by a process that stopped.
_STALE_MERGE_SECONDS = 3600.0


def _tier(testimonies: int) -> int:
    """A segment's size class: up to 10 testimonies is tier 0, up to 100 tier 1, and so on. Ten
    segments of one tier are merged into one of the next, so that however many changes are applied
    one by one, an index holds a few segments per tier, not one per change."""
    tier, limit = 0, _SMALL_SEGMENT_DOCS
    while testimonies > limit:
        tier, limit = tier + 1, limit * _SMALL_SEGMENTS_MERGED
    return tier


def due(segments: Iterable[tuple[str, tuple[int, ...], int]]) -> tuple | None:
    """Of an index's segments, as (segment id, deleted document numbers, testimonies), those of the
    lowest tier that has filled up, to be merged into one of the next tier; None if none has."""
    tiers: dict[int, list] = defaultdict(list)
    for segid, deleted, size in segments:
        tiers[_tier(size)].append((segid, deleted))
    full = [tier for tier, members in sorted(tiers.items()) if len(members) >= _SMALL_SEGMENTS_MERGED]
    return tuple(sorted(tiers[full[0]])) if full else None


def merge_jobs(jobs: list[tuple[list[str], list[str]]]) -> None:
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
        segments = whoosh_index.TOC.read(index.storage, INDEX_NAME).segments
        small = [s for s in segments if s.segment_id() in segids]
        if len(small) != len(segids):
            return
        staging.mkdir()
        staged = whoosh_index.create_in(str(staging), index.schema)
        # Where each live document of the small segments lands in the merged one: Whoosh copies a
        # segment's documents not deleted, in order, after those already written.
        moved: dict[str, dict[int, int]] = {}
        writer = staged.writer(codec=CODEC)
        try:
            for segment in small:
                reader = SegmentReader(index.storage, index.schema, segment)
                try:
                    kept = [d for d in reader.all_doc_ids() if not reader.is_deleted(d)]
                    moved[segment.segment_id()] = {d: writer.docnum + n for n, d in enumerate(kept)}
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
    merged = list(whoosh_index.TOC.read(FileStorage(str(staging)), INDEX_NAME).segments)
    writer = whoosh_index.open_dir(str(target)).writer(codec=CODEC, timeout=LOCK_WAIT_SECONDS)
    try:
        if len(merged) != 1:
            raise RuntimeError(f"a merge wrote {len(merged)} segments, not one")
        current = {s.segment_id(): s for s in writer.segments}
        for segment in small:
            now = current.get(segment.segment_id())
            before = set(segment.deleted_docs())
            if now is not None and not before <= set(now.deleted_docs()):
                # Deletions are never undone: this is another index's segment of the same name.
                writer.cancel()
                return
            copied = moved[segment.segment_id()]
            gone = copied if now is None else set(now.deleted_docs()) - before
            for docnum in gone:
                merged[0].delete_document(copied[docnum])
        for name in merged[0].list_files(FileStorage(str(staging))):
            os.link(staging / name, target / name)
    except BaseException:
        writer.cancel()
        raise
    writer.commit(
        mergetype=lambda _writer, segments: [
            *(s for s in segments if s.segment_id() not in segids),
            *live(merged),
        ]
    )
