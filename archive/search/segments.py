"""Writing segments of the testimony index: postings gathered in lists as documents arrive, then
written a block at a time in the very format Whoosh reads and merges (through `codec`)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from whoosh import index as whoosh_index
from whoosh.filedb.filestore import FileStorage
from whoosh.system import pack_uint

from archive.search import codec
from archive.search.analysis import PAIR_KEPT_FROM, bucket_term, pair_bucket_number
from archive.search.fields import PAIRED, testimony_schema

# A term of fewer postings keeps them in its entry of the term table, not in a block of its own.
_INLINED_BELOW = 64
# Words gathered in memory (the terms of every indexed field, repeats counted) before they are
# written out as a segment: some 3,000 testimonies of 5,000 words, about 1.5 GB of lists in a
# writer of all fields; a larger archive gets more segments. Counted over every field by a writer of
# some fields too, so that writers of the same documents cut their segments at the same ones.
SEGMENT_WORDS = 130_000_000


class SegmentWriter:
    """Writes a new index at `path`, through Whoosh's codec but not its writer.

    Whoosh's writer pools every posting as a tuple, sorts the pool, spills it to disk and merges it
    back, then adds the postings one call at a time: most of a rebuild's time. Here the postings of
    each term are gathered in lists as documents arrive, and written a block at a time, in the
    very format Whoosh reads (and merges): one segment, or one per `segment_words` words.

    With `fields`, only those fields' postings are gathered, and with `per_document` False, no
    stored value, field length or column is written: another writer of the same documents writes
    them and the other fields, and `combine` makes the two one index. Such a writer leaves its
    segments' files apart (`compound` False), as `combine` reads and writes them.
    """

    def __init__(
        self,
        path: Path,
        fields: frozenset[str] | None = None,
        per_document: bool = True,
        compound: bool = True,
        segment_words: int = SEGMENT_WORDS,
    ) -> None:
        self._index = whoosh_index.create_in(str(path), testimony_schema())
        self._schema = self._index.schema
        self._per_document = per_document
        self._compound = compound
        self._segments: list[Any] = []
        self._docs: list[tuple[dict[str, Any], dict[str, int], dict[str, Any]]] = []
        self._postings: dict[str, dict[bytes, tuple[list, list, list]]] = {
            name: {}
            for name in self._schema.names()
            if self._schema[name].indexed and (fields is None or name in fields)
        }
        self._gathered = 0
        self._segment_words = segment_words
        self.is_closed = False

    def add_document(self, fields: dict[str, Any], lengths: Mapping[str, int] | None = None) -> None:
        """Add a document's field values (`documents.fields_of`); `lengths` gives those of the
        indexed fields whose values went to another writer of the same documents only (see
        `building.parted`), `field_length` of each."""
        docnum = len(self._docs)
        stored: dict[str, Any] = {}
        scored: dict[str, int] = {}
        columns: dict[str, Any] = {}
        for name, length in (lengths or {}).items():
            if length and self._schema[name].scorable:
                scored[name] = length
            self._gathered += length
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
            postings = self._postings.get(name)
            if postings is None:
                # Another writer's field: only its length is kept.
                length = field_length(fieldobj, value)
                if length and fieldobj.scorable:
                    scored[name] = length
                self._gathered += length
                continue
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
            self._gathered += length
            if fieldobj.scorable and length:
                scored[name] = length
        self._docs.append((stored, scored, columns) if self._per_document else ({}, scored, {}))
        if self._gathered >= self._segment_words:
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
        if self._per_document:
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
        if self._compound:
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
    buckets: dict[int, dict[int, int]] = {}
    for term, found in postings.items():
        ids, counts = found[0], found[1]
        if len(ids) >= PAIR_KEPT_FROM:
            kept[term] = found
            continue
        number = pair_bucket_number(term)
        bucket = buckets.get(number)
        if bucket is None:
            bucket = buckets[number] = {}
        for docnum, count in zip(ids, counts, strict=True):
            bucket[docnum] = bucket.get(docnum, 0) + count
    for number, counts in buckets.items():
        ids = sorted(counts)
        weights = [counts[docnum] for docnum in ids]
        kept[bucket_term(number).encode("utf-8")] = (ids, weights, [pack_uint(weight) for weight in weights])
    return kept


def field_length(fieldobj: Any, value: Any) -> int:
    """How many terms a field's value gives (what its postings' counts add up to): a term list's
    length, read without encoding its positions."""
    if value is None:
        return 0
    if isinstance(value, list | tuple):
        return len(value)
    return sum(count for _, count, _, _ in fieldobj.index(value))


def combine(first: Path, others: list[Path]) -> None:
    """Make the index at first hold the postings the indexes at others hold of the same documents:
    written by writers of other fields (see `SegmentWriter`), they cut their segments at the same
    documents. Each segment's term tables become one and its postings follow each other, then its
    files are made one (the others' folders are left empty of segments)."""
    storage = FileStorage(str(first))
    toc = whoosh_index.TOC.read(storage, codec.INDEX_NAME)
    theirs = [(FileStorage(str(other)), codec.toc_segments(other)) for other in others]
    for n, segment in enumerate(toc.segments):
        parts = []
        for other, segments in theirs:
            if len(segments) != len(toc.segments) or segments[n].doc_count_all() != segment.doc_count_all():
                raise ValueError(f"{first} and its other fields' index hold other documents")
            parts.append((other, segments[n]))
        codec.combine_terms(storage, segment, parts)
        segment.create_compound_file(storage)
        segment.compound = True
    toc.generation += 1
    toc.write(storage, codec.INDEX_NAME)


def live(segments: Iterable[Any]) -> list[Any]:
    """The segments that still hold a document not deleted."""
    return [segment for segment in segments if segment.deleted_count() < segment.doc_count_all()]


def linked_segments(source: Path, target: Path, wanted: list[bool] | None = None) -> list:
    """Hard-link the segments of the index at source into the folder of the index at target; the
    segments, for the target's next TOC. With `wanted`, whether each of the source's documents (in
    the order written) is for the target: those that are not are marked deleted in the segments
    given back, and a segment with none that is is neither linked nor given back."""
    storage = FileStorage(str(source))
    segments = codec.toc_segments(source)
    if wanted is not None:
        first = 0
        for segment in segments:
            count = segment.doc_count_all()
            for docnum, kept in enumerate(wanted[first : first + count]):
                if not kept:
                    segment.delete_document(docnum)
            first += count
        if first != len(wanted):
            raise ValueError(f"{source} holds {first} documents, not the {len(wanted)} written")
        segments = live(segments)
    for segment in segments:
        for name in segment.list_files(storage):
            os.link(source / name, target / name)
    return segments


def link_segments(sources: list[tuple[Path, list[bool]]], target: Path) -> None:
    """Make the empty index at target hold the segments of the source indexes, by hard links, each
    source given with whether each of its documents is for the target (see `linked_segments`)."""
    segments = [segment for source, wanted in sources for segment in linked_segments(source, target, wanted)]
    if segments:
        index = whoosh_index.open_dir(str(target))
        toc = whoosh_index.TOC(index.schema, segments, index.latest_generation() + 1)
        toc.write(index.storage, codec.INDEX_NAME)
