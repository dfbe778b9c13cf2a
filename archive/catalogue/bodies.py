"""The testimony as a body: its working copy and its published snapshot, in the shape revisions
store and the API takes. Revisions, the search indexes and exports are all built from these."""

from __future__ import annotations

from archive.catalogue.models import Testimony
from archive.media.service import recordings_entry


def working_body(testimony: Testimony) -> dict:
    """The working copy as a testimony body (without consent), the shape revisions store."""
    n = testimony.narrator
    return {
        "title": testimony.title,
        "summary": testimony.summary or "",
        "narrator": {
            "name": n.name or "",
            "pseudonym": n.pseudonym,
            "birth_year": n.birth_year,
            "gender": n.gender,
        },
        "interview": {
            "date": testimony.interview_date.isoformat() if testimony.interview_date else None,
            "place": testimony.interview_place or "",
            "interviewer": testimony.interviewer or "",
            "languages": list(testimony.languages or []),
        },
        # Sorted as the database reads them back, so a snapshot taken right after a save equals the
        # working copy read later, and identical audience documents are indexed once.
        "places": sorted(p.name for p in testimony.places),
        "subjects": sorted(s.name for s in testimony.subjects),
        "people": sorted(p.name for p in testimony.people),
        "segments": [
            {
                "id": s.position,
                "start_ms": s.start_ms,
                "end_ms": s.end_ms,
                "speaker": s.speaker or "",
                "text": s.text,
                "keywords": list(s.keywords or []),
            }
            for s in testimony.segments
        ],
        # The recordings, as files; adding or removing one is an edit reviewed like any other.
        "media": recordings_entry(testimony),
    }


def published_body(testimony: Testimony) -> dict | None:
    revision = testimony.published_revision
    return dict(revision.snapshot) if revision is not None else None
