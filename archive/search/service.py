"""Searching as a user: the only way views reach the indexes, so no search is built without the
access policy choosing the index of the caller's audience, and no answer leaves without the
database's word on what it shows.

The index is a view that may lag behind (a full disk, a held lock, a stopped writer): two queries per
search, never one per hit, keep a committed narrowing in force on every answer. Before the index
is read, the testimonies with an outbox row this node has not applied are left out of hits, totals,
facets and suggestions (`outbox.behind`). After it, the hits of the page are read back from the
database in one query, with their consent, state and narrator as they are now: each is kept only if
the policy still lets this audience see it and no change to it arrived meanwhile, and its passages and
narrator label are passed through the consent in force (`access.search_hit`).
"""

from __future__ import annotations

import time
from dataclasses import replace
from functools import cache
from typing import Any

from flask import current_app
from sqlalchemy import Select, bindparam, exists, func, select, text
from sqlalchemy.orm import aliased

from archive import access
from archive.authority.service import SearchNames, names_version, search_names
from archive.catalogue.models import Narrator, Testimony
from archive.consent.models import ConsentVersion
from archive.extensions import db
from archive.review.models import Revision
from archive.search.analysis import words
from archive.search.models import OutboxEntry
from archive.search.outbox import (
    Behind,
    behind_with,
    lag,
    search_index,
    unapplied,
    writer_expected,
    writer_state,
)
from archive.search.query import search, suggest


def search_for(user, q: str, **options) -> dict:
    """Hits, totals, facets and suggestions from the one index this user's audience may reach."""
    audience = access.audience_for(user)
    filters = dict(options.pop("filters", None) or {})
    # The one place the consent-level facet is hidden: whoever may not filter by it neither
    # filters by it nor sees its counts.
    by_consent = access.may_search_by_consent(user)
    if not by_consent:
        filters.pop("access", None)
    names, stale = _checked()
    result = search(
        search_index(),
        audience.value,
        q,
        filters=filters,
        synonyms=names.synonyms if words(q or "") else None,
        names=names.facets,
        hidden=stale.testimonies,
        remember=current_app.config["SEARCH_ANSWERS_KEPT"],
        **options,
    )
    _keep_current(user, result, stale)
    if not by_consent:
        result["facets"].pop("access", None)
    return result


def _checked() -> tuple[SearchNames, Behind]:
    """What a search checks before it reads the index, in one statement: whether the name
    authority's cached synonyms and facet names are current (both are part of what an answer is a
    function of, so an answer kept with the index is never given again once the authority has
    changed), and the testimonies this node's index has not applied (`outbox.behind`)."""
    stale, version = behind_with(names_version())
    return search_names(version), stale


def _keep_current(user, result: dict[str, Any], stale: Behind) -> None:
    """Drop every hit the database no longer lets this user see, or that changed after the index
    was read, in one query for the whole page.

    A hit's title and narrator label are made from the database's rows (`_standing`), so even an index
    wrong past its recorded position cannot show an old title or a name. Its snippets are the
    index's document, which is what the database would build now exactly when no outbox row for the
    testimony is unapplied (each change writes one in its own transaction), and they pass through
    the consent in force. A stale hit is dropped, not rebuilt: rebuilding would read every hit's
    body through the policy on the request, and the writer replaces the document within a poll or
    two anyway; meanwhile a testimony is missing from a search a moment, which is harmless, where a
    withdrawn one shown is not.
    """
    ids = [hit["id"] for hit in result["hits"]]
    if not ids:
        return
    standing = _standing(user, ids, stale)
    kept = []
    for hit in result["hits"]:
        if hit["id"] in standing:
            seen = access.search_hit(user, hit, standing[hit["id"]])
            if seen is not None:
                kept.append(seen)
    result["total"] = max(0, result["total"] - (len(ids) - len(kept)))
    result["hits"] = kept


_PAGE_STEP = 10


@cache
def _standing_query(count: int, gaps: bool) -> Select:
    """What `_standing` reads of a page of `count` hits (`id0`, `id1`, …) that no outbox row unapplied
    at the search's position has changed since: each testimony with its narrator, published revision
    and consent in force. Built once for each count (and with or without gaps, `Behind.unapplied`),
    with its values bound at each search: building the statement, and even making its key for the
    compiled-statement cache, costs more than running it, and an expanding list of ids would have
    its text written again at every search."""
    consent = aliased(ConsentVersion)
    in_force = (
        select(func.max(ConsentVersion.number))
        .where(ConsentVersion.testimony_id == Testimony.id, ConsentVersion.status == "approved")
        .correlate(Testimony)
        .scalar_subquery()
    )
    changed = exists().where(OutboxEntry.testimony_id == Testimony.id, unapplied(gaps))
    return (
        select(
            Testimony.id,
            Testimony.title,
            Testimony.version,
            Testimony.deleted_at,
            Revision.id.label("revision_id"),
            Revision.version.label("published_version"),
            Narrator.name,
            Narrator.pseudonym,
            consent.id.label("consent_id"),
            consent.access,
            consent.sealed_until,
            consent.release_to,
            consent.anonymize_narrator,
            consent.publish_transcript,
            consent.redactions,
        )
        .join(Narrator, Narrator.id == Testimony.narrator_id)
        .outerjoin(Revision, Revision.id == Testimony.published_revision_id)
        .outerjoin(consent, (consent.testimony_id == Testimony.id) & (consent.number == in_force))
        .where(Testimony.id.in_([bindparam(f"id{n}") for n in range(count)]), ~changed)
    )


def _standing(user, ids: list[int], stale: Behind) -> dict[int, access.Standing]:
    """What the database says now of each of these testimonies that no unapplied outbox row has
    changed since the index was written: columns in one query (the consent in force joined in),
    not a model per hit. The title and narrator are the published version's for everybody but
    staff; they are the working copy's unless an edit waits for review, and only then are two
    fields of the published snapshot read, in one more query, never its transcript."""
    # Padded with the first id to a multiple of ten: a page of seven hits reads the statement of
    # ten, rather than build and compile one of its own (3 ms, the first time in each process).
    count = -(-len(ids) // _PAGE_STEP) * _PAGE_STEP
    values = {f"id{n}": ids[n] if n < len(ids) else ids[0] for n in range(count)}
    query = _standing_query(count, bool(stale.gaps))
    rows = db.session.connection().execute(query, {**values, **stale.bound}).all()
    standing = {
        row.id: access.Standing(
            deleted=row.deleted_at is not None,
            published=row.revision_id is not None,
            consent=row if row.consent_id is not None else None,
            title=row.title,
            narrator={"name": row.name, "pseudonym": row.pseudonym},
        )
        for row in rows
    }
    pending = {
        row.revision_id: row.id
        for row in rows
        if row.revision_id is not None and row.published_version != row.version
    }
    if pending and not access.sees_working_copy(user):
        snapshot = Revision.snapshot
        for revision_id, title, name, pseudonym in db.session.execute(
            select(
                Revision.id,
                snapshot["title"].as_string(),
                snapshot[("narrator", "name")].as_string(),
                snapshot[("narrator", "pseudonym")].as_string(),
            ).where(Revision.id.in_(pending))
        ):
            testimony_id = pending[revision_id]
            standing[testimony_id] = replace(
                standing[testimony_id], title=title, narrator={"name": name, "pseudonym": pseudonym}
            )
    return standing


def suggest_for(user, prefix: str, limit: int = 10) -> list[str]:
    """Autocomplete from the caller's own audience's vocabulary only; a place's other names in the
    name authority find it too, but only places of testimonies in that audience's index are offered,
    and none of a testimony whose latest change this node's index has not applied."""
    if not words(prefix or ""):
        return []
    names, stale = _checked()
    audience = access.audience_for(user).value
    hidden = stale.testimonies
    return suggest(
        search_index(),
        audience,
        prefix,
        limit=limit,
        aliases=names.place_aliases,
        hidden=hidden,
        names=names.facets,
    )


def writer_status() -> tuple[str, str]:
    """The node's background writer in one word, and its last error, the same whichever worker
    asks: `off` where none leads the index folder (tests, the command line, or the moment between
    a writer's death and a standby's takeover), `running`, `failing` (its last round raised),
    `stuck` (another process has held the writer lock, or its thread has not come round, for longer
    than the lag setting), `stopped`."""
    state = writer_state()
    if state is None:
        return "off", ""
    limit = current_app.config["INDEX_LAG_MAX_SECONDS"]
    now = time.time()
    if state.stopped:
        return "stopped", state.last_error
    if state.failures:
        return "failing", state.last_error
    round_every = current_app.config["OUTBOX_POLL_SECONDS"] + current_app.config["OUTBOX_BACKOFF_MAX_SECONDS"]
    if state.lock_busy_since and now - state.lock_busy_since > limit:
        since = time.ctime(state.lock_busy_since)
        return "stuck", f"the index writer lock has been held elsewhere since {since}"
    if now - max(state.last_round, state.started) > limit + round_every:
        return "stuck", "the writer thread has not come round"
    return "running", ""


def health() -> dict[str, Any]:
    """The report `/healthz` answers and the admin health page shows in words: the database
    reachable, the index's lag behind it on this node, and the writer. It names no testimony."""
    try:
        db.session.execute(text("SELECT 1"))
        database = "ok"
    except Exception:  # whatever the driver raises, the answer is that it is not reachable
        db.session.rollback()
        database = "unreachable"
    report: dict[str, Any] = {"status": "ok", "database": database}
    writer, error = writer_status()
    index: dict[str, Any] = {"lag_rows": None, "lag_seconds": None, "writer": writer}
    if database == "ok":
        behind_by = lag()
        index.update(lag_rows=behind_by.rows, lag_seconds=behind_by.seconds)
    report["index"] = index
    limit = current_app.config["INDEX_LAG_MAX_SECONDS"]
    too_far = index["lag_seconds"] is None or index["lag_seconds"] > limit
    # A process that runs a writer thread expects one to lead the node: none means none drains.
    unwritten = writer == "off" and writer_expected(current_app)
    if database != "ok" or too_far or unwritten or writer in ("failing", "stuck", "stopped"):
        report["status"] = "degraded"
    report["writer_error"] = error
    return report
