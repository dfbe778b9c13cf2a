"""One unit of work: a user action's database change and the search outbox rows it calls for,
committed once, or neither.

Services do their part of an action inside a unit and tell it which testimonies must be
re-indexed; they never commit. The operation that opened the unit commits it, so the change and
its outbox rows reach the database in one transaction (the outbox pattern), and a refused step
leaves the database as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager

from archive.extensions import db
from archive.search.models import OutboxEntry

# What else a change makes stale, given the testimonies it re-indexes: rules of rooms above this one,
# set when the app is made (`consent.anonymity.indexed_with`: the testimonies whose people name a
# narrator of these who asked for a pseudonym).
_ALSO_STALE: list[Callable[[Collection[int]], Iterable[int]]] = []


def also_reindex(rule: Callable[[Collection[int]], Iterable[int]]) -> None:
    if rule not in _ALSO_STALE:
        _ALSO_STALE.append(rule)


class UnitOfWork:
    """The testimonies whose index documents the change makes stale, each recorded once."""

    def __init__(self) -> None:
        self.reindexed: list[int] = []

    def reindex(self, testimony_id: int) -> None:
        if testimony_id not in self.reindexed:
            self.reindexed.append(testimony_id)

    def commit(self) -> None:
        for rule in _ALSO_STALE:
            for testimony_id in rule(list(self.reindexed)):
                self.reindex(testimony_id)
        for testimony_id in self.reindexed:
            db.session.add(OutboxEntry(testimony_id=testimony_id))
        if self.reindexed:
            # Read by the web layer: a request's own change is applied before its answer leaves.
            db.session.info["outbox_dirty"] = True
        db.session.commit()


@contextmanager
def unit_of_work() -> Iterator[UnitOfWork]:
    """A unit committed when the block ends, rolled back when it raises."""
    work = UnitOfWork()
    try:
        yield work
        work.commit()
    except BaseException:
        db.session.rollback()
        raise
