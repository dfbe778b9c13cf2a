"""How well a word's dictionary form finds the sentences that hold its forms, per language and part of
speech, for the archive's analysis and for SQLite FTS5 (`porter unicode61`, as `search_serve` builds it).

The sentences are real ones from Universal Dependencies treebanks, each word's lemma annotated by hand
(`tests/data/relevance/`, see its README). Each sentence stands for a testimony; for a lemma, the
relevant ones are those holding any of its forms. A query is the lemma as a dictionary gives it (a
Turkish or Azerbaijani verb with its infinitive ending), and a Russian name also in Latin letters.

Run: `python -m tests.bench.relevance_bench` (a few seconds).
"""

from __future__ import annotations

import re
import sqlite3
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from archive.search.analysis import analyze, lowercase_auto, lowercase_turkic, query_forms, words

DATA = Path(__file__).resolve().parent.parent / "data" / "relevance"
LANGUAGES = ("az", "tr", "ru")
# The parts of speech measured, and the name a table gives them.
KINDS = {"NOUN": "nouns", "VERB": "verbs", "PROPN": "names"}


@dataclass(frozen=True)
class Sentence:
    text: str
    lemmas: frozenset[tuple[str, str]]  # (lemma, part of speech) of each word


def sentences(lang: str) -> list[Sentence]:
    """The sentences of a language's sample, with the lemmas of their words."""
    out: list[Sentence] = []
    block = (DATA / f"{lang}.conllu").read_text(encoding="utf-8").split("\n\n")
    for part in block:
        text = ""
        lemmas: set[tuple[str, str]] = set()
        for line in part.splitlines():
            if line.startswith("# text = "):
                text = line[len("# text = ") :]
            elif line and not line.startswith("#"):
                number, _form, lemma, pos = line.split("\t")[:4]
                if number.isdigit() and words(lemma):
                    lemmas.add((_lower(lang, lemma), pos))
        if text:
            out.append(Sentence(text, frozenset(lemmas)))
    return out


def _lower(lang: str, word: str) -> str:
    return lowercase_turkic(word) if lang in ("az", "tr") else lowercase_auto(word)


_BACK = frozenset("aıou")
_VOWELS = frozenset("aıoueəiöü")


def dictionary_form(lang: str, lemma: str, pos: str) -> str:
    """What a reader types for a lemma: a Turkic verb root takes its infinitive ending."""
    if pos != "VERB" or lang not in ("az", "tr"):
        return lemma
    last = next((ch for ch in reversed(lemma) if ch in _VOWELS), "a")
    back = last in _BACK
    if lang == "tr":
        return lemma + ("mak" if back else "mek")
    return lemma + ("maq" if back else "mək")


# A romanisation of Russian as English-language texts write names (BGN/PCGN without diacritics).
_ROMAN = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ё": "yo", "ж": "zh", "з": "z",
    "и": "i", "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r",
    "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch",
    "ъ": "", "ы": "y", "ь": "", "э": "e", "ю": "yu", "я": "ya",
}  # fmt: skip


def romanised(name: str) -> str:
    """A Russian name as an English text spells it: "Москва" -> "Moskva", "Ельцин" -> "Yeltsin"."""
    out = []
    for at, ch in enumerate(name.lower()):
        latin = _ROMAN.get(ch, ch)
        if ch == "е" and (at == 0 or name.lower()[at - 1] in "аеёиоуыэюяъь"):
            latin = "ye"
        out.append(latin)
    return "".join(out).capitalize()


def archive_engine(texts: list[str], languages: tuple[str, ...] = ()) -> Callable[[str], set[int]]:
    """The archive's word matching: a testimony matches a query word when one of the word's forms
    (exact, folded, stems, name key) is among the testimony's terms of that form, as a one-word query
    on the index's fields matches (`parsing._word`)."""
    postings: dict[tuple[str, str], set[int]] = defaultdict(set)
    for number, text in enumerate(texts):
        terms = analyze(text, languages)
        for form, values in (
            ("exact", terms.exact),
            ("folded", terms.folded),
            ("stems", [t for t, _ in terms.stems]),
            ("name", [t for t, _ in terms.names]),
        ):
            for value in values:
                postings[(form, value)].add(number)

    def search(q: str) -> set[int]:
        found: set[int] = set()
        for word in words(q):
            forms = query_forms(word)
            hits: set[int] = set()
            hits |= postings.get(("exact", forms.exact), set())
            hits |= postings.get(("folded", forms.folded), set())
            for value in forms.stems:
                hits |= postings.get(("stems", value), set())
            if forms.name:
                hits |= postings.get(("name", forms.name), set())
            found = hits if not found else found & hits
        return found

    return search


def fts5_engine(texts: list[str]) -> Callable[[str], set[int]]:
    """SQLite FTS5 with the `porter unicode61` tokenizer over the same sentences."""
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE VIRTUAL TABLE seg USING fts5(text, tokenize='porter unicode61')")
    connection.executemany("INSERT INTO seg(rowid, text) VALUES (?, ?)", enumerate(texts))

    def search(q: str) -> set[int]:
        # Split as its tokenizer splits (at anything but a letter or a digit, apostrophes too).
        expression = " ".join(f'"{word}"' for word in re.findall(r"[^\W_]+", q))
        if not expression:
            return set()
        return {
            row[0] for row in connection.execute("SELECT rowid FROM seg WHERE seg MATCH ?", (expression,))
        }

    return search


@dataclass(frozen=True)
class Score:
    recall: float
    precision: float
    queries: int


def queries(lang: str, sample: list[Sentence]) -> dict[str, list[tuple[str, set[int]]]]:
    """Per kind ("nouns", "verbs", "names", and for Russian "latin names"), each query with the
    numbers of the sentences relevant to it."""
    holding: dict[str, set[int]] = defaultdict(set)
    asked: set[tuple[str, str]] = set()
    for number, sentence in enumerate(sample):
        for lemma, pos in sentence.lemmas:
            # Relevant: any sentence holding the lemma, whatever part of speech it was tagged there.
            holding[lemma].add(number)
            if pos in KINDS:
                asked.add((lemma, pos))
    out: dict[str, list[tuple[str, set[int]]]] = defaultdict(list)
    for lemma, pos in sorted(asked):
        form = dictionary_form(lang, lemma, pos)
        out[KINDS[pos]].append((form, holding[lemma]))
        if lang == "ru" and pos == "PROPN" and not lemma.isascii():
            out["latin names"].append((romanised(lemma), holding[lemma]))
    return out


def score(search: Callable[[str], set[int]], cases: Iterable[tuple[str, set[int]]]) -> Score:
    """Mean recall over the queries, and precision over everything they found."""
    recalls: list[float] = []
    found_total = right_total = 0
    for q, relevant in cases:
        found = search(q)
        recalls.append(len(found & relevant) / len(relevant))
        found_total += len(found)
        right_total += len(found & relevant)
    precision = right_total / found_total if found_total else 1.0
    return Score(sum(recalls) / len(recalls) if recalls else 1.0, precision, len(recalls))


def measure(lang: str, engine: str) -> dict[str, Score]:
    sample = sentences(lang)
    texts = [s.text for s in sample]
    search = archive_engine(texts, (lang,)) if engine == "archive" else fts5_engine(texts)
    by_kind = queries(lang, sample)
    out = {kind: score(search, cases) for kind, cases in by_kind.items()}
    everything = [case for kind in ("nouns", "verbs", "names") for case in by_kind.get(kind, [])]
    out["all"] = score(search, everything)
    return out


def main() -> None:
    print(f"{'lang':<5}{'kind':<13}{'queries':>8}  {'archive R':>9} {'P':>5}   {'FTS5 R':>7} {'P':>5}")
    for lang in LANGUAGES:
        ours, fts = measure(lang, "archive"), measure(lang, "fts5")
        for kind, mine in ours.items():
            theirs = fts[kind]
            print(
                f"{lang:<5}{kind:<13}{mine.queries:>8}  {mine.recall:>9.2f} {mine.precision:>5.2f}"
                f"   {theirs.recall:>7.2f} {theirs.precision:>5.2f}"
            )


if __name__ == "__main__":
    main()
