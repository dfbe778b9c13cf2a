"""From the document the policy builds for an audience to the testimony index's field values: the
analysed terms of each field, the entry a hit shows, and the transcript column's packed segments."""

from __future__ import annotations

import pickle
import sys
import unicodedata
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import accumulate, count, pairwise
from typing import Any

from archive.search.analysis import WORD, TextTerms, WordForms, analyze, fold, lowercase_auto, prefix_term
from archive.search.fields import with_twins


class Transcript:
    """A testimony's segments as the transcript column keeps them: where each one's words start (a
    position of the located fields), and each one packed on its own, read only when shown.

    The column holds, as unsigned 32-bit numbers, the count of segments, their starts and the ends
    of their packed forms, then the packed forms one after another (a pickled tuple of the same
    took longer to read than a whole search otherwise takes).
    """

    __slots__ = ("starts", "_ends", "_data", "_base")

    def __init__(self, data: bytes | memoryview = b"") -> None:
        count = int.from_bytes(data[:4], "little") if data else 0
        numbers = array("I")
        numbers.frombytes(data[4 : 4 + 8 * count])
        if _BIG_ENDIAN:
            numbers.byteswap()
        self.starts = numbers[:count]
        self._ends = numbers[count:]
        self._data = data
        self._base = 4 + 8 * count

    @staticmethod
    def pack(starts: list[int], packed: list[bytes]) -> bytes:
        ends = list(accumulate(len(part) for part in packed))
        numbers = array("I", [*starts, *ends])
        if _BIG_ENDIAN:
            numbers.byteswap()
        return len(starts).to_bytes(4, "little") + numbers.tobytes() + b"".join(packed)

    def __len__(self) -> int:
        return len(self.starts)

    def segment(self, number: int) -> tuple:
        """Segment `number` (from 1) as (id, start_ms, end_ms, speaker, text, spans), `spans` the
        `word_spans` of its text."""
        begin = self._base + (self._ends[number - 2] if number > 1 else 0)
        end = self._base + self._ends[number - 1]
        return pickle.loads(self._data[begin:end])  # noqa: S301 - our own index


def word_spans(text: str, offsets: list[int] | None = None) -> bytes:
    """Where each word of a text (as `analysis.WORD` finds them) begins and ends, as unsigned
    numbers of 16 bits (32 for a text of 65,536 characters or more), little-endian: the first
    byte says which ("H" or "I"). `offsets`: those the text's analysis found (`TextTerms.spans`),
    rather than finding them again."""
    if offsets is None:
        offsets = [offset for match in WORD.finditer(text) for offset in match.span()]
    code = "H" if len(text) < 1 << 16 else "I"
    numbers = array(code, offsets)
    if _BIG_ENDIAN:
        numbers.byteswap()
    return code.encode("ascii") + numbers.tobytes()


def read_spans(spans: bytes) -> array:
    """The numbers `word_spans` wrote: each word's start and end, one after the other."""
    numbers = array(chr(spans[0]))
    numbers.frombytes(spans[1:])
    if _BIG_ENDIAN:
        numbers.byteswap()
    return numbers


_BIG_ENDIAN = sys.byteorder == "big"


@dataclass(frozen=True, slots=True)
class TestimonyEntry:
    """What a hit shows and what facets, filters and sorting read, for one indexed testimony."""

    testimony_id: int
    version: int
    title: str
    narrator: str
    interview_date: str | None
    interview_year: int | None
    birth_decade: int | None
    languages: tuple[str, ...]
    places: tuple[str, ...]
    subjects: tuple[str, ...]
    people: tuple[str, ...]
    access: str
    title_key: str
    # The (facet, value) pairs the testimony counts once in, made once: facets are counted per search.
    facet_keys: tuple[tuple[str, Any], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = [("place", value) for value in dict.fromkeys(self.places)]
        keys += [("subject", value) for value in dict.fromkeys(self.subjects)]
        keys += [("person", value) for value in dict.fromkeys(self.people)]
        keys += [("language", value) for value in dict.fromkeys(self.languages)]
        if self.interview_year is not None:
            keys.append(("year", self.interview_year))
        if self.birth_decade is not None:
            keys.append(("decade", self.birth_decade))
        if self.access:
            keys.append(("access", self.access))
        object.__setattr__(self, "facet_keys", tuple(keys))


class AnalysisCache:
    """Analyses each distinct text once per testimony (audiences mostly see the same segments), and
    looks each distinct word of its texts up once (`analysis.analyze`'s `seen`)."""

    def __init__(self) -> None:
        self._terms: dict[tuple[str, tuple[str, ...]], TextTerms] = {}
        self._seen: dict[tuple[str, ...], dict[str, WordForms]] = {}

    def __call__(self, text: str | None, languages: tuple[str, ...]) -> TextTerms:
        if not text:
            return TextTerms()
        key = (text, languages)
        terms = self._terms.get(key)
        if terms is None:
            seen = self._seen.setdefault(languages, {})
            terms = self._terms[key] = analyze(text, languages, seen)
        return terms


def entry_of(document: dict) -> dict[str, Any]:
    """The stored entry of a document (`TestimonyEntry`'s fields)."""
    birth_year = document.get("birth_year")
    title = document.get("title") or ""
    return {
        "testimony_id": document["testimony_id"],
        "version": document["version"],
        "title": title,
        "narrator": document.get("narrator") or "",
        "interview_date": document.get("interview_date"),
        "interview_year": document.get("interview_year"),
        "birth_decade": birth_year // 10 * 10 if birth_year is not None else None,
        "languages": tuple(document.get("languages") or ()),
        "places": tuple(document.get("places") or ()),
        "subjects": tuple(document.get("subjects") or ()),
        "people": tuple(document.get("people") or ()),
        "access": document.get("access") or "",
        "title_key": fold(lowercase_auto(title)),
    }


def fields_of(document: dict, analysed: Any) -> dict[str, Any]:
    """The testimony index's field values of a document, every field of `fields.FIELDS` filled (and
    their counted twins), each text analysed once (through `analysed`, an `AnalysisCache`).

    Located fields give word positions, counted through the describing texts, then the transcript;
    a gap follows each text, so that no phrase is found across two. The transcript column keeps
    where each segment's words start, so a position tells its segment.
    """
    languages = tuple(document.get("languages") or ())
    exact: list[str] = []
    folded: list[tuple[str, int]] = []
    stems: list[tuple[str, int]] = []
    names: list[tuple[str, int]] = []
    pairs: list[str] = []
    beginnings: list[tuple[str, int]] = []
    position = 0

    def described(texts: Iterable[str | None]) -> list[str]:
        """Index the texts' words; give back their Latin-folded forms, which the fields of names
        (title, places, people, subjects, keywords) hold."""
        nonlocal position
        words: list[str] = []
        for text in texts:
            part = analysed(text, languages)
            # Written for speed (a rebuild's main process runs this over every word): positions
            # zipped on in C rather than counted in Python.
            exact.extend(part.exact)
            folded.extend(zip(part.folded, count(position)))
            stems.extend([(term, position + at) for term, at in part.stems])
            names.extend([(term, position + at) for term, at in part.names])
            pairs.extend(map(" ".join, pairwise(part.folded)))
            beginnings.extend(
                [(prefix, at) for prefix, at in zip(map(prefix_term, part.folded), count(position)) if prefix]
            )
            position += len(part.folded) + 1
            words += part.latin
        return words

    title = described([document.get("title")])
    described([document.get("summary")])
    narrator = described([document.get("narrator")])
    places = described(document.get("places") or ())
    subjects = described(document.get("subjects") or ())
    people = described(document.get("people") or ())
    speakers: list[tuple[str, int]] = []
    keywords: list[tuple[str, int]] = []
    starts: list[int] = []
    packed: list[bytes] = []
    for segment in document.get("segments") or ():
        text = segment.get("text") or ""
        start = position
        # Keywords follow the words, so that a tagged segment is a passage for its keyword.
        described([text])
        tagged = described(segment.get("keywords") or ())
        speakers += [(term, start) for term in analysed(segment.get("speaker"), languages).latin]
        keywords += [(term, start) for term in tagged]
        starts.append(start)
        # As analysed (NFC): a snippet marks the words at the positions a query matched, found by
        # where each word of the text begins and ends (found by the analysis, not at every search).
        normal = unicodedata.normalize("NFC", text)
        spans = word_spans(normal, analysed(text, languages).spans)
        shown = (segment["id"], segment.get("start_ms"), segment.get("end_ms"), segment.get("speaker"),
                 normal, spans)  # fmt: skip
        packed.append(pickle.dumps(shown, pickle.HIGHEST_PROTOCOL))
    return with_twins(
        {
            "tid": str(document["testimony_id"]),
            "meta": entry_of(document),
            "transcript": Transcript.pack(starts, packed),
            "exact": exact,
            "folded": folded,
            "stem": stems,
            "name": names,
            "pair": pairs,
            "prefix": beginnings,
            "title": title,
            "place": places,
            "narrator": narrator,
            "subject": subjects,
            "person": people,
            "speaker": speakers,
            "keyword": keywords,
        }
    )
