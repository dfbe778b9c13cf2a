"""Passages and snippets: the best segments of each testimony shown, in score or recording order,
as hits show them, with the words the query matched marked."""

from __future__ import annotations

import heapq
import html
from collections.abc import Callable, Collection, Mapping, Sequence

from whoosh import query as wq

from archive.search.analysis import WORD
from archive.search.documents import read_spans
from archive.search.matching import Matching
from archive.search.parsing import BEST, PASSAGES, WITHIN_NAMES, rewrite, with_synonyms

SNIPPET_CHARS = 300


def best_passages(
    matching: Matching,
    passage_query: wq.Query | None,
    docnums: list[int],
    limit: int,
    every_form: Callable[[], wq.Query | None] | None = None,
) -> dict[int, list[dict]]:
    """The best `limit` segments of each shown testimony, from those testimonies' postings alone.
    `every_form`: the query of every form of its words (`parsing.PASSAGES`), for the testimonies
    the passage query (`parsing.BEST`) finds no segment of."""
    found: dict[int, list[dict]] = {docnum: [] for docnum in docnums}
    if passage_query is None or limit <= 0 or not docnums:
        return found
    best: dict[int, list[tuple[float, int]]] = {docnum: [] for docnum in docnums}

    def keep(places: dict[tuple[int, int], float]) -> None:
        for (docnum, place), score in places.items():
            heap = best[docnum]
            if len(heap) < limit:
                heapq.heappush(heap, (score, -place))
            elif (score, -place) > heap[0]:
                heapq.heapreplace(heap, (score, -place))

    keep(matching.places(passage_query, docnums))
    unplaced = [docnum for docnum in docnums if not best[docnum]]
    if unplaced and every_form is not None:
        again = every_form()
        if again is not None and again != passage_query:
            keep(matching.places(again, unplaced))
    for docnum, heap in best.items():
        if heap:
            found[docnum] = [
                _segment(matching, docnum, -negative, matching.transcript(docnum).segment(-negative))
                for _, negative in sorted(heap, reverse=True)
            ]
    return found


def within(
    matching: Matching,
    q: wq.Query | None,
    docnum: int,
    page: int,
    per_page: int,
    synonyms: Mapping[str, tuple[str, ...]] | None = None,
    names: Callable[[str], bool] | None = None,
) -> tuple[int, list[dict]]:
    """Matching segments of one testimony in transcript order, paged, with their total."""
    transcript = matching.transcript(docnum)
    if q is None:
        places = list(range(1, len(transcript) + 1))
    else:
        places = []
        # Every word in one segment first; if no single segment holds them all, any of them; a
        # name typed with a capital by its name keys (as the testimony was found), and if that
        # finds nothing (it is written in small letters), by every form.
        for target in (WITHIN_NAMES, BEST, PASSAGES):
            chosen = rewrite(q, with_synonyms(target, synonyms, names))
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
    segment_id, start_ms, end_ms, speaker, text, spans = stored
    first = matching.transcript(docnum).starts[place - 1]
    spotted = matching.spotted(docnum, place)
    return {
        "id": segment_id,
        "start_ms": start_ms,
        "end_ms": end_ms,
        "speaker": speaker,
        "snippet": snippet(text, {position - first for position in spotted}, spans=spans),
    }


def snippet(
    text: str, marked: Collection[int] = (), size: int = SNIPPET_CHARS, spans: bytes | None = None
) -> str:
    """HTML-escaped text around the first marked word, marked words wrapped in <mark>.

    `marked` holds the numbers of the words to mark (from 0, words as `analysis.words` splits
    the text); `spans`, where the text's words are (`documents.word_spans`, as the index keeps
    them), or None to find them in the text.
    """
    if spans is None:
        spans = _spans(text, sorted(marked), size)
    else:
        spans = _kept_spans(read_spans(spans), sorted(marked), size)
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


def _kept_spans(offsets: Sequence[int], marked: list[int], size: int) -> list[tuple[int, int]]:
    """What `_spans` finds, from where each word begins and ends (read once, at indexing)."""
    words = len(offsets) // 2
    spans: list[tuple[int, int]] = []
    for number in marked:
        if number >= words:
            break
        start = offsets[2 * number]
        if spans and start > spans[0][0] + size:
            break
        spans.append((start, offsets[2 * number + 1]))
    return spans


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
