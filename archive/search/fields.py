"""The testimony index's fields in one table: the schema, the document builder, the writer and the
query side all read it, so a new field is one entry in `FIELDS` plus the code that fills it in
`documents.fields_of`."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Literal

from whoosh.columns import VarBytesColumn
from whoosh.fields import COLUMN, ID, STORED, FieldType, Schema
from whoosh.formats import Frequency, Positions
from whoosh.system import pack_uint

from archive.search.analysis import exact_analyzer, multilingual_analyzer

# A word is looked for in several forms; the closer the form to what was typed, the more it counts.
EXACT_WEIGHT = 3.0


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of the testimony index.

    `kind`: "id" the testimony's key; "stored" kept whole, never searched; "column" read per
    document, for the testimonies shown only; "counted" terms with how often they occur; "located"
    terms at their word positions (passages and phrases are found from them).
    """

    name: str
    kind: Literal["id", "stored", "column", "counted", "located"]
    analyzer: Callable[[], Any] = multilingual_analyzer
    # A located field's twin holding the same terms counted only: ranking reads every posting of a
    # query's words, and a located posting carries every position, which ranking never needs.
    counted_as: str | None = None
    # A query may name the field (`place:Ağdam`).
    queried: bool = False
    # A field of a segment (its positions are the segment's start): it binds a passage.
    of_segment: bool = False
    # Its positions are those of words of a segment's text: a match marks that word in a snippet.
    marks_words: bool = False
    # The word form (a field of `analysis.WordForms`, "stems" for all of them) a typed word is looked
    # for in this field, and how much a match counts: in ranking (read from the counted twin where
    # there is one) and in passages.
    ranked_as: tuple[str, float] | None = None
    passage_as: tuple[str, float] | None = None


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("tid", "id"),
    # What a hit shows and facets read (`documents.TestimonyEntry`).
    FieldSpec("meta", "stored"),
    # The transcript as hits show it (`documents.Transcript`), each segment packed on its own.
    FieldSpec("transcript", "column"),
    FieldSpec("exact", "counted", exact_analyzer, ranked_as=("exact", EXACT_WEIGHT)),
    FieldSpec(
        "folded",
        "located",
        counted_as="folded_count",
        marks_words=True,
        ranked_as=("folded", 2.0),
        passage_as=("folded", 2.0),
    ),
    # The fields of names hold words folded to Latin letters, so that `place:Agdam` finds "Агдам".
    FieldSpec("title", "counted", queried=True, ranked_as=("latin", 1.0)),
    FieldSpec(
        "stem",
        "located",
        counted_as="stem_count",
        marks_words=True,
        ranked_as=("stems", 1.0),
        passage_as=("stems", 1.0),
    ),
    FieldSpec(
        "name",
        "located",
        counted_as="name_count",
        marks_words=True,
        ranked_as=("name", 1.0),
        passage_as=("name", 1.0),
    ),
    # Each two words that follow each other in a text, as one term ("snow fell"): a phrase is found
    # from the postings of its word pairs, not by reading positions in every testimony holding its
    # words. Rare pairs share bucket terms (`analysis.pair_bucket`).
    FieldSpec("pair", "counted"),
    # The first letters of each word, at its position (see `analysis.prefix_term`).
    FieldSpec("prefix", "located", marks_words=True),
    FieldSpec("place", "counted", queried=True),
    FieldSpec("narrator", "counted", queried=True),
    FieldSpec("subject", "counted", queried=True),
    FieldSpec("person", "counted", queried=True),
    FieldSpec("speaker", "located", queried=True, of_segment=True),
    FieldSpec("keyword", "located", queried=True, of_segment=True),
)

# The fields with a role of their own in matching: word positions (phrases are looked for there),
# word pairs, words' beginnings.
PHRASED = "folded"
PAIRED = "pair"
PREFIXED = "prefix"

QUERIED = tuple(spec.name for spec in FIELDS if spec.queried)
OF_SEGMENT = frozenset(spec.name for spec in FIELDS if spec.of_segment)
MARKS_WORDS = frozenset(spec.name for spec in FIELDS if spec.marks_words)
COUNTED_AS = {spec.name: spec.counted_as for spec in FIELDS if spec.counted_as}
# (field, word form, weight) a typed word is looked for in, in ranking and in passages.
RANKING_FORMS = tuple(
    (spec.counted_as or spec.name, *spec.ranked_as) for spec in FIELDS if spec.ranked_as is not None
)
PASSAGE_FORMS = tuple((spec.name, *spec.passage_as) for spec in FIELDS if spec.passage_as is not None)


class TermListField(FieldType):
    """A text field fed terms already analysed by `archive.search.analysis.analyze`.

    The analyser is kept so that Whoosh can still analyse a plain string given to the field, but
    indexing takes the analysed terms: every text is analysed once. A field of `Positions` takes
    `(term, position)` pairs: passages are found from the testimony's own postings, the transcript
    column telling which segment a position is in, without an index of segments.
    """

    def __init__(self, fmt: Any, analyzer: Any) -> None:
        super().__init__(fmt, analyzer, scorable=True)

    def index(self, value: Any, **kwargs: Any) -> Iterator[tuple[bytes, int, float, bytes]]:
        if isinstance(value, str):
            yield from super().index(value, **kwargs)
            return
        fmt = self.format
        if isinstance(fmt, Positions):
            for term, places in _positions_by_term(value).items():
                yield term.encode("utf-8"), len(places), float(len(places)), fmt.encode(places)
        else:
            for term, count in Counter(value).items():
                yield term.encode("utf-8"), count, float(count), pack_uint(count)


def _positions_by_term(pairs: Iterable[tuple[str, int]]) -> dict[str, list[int]]:
    """Term to the positions it occurs at, in order."""
    places: dict[str, list[int]] = defaultdict(list)
    for term, place in pairs:
        places[term].append(place)
    return places


def _field_type(spec: FieldSpec) -> FieldType:
    if spec.kind == "id":
        return ID(stored=True, unique=True)
    if spec.kind == "stored":
        return STORED()
    if spec.kind == "column":
        return COLUMN(VarBytesColumn())
    if spec.kind == "counted":
        return TermListField(Frequency(), spec.analyzer())
    return TermListField(Positions(), spec.analyzer())


def testimony_schema() -> Schema:
    """One document per testimony: all its visible text, for ranking, totals, facets and passages."""
    fields: dict[str, FieldType] = {}
    for spec in FIELDS:
        fields[spec.name] = _field_type(spec)
        if spec.counted_as:
            fields[spec.counted_as] = TermListField(Frequency(), spec.analyzer())
    return Schema(**fields)


_NAMES = frozenset(spec.name for spec in FIELDS)


def with_twins(values: dict[str, Any]) -> dict[str, Any]:
    """Every schema field's value from those of the table's fields (a counted twin takes its located
    field's terms); a field of the table left unfilled, or one not in it, is an error."""
    if values.keys() != _NAMES:
        missing = ", ".join(sorted(_NAMES - values.keys())) or "none"
        unknown = ", ".join(sorted(values.keys() - _NAMES)) or "none"
        raise ValueError(f"index fields not filled: {missing}; not in the field table: {unknown}")
    out = dict(values)
    for name, twin in COUNTED_AS.items():
        out[twin] = list(map(itemgetter(0), values[name]))
    return out
