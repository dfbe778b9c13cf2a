"""Writing segments of the testimony index: postings gathered in lists as documents arrive, then
written a block at a time in the very format Whoosh reads and merges (through `codec`)."""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from whoosh import index as whoosh_index
from whoosh.filedb.filestore import FileStorage
from whoosh.system import pack_uint

from archive.search import codec
from archive.search.analysis import PAIR_KEPT_FROM, pair_bucket
from archive.search.fields import PAIRED, testimony_schema

# A term of fewer postings keeps them in its entry of the term table, not in a block of its own.
_INLINED_BELOW = 8
# Postings gathered in memory before they are written out as a segment: about 1.5 GB of lists,
# some 3,000 testimonies of 5,000 words; a larger archive gets more segments.
SEGMENT_POSTINGS = 20_000_000


class SegmentWriter:
    """Writes a new index at `path`, through Whoosh's codec but not its writer.

    Whoosh's writer pools every posting as a tuple, sorts the pool, spills it to disk and merges it
    back, then adds the postings one call at a time: most of a rebuild's time. Here the postings of
    each term are gathered in lists as documents arrive, and written a block at a time, in the
    very format Whoosh reads (and merges): one segment, or one per `SEGMENT_POSTINGS` postings.
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
        if self._gathered >= SEGMENT_POSTINGS:
            self._flush()

    def commit(self) -> None:
        if self._docs or not self._segments:
            self._flush()
        toc = whoosh_index.TOC(self._schema, self._segments, self._index.latest_generation() + 1)
        toc.write(self._index.storage, codec.INDEX_NAME)
        self.is_closed = True

    def _flush(self) -> None:
        """Write what was gathered as a segment."""
        storage = self._index.storage
        schema = self._schema
        segment = codec.CODEC.new_segment(storage, codec.INDEX_NAME)
        perdoc = codec.CODEC.per_document_writer(storage, segment)
        for docnum, (stored, lengths, columns) in enumerate(self._docs):
            perdoc.start_doc(docnum)
            for name in sorted(set(stored) | set(lengths)):
                perdoc.add_field(name, schema[name], stored.get(name), lengths.get(name, 0))
            for name, value in columns.items():
                fieldobj = schema[name]
                perdoc.add_column_value(name, fieldobj.column_type, fieldobj.to_column_value(value))
            perdoc.finish_doc()
        perdoc.close()
        terms = codec.CODEC.field_writer(storage, segment)
        for name in sorted(self._postings):
            postings = self._postings[name]
            if not postings:
                continue
            if name == PAIRED:
                postings = _bucketed(postings)
            lengths = [doc_lengths.get(name, 0) for _, doc_lengths, _ in self._docs]
            terms.start_field(name, schema[name])
            field_id = codec.field_key(terms)
            # A rare term's few postings go in its entry of the term table, as Whoosh's own writer
            # means to (it misnames the method and never does); such entries, most of a large
            # vocabulary, are written together.
            entries: list[tuple[bytes, bytes]] = []
            for term in sorted(postings):
                ids, weights, values = postings[term]
                if len(ids) < _INLINED_BELOW:
                    entries.append((field_id + term, codec.inlined(ids, weights, values, lengths)))
                    continue
                codec.add_entries(terms, entries)
                entries.clear()
                terms.start_term(term)
                codec.write_postings(terms, ids, weights, values, lengths)
                terms.finish_term()
            codec.add_entries(terms, entries)
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


def live(segments: Iterable[Any]) -> list[Any]:
    """The segments that still hold a document not deleted."""
    return [segment for segment in segments if segment.deleted_count() < segment.doc_count_all()]


def linked_segments(source: Path, target: Path) -> list:
    """Hard-link the segments of the index at source into the folder of the index at target; the
    segments, for the target's next TOC."""
    storage = FileStorage(str(source))
    segments = whoosh_index.TOC.read(storage, codec.INDEX_NAME).segments
    for segment in segments:
        for name in segment.list_files(storage):
            os.link(source / name, target / name)
    return list(segments)


def link_segments(sources: list[tuple[Path, list[bool]]], target: Path) -> None:
    """Make the empty index at target hold the segments of the source indexes, by hard links, each
    source given with whether each of its documents (in the order written) is for the target; those
    that are not are marked deleted in the target's TOC, and a segment with none that is is left out."""
    segments = []
    for source, wanted in sources:
        storage = FileStorage(str(source))
        first = 0
        for segment in whoosh_index.TOC.read(storage, codec.INDEX_NAME).segments:
            count = segment.doc_count_all()
            for docnum, kept in enumerate(wanted[first : first + count]):
                if not kept:
                    segment.delete_document(docnum)
            first += count
            if segment.deleted_count() < count:
                for name in segment.list_files(storage):
                    os.link(source / name, target / name)
                segments.append(segment)
        if first != len(wanted):
            raise ValueError(f"{source} holds {first} documents, not the {len(wanted)} written")
    if segments:
        index = whoosh_index.open_dir(str(target))
        toc = whoosh_index.TOC(index.schema, segments, index.latest_generation() + 1)
        toc.write(index.storage, codec.INDEX_NAME)
