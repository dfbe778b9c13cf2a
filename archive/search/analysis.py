"""How words in Azerbaijani, Turkish, Russian and English become index terms, exact and folded."""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache

import Stemmer
from whoosh.analysis import Analyzer, Filter, RegexTokenizer, Token

# Letters only: digits and underscores would flood the vocabulary with timecodes and ids.
WORD = re.compile(r"[^\W\d_]+")

# Letters that only Turkic Latin spelling uses; a word holding one is lowercased the Turkic way
# (I -> ı), any other word the general way, since a mixed field cannot know the language.
_TURKIC_MARKERS = frozenset("əƏıİğĞşŞ")

# Cyrillic (Russian and Azerbaijani Cyrillic) to the Azerbaijani Latin alphabet with its diacritics
# already folded, so "Ходжалы" and "Xocalı" meet as "xocali" and "Шуша" and "Şuşa" as "susa".
_CYRILLIC = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "yo", "ж": "j", "з": "z",
    "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "x", "ц": "ts", "ч": "c", "ш": "s", "щ": "sc",
    "ъ": "", "ы": "i", "ь": "", "э": "e", "ю": "yu", "я": "ya", "ә": "e", "ғ": "g", "ҹ": "c",
    "ҝ": "g", "һ": "h", "ө": "o", "ү": "u", "ј": "y", "і": "i", "ї": "yi", "є": "ye", "ґ": "g",
}  # fmt: skip
_LATIN = {"ə": "e", "ı": "i", "ß": "ss", "æ": "ae", "ø": "o", "œ": "oe", "đ": "d", "ł": "l"}
_FOLD_TABLE = str.maketrans({**_CYRILLIC, **_LATIN})

# English and Russian-style romanisations of Turkic names, reduced to one key, e.g. "Khojaly",
# "Khodzhaly", "Xocalı" and "Ходжалы" all give "xocali". Too coarse for ordinary words
# ("wash" would meet "was"), so it is applied to capitalised words (names) only.
_NAME_DIGRAPHS = re.compile(r"dzh|dj|zh|ch|kh|sh|gh")
_NAME_DIGRAPH = {"dzh": "c", "dj": "c", "zh": "c", "ch": "c", "kh": "x", "sh": "s", "gh": "g"}
_NAME_LETTERS = str.maketrans({"j": "c", "q": "k", "y": "i", "w": "v"})
_DOUBLED = re.compile(r"(.)\1+")

_CYRILLIC_WORD = re.compile(r"[\u0400-\u04ff]")

# Snowball has no Azerbaijani stemmer; the Turkish one strips the shared suffixes (-lar/-lər,
# -dan/-dən, -da/-də) well once ə is folded to e, so Azerbaijani words are stemmed as Turkish
# after folding. Folding first also makes "qacqinlar" and "qaçqınlar" share the stem "qacqin".
LANGUAGE_STEMMER = {"en": "english", "az": "turkish", "tr": "turkish", "ru": "russian"}
_LATIN_STEMMERS = ("english", "turkish")


def lowercase_turkic(word: str) -> str:
    """Lowercase with the Turkic dotted/dotless i rules: I -> ı, İ -> i."""
    return word.replace("I", "ı").replace("İ", "i").lower()


def lowercase_general(word: str) -> str:
    """Lowercase any other language; İ still becomes a plain i, not i plus a combining dot."""
    return word.replace("İ", "i").lower()


def lowercase_auto(word: str) -> str:
    """Lowercase a word of unknown language, the Turkic way when its letters say it is Turkic."""
    if _TURKIC_MARKERS.isdisjoint(word):
        return lowercase_general(word)
    return lowercase_turkic(word)


def fold(word: str) -> str:
    """Fold a lowercased word to plain Latin letters: diacritics dropped, Cyrillic transliterated."""
    if word.isascii():
        return word
    # дж is one sound, Azerbaijani c; do it before the letters are mapped one by one.
    word = word.replace("дж", "c").translate(_FOLD_TABLE)
    if word.isascii():
        return word
    decomposed = unicodedata.normalize("NFD", word)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def name_key(folded: str) -> str:
    """Reduce a folded name to a key shared by its common Latin and Cyrillic spellings."""
    key = _NAME_DIGRAPHS.sub(lambda m: _NAME_DIGRAPH[m.group()], folded)
    return _DOUBLED.sub(r"\1", key.translate(_NAME_LETTERS))


@lru_cache(maxsize=8)
def _stemmer(algorithm: str) -> Stemmer.Stemmer:
    stemmer = Stemmer.Stemmer(algorithm)
    stemmer.maxCacheSize = 100_000
    return stemmer


def stem(lowered: str, algorithm: str) -> str:
    """Stem a lowercased word and return the folded stem.

    Russian is stemmed in Cyrillic before folding (its stemmer reads Cyrillic); Turkish and
    English are stemmed after folding, so a query typed without diacritics stems the same way.
    """
    if algorithm == "russian":
        return fold(_stemmer("russian").stemWord(lowered))
    # Folded again: the Turkish stemmer gives back a vowel to stems ending in d or g ("road" ->
    # "roadı").
    return fold(_stemmer(algorithm).stemWord(fold(lowered)))


def stemmers_for(languages: Iterable[str] | None) -> tuple[str, ...]:
    """The Snowball stemmers to use on Latin-script words of a text in these languages.

    Unknown or missing languages give both Latin stemmers: a query has no language either.
    """
    found = {LANGUAGE_STEMMER[lang] for lang in languages or () if lang in LANGUAGE_STEMMER}
    found.discard("russian")
    return tuple(sorted(found)) or _LATIN_STEMMERS


@dataclass(frozen=True, slots=True)
class WordForms:
    """Every index term one written word gives."""

    exact: str
    folded: str
    stems: tuple[str, ...]
    name: str | None


@lru_cache(maxsize=300_000)
def word_forms(word: str, latin_stemmers: tuple[str, ...] = _LATIN_STEMMERS) -> WordForms:
    """The forms of one word as written in a text (case kept, so names can be told)."""
    exact = lowercase_auto(word)
    folded = fold(exact)
    if _CYRILLIC_WORD.search(exact):
        stems: tuple[str, ...] = (stem(exact, "russian"),)
    else:
        stems = tuple(dict.fromkeys(stem(exact, algorithm) for algorithm in latin_stemmers))
    name = name_key(folded) if word[0].isupper() else None
    return WordForms(exact, folded, stems, name)


def query_forms(word: str) -> WordForms:
    """The forms of a query word: every stemmer of its script, and always a name key."""
    forms = word_forms(word)
    return WordForms(forms.exact, forms.folded, forms.stems, name_key(forms.folded))


def words(text: str) -> list[str]:
    """Split text into words, in reading order."""
    return WORD.findall(unicodedata.normalize("NFC", text))


@dataclass(slots=True)
class TextTerms:
    """Term lists of a text for each analysed field. `folded` keeps one term per word, in order;
    `stems` and `names` pair each term with the number of the word it came from."""

    exact: list[str] = field(default_factory=list)
    folded: list[str] = field(default_factory=list)
    stems: list[tuple[str, int]] = field(default_factory=list)
    names: list[tuple[str, int]] = field(default_factory=list)


def analyze(text: str, languages: Iterable[str] | None = None) -> TextTerms:
    """Analyse a text once into the term lists of every field (the fast path used to index)."""
    latin = stemmers_for(languages)
    terms = TextTerms()
    exact, folded, stems, names = terms.exact, terms.folded, terms.stems, terms.names
    for at, word in enumerate(words(text)):
        forms = word_forms(word, latin)
        exact.append(forms.exact)
        folded.append(forms.folded)
        stems += [(term, at) for term in forms.stems]
        if forms.name:
            names.append((forms.name, at))
    return terms


# A query's prefix of at least MIN_PREFIX letters is looked for; the first PREFIXED letters of each
# word are indexed as a term of their own (see `prefix_term`).
MIN_PREFIX = 2
PREFIXED = 4


def prefix_term(word: str) -> str | None:
    """The term a folded word is found by from its beginning: a prefix of up to PREFIXED letters is
    then one term or the few that begin with it, not the hundreds of words it begins."""
    return word[:PREFIXED] if len(word) >= MIN_PREFIX else None


# A word pair in fewer documents of a segment than this is not a term of its own there, but in
# one of PAIR_BUCKETS buckets, chosen by a checksum of the pair.
PAIR_KEPT_FROM = 8
PAIR_BUCKETS = 1 << 18


def pair_bucket(pair: str | bytes) -> str:
    """The bucket term of a word pair ("#" and a number: no word holds "#")."""
    data = pair.encode("utf-8") if isinstance(pair, str) else pair
    return f"#{zlib.crc32(data) % PAIR_BUCKETS:05x}"


# Whoosh filters and analyzers: the same rules in Whoosh's token-stream form, for schemas and for
# anyone analysing a string through Whoosh; indexing itself goes through `analyze`, which caches
# per word.


class LowercaseFilter(Filter):
    """Lowercase tokens by a language's rules: "az" and "tr" Turkic, None decided per word."""

    def __init__(self, language: str | None = None) -> None:
        self.language = language
        if language in ("az", "tr"):
            self._lower = lowercase_turkic
        elif language is None:
            self._lower = lowercase_auto
        else:
            self._lower = lowercase_general

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LowercaseFilter) and other.language == self.language

    def __call__(self, tokens: Iterator[Token]) -> Iterator[Token]:
        lower = self._lower
        for token in tokens:
            token.text = lower(token.text)
            yield token


class FoldFilter(Filter):
    """Fold lowercased tokens to plain Latin letters (see `fold`)."""

    def __call__(self, tokens: Iterator[Token]) -> Iterator[Token]:
        for token in tokens:
            token.text = fold(token.text)
            yield token


class SnowballFilter(Filter):
    """Stem lowercased tokens with a PyStemmer Snowball algorithm, giving folded stems."""

    def __init__(self, algorithm: str) -> None:
        self.algorithm = algorithm

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SnowballFilter) and other.algorithm == self.algorithm

    def __call__(self, tokens: Iterator[Token]) -> Iterator[Token]:
        algorithm = self.algorithm
        for token in tokens:
            if not token.stopped:
                token.text = stem(token.text, algorithm)
            yield token


def word_tokenizer() -> RegexTokenizer:
    """Split on anything that is not a letter."""
    return RegexTokenizer(WORD)


def azerbaijani_analyzer() -> Analyzer:
    """Azerbaijani: Turkic lowercasing, then folded Turkish stems (no Azerbaijani Snowball)."""
    return word_tokenizer() | LowercaseFilter("az") | SnowballFilter("turkish")


def turkish_analyzer() -> Analyzer:
    """Turkish: Turkic lowercasing, then folded Turkish Snowball stems."""
    return word_tokenizer() | LowercaseFilter("tr") | SnowballFilter("turkish")


def russian_analyzer() -> Analyzer:
    """Russian: lowercasing, Russian Snowball stems, transliterated to Latin."""
    return word_tokenizer() | LowercaseFilter("ru") | SnowballFilter("russian")


def english_analyzer() -> Analyzer:
    """English: lowercasing, then English Snowball stems."""
    return word_tokenizer() | LowercaseFilter("en") | SnowballFilter("english")


def exact_analyzer() -> Analyzer:
    """Mixed-language text, lowercased only: the forms that rank highest."""
    return word_tokenizer() | LowercaseFilter()


def multilingual_analyzer() -> Analyzer:
    """Mixed-language text, lowercased and folded: what a query without diacritics meets."""
    return word_tokenizer() | LowercaseFilter() | FoldFilter()
