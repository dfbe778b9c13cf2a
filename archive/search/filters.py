"""Search filters read from a query string: once, for the search page and the JSON API alike.

The API refuses a value it cannot read with an error naming the parameter; the search page drops
it, so a hand-edited address never becomes an error page. Which filters a caller may apply at all
is the policy's answer, asked in `search.service`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from werkzeug.datastructures import MultiDict

from archive.errors import Invalid

# Years of interviews, as `from`, `to` and `year` give them.
FIRST_YEAR, LAST_YEAR = 0, 9999


@dataclass
class Filters:
    """The engine's filters, and a message for each parameter that could not be read."""

    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    # The first error's message, for the error body as a whole.
    message: str = ""

    def refuse(self, name: str, message: str, field_message: str) -> None:
        self.message = self.message or message
        self.errors.setdefault(name, field_message)

    def or_invalid(self) -> dict[str, Any]:
        """The filters, or Invalid naming every parameter that could not be read."""
        if self.errors:
            raise Invalid(self.message, dict(self.errors))
        return self.values


def _texts(args: MultiDict, name: str) -> list[str]:
    return [v.strip() for v in args.getlist(name) if v.strip()]


def _whole(raw: str) -> int | None:
    try:
        return int(raw)
    except ValueError:
        return None


def _years(args: MultiDict, name: str, filters: Filters) -> list[int]:
    years = []
    for raw in _texts(args, name):
        value = _whole(raw)
        if value is None:
            filters.refuse(name, f"'{name}' must be a whole number.", "Must be a whole number.")
        elif not FIRST_YEAR <= value <= LAST_YEAR:
            filters.refuse(
                name, f"'{name}' is out of range.", f"Must be between {FIRST_YEAR} and {LAST_YEAR}."
            )
        else:
            years.append(value)
    return years


def read_filters(args: MultiDict) -> Filters:
    """Place, subject, person, language, consent level, narrator's decade of birth and the interview's
    years.

    `year` (the search page's facet; several give the span from the first to the last) and
    `from`/`to` (the API's bounds) may both be given: every one of them applies.
    """
    filters = Filters()
    values = filters.values
    for name in ("place", "subject", "person", "access"):
        if found := _texts(args, name):
            values[name] = found
    # Languages are stored as the validator writes them: short primary tags in lower case.
    if languages := _texts(args, "lang"):
        values["lang"] = [t.lower() if len(t) <= 3 else t for t in languages]
    decades = []
    for raw in _texts(args, "decade"):
        value = _whole(raw)
        if value is None:
            filters.refuse("decade", "'decade' must be a year like 1950.", "Must be a year like 1950.")
        else:
            decades.append(value)
    if decades:
        values["decade"] = decades
    # One bound each: a repeated `from` or `to` counts once, as first given.
    starts, ends = _years(args, "from", filters)[:1], _years(args, "to", filters)[:1]
    if starts and ends and starts[0] > ends[0]:
        filters.refuse("from", "'from' is after 'to'.", "Must not be after 'to'.")
        filters.refuse("to", "'from' is after 'to'.", "Must not be before 'from'.")
        starts = ends = []
    if years := _years(args, "year", filters):
        starts.append(min(years))
        ends.append(max(years))
    if starts:
        values["from"] = max(starts)
    if ends:
        values["to"] = min(ends)
    return filters
