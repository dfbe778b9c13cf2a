"""The query language: parsing what a reader types into a word tree, and rewriting that tree into
a query on the testimony index's fields, for ranking, for search within a testimony and for passages."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace

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
    VERB,
    WORD,
    bare,
    fold,
    fold_marks,
    lowercase_auto,
    name_key,
    name_keys_looked_for,
    query_forms,
    stem,
    word_forms,
    words,
)
from archive.search.fields import EXACT_WEIGHT, OF_SEGMENT, PASSAGE_FORMS, QUERIED, RANKING_FORMS

OPERATORS = frozenset({"AND", "OR", "NOT", "ANDNOT", "ANDMAYBE"})
_MAX_FUZZY = 2


def _parser() -> QueryParser:
    # Only split into words: each word is analysed into its forms when the query is rewritten.
    analyzer = RegexTokenizer(WORD)
    schema = Schema(text=TEXT(analyzer=analyzer), **{f: TEXT(analyzer=analyzer) for f in QUERIED})
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
    # Whether a name key is a name the index knows (a place its testimonies name).
    names: Callable[[str], bool] | None = None
    # A name the index knows looked for by its name keys, not its stems (see `RANKING`, `BEST`).
    names_alone: bool = False


# Ranking: a name the index knows (or the authority has), typed as a name (capitalised), is found by
# its name keys and those of its stems in every script, which every spelling and inflected form of
# it is indexed by when written as a name, and ranked higher as typed (exact, folded); not by its
# stems, which can be other words' too (Bakı's "bak" is also "bağ", a garden, once a final
# consonant is voiceless), so that every spelling finds the same testimonies. Typed in small letters
# (a given name may be a word too: Gül, a rose), a word is looked for by every form.
RANKING = _Target(RANKING_FORMS, frozenset(QUERIED), segments=False, strict=True, names_alone=True)
WITHIN = _Target(PASSAGE_FORMS, OF_SEGMENT, segments=True, strict=True)
# Passages: any segment holding any of the words is a candidate, best scored first.
PASSAGES = _Target(PASSAGE_FORMS, OF_SEGMENT, segments=True, strict=False)
# The best passages of the testimonies a page shows: a name the index knows, typed as a name, by its
# name keys alone (as `RANKING`, and not by its spelling as typed either, so that every spelling
# shows the same passages), weighed as the form typed is. Its stems in every script held the same
# words again, and reading each took most of a search for a name. A testimony that names it only
# otherwise (in small letters) has its passages found by `PASSAGES`.
BEST = replace(PASSAGES, names_alone=True)
# Within one testimony, every word in one segment, a name as `BEST` reads it.
WITHIN_NAMES = replace(WITHIN, names_alone=True)


def with_synonyms(
    target: _Target,
    synonyms: Mapping[str, tuple[str, ...]] | None,
    names: Callable[[str], bool] | None = None,
) -> _Target:
    """The target knowing the name authority's synonyms and which name keys the index holds."""
    return replace(target, synonyms=synonyms or None, names=names) if synonyms or names else target


def parse(q: str) -> wq.Query | None:
    """Parse the query language into a word tree; None for a query with no word to look for
    (nothing typed, or only punctuation or operators).

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
        parsed = _plain(tokens) or _PARSER.parse(q)
    except Exception:  # noqa: BLE001 - any parser failure means: read the words
        parsed = None
    if parsed is None or _stray_operator(parsed) or rewrite(parsed, RANKING) is None:
        # Operators alone (AND OR) are no words to look for.
        plain = [w for w in words(q) if w not in OPERATORS]
        return wq.And([wq.Term("text", w) for w in plain]) if plain else None
    return parsed


# A word of letters and digits alone, as `WORD` finds them: nothing the parser would read as syntax.
_PLAIN_WORD = re.compile(r"(?:[^\W_]|[\u0300-\u036f])+")


def _plain(tokens: list[str]) -> wq.Query | None:
    """What the parser makes of a query of plain words (most queries are): the word, or every word
    required. None for anything else. The parser tags a query a character at a time, which took
    half of the time parsing and analysing a query did."""
    if not tokens or any(token in OPERATORS or not _PLAIN_WORD.fullmatch(token) for token in tokens):
        return None
    if len(tokens) == 1:
        return wq.Term("text", tokens[0])
    return wq.And([wq.Term("text", token) for token in tokens]).normalize()


def _stray_operator(node: wq.Query) -> bool:
    if isinstance(node, wq.Term) and not isinstance(node, wq.FuzzyTerm):
        return node.text in OPERATORS
    return any(_stray_operator(child) for child in node.children())


def _word(text: str, target: _Target, boost: float) -> wq.Query | None:
    forms = query_forms(text)
    name_stems = _name_stems(forms.name, target)
    stems = (*forms.stems, *name_stems)
    seen: set[tuple[str, str]] = set()
    terms: list[wq.Query] = []
    # A name the index knows, typed as a name, is looked for by its name keys (`names_alone`).
    alone = bool(name_stems) and target.names_alone and text[:1].isupper()
    for fieldname, form, weight in target.forms:
        if alone and (form == "stems" or (target.segments and form != "name")):
            continue
        if alone and target.segments:
            weight = max(weight for _, _, weight in target.forms)
        values = stems if form == "stems" else (getattr(forms, form),)
        if form == "name":
            # A name is looked for by the keys of its stems and lemmas too, as its inflected forms
            # are indexed ("Xocalı": "Ходжалах" by their shared "xacal"); the authority's synonyms
            # are only more terms on the name field: every other form still matches what was typed.
            synonyms = (target.synonyms or {}).get(forms.name, ())
            values = (*forms.names, *(key for other in synonyms for key in name_keys_looked_for(other)))
            if alone:
                # In place of its stems in every script, their keys ("Агдам": "agda", as "Ağdamda").
                values += tuple(name_key(fold(found)) for found in name_stems if not found.startswith(VERB))
        for value in values:
            if value and (fieldname, value) not in seen:
                seen.add((fieldname, value))
                terms.append(wq.Term(fieldname, value, boost=weight * boost))
    # A word the analysis gives no form of (a stop word) is no word to look for.
    return wq.Or(terms) if terms else None


# The name-key alphabet written in Cyrillic, for the Russian stemmer to find a name's case ending.
_NAME_CYRILLIC = str.maketrans({
    "a": "а", "b": "б", "c": "дж", "d": "д", "e": "е", "f": "ф", "g": "г", "h": "х", "i": "и", "k": "к",
    "l": "л", "m": "м", "n": "н", "o": "о", "p": "п", "r": "р", "s": "с", "t": "т", "u": "у", "v": "в",
    "x": "х", "z": "з",
})  # fmt: skip
# A shorter stem of a name is shared by too many unrelated words of the other languages ("Ana": "an").
_MIN_NAME_STEM = 4


def _name_stems(key: str | None, target: _Target) -> tuple[str, ...]:
    """The stems a name has in every script and spelling, so that whichever spelling is typed
    ("Xocalı", "Khojaly", "Ходжалы", an authority variant) finds the same inflected forms
    ("Xocalıdan", "Ходжалов") and so the same passages: the Latin and the Russian stems of its name
    key and of the keys the authority gives it. Only for a name the authority or the index knows: an
    ordinary word keeps to the stems of its own script, as a name key's coarse spelling and other
    scripts' stems would find unrelated words ("Snow": "снова")."""
    if not key or (target.names is None and not target.synonyms):
        return ()
    synonyms = (target.synonyms or {}).get(key, ())
    if not synonyms and (target.names is None or not target.names(key)):
        return ()
    found: dict[str, None] = {}
    for name in (key, *synonyms):
        found.update(dict.fromkeys(word_forms(name).stems))
        # A Russian name's stem is its nominative less one letter at most; a shorter one is the
        # stemmer misreading the rendering (as a verb's ending), which would find other words.
        russian = stem(_in_cyrillic(name), "russian")
        if len(russian) >= len(name) - 1:
            found[russian] = None
    return tuple(term for term in found if len(term) >= _MIN_NAME_STEM)


def _in_cyrillic(key: str) -> str:
    """A name key as Russian would write it: a final i after a hard consonant is ы (Ходжалы)."""
    written = key.translate(_NAME_CYRILLIC)
    if key.endswith("i") and len(key) > 1 and key[-2] not in "aeioukgxcs":
        written = written[:-1] + "ы"
    return written


def folded_word(text: str, on_text: bool = False) -> str:
    """A word as a field holds it: the text's words folded within their script, the fields of
    names' folded to Latin letters (an apostrophe's suffix dropped, as `analysis.bare` reads it)."""
    text = bare(text)
    return fold_marks(lowercase_auto(text)) if on_text else fold(lowercase_auto(text))


def rewrite(node: wq.Query, target: _Target) -> wq.Query | None:
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
            folded_word(node.text, on_text),
            boost=boost,
            maxdist=min(node.maxdist, _MAX_FUZZY),
            prefixlength=1,
        )
    if isinstance(node, wq.Term):
        if on_text:
            return _word(node.text, target, boost)
        return wq.Term(fieldname, folded_word(node.text), boost=boost)
    if isinstance(node, wq.Prefix):
        prefix = folded_word(node.text, on_text)
        if len(prefix) < MIN_PREFIX:
            return rewrite(wq.Term(node.fieldname, node.text, boost=boost), target)
        if on_text and len(prefix) <= PREFIXED:
            # Among the words' beginnings, where a prefix is one term or few.
            return wq.Prefix("prefix", prefix, boost=boost)
        return wq.Prefix(text_field, prefix, boost=boost)
    if isinstance(node, wq.Wildcard):
        pattern = "".join(ch if ch in "*?" else folded_word(ch, on_text) for ch in node.text)
        if len(pattern.strip("*?")) < MIN_PREFIX:
            return None
        return wq.Wildcard(text_field, pattern, boost=boost)
    if isinstance(node, wq.Phrase):
        return _phrase(node, target, text_field, on_text)
    if isinstance(node, wq.Not):
        if not target.strict:
            return None
        inner = rewrite(node.query, target)
        return wq.Not(inner) if inner is not None else None
    if isinstance(node, wq.AndNot):
        positive = rewrite(node.a, target)
        negative = rewrite(node.b, target) if target.strict else None
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
    rewritten = [r for r in (rewrite(c, target) for c in children) if r is not None]
    if not rewritten:
        return None
    if all(isinstance(r, wq.Not) for r in rewritten):
        # Only exclusions: nothing positive to find, in ranking as in passages.
        return None
    return rewritten[0] if len(rewritten) == 1 else kind(rewritten, boost=boost)


def _phrase(node: wq.Phrase, target: _Target, text_field: str, on_text: bool) -> wq.Query | None:
    folded = [f for f in (folded_word(w, on_text) for w in node.words) if f]
    if not folded:
        return None
    if len(folded) == 1:
        return rewrite(wq.Term(node.fieldname, node.words[0], boost=node.boost), target)
    if target.segments:
        return wq.Phrase(text_field, folded, slop=node.slop, boost=node.boost)
    if not on_text:
        # Only the text keeps positions in the testimony index; a field's phrase needs its words.
        return wq.And([wq.Term(text_field, f) for f in folded], boost=node.boost)
    # Ranked by how often the phrase is said; the words' forms as typed, where the text has them,
    # add to it, so that the exact spelling ranks above a diacritic-free one. (Stems and names of
    # the words would add little to a phrase, and reading every posting of its common words a lot.)
    phrase = wq.Phrase(text_field, folded, slop=node.slop, boost=node.boost)
    exact = [wq.Term("exact", query_forms(w).exact, boost=EXACT_WEIGHT * node.boost) for w in node.words]
    return wq.AndMaybe(phrase, wq.Or(exact))
