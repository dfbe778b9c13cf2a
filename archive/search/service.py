"""Searching as a user: the only way views reach the indexes, so no search is built without the
access policy choosing the index of the caller's audience."""

from __future__ import annotations

from archive import access
from archive.authority.service import search_names
from archive.search.analysis import words
from archive.search.outbox import search_index
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
    # The name authority's synonyms: one cheap query per search tells whether the cached ones are current.
    synonyms = search_names().synonyms if words(q or "") else None
    result = search(search_index(), audience.value, q, filters=filters, synonyms=synonyms, **options)
    if not by_consent:
        result["facets"].pop("access", None)
    return result


def suggest_for(user, prefix: str, limit: int = 10) -> list[str]:
    """Autocomplete from the caller's own audience's vocabulary only; a place's other names in the
    name authority find it too, but only places of testimonies in that audience's index are offered."""
    if not words(prefix or ""):
        return []
    aliases = search_names().place_aliases
    return suggest(search_index(), access.audience_for(user).value, prefix, limit=limit, aliases=aliases)
