"""Possible duplicates of a testimony, named to the archivist when it is saved: the same entry typed
twice, or imported beside one typed by hand. Only named, never refused: two interviews of one
narrator on one day are rare, not impossible.

Two testimonies are possibly the same when
- their narrators have the same name (letter case and spaces aside) and the interviews the same date; or
- their titles are very similar (difflib's ratio of at least TITLE_SIMILAR, letter case aside) and so are
  their transcripts: at least TRANSCRIPT_SIMILAR of their three-word runs are shared (the Jaccard
  index of the two sets), which neither a different order of a few cues nor a typo fools.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from difflib import SequenceMatcher

from sqlalchemy import select

from archive import access
from archive.catalogue.models import Narrator, Segment, Testimony
from archive.extensions import db

TITLE_SIMILAR = 0.85
TRANSCRIPT_SIMILAR = 0.8
MOST_NAMED = 5


@dataclass
class PossibleDuplicate:
    id: int
    title: str
    # "narrator_and_date", or "title_and_transcript" with the transcript's similarity (0 to 1).
    reason: str
    similarity: float | None = None


def _folded(text: str | None) -> str:
    return " ".join((text or "").casefold().split())


def _runs(texts: list[str]) -> set[tuple[str, ...]]:
    words = " ".join(texts).casefold().split()
    if len(words) < 3:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + 3]) for i in range(len(words) - 2)}


def _jaccard(a: set, b: set) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def possible_duplicates(user, testimony: Testimony) -> list[PossibleDuplicate]:
    """Other testimonies this user may see that may be the same one (see the module's rules)."""
    others = (
        select(Testimony.id, Testimony.title)
        .where(Testimony.id != testimony.id, Testimony.deleted_at.is_(None))
        .order_by(Testimony.id)
    )
    found: dict[int, PossibleDuplicate] = {}
    name = _folded(testimony.narrator.name if testimony.narrator else "")
    if name and testimony.interview_date is not None:
        # Few interviews share a day: their names are compared here, as Python folds every script.
        same_day = others.add_columns(Narrator.name).join(Narrator, Narrator.id == Testimony.narrator_id)
        same_day = same_day.where(Testimony.interview_date == testimony.interview_date)
        for other_id, title, other_name in db.session.execute(same_day):
            if _folded(other_name) == name:
                found[other_id] = PossibleDuplicate(other_id, title, "narrator_and_date")
    title = _folded(testimony.title)
    matcher = SequenceMatcher(None, b=title, autojunk=False)
    alike = []
    for other_id, other_title in db.session.execute(others):
        matcher.set_seq1(_folded(other_title))
        if (
            other_id not in found
            and matcher.real_quick_ratio() >= TITLE_SIMILAR
            and matcher.ratio() >= TITLE_SIMILAR
        ):
            alike.append((other_id, other_title))
    if alike:
        texts: dict[int, list[str]] = defaultdict(list)
        rows = db.session.execute(
            select(Segment.testimony_id, Segment.text)
            .where(Segment.testimony_id.in_([i for i, _t in alike]))
            .order_by(Segment.testimony_id, Segment.position)
        )
        for other_id, text in rows:
            texts[other_id].append(text)
        mine = _runs([s.text for s in testimony.segments])
        for other_id, other_title in alike:
            similarity = _jaccard(mine, _runs(texts[other_id]))
            if similarity >= TRANSCRIPT_SIMILAR:
                found[other_id] = PossibleDuplicate(other_id, other_title, "title_and_transcript", similarity)
    named = [d for d in found.values() if access.can_view(user, db.session.get(Testimony, d.id))]
    return named[:MOST_NAMED]
