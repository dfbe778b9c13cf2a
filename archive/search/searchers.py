"""An audience's searcher at one moment (a `Snapshot`) and what is read of it once for every
search: its testimonies' entries by document number, facet members, per-segment caches."""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from whoosh.reading import SegmentReader
from whoosh.searching import Searcher

from archive.authority.service import NAMED_FACETS, FacetNames
from archive.search.codec import latest_searcher, open_mapped
from archive.search.documents import TestimonyEntry


@dataclass(frozen=True)
class FacetGroups:
    """A snapshot's facet values as one `FacetNames` groups them: one place typed three ways is one
    value, shown under the entry's preferred name, else the form most of its testimonies use.

    `key_of`: (facet, value) -> its group's key (filters compare these). `shown`: (facet, value)
    -> (facet, the group's shown value); `shown_of`: (facet, group key) -> the same. `bits`:
    (facet, shown value) -> the docnums counted in it, as `facet_bits`. `forms`: (facet, shown
    value) -> the values it stands for, the commonest first. Facets that are not names are their
    own groups.
    """

    key_of: dict[tuple[str, Any], Any]
    shown: dict[tuple[str, Any], tuple[str, Any]]
    shown_of: dict[tuple[str, Any], tuple[str, Any]]
    bits: dict[tuple[str, Any], int]
    forms: dict[tuple[str, Any], tuple[Any, ...]]


def _grouped(facet_bits: dict[tuple[str, Any], int], names: FacetNames) -> FacetGroups:
    key_of: dict[tuple[str, Any], Any] = {}
    members: dict[tuple[str, Any], list[tuple[int, Any, int]]] = defaultdict(list)
    preferred: dict[tuple[str, Any], str] = {}
    for (facet, value), bits in facet_bits.items():
        if facet in NAMED_FACETS:
            key, entry_name = names.group(facet, value)
            if entry_name is not None:
                preferred[(facet, key)] = entry_name
        else:
            key = value
        key_of[(facet, value)] = key
        members[(facet, key)].append((-bits.bit_count(), value, bits))
    shown: dict[tuple[str, Any], tuple[str, Any]] = {}
    shown_of: dict[tuple[str, Any], tuple[str, Any]] = {}
    grouped_bits: dict[tuple[str, Any], int] = {}
    forms: dict[tuple[str, Any], tuple[Any, ...]] = {}
    for (facet, key), found in members.items():
        found.sort(key=lambda member: (member[0], str(member[1])))
        label = shown_of[(facet, key)] = (facet, preferred.get((facet, key), found[0][1]))
        union = 0
        for _, value, bits in found:
            shown[(facet, value)] = label
            union |= bits
        grouped_bits[label] = union
        forms[label] = tuple(value for _, value, _ in found)
    return FacetGroups(key_of, shown, shown_of, grouped_bits, forms)


class KeptAnswers:
    """The answers given at one moment of an index, kept so that a search asked again is not
    worked out again, in a way the long tail of searches typed once cannot flush (the "2Q" cache of
    Johnson and Shasha): a new answer is kept on trial, in a fifth of the room; the questions whose
    answers left the trial are remembered, keys only, for twice the room; a question asked again
    while its answer or its key is remembered goes to the protected part, the rest of the room,
    whose least recently asked answer leaves it when it is full."""

    TRIAL_SHARE = 5
    REMEMBERED = 2

    def __init__(self) -> None:
        self._trial: OrderedDict[tuple, Any] = OrderedDict()
        self._protected: OrderedDict[tuple, Any] = OrderedDict()
        self._asked: OrderedDict[tuple, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._trial) + len(self._protected)

    def get(self, key: tuple) -> Any:
        found = self._protected.get(key)
        if found is not None:
            self._protected.move_to_end(key)
            return found
        return self._trial.get(key)

    def keep(self, key: tuple, answer: Any, room: int) -> None:
        """Keep an answer (or one just given again), at most `room` answers in all."""
        trial = max(1, room // self.TRIAL_SHARE)
        protected = room - trial
        remembered = key in self._asked
        if remembered:
            del self._asked[key]
        again = remembered or key in self._protected or key in self._trial
        if again and protected > 0:
            self._trial.pop(key, None)
            self._protected[key] = answer
            self._protected.move_to_end(key)
        else:
            self._trial[key] = answer
            self._trial.move_to_end(key)
        while len(self._protected) > protected:
            self._forget(self._protected.popitem(last=False)[0], room)
        while len(self._trial) > trial:
            self._forget(self._trial.popitem(last=False)[0], room)

    def _forget(self, key: tuple, room: int) -> None:
        self._asked[key] = None
        while len(self._asked) > room * self.REMEMBERED:
            self._asked.popitem(last=False)


@dataclass
class Snapshot:
    """An audience's searcher at one moment, with a table of its testimonies by docnum."""

    testimonies: Searcher | None
    _entries: dict[int, TestimonyEntry] | None = field(default=None, repr=False)
    _docnums: dict[int, int] | None = field(default=None, repr=False)
    # Segment id to {docnum in the segment: entry}, shared with the audience's later snapshots: a
    # segment's stored documents never change, so each is read once, not once per commit.
    _known: dict[str, dict[int, TestimonyEntry]] = field(default_factory=dict, repr=False)
    # (segment id, what) to what was read of a segment once for every query: a field's length in
    # each document, a column's reader, the folded words' list. Shared likewise.
    cache: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)
    # (facet, value) to the docnums counted in it, as the bits of one integer (`facet_bits`).
    _facet_bits: dict[tuple[str, Any], int] | None = field(default=None, repr=False)
    # The facet values grouped (`facet_groups`), with the `FacetNames` they were grouped by.
    _groups: tuple[FacetNames, FacetGroups] | None = field(default=None, repr=False)
    # Docnum to the shown facet values its testimony counts in (`shown_keys`), with their groups.
    _shown_keys: tuple[FacetGroups, dict[int, tuple]] | None = field(default=None, repr=False)
    # The answers given at this moment of the index (`query.search` keeps them): never shared with
    # a later snapshot, so a commit to the index is the end of every one of them.
    answers: KeptAnswers = field(default_factory=KeptAnswers, repr=False)
    # The name keys of the words of the places and people its testimonies name
    # (`query._name_words`), made at the first search that asks, never shared with a later snapshot.
    name_keys: frozenset[str] | None = field(default=None, repr=False)

    @property
    def entries(self) -> dict[int, TestimonyEntry]:
        """Docnum to entry, made once per snapshot: facets are counted from it, not from Whoosh."""
        if self._entries is None:
            self._entries = {}
            if self.testimonies is not None:
                seen = set()
                for reader, offset in self.testimonies.reader().leaf_readers():
                    segment = reader.segment() if isinstance(reader, SegmentReader) else None
                    if segment is None:
                        for docnum, stored in reader.iter_docs():
                            self._entries[offset + docnum] = TestimonyEntry(**stored["meta"])
                        continue
                    segid = segment.segment_id()
                    seen.add(segid)
                    known = self._known.get(segid)
                    if known is None:
                        # Deleted documents are left out: a deletion is never undone.
                        known = self._known[segid] = {
                            docnum: TestimonyEntry(**stored["meta"]) for docnum, stored in reader.iter_docs()
                        }
                    for docnum, entry in known.items():
                        if not reader.is_deleted(docnum):
                            self._entries[offset + docnum] = entry
                for segid in set(self._known) - seen:
                    del self._known[segid]
                for key in [key for key in self.cache if key[0] not in seen]:
                    del self.cache[key]
        return self._entries

    @property
    def facet_bits(self) -> dict[tuple[str, Any], int]:
        """(facet, value) to the set of docnums counted in it, as an integer's bits: a facet's count
        over a result is one AND and a bit count, not a step per testimony."""
        if self._facet_bits is None:
            members: dict[tuple[str, Any], list[int]] = defaultdict(list)
            for docnum, entry in self.entries.items():
                for key in entry.facet_keys:
                    members[key].append(docnum)
            self._facet_bits = {key: bits_of(docnums) for key, docnums in members.items()}
        return self._facet_bits

    def facet_groups(self, names: FacetNames) -> FacetGroups:
        """The facet values grouped by `names`, made once per snapshot and authority."""
        groups = self._groups
        if groups is None or groups[0] is not names:
            groups = self._groups = (names, _grouped(self.facet_bits, names))
        return groups[1]

    def shown_keys(self, names: FacetNames) -> dict[int, tuple[tuple[str, Any], ...]]:
        """Docnum to the (facet, shown value) pairs its testimony is counted in, each once, as
        `facet_groups(names)` shows them: made once per snapshot and authority, so counting the
        facets of a few testimonies is counting these, not grouping each testimony's values again."""
        groups = self.facet_groups(names)
        found = self._shown_keys
        if found is None or found[0] is not groups:
            shown = groups.shown
            keys = {docnum: tuple({shown[key] for key in e.facet_keys}) for docnum, e in self.entries.items()}
            found = self._shown_keys = (groups, keys)
        return found[1]

    @property
    def docnums(self) -> dict[int, int]:
        """Testimony id to docnum in the testimony index."""
        if self._docnums is None:
            self._docnums = {e.testimony_id: d for d, e in self.entries.items()}
        return self._docnums


def bits_of(docnums: Iterable[int]) -> int:
    """A set of docnums as the bits of one integer."""
    found = bytearray()
    for docnum in docnums:
        byte = docnum >> 3
        if byte >= len(found):
            found.extend(bytes(byte + 1 - len(found)))
        found[byte] |= 1 << (docnum & 7)
    return int.from_bytes(found, "little")


def close(snapshot: Snapshot) -> None:
    """Close the snapshot's searcher (and the files it holds)."""
    if snapshot.testimonies is not None:
        snapshot.testimonies.close()


def opened(path: Path) -> Snapshot:
    """A snapshot of the index at path, its files mapped (see `memory`)."""
    return Snapshot(open_mapped(path).searcher())


def refreshed(snapshot: Snapshot) -> Snapshot:
    """The snapshot at its index's latest commit; what was read of segments still there is kept."""
    testimonies = latest_searcher(snapshot.testimonies)
    if testimonies is snapshot.testimonies:
        return snapshot
    return Snapshot(testimonies, _known=snapshot._known, cache=snapshot.cache)
