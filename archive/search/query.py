"""Searching one audience's index: ranking testimonies, filters, facets, order and "did you mean";
the query language is `parsing`, passages and snippets `passages`."""

from __future__ import annotations

import heapq
import unicodedata
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from itertools import chain
from typing import Any

from whoosh import query as wq

from archive.authority.service import NAMED_FACETS, FacetNames
from archive.search.analysis import WORD, query_forms, word_forms, words
from archive.search.documents import TestimonyEntry
from archive.search.index import SearchIndex
from archive.search.matching import Matching
from archive.search.parsing import (
    BEST,
    OPERATORS,
    PASSAGES,
    RANKING,
    folded_word,
    parse,
    rewrite,
    with_synonyms,
)
from archive.search.passages import best_passages, within
from archive.search.searchers import Snapshot, bits_of

SORTS = ("relevance", "date", "title")
# The answer's `notice` when something was typed but it holds no word to look for.
NO_WORDS = "no_words"
FILTERS = ("lang", "place", "subject", "person", "from", "to", "decade", "access")
MAX_PER_PAGE = 100
# Facet values grouped without the authority: only forms of one name in other scripts or spellings.
_NO_ENTRIES = FacetNames()


# Filters and facets, read from the snapshot's table of entries rather than from Whoosh.


def _values(value: Any) -> list[Any]:
    if value is None or value == "" or value == []:
        return []
    return list(value) if isinstance(value, list | tuple | set) else [value]


def _allowed(snapshot: Snapshot, filters: dict[str, Any] | None, names: FacetNames) -> set[int] | None:
    """Docnums passing the filters; None when nothing is filtered.

    A place, subject or person filter finds every testimony of its facet value: any form of the name
    that `names` groups with it ("Aghdam" and "Агдам" for "Ağdam")."""
    filters = {k: v for k, v in (filters or {}).items() if _values(v)}
    unknown = set(filters) - set(FILTERS)
    if unknown:
        raise ValueError(f"unknown search filters: {', '.join(sorted(unknown))}")
    if not filters:
        return None
    langs = set(_values(filters.get("lang")))
    places = {names.group("place", str(v))[0] for v in _values(filters.get("place"))}
    subjects = {names.group("subject", str(v))[0] for v in _values(filters.get("subject"))}
    people = {names.group("person", str(v))[0] for v in _values(filters.get("person"))}
    key_of = snapshot.facet_groups(names).key_of
    accesses = set(_values(filters.get("access")))
    decades = {int(d) for d in _values(filters.get("decade"))}
    start = int(filters["from"]) if "from" in filters else None
    end = int(filters["to"]) if "to" in filters else None

    def passes(entry: TestimonyEntry) -> bool:
        year = entry.interview_year
        return (
            (not langs or not langs.isdisjoint(entry.languages))
            and (not places or any(key_of[("place", p)] in places for p in entry.places))
            and (not subjects or any(key_of[("subject", s)] in subjects for s in entry.subjects))
            and (not people or any(key_of[("person", p)] in people for p in entry.people))
            and (not accesses or entry.access in accesses)
            and (not decades or entry.birth_decade in decades)
            and (start is None or (year is not None and year >= start))
            and (end is None or (year is not None and year <= end))
        )

    return {docnum for docnum, entry in snapshot.entries.items() if passes(entry)}


# Below this many testimonies, facets are counted testimony by testimony; from it on, per value.
_FACET_BITS_FROM = 200


def _facets(snapshot: Snapshot, docnums: Collection[int], names: FacetNames) -> dict[str, list[list[Any]]]:
    """Each facet's values over these testimonies, a testimony counted once per value: the forms
    of one place or subject are one value (`names`), so its count is what filtering by it finds."""
    counts: dict[str, Counter] = {
        name: Counter() for name in ("place", "subject", "person", "language", "year", "decade", "access")
    }
    if len(docnums) < _FACET_BITS_FROM:
        shown = snapshot.shown_keys(names)
        for (name, value), count in Counter(chain.from_iterable(map(shown.__getitem__, docnums))).items():
            counts[name][value] = count
    else:
        found = bits_of(docnums)
        for (name, value), members in snapshot.facet_groups(names).bits.items():
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


def _with_every_form(parsed: wq.Query, snapshot: Snapshot, names: FacetNames) -> wq.Query:
    """`place:Ağdam` as every form of that facet value (Aghdam, Агдам, and what an authority entry
    joins to them), so that it finds what filtering by the value finds; a name the index does not
    hold as a place (or subject) is left to be matched as typed."""

    def expand(node: wq.Query) -> wq.Query:
        facet = getattr(node, "fieldname", None)
        if facet not in NAMED_FACETS or type(node) not in (wq.Term, wq.Phrase):
            return node
        typed = node.text if type(node) is wq.Term else " ".join(node.words)
        shown = snapshot.facet_groups(names).shown_of.get((facet, names.group(facet, typed)[0]))
        if shown is None:
            return node
        forms = [words(form) for form in snapshot.facet_groups(names).forms[shown]]
        return wq.Or(
            [
                wq.Term(facet, found[0], boost=node.boost)
                if len(found) == 1
                else wq.Phrase(facet, found, boost=node.boost)
                for found in forms
                if found
            ]
            or [node]
        )

    return parsed.accept(expand)


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
        if len(word) < 3 or word in OPERATORS or q[match.end() : match.end() + 1] == ":":
            continue
        forms = word_forms(word)
        if ("exact", forms.exact) in reader or ("folded", forms.folded) in reader:
            continue
        # As Whoosh's corrector ranks them: the most frequent word within two edits, then the first.
        # Only words of a testimony still in the index: a removed one's words stay in the term
        # table until its segment is merged, and a withdrawn name must not come back as a hint.
        # Their postings are read in that order, up to the first such word, not for every one.
        near = matching.expand(wq.FuzzyTerm("exact", forms.exact, maxdist=2, prefixlength=1))
        ranked = sorted(near, key=lambda term: (-reader.frequency("exact", term), term))
        replacement = next((term for term in ranked if matching.scores(wq.Term("exact", term))), None)
        if replacement is None:
            continue
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


def _name_words(snapshot: Snapshot) -> Callable[[str], bool]:
    """Whether a name key is a word of a place or person this index's testimonies name: such a name
    is looked for in every spelling and script alike (see `parsing.with_synonyms`), an ordinary word
    is not. The names' keys are made once per snapshot, at the first search that asks."""

    def known(key: str) -> bool:
        if snapshot.name_keys is None:
            names = [value for kind, value in snapshot.facet_bits if kind in ("place", "person")]
            snapshot.name_keys = frozenset(
                query_forms(word).name for value in names for word in words(str(value))
            )
        return key in snapshot.name_keys

    return known


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
    names: FacetNames | None = None,
    hidden: Collection[int] = (),
    remember: int = 0,
) -> dict[str, Any]:
    """Search one audience's index and return one page of testimonies.

    Returns `{"total", "page", "per_page", "hits", "facets", "suggestion", "notice"}`: `total` counts the
    matching testimonies; each hit is `{"id", "title", "narrator", "interview_date", "languages",
    "places", "segments"}`, segments being the best `passages` matching segments (best first) as
    `{"id", "start_ms", "end_ms", "speaker", "snippet"}`, the snippet HTML-escaped with matched words
    in `<mark>`. `facets` maps place, subject, person, language, year, decade (of birth) and access to
    `[[value, count], ...]` over the whole filtered result. `suggestion` proposes a corrected query
    from this audience's vocabulary when nothing matched. `notice` is `NO_WORDS` when q was typed
    but holds no word to look for (only punctuation, operators or stop words): then nothing is found
    and no facet is counted, rather than the whole archive browsed; None otherwise.

    `filters`: `lang`, `place`, `subject`, `person`, `access` (a value or a list, any of which may match),
    `decade` (birth decade), `from` and `to` (interview years, inclusive). An empty `q` browses
    every testimony the filters allow, by date unless sorted by title. With `testimony_id`, the
    search stays inside that testimony: its one hit lists every matching segment in transcript
    order, paged by `page` and `per_page`, and adds `segments_total`. `synonyms` maps a word's name
    key to the other name keys of its entry in the name authority; a word also finds those. A name
    of a place or person the testimonies name, or of the authority, is looked for by the stems of all
    its spellings, so every spelling finds the same inflected forms and shows the same passages.
    `names` groups the place, subject and person values that are one, in facets, filters and `place:`
    (without it, only forms of one name in other scripts or spellings). `hidden` testimonies are
    left out of everything: hits, total, facets and suggestion.

    The answer is a function of the index at one moment and of these arguments alone, so up to
    `remember` answers are kept with the audience's snapshot and given again while no commit has
    changed the index (a commit makes a new snapshot, with none kept); answers asked more than once
    are kept ahead of those asked once (`searchers.KeptAnswers`). What the database says of
    each hit now is the caller's to check, every time (`service.search_for`).
    """
    if sort not in SORTS:
        raise ValueError(f"unknown sort {sort!r}")
    page = max(1, int(page))
    per_page = min(MAX_PER_PAGE, max(1, int(per_page)))
    # As the index has the text: a letter and its accent typed apart are one letter.
    q = unicodedata.normalize("NFC", q or "")
    key = (q, page, per_page, _filters_key(filters), sort, testimony_id, passages, frozenset(hidden))
    with index.reading(audience) as snapshot:
        kept = snapshot.answers.get(key)
        if kept is not None and kept[0][0] is synonyms and kept[0][1] is names:
            if remember > 0:
                snapshot.answers.keep(key, kept, remember)
            return _copy(kept[1])
        result = _search(
            snapshot,
            q,
            page,
            per_page,
            filters,
            sort,
            testimony_id,
            passages,
            synonyms,
            names or _NO_ENTRIES,
            hidden,
        )
        if remember > 0:
            snapshot.answers.keep(key, ((synonyms, names), result), remember)
        return _copy(result)


def _filters_key(filters: dict[str, Any] | None) -> tuple:
    return tuple(sorted((name, tuple(sorted(map(str, _values(v))))) for name, v in (filters or {}).items()))


def _copy(result: dict[str, Any]) -> dict[str, Any]:
    """A kept answer as its callers may change it (they drop hits, relabel, hide a facet); the
    kept one stays as the index gave it."""
    return {
        **result,
        "facets": dict(result["facets"]),
        "hits": [{**hit, "segments": list(hit["segments"])} for hit in result["hits"]],
    }


def _search(
    snapshot: Snapshot,
    q: str,
    page: int,
    per_page: int,
    filters: dict[str, Any] | None,
    sort: str,
    testimony_id: int | None,
    passages: int,
    synonyms: Mapping[str, tuple[str, ...]] | None,
    names: FacetNames,
    hidden: Collection[int],
) -> dict[str, Any]:
    parsed = parse(q)
    if parsed is not None:
        parsed = _with_every_form(parsed, snapshot, names)
    matching = Matching(snapshot.testimonies, snapshot.cache) if snapshot.testimonies else None
    name_words = _name_words(snapshot)
    ranking = rewrite(parsed, with_synonyms(RANKING, synonyms, name_words)) if parsed is not None else None
    if ranking is None and q.strip():
        # Typed, but nothing to look for: nothing found, rather than the whole archive browsed.
        nothing = {"total": 0, "page": page, "per_page": per_page, "hits": [], "suggestion": None}
        return {**nothing, "facets": _facets(snapshot, [], names), "notice": NO_WORDS}
    allowed = _allowed(snapshot, filters, names)
    unseen = {snapshot.docnums[t] for t in hidden if t in snapshot.docnums}
    if unseen:
        allowed = (set(snapshot.entries) if allowed is None else allowed) - unseen
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
        "facets": _facets(snapshot, [docnum for docnum, _ in scored], names),
        "suggestion": None,
        "notice": None,
    }
    if testimony_id is not None:
        if scored:
            entry = entries[scored[0][0]]
            count, segments = within(matching, parsed, scored[0][0], page, per_page, synonyms, name_words)
            result["hits"] = [{**_hit(entry, segments), "segments_total": count}]
    else:
        shown = _ordered(snapshot, scored, sort, page * per_page)[(page - 1) * per_page :]
        best = rewrite(parsed, with_synonyms(BEST, synonyms, name_words)) if parsed is not None else None

        def every_form() -> wq.Query | None:
            return rewrite(parsed, with_synonyms(PASSAGES, synonyms, name_words))

        found = best_passages(matching, best, shown, passages, every_form)
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
    hidden: Collection[int] = (),
    names: FacetNames | None = None,
) -> list[str]:
    """Place names and narrator labels of this audience's index that a word of starts with prefix.

    A place is offered once, as its facet value (`names` groups its forms, as in `search`), when a
    word of any of its forms starts with prefix, or of their other names in the name authority
    (`aliases` maps a place name to those).
    """
    aliases = aliases or {}
    wanted = folded_word(unicodedata.normalize("NFC", prefix).strip())
    if not wanted:
        return []
    with index.reading(audience) as snapshot:
        groups = snapshot.facet_groups(names or _NO_ENTRIES)
        counts: Counter[str] = Counter()
        forms: dict[str, tuple[str, ...]] = {}
        for entry in snapshot.entries.values():
            if entry.testimony_id in hidden:
                continue
            shown = {groups.shown[("place", place)][1] for place in entry.places}
            counts.update(shown)
            for value in shown:
                forms.setdefault(value, groups.forms[("place", value)])
            if entry.narrator:
                counts[entry.narrator] += 1
    matching = [
        (count, value)
        for value, count in counts.items()
        if any(
            folded_word(w).startswith(wanted)
            for form in forms.get(value, (value,))
            for name in (form, *aliases.get(form, ()))
            for w in words(name)
        )
    ]
    matching.sort(key=lambda item: (-item[0], folded_word(item[1])))
    return [value for _, value in matching[:limit]]
