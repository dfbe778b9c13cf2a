"""How words in Azerbaijani, Turkish, Russian and English become index terms: the word as written,
folded, its stems or lemmas, and for names a key shared across scripts and spellings."""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import compress, product
from operator import not_

import pymorphy3
import Stemmer
from whoosh.analysis import Analyzer, Filter, RegexTokenizer, Token

# A word is a run of letters and digits (years, house numbers and ids are words too), combining
# marks within it kept (a stress mark, "Ко́уз", does not split a word; `words` drops it). The numbers
# of a timecode or a time of day ("00:12:45.250", "10:30") are not words: transcripts are full of
# them, and each would be a term in every testimony. An apostrophe followed by a small Latin letter
# is within a word (Turkish "Şuşa'dan", "1992'de", English "Aghdam's", Azerbaijani's spelling of the
# 1990s "mə'lumat"): what the word is then, `bare` says.
WORD = re.compile(
    r"(?<![^\W_])(?:(?<!\d:)|(?!\d))(?<!:\d\d[.,])"
    r"[^\W_](?:[^\W_]|[\u0300-\u036f])*+"
    r"(?:['\u2019](?=[a-zß-öø-ÿğışə])(?:[^\W_]|[\u0300-\u036f])++)*+"
    r"(?!(?<=\d):\d)"
)
_APOSTROPHES = re.compile(r"['\u2019]")
_MARKS = re.compile(r"[\u0300-\u036f]")

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
# Folding within a script: ё and й lose their marks like any Latin letter, Cyrillic stays Cyrillic.
_MARKS_TABLE = str.maketrans({**_LATIN, "ё": "е", "й": "и"})

# English, Russian-style and Turkish romanisations of Turkic names, reduced to one key, e.g.
# "Khojaly", "Khodzhaly", "Xocalı", "Ходжалы" and Turkish "Hocalı" all give one. Too coarse for
# ordinary words ("wash" would meet "was"), so it is applied to names (capitalised words) only.
# Turkish has no x and writes Azerbaijani x as h (Hocalı, Hankendi, Haçmaz), English kh and Russian
# х: a name's h is its x, as English "Hasan" and Azerbaijani "Həsən" meet Russian "Хасан".
_NAME_DIGRAPHS = re.compile(r"dzh|dj|zh|ch|kh|sh|gh")
_NAME_DIGRAPH = {"dzh": "c", "dj": "c", "zh": "c", "ch": "c", "kh": "x", "sh": "s", "gh": "g"}
_NAME_LETTERS = str.maketrans({"j": "c", "q": "k", "y": "i", "w": "v", "h": "x"})
_DOUBLED = re.compile(r"(.)\1+")
# Russian spells a Turkic vowel as it hears it (Füzuli "Физули", Gəncə "Гянджа", Kürdəmir
# "Кюрдамир"): in a name key a run of vowels is only high (i) or low (a), by its first vowel, and a
# y between a consonant and a vowel (я, ю, ё softening the consonant, "Гянджа" gyanca) is dropped.
# Short names keep their vowels and their y ("Ay" is not "O").
_SOFTENING = re.compile(r"(?<=[bcdfgklmnpqrstvxz])y(?=[aeiou])")
_VOWEL_RUN = re.compile(r"[aeiou]+")
_CLASSED_FROM = 4

_CYRILLIC_WORD = re.compile(r"[\u0400-\u04ff]")

# The stemmers of each language's Latin-script words. Azerbaijani and Turkish share one: the Turkish
# Snowball rules on the real word (ə read as e), then the verb endings of both languages.
LANGUAGE_STEMMER = {"en": "english", "az": "turkic", "tr": "turkic", "ru": "russian"}
_LATIN_STEMMERS = ("english", "turkic")

# Azerbaijani written in Cyrillic (its alphabet from 1958 to 1991, which many who lived through 1992
# still write): the same language, letter for letter its Latin alphabet of today. Its own letters
# (ә ғ ҝ ҹ һ ј ө ү) tell an Azerbaijani word from a Russian one; in a text of Azerbaijani and not
# Russian, every Cyrillic word is Azerbaijani.
_AZ_CYRILLIC_TO_LATIN = str.maketrans(
    {
        "а": "a", "б": "b", "ҹ": "c", "ч": "ç", "д": "d", "е": "e", "ә": "ə", "ф": "f", "ҝ": "g",
        "ғ": "ğ", "һ": "h", "х": "x", "ы": "ı", "и": "i", "ж": "j", "к": "k", "г": "q", "л": "l",
        "м": "m", "н": "n", "о": "o", "ө": "ö", "п": "p", "р": "r", "с": "s", "ш": "ş", "т": "t",
        "у": "u", "ү": "ü", "в": "v", "ј": "y", "й": "y", "з": "z", "я": "ya", "ю": "yu", "ё": "yo",
        "ц": "ts", "щ": "şç", "э": "e", "ь": "", "ъ": "",
    }
)  # fmt: skip
_AZ_CYRILLIC_LETTERS = frozenset("әғҝҹһјөү")


def azerbaijani_cyrillic(languages: Iterable[str] | None) -> bool:
    """Whether every Cyrillic word of a text in these languages is Azerbaijani: Azerbaijani is
    among them and Russian is not."""
    found = set(languages or ())
    return "az" in found and "ru" not in found


def azerbaijani_latin(lowered: str) -> str:
    """An Azerbaijani word written in Cyrillic, in the Latin alphabet."""
    return lowered.translate(_AZ_CYRILLIC_TO_LATIN)


def bare(word: str) -> str:
    """A word as `WORD` found it, without what an apostrophe adds. After a name, a number or a word
    of three letters or more, the apostrophe sets a suffix apart, which is dropped: Turkish
    "Şuşa'dan" and "1992'de" are found as Şuşa and 1992 are (as "şuşa'dan" typed in small letters),
    English "Aghdam's" as Aghdam, "don't" as "don". Within a word that begins with a syllable of
    one or two small letters and goes on with three more or with Azerbaijani letters, it is
    Azerbaijani as spelt in the 1990s, and only the apostrophe goes ("mə'lumat", "e'lan" are
    "məlumat", "elan"); "we're" stays "we"."""
    if "'" not in word and "\u2019" not in word:
        return word
    head, rest = _APOSTROPHES.split(word, 1)
    if len(head) <= 2 and head.islower() and (len(rest) >= 3 or not _TURKIC_MARKERS.isdisjoint(word)):
        return head + _APOSTROPHES.sub("", rest)
    return head


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


def _strip_marks(word: str) -> str:
    decomposed = unicodedata.normalize("NFD", word)
    # The letters that are no combining mark, picked in C (a rebuild strips every new word).
    return "".join(compress(decomposed, map(not_, map(unicodedata.combining, decomposed))))


def fold(word: str) -> str:
    """Fold a lowercased word to plain Latin letters: diacritics dropped, Cyrillic transliterated.

    For names and the fields that hold them (places, people, subjects, titles): ordinary words of
    the text are folded within their script (`fold_marks`)."""
    if word.isascii():
        return word
    # дж is one sound, Azerbaijani c; do it before the letters are mapped one by one.
    word = word.replace("дж", "c").translate(_FOLD_TABLE)
    return word if word.isascii() else _strip_marks(word)


def fold_marks(word: str) -> str:
    """Fold a lowercased word's diacritics (ə, ı and ş to e, i and s), keeping its script: a word
    typed without diacritics finds its written form, but Turkish "kon" never meets Russian "конь"."""
    if word.isascii():
        return word
    word = word.translate(_MARKS_TABLE)
    return word if word.isascii() else _strip_marks(word)


def _vowel_class(run: re.Match) -> str:
    return "i" if run.group()[0] in "iu" else "a"


def name_key(folded: str) -> str:
    """Reduce a folded name to a key shared by its common Latin and Cyrillic spellings."""
    key = _NAME_DIGRAPHS.sub(lambda m: _NAME_DIGRAPH[m.group()], folded)
    if len(key) >= _CLASSED_FROM:
        key = _VOWEL_RUN.sub(_vowel_class, _SOFTENING.sub("", key).translate(_NAME_LETTERS))
    else:
        key = key.translate(_NAME_LETTERS)
    return _DOUBLED.sub(r"\1", key)


@lru_cache(maxsize=8)
def _stemmer(algorithm: str) -> Stemmer.Stemmer:
    stemmer = Stemmer.Stemmer(algorithm)
    stemmer.maxCacheSize = 100_000
    return stemmer


@lru_cache(maxsize=1)
def _morphology() -> pymorphy3.MorphAnalyzer:
    """Russian morphology from pymorphy3's dictionaries (installed with it, read on first use)."""
    return pymorphy3.MorphAnalyzer()


# Russian words have at most this many lemmas kept (a form read as several words finds each).
_LEMMAS = 2


def russian_lemmas(lowered: str) -> tuple[str, ...]:
    """The dictionary forms a lowercased Russian word may be ("шуше" -> "шуша"), folded (ё -> е);
    a word the dictionary lacks is guessed from its ending, as pymorphy3 does."""
    forms = dict.fromkeys(fold_marks(parse.normal_form) for parse in _morphology().parse(lowered))
    return tuple(forms)[:_LEMMAS]


# pymorphy3's marks of a name: a first name, surname, patronymic, place, organisation, trade mark.
_NAME_TAGS = frozenset({"Name", "Surn", "Patr", "Geox", "Orgn", "Trad"})


def russian_name(lowered: str) -> bool:
    """Whether a Russian word opening a sentence is a name: the dictionary says so, or lacks the
    word. A common word there ("Конь стоял…") is no name, and meets no look-alike elsewhere."""
    parses = _morphology().parse(lowered)
    return not _morphology().word_is_known(lowered) or any(_NAME_TAGS & p.tag.grammemes for p in parses)


def _harmonised(template: str) -> list[str]:
    """Every spelling of a suffix under vowel harmony and voicing: A a/e, I ı/i/u/ü, D d/t, K k/q,
    G ğ/y, written folded (ə as e, ı as i, ü as u, ğ as g)."""
    choices = {"A": "ae", "I": "iu", "D": "dt", "K": "kqx", "G": "gy"}
    options = [choices.get(ch, ch) for ch in template]
    return ["".join(letters) for letters in product(*options)]


def _suffixes(*templates: str) -> tuple[str, ...]:
    found = {spelling for template in templates for spelling in _harmonised(template)}
    return tuple(sorted(found, key=len, reverse=True))


# The endings a Turkish or Azerbaijani verb takes after its root, outermost first, each slot
# optional but the tense: a case after a participle, a person, a past or conditional copula, the
# tense, aspect or participle itself, a negation or ability, the passive. "gəlməmişdilər" is
# gəl-mə-miş-di-lər.
_VERB_SLOTS: tuple[tuple[tuple[str, ...], bool], ...] = (
    (_suffixes("nA", "yA", "dA", "DAn", "nDA", "nDAn", "nI", "nIn", "yI", "IndA", "InA", "InI"), False),
    (
        _suffixes(
            "m", "n", "K", "Im", "In", "IK", "Iz", "sIn", "sIz", "sInIz", "nIz", "lAr", "Am", "sAn",
            "yIm", "yIz", "yAm", "yIK", "DIr", "DIrlAr", "lArI", "I", "sI", "ImIz", "InIz",
        ),
        False,
    ),
    (_suffixes("DI", "yDI", "IDI", "sA", "ysA", "mIs", "ymIs", "kAn", "ykAn"), False),
    (
        _suffixes(
            "DI", "mIs", "Iyor", "yor", "yIr", "Ir", "Ar", "AcAK", "yAcAK", "mAlI", "sA", "ArAK",
            "yArAK", "Ip", "yIp", "Ib", "yIb", "An", "yAn", "DIGI", "DIK", "AcAGI", "yAcAGI", "IncA",
            "yIncA", "AndA", "yAndA", "mAdAn", "mAK", "mA", "mAsI", "mIs", "sIn", "sInlAr", "In",
            "InIz", "yIn", "yInIz", "mIr",
        ),
        True,
    ),
    (_suffixes("mA", "mAy", "Abil", "yAbil", "AmA", "yAmA"), False),
    (_suffixes("Il", "In", "n"), False),
    (_suffixes("DIr", "t", "Ir"), False),
)  # fmt: skip
_ROOT_VOWELS = frozenset("aeiou")


# Each slot's spellings as a set, and their lengths: a word's endings are looked up, not scanned.
_SLOT_SETS = tuple((frozenset(suffixes), sorted({len(x) for x in suffixes})) for suffixes, _ in _VERB_SLOTS)


def _verb_roots(word: str, slot: int, found: set[str]) -> None:
    if slot == len(_VERB_SLOTS):
        if len(word) >= 2 and not _ROOT_VOWELS.isdisjoint(word):
            found.add(word)
        return
    spellings, lengths = _SLOT_SETS[slot]
    for length in lengths:
        if len(word) > length + 1 and word[-length:] in spellings:
            _verb_roots(word[:-length], slot + 1, found)
    if not _VERB_SLOTS[slot][1]:
        _verb_roots(word, slot + 1, found)


# A verb root is a term of its own ("~gel"): a noun's stem never meets a verb's root by chance.
VERB = "~"
_INFINITIVE = re.compile(r"m[ae][kq]$")
# A word's verb roots, shortest first, at most this many.
_ROOTS = 3


def verb_roots(folded: str) -> tuple[str, ...]:
    """The roots a folded Turkish or Azerbaijani word may have as a verb form ("gelmisdiler" ->
    "gel", "yazmaq" -> "yaz"), shortest first: without a dictionary "apardı" is apar-dı or ap-ar-dı
    alike, as "gəlirdi" is gəl-ir-di."""
    found: set[str] = set()
    _verb_roots(folded, 0, found)
    return tuple(sorted(found, key=len))[:_ROOTS]


# The endings after which the Turkish stemmer's stem may be shorter than three letters ("evlərdən"
# -> "ev", "suda" -> "su"): plural and case. A possessive is too often the end of a plain word
# ("deniz" is not "de" plus "-niz", nor "ölüm" "öl" plus "-üm").
_SHORT_STEM_ENDINGS = frozenset(
    _suffixes("lAr", "lArdA", "lArDAn", "lArA", "lArI", "lArIn", "lArInDA", "lArInDAn", "lArInA",
              "lArInI", "dA", "DAn", "A", "yA", "nA", "I", "yI", "nI", "In", "nIn", "lA", "ylA", "InDA",
              "InDAn", "InA", "InI", "sInDA", "sInDAn", "sInA", "sInI")
)  # fmt: skip


_VOWELS = frozenset("aeiouöüıə")


# A Turkic stem's last consonant, as it is before a vowel or at the end of a word: "kitabı" and
# "kitap", "otağı" and "otaq", "ağacı" and "ağaç" share one stem.
_FINAL_CONSONANT = str.maketrans({"b": "p", "c": "ç", "d": "t", "ğ": "k", "g": "k", "q": "k"})


def _voiceless(stem: str) -> str:
    """A Turkic stem with its last consonant as at the end of a word: it is voiced before a vowel
    ("otağı", "kitabı"), voiceless at the end ("otaq", "kitap")."""
    return stem[:-1] + stem[-1].translate(_FINAL_CONSONANT) if len(stem) > 2 else stem


def _stems_of(word: str, stem: str) -> list[str]:
    """The stem, and the word itself where the stemmer took only its final vowel: it reads a bare
    word's last vowel as a case ending ("mədrəsə" -> "mədrəs"), but leaves it before a real one
    ("mədrəsəyə" -> "mədrəsə"), so the bare word must be found as itself too.

    `stem` has the word's own letters (ə as ə), as `word`."""
    stems = [_voiceless(stem)]
    if len(word) == len(stem) + 1 and word.startswith(stem) and word[-1] in _VOWELS:
        stems.append(word)
        # After a vowel the possessive is -sı, of which it takes only the vowel ("qonşusu" ->
        # "qonşus"): the noun is what is left without the s.
        if len(stem) >= 4 and stem[-1] == "s" and stem[-2] in _VOWELS:
            stems.append(stem[:-1])
    return stems


# Endings of spoken Azerbaijani (and of Turkish) that the Turkish stemmer leaves on: "with"
# ("qardaşıynan", "gözünən"), the ablative "-nnan" ("yadınnan"), "the one at" ("kitabxanadakılar").
_SPOKEN_ENDING = re.compile(
    "(?:" + "|".join(_suffixes("ynAn", "InAn", "nnAn", "DAkI", "DAkIlAr", "DAkInI", "DAkIlArI")) + ")$"
)


def turkic_stems(lowered: str) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    """A Turkish or Azerbaijani word's stems as written (found by a query typed with diacritics),
    its folded stems (found by one typed without), and its Snowball stem (a name's: "Şuşa").

    The Turkish Snowball rules read the real word (ə as e; folded, "üstünde" would keep its
    endings); its final vowel dropped, the stem is kept as written and folded; the stem of the
    folded word is a twin, for a query typed without diacritics; and the verb root, where the word
    reads as a verb form.
    """
    folded = fold_marks(lowered)
    spoken = _SPOKEN_ENDING.search(folded)
    if spoken and spoken.start() >= 3:
        # An ending of spoken Azerbaijani the stemmer does not know: the word without it.
        lowered = lowered[: spoken.start()]
        folded = folded[: spoken.start()]
    stem = _turkish_stem(lowered.replace("ə", "e"))
    # The Snowball rules only take endings off: give the stem back the ə it was read without.
    stem = "".join("ə" if ch == "e" and lowered[at : at + 1] == "ə" else ch for at, ch in enumerate(stem))
    written = _stems_of(lowered, stem)
    twins = [fold_marks(term) for term in written] + _stems_of(folded, _turkish_stem(folded))
    for root in verb_roots(folded):
        # Folding keeps a Turkic word's length: the root as written is as long as the folded one.
        written.append(VERB + lowered[: len(root)])
        twins.append(VERB + root)
    return tuple(written), tuple(dict.fromkeys(twins)), stem


# Turkish and Azerbaijani function words the stemmer would take for an inflected noun ("için" as
# iç-in, "ile" as il-e, "kendi" as kent): kept whole, so that they do not find those nouns. As the
# stemmer reads them: ə as e, and folded too.
_KEPT_WHOLE = frozenset(
    "için ile gibi göre bile kadar neden kendi kendisi kendini biri birisi ancak sonra önce yine "
    "üçün kimi bele qeder niye özü özünü amma evvel yene icin gore ucun ozu ozunu once".split()
)


def _turkish_stem(word: str) -> str:
    """The Turkish Snowball stem, or the word itself where the stem would be too short to trust."""
    if word in _KEPT_WHOLE:
        return word
    stem = _stemmer("turkish").stemWord(word)
    if len(stem) >= 3 or len(word) <= 2:
        return stem
    if len(stem) == 2 and fold_marks(word[2:]) in _SHORT_STEM_ENDINGS:
        return stem
    return word


@lru_cache(maxsize=50_000)
def stem(lowered: str, algorithm: str) -> str:
    """The first stem of a lowercased word by one stemmer ("russian": its first lemma); kept, as a
    query looks up the Russian lemma of each spelling of a name it holds every time it is asked."""
    if algorithm == "russian":
        return russian_lemmas(lowered)[0]
    if algorithm == "turkic":
        return turkic_stems(lowered)[0][0]
    return _stemmer(algorithm).stemWord(lowered)


def stemmers_for(languages: Iterable[str] | None) -> tuple[str, ...]:
    """The stemmers to use on Latin-script words of a text in these languages.

    Unknown or missing languages give every Latin stemmer: a query has no language either.
    """
    found = {LANGUAGE_STEMMER[lang] for lang in languages or () if lang in LANGUAGE_STEMMER}
    found.discard("russian")
    return tuple(sorted(found)) or _LATIN_STEMMERS


@dataclass(frozen=True, slots=True)
class WordForms:
    """Every index term one written word gives: as written (lowercased), folded in its script,
    folded to Latin letters (`latin`, for the fields of names), its stems and lemmas (`written`
    those a query typed with diacritics looks for), and the name keys it is found by (`name` its
    own, `names` with those of its stems and lemmas)."""

    exact: str
    folded: str
    stems: tuple[str, ...]
    name: str | None
    latin: str = ""
    names: tuple[str, ...] = ()
    written: tuple[str, ...] = ()


@lru_cache(maxsize=300_000)
def word_forms(
    word: str,
    latin_stemmers: tuple[str, ...] = _LATIN_STEMMERS,
    opening: bool = False,
    az_cyrillic: bool = False,
) -> WordForms:
    """The forms of one word as written in a text (case kept, so names can be told); `opening`: the
    word opens a sentence, where a capital does not make a Russian word a name. A Cyrillic word with
    letters of Azerbaijani's own is stemmed as Azerbaijani, and with `az_cyrillic` (a text in
    Azerbaijani and not Russian, `azerbaijani_cyrillic`) every one is, as a Russian word as well."""
    word = bare(word)
    if not word.isascii():
        word = _MARKS.sub("", word)
    exact = lowercase_auto(word)
    folded = fold_marks(exact)
    latin = fold(exact)
    if exact.isdigit():
        return WordForms(exact, folded, (), None, latin)
    bases: tuple[str, ...] = ()
    if _CYRILLIC_WORD.search(exact):
        azerbaijani = not _AZ_CYRILLIC_LETTERS.isdisjoint(exact)
        stems = written = () if azerbaijani else russian_lemmas(exact)
        # A name the dictionary lacks is guessed a lemma by its ending, which a plural case misleads
        # ("Ходжалах": "ходжала", not "ходжалы"); the Snowball stem, for its name keys only, is what
        # such a name's forms share ("ходжал").
        bases = (*stems, _stemmer("russian").stemWord(exact))
        if azerbaijani or az_cyrillic:
            # Also (or only) an Azerbaijani word: stemmed as the same word written in Latin letters,
            # so that "гачдыг" and "qaçdıq" are found by each other, and by "qaçmaq".
            as_written, folded_stems, _ = turkic_stems(azerbaijani_latin(exact))
            written = tuple(dict.fromkeys((*written, *as_written)))
            stems = tuple(dict.fromkeys((*written, *folded_stems)))
    else:
        found: list[str] = []
        twins: list[str] = []
        for algorithm in latin_stemmers:
            if algorithm == "turkic":
                as_written, folded_stems, base = turkic_stems(lowercase_turkic(word))
                found += as_written
                twins += folded_stems
                bases = (base,)
            else:
                found.append(_stemmer(algorithm).stemWord(exact))
        written = tuple(dict.fromkeys(found))
        stems = tuple(dict.fromkeys(found + twins))
    if not word[0].isupper() or (opening and _CYRILLIC_WORD.search(exact) and not russian_name(exact)):
        return WordForms(exact, folded, stems, None, latin, (), written)
    name = name_key(latin)
    names = tuple(dict.fromkeys([name, *(name_key(fold(base)) for base in bases if len(base) >= 3)]))
    return WordForms(exact, folded, stems, name, latin, names, written)


def name_keys_looked_for(key: str) -> tuple[str, ...]:
    """The name keys a query looks for a name key by: itself, and where it ends in a vowel, itself
    without it, as a name's case forms are indexed when a stemmer takes that vowel with the ending
    ("Xocali" finds "Xocalını", stemmed "xocal"; and "Ходжалах", "ходжал")."""
    return (key, key[:-1]) if len(key) >= 4 and key[-1] in "ai" else (key,)


def query_forms(word: str) -> WordForms:
    """The forms of a query word: every stemmer of its script, and always a name key.

    A word typed with diacritics looks for the stems as written ("kış" does not find "kişi"), one
    typed without for the folded ones too. A verb's root is looked for only when the word is a
    verb's dictionary form (an infinitive, "yazmaq").
    """
    forms = word_forms(word)
    if forms.exact.isdigit():
        # A number is its own name key: it names nothing, but a name may hold it ("Kolxoz 5").
        return WordForms(forms.exact, forms.folded, (), forms.exact, forms.latin, ())
    stems = forms.stems if forms.exact.isascii() else forms.written
    stems = tuple(stem for stem in stems if not stem.startswith(VERB))
    if _INFINITIVE.search(forms.folded):
        # A dictionary form says its root: the word without its ending, as typed. (It may be a noun
        # too: "yemek" is also a meal.)
        root = forms.exact[:-3]
        # A verb's bare root is a word too ("aç!", "tərk et").
        stems = (VERB + root, root, *stems)
    name = forms.name or name_key(forms.latin)
    names = (*(forms.names or (name,)), *name_keys_looked_for(name))
    return WordForms(forms.exact, forms.folded, tuple(dict.fromkeys(stems)), name, forms.latin,
                     tuple(dict.fromkeys(names)), forms.written)  # fmt: skip


def words(text: str) -> list[str]:
    """Split text into words, in reading order (stress marks dropped)."""
    found = map(bare, WORD.findall(unicodedata.normalize("NFC", text)))
    return [_MARKS.sub("", word) if not word.isascii() else word for word in found]


@dataclass(slots=True)
class TextTerms:
    """Term lists of a text for each analysed field. `folded` and `latin` keep one term per word, in
    order; `stems` and `names` pair each term with the number of the word it came from."""

    exact: list[str] = field(default_factory=list)
    folded: list[str] = field(default_factory=list)
    latin: list[str] = field(default_factory=list)
    stems: list[tuple[str, int]] = field(default_factory=list)
    names: list[tuple[str, int]] = field(default_factory=list)
    # Where each word begins and ends in the text (NFC), one number after the other.
    spans: list[int] = field(default_factory=list)


_BEFORE_A_WORD = frozenset(" \t\r\n\"'«»„“”()[]—–-")
_SENTENCE_ENDS = frozenset(".!?…:")


def _opens_sentence(text: str, start: int) -> bool:
    at = start - 1
    while at >= 0 and text[at] in _BEFORE_A_WORD:
        at -= 1
    return at < 0 or text[at] in _SENTENCE_ENDS


def analyze(
    text: str, languages: Iterable[str] | None = None, seen: dict[str, WordForms] | None = None
) -> TextTerms:
    """Analyse a text once into the term lists of every field (the fast path used to index).

    `seen` keeps the forms of the words met so far in texts of these languages (a testimony's: its
    texts share most of their words), so each is looked up once; a capitalised Cyrillic word's forms
    depend on where it stands, and are not kept there.
    """
    stemmers = stemmers_for(languages)
    az_cyrillic = azerbaijani_cyrillic(languages)
    if seen is None:
        seen = {}
    text = unicodedata.normalize("NFC", text)
    matches = list(WORD.finditer(text))
    forms: list[WordForms] = []
    for match in matches:
        word = match.group()
        found = seen.get(word)
        if found is None:
            if word[0].isupper() and _CYRILLIC_WORD.match(word):
                forms.append(word_forms(word, stemmers, _opens_sentence(text, match.start()), az_cyrillic))
                continue
            # The flag only for a Cyrillic word: a Latin one's forms are kept once for every text.
            cyrillic = az_cyrillic and _CYRILLIC_WORD.match(word) is not None
            found = seen[word] = word_forms(word, stemmers, False, cyrillic)
        forms.append(found)
    return TextTerms(
        exact=[f.exact for f in forms],
        folded=[f.folded for f in forms],
        latin=[f.latin for f in forms],
        stems=[(term, at) for at, f in enumerate(forms) for term in f.stems],
        names=[(term, at) for at, f in enumerate(forms) if f.names for term in f.names],
        spans=[offset for match in matches for offset in match.span()],
    )


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
    return bucket_term(pair_bucket_number(data))


def pair_bucket_number(pair: bytes) -> int:
    """The number of a word pair's bucket (of its UTF-8 bytes)."""
    return zlib.crc32(pair) % PAIR_BUCKETS


def bucket_term(number: int) -> str:
    """The term of the bucket of that number."""
    return f"#{number:05x}"


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
    """Stem lowercased tokens by one of `stem`'s algorithms (a Snowball one, "turkic" or "russian")."""

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


class BareFilter(Filter):
    """Tokens as `bare` reads them: an apostrophe's suffix set apart from a name or number dropped."""

    def __call__(self, tokens: Iterator[Token]) -> Iterator[Token]:
        for token in tokens:
            token.text = bare(token.text)
            yield token


def word_tokenizer() -> Analyzer:
    """Split into words as `WORD` and `bare` read them."""
    return RegexTokenizer(WORD) | BareFilter()


def azerbaijani_analyzer() -> Analyzer:
    """Azerbaijani: Turkic lowercasing, then Turkish Snowball stems of the real word (ə read as e)."""
    return word_tokenizer() | LowercaseFilter("az") | SnowballFilter("turkic")


def turkish_analyzer() -> Analyzer:
    """Turkish: Turkic lowercasing, then Turkish Snowball stems of the real word."""
    return word_tokenizer() | LowercaseFilter("tr") | SnowballFilter("turkic")


def russian_analyzer() -> Analyzer:
    """Russian: lowercasing, then the first lemma of each word (in Cyrillic)."""
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
