"""Searching one audience's index: parsing, ranking testimonies, facets, passages and snippets."""

from __future__ import annotations

import heapq
import html
import unicodedata
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, replace
from itertools import chain
from typing import Any

from whoosh import query as wq
from whoosh.analysis import RegexTokenizer
from whoosh.fields import TEXT, Schema
from whoosh.qparser import (
    EveryPlugin,
    FuzzyTermPlugin,
    PlusMinusPlugin,
    QueryParser,
    RangePlugin,
    SingleQuotePlugin,
)

from archive.search.analysis import (
    MIN_PREFIX,
    PREFIXED,
    WORD,
    fold,
    lowercase_auto,
    query_forms,
    word_forms,
    words,
)
from archive.search.documents import TestimonyEntry
from archive.search.fields import EXACT_WEIGHT, OF_SEGMENT, PASSAGE_FORMS, QUERIED, RANKING_FORMS
from archive.search.index import SearchIndex
from archive.search.matching import Matching
from archive.search.searchers import Snapshot, bits_of

SORTS = ("relevance", "date", "title")
FILTERS = ("lang", "place", "subject", "from", "to", "decade", "access")
MAX_PER_PAGE = 100
SNIPPET_CHARS = 300

_OPERATORS = frozenset({"AND", "OR", "NOT", "ANDNOT", "ANDMAYBE"})
# Field names a query may use (`place:Ağdam`); the same names exist in the indexes.
_QUERY_FIELDS = QUERIED
_TESTIMONY_FIELDS = frozenset(_QUERY_FIELDS)
_SEGMENT_FIELDS = OF_SEGMENT
_EXACT_WEIGHT = EXACT_WEIGHT
# Ranking counts words in the fields that only count them; passages find them where they stand.
_TESTIMONY_FORMS = RANKING_FORMS
_SEGMENT_FORMS = PASSAGE_FORMS
_MAX_FUZZY = 2


def _parser() -> QueryParser:
    # Only split into words: each word is analysed into its forms when the query is rewritten.
    analyzer = RegexTokenizer(WORD)
    schema = Schema(text=TEXT(analyzer=analyzer), **{f: TEXT(analyzer=analyzer) for f in _QUERY_FIELDS})
    parser = QueryParser("text", schema)
    # Apostrophes are letters' neighbours in these languages, ranges and "*:*" mean nothing here.
    for plugin in (SingleQuotePlugin, RangePlugin, EveryPlugin):
        parser.remove_plugin_class(plugin)
    parser.add_plugin(FuzzyTermPlugin())
    # "-word" leaves a word out, but only at the start of a word, so that hyphenated words
    # (Ağdam-da) stay whole. Every word is required already, so "+" means nothing ("(?!)").
    parser.add_plugin(PlusMinusPlugin(plusexpr=r"(?!)", minusexpr=r"(?:(?<=\s)|^)-(?=\w)"))
    return parser


_PARSER = _parser()


@dataclass(frozen=True)
class _Target:
    """Which index a parsed query is rewritten for, and whether AND and NOT still bind."""

    forms: tuple[tuple[str, str, float], ...]
    fields: frozenset[str]
    segments: bool
    strict: bool
    # Name keys of the name authority: a word's name key also finds the other keys of its entry.
    synonyms: Mapping[str, tuple[str, ...]] | None = None


_RANKING = _Target(_TESTIMONY_FORMS, _TESTIMONY_FIELDS, segments=False, strict=True)
_WITHIN = _Target(_SEGMENT_FORMS, _SEGMENT_FIELDS, segments=True, strict=True)
# Passages: any segment holding any of the words is a candidate, best scored first.
_PASSAGES = _Target(_SEGMENT_FORMS, _SEGMENT_FIELDS, segments=True, strict=False)


def _with_synonyms(target: _Target, synonyms: Mapping[str, tuple[str, ...]] | None) -> _Target:
    return replace(target, synonyms=synonyms) if synonyms else target


def parse(q: str) -> wq.Query | None:
    """Parse the query language into a word tree; None for an empty query.

    Whoosh's parser is forgiving, but leaves operators it could not apply as words; such a query
    (and one the parser rejects) is read again as plain words.
    """
    if not words(q):
        return None
    tokens = q.split()
    if all(token.startswith("-") for token in tokens):
        # Only words to leave out: read as NOT, which the parser does not turn into their opposite.
        q = " ".join(f"NOT {token[1:]}" for token in tokens)
    try:
        parsed = _PARSER.parse(q)
    except Exception:  # noqa: BLE001 - any parser failure means: read the words
        parsed = None
    if parsed is None or _stray_operator(parsed) or _rewrite(parsed, _RANKING) is None:
        plain = [w for w in words(q) if w not in _OPERATORS] or words(q)
        return wq.And([wq.Term("text", w) for w in plain])
    return parsed


def _stray_operator(node: wq.Query) -> bool:
    if isinstance(node, wq.Term) and not isinstance(node, wq.FuzzyTerm):
        return node.text in _OPERATORS
    return any(_stray_operator(child) for child in node.children())


def _word(text: str, target: _Target, boost: float) -> wq.Query:
    forms = query_forms(text)
    seen: set[tuple[str, str]] = set()
    terms: list[wq.Query] = []
    for fieldname, form, weight in target.forms:
        values = forms.stems if form == "stems" else (getattr(forms, form),)
        if form == "name" and target.synonyms and forms.name in target.synonyms:
            # Only more terms on the name field: every other form still matches what was typed.
            values = (forms.name, *target.synonyms[forms.name])
        for value in values:
            if value and (fieldname, value) not in seen:
                seen.add((fieldname, value))
                terms.append(wq.Term(fieldname, value, boost=weight * boost))
    return wq.Or(terms)


def _folded(text: str) -> str:
    return fold(lowercase_auto(text))


def _rewrite(node: wq.Query, target: _Target) -> wq.Query | None:
    """Turn the parsed word tree into a query on the target index's fields; None if nothing is left."""
    boost = node.boost
    fieldname = getattr(node, "fieldname", None)
    if fieldname not in (None, "text") and fieldname not in target.fields:
        return None
    on_text = fieldname in (None, "text")
    text_field = "folded" if on_text else fieldname
    if isinstance(node, wq.FuzzyTerm):
        return wq.FuzzyTerm(
            text_field,
            _folded(node.text),
            boost=boost,
            maxdist=min(node.maxdist, _MAX_FUZZY),
            prefixlength=1,
        )
    if isinstance(node, wq.Term):
        if on_text:
            return _word(node.text, target, boost)
        return wq.Term(fieldname, _folded(node.text), boost=boost)
    if isinstance(node, wq.Prefix):
        prefix = _folded(node.text)
        if len(prefix) < MIN_PREFIX:
            return _rewrite(wq.Term(node.fieldname, node.text, boost=boost), target)
        if on_text and len(prefix) <= PREFIXED:
            # Among the words' beginnings, where a prefix is one term or few.
            return wq.Prefix("prefix", prefix, boost=boost)
        return wq.Prefix(text_field, prefix, boost=boost)
    if isinstance(node, wq.Wildcard):
        pattern = "".join(ch if ch in "*?" else _folded(ch) for ch in node.text)
        if len(pattern.strip("*?")) < MIN_PREFIX:
            return None
        return wq.Wildcard(text_field, pattern, boost=boost)
    if isinstance(node, wq.Phrase):
        return _phrase(node, target, text_field, on_text)
    if isinstance(node, wq.Not):
        if not target.strict:
            return None
        inner = _rewrite(node.query, target)
        return wq.Not(inner) if inner is not None else None
    if isinstance(node, wq.AndNot):
        positive = _rewrite(node.a, target)
        negative = _rewrite(node.b, target) if target.strict else None
        if positive is None or negative is None:
            return positive
        return wq.AndNot(positive, negative)
    if isinstance(node, wq.BinaryQuery):
        return _compound(wq.Or, [node.a, node.b], target, boost)
    if isinstance(node, wq.And):
        if target.strict:
            return _compound(wq.And, node.subqueries, target, boost)
        # Loosened for passages, but a field of the segment (speaker:) still binds.
        bound = [c for c in node.subqueries if getattr(c, "fieldname", None) in target.fields]
        loose = _compound(wq.Or, [c for c in node.subqueries if c not in bound], target, boost)
        binding = _compound(wq.And, bound, target, boost)
        if loose is None or binding is None:
            return loose or binding
        return wq.Require(loose, binding)
    if isinstance(node, wq.Or | wq.DisjunctionMax):
        return _compound(wq.Or, node.subqueries, target, boost)
    return None


def _compound(kind: type, children: Iterable[wq.Query], target: _Target, boost: float) -> wq.Query | None:
    rewritten = [r for r in (_rewrite(c, target) for c in children) if r is not None]
    if not rewritten:
        return None
    if all(isinstance(r, wq.Not) for r in rewritten):
        # Only exclusions: nothing positive to find, in ranking as in passages.
        return None
    return rewritten[0] if len(rewritten) == 1 else kind(rewritten, boost=boost)


def _phrase(node: wq.Phrase, target: _Target, text_field: str, on_text: bool) -> wq.Query | None:
    folded = [f for f in (_folded(w) for w in node.words) if f]
    if not folded:
        return None
    if len(folded) == 1:
        return _rewrite(wq.Term(node.fieldname, node.words[0], boost=node.boost), target)
    if target.segments:
        return wq.Phrase(text_field, folded, slop=node.slop, boost=node.boost)
    if not on_text:
        # Only the text keeps positions in the testimony index; a field's phrase needs its words.
        return wq.And([wq.Term(text_field, f) for f in folded], boost=node.boost)
    # Ranked by how often the phrase is said; the words' forms as typed, where the text has them,
    # add to it, so that the exact spelling ranks above a diacritic-free one. (Stems and names of
    # the words would add little to a phrase, and reading every posting of its common words a lot.)
    phrase = wq.Phrase(text_field, folded, slop=node.slop, boost=node.boost)
    exact = [wq.Term("exact", query_forms(w).exact, boost=_EXACT_WEIGHT * node.boost) for w in node.words]
    return wq.AndMaybe(phrase, wq.Or(exact))


# Filters and facets, read from the snapshot's table of entries rather than from Whoosh.


def _values(value: Any) -> list[Any]:
    if value is None or value == "" or value == []:
        return []
    return list(value) if isinstance(value, list | tuple | set) else [value]


def _allowed(snapshot: Snapshot, filters: dict[str, Any] | None) -> set[int] | None:
    """Docnums passing the filters; None when nothing is filtered."""
    filters = {k: v for k, v in (filters or {}).items() if _values(v)}
    unknown = set(filters) - set(FILTERS)
    if unknown:
        raise ValueError(f"unknown search filters: {', '.join(sorted(unknown))}")
    if not filters:
        return None
    langs = set(_values(filters.get("lang")))
    places = set(_values(filters.get("place")))
    subjects = set(_values(filters.get("subject")))
    accesses = set(_values(filters.get("access")))
    decades = {int(d) for d in _values(filters.get("decade"))}
    start = int(filters["from"]) if "from" in filters else None
    end = int(filters["to"]) if "to" in filters else None

    def passes(entry: TestimonyEntry) -> bool:
        year = entry.interview_year
        return (
            (not langs or not langs.isdisjoint(entry.languages))
            and (not places or not places.isdisjoint(entry.places))
            and (not subjects or not subjects.isdisjoint(entry.subjects))
            and (not accesses or entry.access in accesses)
            and (not decades or entry.birth_decade in decades)
            and (start is None or (year is not None and year >= start))
            and (end is None or (year is not None and year <= end))
        )

    return {docnum for docnum, entry in snapshot.entries.items() if passes(entry)}


# Below this many testimonies, facets are counted testimony by testimony; from it on, per value.
_FACET_BITS_FROM = 200


def _facets(snapshot: Snapshot, docnums: Collection[int]) -> dict[str, list[list[Any]]]:
    counts: dict[str, Counter] = {
        name: Counter() for name in ("place", "subject", "language", "year", "decade", "access")
    }
    if len(docnums) < _FACET_BITS_FROM:
        entries = snapshot.entries
        for (name, value), count in Counter(
            chain.from_iterable(entries[d].facet_keys for d in docnums)
        ).items():
            counts[name][value] = count
    else:
        found = bits_of(docnums)
        for (name, value), members in snapshot.facet_bits.items():
            count = (found & members).bit_count()
            if count:
                counts[name][value] = count
    facets = {}
    for name, counter in counts.items():
        if name in ("year", "decade"):
            ordered = sorted(counter.items())
        else:
            ordered = sorted(counter.items(), key=lambda item: (-item[1], str(item[0])))
        facets[name] = [[value, count] for value, count in ordered]
    return facets


def _ordered(snapshot: Snapshot, scored: list[tuple[int, float]], sort: str, shown: int) -> list[int]:
    """The first `shown` docnums in the order asked for (only those are sorted out of the rest)."""
    entries = snapshot.entries
    if sort == "relevance":

        def key(item: tuple[int, float]) -> tuple:
            return (-item[1], item[0])

    elif sort == "date":
        # Undated testimonies come last, not first.
        def key(item: tuple[int, float]) -> tuple:
            entry = entries[item[0]]
            return (entry.interview_date is None, entry.interview_date or "", entry.title_key)

    else:

        def key(item: tuple[int, float]) -> tuple:
            entry = entries[item[0]]
            return (entry.title_key, entry.interview_date or "")

    return [docnum for docnum, _ in heapq.nsmallest(shown, scored, key=key)]


# Passages and snippets


def _passages(
    matching: Matching, passage_query: wq.Query | None, docnums: list[int], limit: int
) -> dict[int, list[dict]]:
    """The best `limit` segments of each shown testimony, from those testimonies' postings alone."""
    found: dict[int, list[dict]] = {docnum: [] for docnum in docnums}
    if passage_query is None or limit <= 0 or not docnums:
        return found
    best: dict[int, list[tuple[float, int]]] = {docnum: [] for docnum in docnums}
    for (docnum, place), score in matching.places(passage_query, docnums).items():
        heap = best[docnum]
        if len(heap) < limit:
            heapq.heappush(heap, (score, -place))
        elif (score, -place) > heap[0]:
            heapq.heapreplace(heap, (score, -place))
    for docnum, heap in best.items():
        if heap:
            found[docnum] = [
                _segment(matching, docnum, -negative, matching.transcript(docnum).segment(-negative))
                for _, negative in sorted(heap, reverse=True)
            ]
    return found


def _within(
    matching: Matching,
    q: wq.Query | None,
    docnum: int,
    page: int,
    per_page: int,
    synonyms: Mapping[str, tuple[str, ...]] | None = None,
) -> tuple[int, list[dict]]:
    """Matching segments of one testimony in transcript order, paged, with their total."""
    transcript = matching.transcript(docnum)
    if q is None:
        places = list(range(1, len(transcript) + 1))
    else:
        places = []
        # Every word in one segment first; if no single segment holds them all, any of them.
        for target in (_with_synonyms(_WITHIN, synonyms), _with_synonyms(_PASSAGES, synonyms)):
            chosen = _rewrite(q, target)
            if chosen is not None:
                matching.forget_spots()
                places = [place for _, place in matching.places(chosen, [docnum])]
            if places:
                break
    # In the order of the recording: by start time, untimed segments last.
    timed = []
    for place in places:
        stored = transcript.segment(place)
        timed.append((stored[1] is None, stored[1] or 0, stored[0], place, stored))
    shown = sorted(timed, key=lambda item: item[:4])[(page - 1) * per_page : page * per_page]
    return len(timed), [_segment(matching, docnum, place, stored) for *_, place, stored in shown]


def _segment(matching: Matching, docnum: int, place: int, stored: tuple) -> dict:
    """A passage as a hit shows it (`stored`, segment `place` as the transcript keeps it), the words
    the query matched in it marked."""
    segment_id, start_ms, end_ms, speaker, text = stored
    first = matching.transcript(docnum).starts[place - 1]
    spotted = matching.spotted(docnum, place)
    return {
        "id": segment_id,
        "start_ms": start_ms,
        "end_ms": end_ms,
        "speaker": speaker,
        "snippet": snippet(text, {position - first for position in spotted}),
    }


def snippet(text: str, marked: Collection[int] = (), size: int = SNIPPET_CHARS) -> str:
    """HTML-escaped text around the first marked word, marked words wrapped in <mark>.

    `marked` holds the numbers of the words to mark (from 0, words as `analysis.words` splits
    the text).
    """
    spans = _spans(text, sorted(marked), size)
    start, end = 0, len(text)
    if len(text) > size:
        first = spans[0][0] if spans else 0
        start = max(0, first - size // 3)
        if start:
            space = text.rfind(" ", 0, start)
            start = space + 1 if space >= 0 else start
        end = min(len(text), start + size)
        if end < len(text):
            space = text.rfind(" ", start, end)
            end = space if space > start else end
    out = ["…" if start else ""]
    cursor = start
    for left, right in spans:
        if left >= start and right <= end:
            out += [html.escape(text[cursor:left]), "<mark>", html.escape(text[left:right]), "</mark>"]
            cursor = right
    out.append(html.escape(text[cursor:end]))
    out.append("…" if end < len(text) else "")
    return "".join(out)


def _spans(text: str, marked: list[int], size: int) -> list[tuple[int, int]]:
    """Where the marked words are, read up to the last one that a snippet of size can show."""
    spans: list[tuple[int, int]] = []
    if not marked:
        return spans
    wanted = iter(marked)
    next_wanted = next(wanted)
    limit = len(text)
    for number, match in enumerate(WORD.finditer(text)):
        if match.start() > limit:
            break
        if number == next_wanted:
            if not spans:
                limit = match.start() + size
            spans.append(match.span())
            next_wanted = next(wanted, None)
            if next_wanted is None:
                break
    return spans


# Did you mean


def _did_you_mean(matching: Matching | None, q: str) -> str | None:
    """Correct words of q unknown to this audience's index from its own vocabulary."""
    if matching is None:
        return None
    reader = matching.reader
    changed = False
    out: list[str] = []
    cursor = 0
    for match in WORD.finditer(q):
        word = match.group()
        if len(word) < 3 or word in _OPERATORS or q[match.end() : match.end() + 1] == ":":
            continue
        forms = word_forms(word)
        if ("exact", forms.exact) in reader or ("folded", forms.folded) in reader:
            continue
        # As Whoosh's corrector ranks them: the most frequent word within two edits, then the first.
        # Only words of a testimony still in the index: a removed one's words stay in the term
        # table until its segment is merged, and a withdrawn name must not come back as a hint.
        found = [
            term
            for term in matching.expand(wq.FuzzyTerm("exact", forms.exact, maxdist=2, prefixlength=1))
            if matching.scores(wq.Term("exact", term))
        ]
        if not found:
            continue
        replacement = min(found, key=lambda term: (-reader.frequency("exact", term), term))
        if word[0].isupper():
            replacement = (
                "İ" if replacement[0] == "i" and word[0] == "İ" else replacement[0].upper()
            ) + replacement[1:]
        out += [q[cursor : match.start()], replacement]
        cursor = match.end()
        changed = True
    if not changed:
        return None
    out.append(q[cursor:])
    return "".join(out)


def _hit(entry: TestimonyEntry, segments: list[dict]) -> dict:
    return {
        "id": entry.testimony_id,
        "title": entry.title,
        "narrator": entry.narrator,
        "interview_date": entry.interview_date,
        "languages": list(entry.languages),
        "places": list(entry.places),
        "segments": segments,
    }


def search(
    index: SearchIndex,
    audience: str,
    q: str,
    *,
    page: int = 1,
    per_page: int = 10,
    filters: dict[str, Any] | None = None,
    sort: str = "relevance",
    testimony_id: int | None = None,
    passages: int = 3,
    synonyms: Mapping[str, tuple[str, ...]] | None = None,
) -> dict[str, Any]:
    """Search one audience's index and return one page of testimonies.

    Returns `{"total", "page", "per_page", "hits", "facets", "suggestion"}`: `total` counts the
    matching testimonies; each hit is `{"id", "title", "narrator", "interview_date", "languages",
    "places", "segments"}`, segments being the best `passages` matching segments (best first) as
    `{"id", "start_ms", "end_ms", "speaker", "snippet"}`, the snippet HTML-escaped with matched words
    in `<mark>`. `facets` maps place, subject, language, year, decade (of birth) and access to
    `[[value, count], ...]` over the whole filtered result. `suggestion` proposes a corrected query
    from this audience's vocabulary when nothing matched.

    `filters`: `lang`, `place`, `subject`, `access` (a value or a list, any of which may match),
    `decade` (birth decade), `from` and `to` (interview years, inclusive). An empty `q` browses
    every testimony the filters allow, by date unless sorted by title. With `testimony_id`, the
    search stays inside that testimony: its one hit lists every matching segment in transcript
    order, paged by `page` and `per_page`, and adds `segments_total`. `synonyms` maps a word's name
    key to the other name keys of its entry in the name authority; a word also finds those.
    """
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}")
    page = max(1, int(page))
    per_page = min(MAX_PER_PAGE, max(1, int(per_page)))
    # As the index has the text: a letter and its accent typed apart are one letter.
    q = unicodedata.normalize("NFC", q or "")
    parsed = parse(q)
    ranking = _rewrite(parsed, _with_synonyms(_RANKING, synonyms)) if parsed is not None else None
    with index.reading(audience) as snapshot:
        matching = Matching(snapshot.testimonies, snapshot.cache) if snapshot.testimonies else None
        allowed = _allowed(snapshot, filters)
        if testimony_id is not None:
            only = snapshot.docnums.get(testimony_id)
            allowed = {only} if only is not None and (allowed is None or only in allowed) else set()
        if ranking is None:
            docnums = snapshot.entries.keys() if allowed is None else allowed
            scored = [(docnum, 0.0) for docnum in docnums]
            if sort == "relevance":
                sort = "date"
        elif snapshot.testimonies is None or allowed == set():
            scored = []
        else:
            scores = matching.scores(ranking)
            if allowed is not None:
                scores = {docnum: score for docnum, score in scores.items() if docnum in allowed}
            scored = list(scores.items())
        entries = snapshot.entries
        result: dict[str, Any] = {
            "total": len(scored),
            "page": page,
            "per_page": per_page,
            "hits": [],
            "facets": _facets(snapshot, [docnum for docnum, _ in scored]),
            "suggestion": None,
        }
        if testimony_id is not None:
            if scored:
                entry = entries[scored[0][0]]
                count, segments = _within(matching, parsed, scored[0][0], page, per_page, synonyms)
                result["hits"] = [{**_hit(entry, segments), "segments_total": count}]
        else:
            shown = _ordered(snapshot, scored, sort, page * per_page)[(page - 1) * per_page :]
            passages_target = _with_synonyms(_PASSAGES, synonyms)
            passage_query = _rewrite(parsed, passages_target) if parsed is not None else None
            found = _passages(matching, passage_query, shown, passages)
            result["hits"] = [_hit(entries[d], found[d]) for d in shown]
        if not scored and parsed is not None:
            result["suggestion"] = _did_you_mean(matching, q)
        return result


def suggest(
    index: SearchIndex,
    audience: str,
    prefix: str,
    limit: int = 10,
    aliases: Mapping[str, tuple[str, ...]] | None = None,
) -> list[str]:
    """Place names and narrator labels of this audience's index that a word of starts with prefix.

    `aliases` maps a place name to its other names in the name authority: a place is offered, under
    the name its testimonies give, when a word of any of them starts with prefix.
    """
    aliases = aliases or {}
    wanted = _folded(unicodedata.normalize("NFC", prefix).strip())
    if not wanted:
        return []
    with index.reading(audience) as snapshot:
        counts: Counter[str] = Counter()
        for entry in snapshot.entries.values():
            counts.update(set(entry.places))
            if entry.narrator:
                counts[entry.narrator] += 1
    matching = [
        (count, value)
        for value, count in counts.items()
        if any(
            _folded(w).startswith(wanted) for name in (value, *aliases.get(value, ())) for w in words(name)
        )
    ]
    matching.sort(key=lambda item: (-item[0], _folded(item[1])))
    return [value for _, value in matching[:limit]]
