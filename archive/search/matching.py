"""Evaluating a rewritten query over the testimony index's postings: which testimonies match and how
well (BM25F, as Whoosh scores), and in which of their transcript segments.

Whoosh's matchers walk postings one call at a time; here each term's posting list is read a block at
a time into plain lists and combined with dictionaries, and passages are read from the postings of
the few testimonies shown (word positions, which the transcript column turns into segments), never
from all of them. Ranking and passages walk a query's AND, OR and NOT through one evaluator
(`_evaluate`); they differ in what a word matches. Postings are read through `codec`.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from itertools import chain, pairwise, repeat
from math import log
from typing import Any

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein
from whoosh import query as wq
from whoosh.reading import SegmentReader

from archive.search import codec
from archive.search.analysis import pair_bucket
from archive.search.documents import Transcript
from archive.search.fields import COUNTED_AS, MARKS_WORDS, PAIRED, PHRASED, PREFIXED

# Whoosh's BM25F defaults.
_B = 0.75
_K1 = 1.2
# What each more part of a query a passage holds adds to its score: more than any score of terms.
_HELD = 1e6


class Matching:
    """One query's view of a searcher: expansions of prefixes and fuzzy words are made once and shared
    by ranking, passages and marks; what is read of a segment for every query (field lengths, the
    transcript column's reader) is kept in `cache`, shared with later queries: a segment's files
    never change."""

    def __init__(self, searcher: Any, cache: dict[tuple[str, str], Any]) -> None:
        self.searcher = searcher
        self.reader = searcher.reader()
        # An empty index reads as an EmptyReader: it has no postings to read.
        self.leaves = [
            (leaf, offset) for leaf, offset in self.reader.leaf_readers() if isinstance(leaf, SegmentReader)
        ]
        self.count = self.reader.doc_count_all() or 1
        self._cache = cache
        self._expanded: dict[tuple, list[str]] = {}
        self._idf: dict[tuple[str, str], float] = {}
        self._transcripts: dict[int, Transcript] = {}
        self._items: dict[tuple, list[tuple[str, Any]]] = {}
        # Docnum to the sorted lists of word positions the passages' query matched in it: the words
        # a snippet marks (see `spotted`), sorted out for the segments shown only.
        self._spots: dict[int, list[list[int]]] = {}

    # Ranking

    def scores(self, query: wq.Query) -> dict[int, float]:
        """Docnum to score of every live document matching the query."""
        found: dict[int, float] = {}
        for leaf, offset in self.leaves:
            deleted = leaf.deleted_docs_set if leaf.has_deletions() else frozenset()
            local = self._docs(query, leaf, deleted)
            if offset:
                found.update((docnum + offset, score) for docnum, score in local.items())
            else:
                found.update(local)
        return found

    def _docs(self, node: wq.Query, leaf: Any, deleted: Any) -> dict[int, float]:
        """Local docnum to score of the live documents of one segment matching the query."""

        def everything_but(excluded: dict[int, float]) -> dict[int, float]:
            return {d: 0.0 for d in range(leaf.doc_count_all()) if d not in excluded and d not in deleted}

        return _evaluate(node, lambda word: self._word_docs(word, leaf, deleted), everything_but)

    def _word_docs(self, node: wq.Query, leaf: Any, deleted: Any) -> dict[int, float]:
        fieldname = getattr(node, "fieldname", None)
        counted = COUNTED_AS.get(fieldname, fieldname)
        if isinstance(node, wq.Term) and not isinstance(node, wq.FuzzyTerm):
            return self._term(leaf, deleted, counted, node.text, node.boost)
        if isinstance(node, wq.Phrase):
            if node.fieldname == PHRASED and node.slop <= 1:
                # Testimonies holding each word pair of the phrase, scored by how often they do;
                # positions are read only to tell a longer phrase from its pairs found apart.
                pairs = list(pairwise(node.words))
                found = _intersection([self._pair(leaf, deleted, *pair, node.boost) for pair in pairs])
                if len(pairs) == 1 or not found:
                    return found
            else:
                found = self._docs(_words_of(node), leaf, deleted)
                if node.fieldname != PHRASED or not found:
                    return found
            starts = self._phrase_matches(leaf, node, sorted(found))
            return {docnum: score for docnum, score in found.items() if starts.get(docnum)}
        if isinstance(node, wq.Prefix) and node.fieldname == PREFIXED:
            # Words' beginnings, each scored as a word: how often the testimony uses words so begun.
            return _union(
                self._term(leaf, deleted, PREFIXED, text, node.boost)
                for text, _ in self._prefixed(leaf, node)
            )
        if isinstance(node, wq.Prefix):
            # Every word a prefix stands for counts the same, as in Whoosh: no scoring, only documents.
            found: dict[int, float] = {}
            for _, info in self._prefixed(leaf, wq.Prefix(counted, node.text)):
                found.update(dict.fromkeys(codec.info_ids(leaf, counted, info), node.boost))
            _remove(found, deleted)
            return found
        if isinstance(node, wq.Wildcard):
            found = {}
            for text in self.expand(node):
                found.update(dict.fromkeys(codec.postings(leaf, counted, text)[0], node.boost))
            _remove(found, deleted)
            return found
        if isinstance(node, wq.FuzzyTerm):
            return _union(self._term(leaf, deleted, counted, t, node.boost) for t in self.expand(node))
        raise TypeError(f"cannot match {node!r}")

    def _term(self, leaf: Any, deleted: Any, fieldname: str, text: str, boost: float) -> dict[int, float]:
        info = codec.term_info(leaf, fieldname, text)
        if info is None:
            return {}
        ids, weights = codec.info_postings(leaf, fieldname, info)
        return self._scored(leaf, deleted, fieldname, text, boost, ids, weights, info.doc_frequency())

    def _scored(
        self,
        leaf: Any,
        deleted: Any,
        fieldname: str,
        text: str,
        boost: float,
        ids: Sequence[int],
        weights: Sequence[float],
        frequency: int | None = None,
    ) -> dict[int, float]:
        """BM25F of a term's postings in one segment (`frequency`: see `idf`)."""
        lengths = self._field_lengths(leaf, fieldname)
        average = self.reader.field_length(fieldname) / self.count or 1.0
        factor = boost * self.idf(fieldname, text, frequency) * (_K1 + 1)
        norm = _K1 * (1 - _B)
        slope = _K1 * _B / average
        return {
            docnum: factor * weight / (weight + norm + slope * lengths[docnum])
            for docnum, weight in zip(ids, weights, strict=True)
            if docnum not in deleted
        }

    def _pair(self, leaf: Any, deleted: Any, first: str, second: str, boost: float) -> dict[int, float]:
        """Documents of one segment where two words follow each other, scored by how often: those the
        pair's own term lists, and those of its bucket (see `analysis.pair_bucket`) where the words'
        positions say so."""
        pair = f"{first} {second}"
        found = self._term(leaf, deleted, PAIRED, pair, boost)
        maybe = [
            docnum
            for docnum in codec.postings(leaf, PAIRED, pair_bucket(pair))[0]
            if docnum not in found and docnum not in deleted
        ]
        if maybe:
            matches = self._phrase_matches(leaf, wq.Phrase(PHRASED, [first, second]), maybe)
            if matches:
                ids = sorted(matches)
                weights = [len(matches[docnum]) for docnum in ids]
                found.update(self._scored(leaf, deleted, PAIRED, pair, boost, ids, weights))
        return found

    def idf(self, fieldname: str, text: str, frequency: int | None = None) -> float:
        """A term's inverse document frequency in the index. `frequency`: how many documents of the
        segment its postings were just read from hold it, which is the index's count when the index
        is that one segment (as it mostly is), rather than the term looked up again."""
        key = (fieldname, text)
        found = self._idf.get(key)
        if found is None:
            if frequency is None or len(self.leaves) != 1:
                frequency = self.reader.doc_frequency(fieldname, text)
            found = self._idf[key] = log(self.count / (frequency + 1)) + 1
        return found

    def _field_lengths(self, leaf: Any, fieldname: str) -> list[int]:
        key = (leaf.segment().segment_id(), fieldname)
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = [
                leaf.doc_field_length(docnum, fieldname, 0) for docnum in range(leaf.doc_count_all())
            ]
        return found

    def _vocabulary(self, leaf: Any, fieldname: str) -> list[str]:
        """A segment's terms of a field, in order, in memory: a fuzzy word's automaton steps through
        them thousands of times, each a search of the term table on disk otherwise."""
        key = (leaf.segment().segment_id(), f"vocabulary:{fieldname}")
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = codec.field_terms(leaf, fieldname)
        return found

    def _column(self, leaf: Any, name: str) -> Any:
        """A segment's column reader, its values as stored (opening one reads the column's table of
        offsets)."""
        key = (leaf.segment().segment_id(), f"column:{name}")
        found = self._cache.get(key)
        if found is None:
            found = self._cache[key] = leaf.column_reader(name, translate=False)
        return found

    # Expansions

    def expand(self, node: wq.Query) -> list[str]:
        """The indexed terms a prefix, wildcard or fuzzy word stands for, found once per query."""
        if isinstance(node, wq.FuzzyTerm):
            key: tuple = ("~", node.fieldname, node.text, node.maxdist, node.prefixlength)
        else:
            key = (type(node).__name__, node.fieldname, node.text)
        found = self._expanded.get(key)
        if found is None:
            found = self._expanded[key] = sorted(self._expansion(node))
        return found

    def _prefixed(self, leaf: Any, node: wq.Prefix) -> list[tuple[str, Any]]:
        """(term, term info) of every term of one segment a prefix stands for, read in one pass along
        its term table (looking each term up again costs more than reading its postings)."""
        key = (id(leaf), node.fieldname, node.text)
        found = self._items.get(key)
        if found is None:
            found = self._items[key] = []
            prefix = node.text.encode("utf-8")
            found += [
                (term.decode("utf-8"), info) for term, info in codec.terms_from(leaf, node.fieldname, prefix)
            ]
        return found

    def _expansion(self, node: wq.Query) -> set[str]:
        fieldname, text = node.fieldname, node.text
        terms: set[str] = set()
        for leaf, _ in self.leaves:
            if isinstance(node, wq.Prefix):
                terms.update(term for term, _ in self._prefixed(leaf, node))
            elif isinstance(node, wq.Wildcard):
                terms.update(t.decode("utf-8") for t in codec.wildcard_terms(node, leaf))
            elif fieldname in leaf.indexed_field_names():
                terms.update(_near(self._vocabulary(leaf, fieldname), text, node.maxdist, node.prefixlength))
        return terms

    def _phrase_matches(
        self, leaf: Any, node: wq.Phrase, docnums: list[int]
    ) -> dict[int, list[tuple[int, ...]]]:
        """Local docnum to the phrase's matches (its words' positions), of those documents of one
        segment (their words' positions are read only for them)."""
        found: dict[int, list[tuple[int, ...]]] = {}
        located = [dict(codec.positions(leaf, PHRASED, word, docnums)) for word in node.words]
        for docnum in docnums:
            positions = [at.get(docnum) for at in located]
            if all(positions):
                matches = _matches(positions, max(1, node.slop))
                if matches:
                    found[docnum] = matches
        return found

    # Passages

    def places(self, query: wq.Query, docnums: Iterable[int]) -> dict[tuple[int, int], float]:
        """(docnum, segment number) to score, for every segment of those documents the query matches.

        A term counts its idf and its saturated frequency in the segment (BM25F without the length
        of the segment: segments are of about a minute each); prefixes and wildcards count the same.
        A segment holding more of the query's parts (its words, phrases) comes first, however many
        forms of each it holds: a word looked for by many forms (a name in every script) would
        otherwise outweigh the others.
        """
        wanted = sorted(set(docnums))
        if not wanted:
            return {}
        if not isinstance(query, wq.Or) or all(isinstance(part, wq.Term) for part in query.subqueries):
            # One word (the forms of one word), or a part that is not to be counted apart.
            return self._places(query, wanted)
        parts = [self._places(part, wanted) for part in query.subqueries]
        found = _union(parts)
        # The segments more than one part holds, found by set operations (most hold one).
        seen: set[tuple[int, int]] = set()
        shared: set[tuple[int, int]] = set()
        for part in parts:
            shared |= seen & part.keys()
            seen |= part.keys()
        for key in shared:
            found[key] += _HELD * (sum(key in part for part in parts) - 1)
        return found

    def _places(self, node: wq.Query, docnums: list[int]) -> dict[tuple[int, int], float]:
        # A segment is a passage for what it holds, never for what it lacks: NOT leaves no segment.
        return _evaluate(node, lambda word: self._word_places(word, docnums), lambda _excluded: {})

    def _word_places(self, node: wq.Query, docnums: list[int]) -> dict[tuple[int, int], float]:
        if isinstance(node, wq.Term) and not isinstance(node, wq.FuzzyTerm):
            return self._located(node.fieldname, node.text, node.boost, docnums)
        if isinstance(node, wq.Phrase):
            if node.fieldname != PHRASED:
                return self._places(_words_of(node), docnums)
            found = {}
            size = len(node.words)
            for leaf, offset, local in self._by_leaf(docnums):
                for docnum, matches in self._phrase_matches(leaf, node, local).items():
                    docnum += offset
                    for place, count in self._counts(docnum, [match[0] for match in matches]).items():
                        found[docnum, place] = node.boost * size * count / (count + _K1)
                    # The phrase's words where they stand (within slop of each other, not all adjacent).
                    self._spots.setdefault(docnum, []).append(sorted(chain.from_iterable(matches)))
            return found
        if isinstance(node, wq.Prefix) and node.fieldname == PREFIXED:
            return _union(self._located(PREFIXED, text, node.boost, docnums) for text in self.expand(node))
        if isinstance(node, wq.Prefix):
            found = {}
            for leaf, offset, local in self._by_leaf(docnums):
                low, high = local[0], local[-1]
                for _, info in self._prefixed(leaf, node):
                    # A term's table entry says which documents its postings span.
                    if info.min_id() > high or info.max_id() < low:
                        continue
                    for docnum, positions in codec.info_positions(leaf, node.fieldname, info, local):
                        docnum += offset
                        if node.fieldname in MARKS_WORDS:
                            self._spots.setdefault(docnum, []).append(positions)
                        for place in self._counts(docnum, positions):
                            found[docnum, place] = node.boost
            return found
        if isinstance(node, wq.FuzzyTerm | wq.Wildcard):
            constant = isinstance(node, wq.Wildcard)
            found: dict[tuple[int, int], float] = {}
            for text in self.expand(node):
                for key, score in self._located(node.fieldname, text, node.boost, docnums, constant).items():
                    found[key] = node.boost if constant else found.get(key, 0.0) + score
            return found
        raise TypeError(f"cannot match {node!r}")

    def _located(
        self, fieldname: str, text: str, boost: float, docnums: list[int], constant: bool = False
    ) -> dict:
        found: dict[tuple[int, int], float] = {}
        marked = fieldname in MARKS_WORDS
        for leaf, offset, local in self._by_leaf(docnums):
            info = codec.term_info(leaf, fieldname, text)
            if info is None:
                continue
            factor = boost
            if not constant:
                factor *= self.idf(fieldname, text, info.doc_frequency()) * (_K1 + 1)
            for docnum, positions in codec.info_positions(leaf, fieldname, info, local):
                docnum += offset
                if marked:
                    self._spots.setdefault(docnum, []).append(positions)
                for place, count in self._counts(docnum, positions).items():
                    found[docnum, place] = factor * count / (count + _K1)
        return found

    def _counts(self, docnum: int, positions: list[int]) -> dict[int, int]:
        """Segment number to how many of the (sorted) positions are in it."""
        starts = self.transcript(docnum).starts
        if len(positions) <= len(starts):
            # The segment number (from 1; 0 for the describing texts) of each position.
            counts = Counter(map(bisect_right, repeat(starts), positions))
            counts.pop(0, None)
            return counts
        # More positions than segments (a common word): cut the positions at the segments' starts.
        cuts = [*map(bisect_left, repeat(positions), starts), len(positions)]
        return {place: high - low for place, (low, high) in enumerate(pairwise(cuts), start=1) if high > low}

    def forget_spots(self) -> None:
        """Forget what the passages' queries so far matched (before another is asked)."""
        self._spots.clear()

    def spotted(self, docnum: int, place: int) -> list[int]:
        """The positions in segment `place` of a testimony that the passages' query matched (the
        words a snippet marks), of the words of the segment's text."""
        starts = self.transcript(docnum).starts
        first = starts[place - 1]
        after = starts[place] if place < len(starts) else None
        found: set[int] = set()
        for positions in self._spots.get(docnum, ()):
            low = bisect_left(positions, first)
            high = len(positions) if after is None else bisect_left(positions, after, low)
            found.update(positions[low:high])
        return sorted(found)

    def _by_leaf(self, docnums: list[int]) -> Iterable[tuple[Any, int, list[int]]]:
        for leaf, offset in self.leaves:
            local = [d - offset for d in docnums if offset <= d < offset + leaf.doc_count_all()]
            if local:
                yield leaf, offset, local

    def transcript(self, docnum: int) -> Transcript:
        """A testimony's transcript, read once per query."""
        found = self._transcripts.get(docnum)
        if found is None:
            found = Transcript()
            for leaf, offset, _ in self._by_leaf([docnum]):
                found = Transcript(codec.column_value(self._column(leaf, "transcript"), docnum - offset))
            self._transcripts[docnum] = found
        return found


def _near(vocabulary: list[str], text: str, maxdist: int, prefixlength: int) -> list[str]:
    """The terms of a sorted vocabulary within `maxdist` edits of text (insertions, deletions,
    substitutions) that begin with its first `prefixlength` letters, as Whoosh's FuzzyTerm finds
    them, measured by rapidfuzz over those terms only (Whoosh's automaton, stepped in Python, took
    some 10 ms a word)."""
    prefix = text[:prefixlength]
    low = bisect_left(vocabulary, prefix)
    high = bisect_left(vocabulary, prefix + "\U0010ffff") if prefix else len(vocabulary)
    near = process.extract_iter(text, vocabulary[low:high], scorer=Levenshtein.distance, score_cutoff=maxdist)
    return [term for term, _, _ in near]


def _words_of(node: wq.Phrase) -> wq.Query:
    return wq.And([wq.Term(node.fieldname, w, boost=node.boost) for w in node.words])


def _matches(positions: list[list[int]], slop: int) -> list[tuple[int, ...]]:
    """Where words at these positions follow each other in order, each within slop of the last: the
    positions of the words of each such match."""
    if slop == 1:
        # Adjacent words, the usual phrase: a set operation per word, not a step per position.
        adjacent = set(positions[0])
        for offset, following in enumerate(positions[1:], start=1):
            adjacent.intersection_update([position - offset for position in following])
        size = len(positions)
        return [tuple(range(start, start + size)) for start in sorted(adjacent)]
    found = []
    rest = positions[1:]
    for start in positions[0]:
        match = [start]
        for following in rest:
            index = bisect_right(following, match[-1])
            if index == len(following) or following[index] > match[-1] + slop:
                break
            match.append(following[index])
        else:
            found.append(tuple(match))
    return found


def _evaluate(node: wq.Query, word: Callable[[wq.Query], dict], negated: Callable[[dict], dict]) -> dict:
    """The one walk of a query's boolean structure, for ranking (docnum to score) and for passages
    ((docnum, segment) to score) alike: `word` gives what a word, phrase, prefix or fuzzy word
    matches, `negated` what a NOT of such matches leaves; AND intersects and adds, OR unites and adds,
    AND NOT takes away, and a "maybe" adds only where its first part matched."""
    if isinstance(node, wq.Or):
        return _union(_evaluate(child, word, negated) for child in node.subqueries)
    if isinstance(node, wq.And):
        positive = [c for c in node.subqueries if not isinstance(c, wq.Not)]
        negative = [c.query for c in node.subqueries if isinstance(c, wq.Not)]
        found = _intersection([_evaluate(child, word, negated) for child in positive])
        for child in negative:
            _remove(found, _evaluate(child, word, negated))
        return found
    if isinstance(node, wq.AndNot):
        found = _evaluate(node.a, word, negated)
        _remove(found, _evaluate(node.b, word, negated))
        return found
    if isinstance(node, wq.Require):
        required = _evaluate(node.b, word, negated)
        return {key: score for key, score in _evaluate(node.a, word, negated).items() if key in required}
    if isinstance(node, wq.AndMaybe):
        found = _evaluate(node.a, word, negated)
        if found:
            for key, score in _evaluate(node.b, word, negated).items():
                if key in found:
                    found[key] += score
        return found
    if isinstance(node, wq.Not):
        return negated(_evaluate(node.query, word, negated))
    return word(node)


def _union(parts: Iterable[dict]) -> dict:
    found: dict = {}
    for part in parts:
        if not found:
            found = dict(part)
            continue
        for key, score in part.items():
            found[key] = found.get(key, 0.0) + score
    return found


def _intersection(parts: list[dict]) -> dict:
    if not parts:
        return {}
    parts = sorted(parts, key=len)
    found = dict(parts[0])
    for part in parts[1:]:
        found = {key: score + part[key] for key, score in found.items() if key in part}
        if not found:
            break
    return found


def _remove(found: dict, excluded: dict) -> None:
    for key in excluded:
        found.pop(key, None)
