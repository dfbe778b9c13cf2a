"""What the name authority does: places and people under one preferred name with variant spellings
in other scripts, kept by archivists, and the synonyms search reads from them.

Every write checks the policy, validates everything before changing anything, records an audit
event and commits once, with the outbox rows of the testimonies it changes; a refused change
leaves the database as it was.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from archive import access
from archive.access import Permission
from archive.audit.service import record_event
from archive.authority.models import Person
from archive.catalogue.models import Narrator, Place, Testimony, testimony_places
from archive.consent.models import ConsentVersion
from archive.errors import Invalid, NotFound
from archive.extensions import db
from archive.search.analysis import fold, lowercase_auto, query_forms, words
from archive.timeutil import utcnow
from archive.unit_of_work import UnitOfWork

MAX_NAME = 300
MAX_NOTE = 2000
MAX_VARIANTS = 50
# Rows a list page shows; a search narrows a longer list.
LISTED = 200

Entry = Place | Person


def kind_of(entry: Entry) -> str:
    return "place" if isinstance(entry, Place) else "person"


def names_of(entry: Entry) -> list[str]:
    """The preferred name first, then the variants."""
    return [entry.name, *(entry.variants or [])]


def name_key(name: str) -> str:
    """The key search matches a name by, word by word (see `search.analysis.name_key`): "Khojaly",
    "Xocalı" and "Ходжалы" share one, "Hocalı" does not, which is what the authority is for."""
    return " ".join(query_forms(word).name for word in words(name))


def _folded(text: str) -> str:
    return fold(lowercase_auto(text))


# --- reading ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Listing:
    entries: list[tuple[Entry, int | None]]
    total: int


def _matches(entry: Entry, q: str) -> bool:
    """A typed filter finds an entry by any of its names, in any script or spelling."""
    wanted, key = _folded(q), name_key(q)
    return any(
        wanted in _folded(name) or (key and name_key(name).startswith(key)) for name in names_of(entry)
    )


def _listing(rows: list[tuple[Entry, int | None]], q: str) -> Listing:
    q = " ".join((q or "").split())
    if q:
        rows = [row for row in rows if _matches(row[0], q)]
    rows.sort(key=lambda row: (_folded(row[0].name), row[0].name))
    return Listing(rows[:LISTED], len(rows))


def list_places(user, q: str = "") -> Listing:
    """Places with the number of (not deleted) testimonies naming each."""
    access.require(user, Permission.AUTHORITY_EDIT)
    named = (
        select(testimony_places.c.place_id, func.count().label("testimonies"))
        .join(Testimony, Testimony.id == testimony_places.c.testimony_id)
        .where(Testimony.deleted_at.is_(None))
        .group_by(testimony_places.c.place_id)
        .subquery()
    )
    query = select(Place, func.coalesce(named.c.testimonies, 0)).outerjoin(
        named, named.c.place_id == Place.id
    )
    return _listing([(place, count) for place, count in db.session.execute(query)], q)


def list_people(user, q: str = "") -> Listing:
    access.require(user, Permission.AUTHORITY_EDIT)
    return _listing([(person, None) for person in db.session.scalars(select(Person))], q)


def get_place(user, place_id: int) -> Place:
    access.require(user, Permission.AUTHORITY_EDIT)
    place = db.session.get(Place, place_id)
    if place is None:
        raise NotFound()
    return place


def get_person(user, person_id: int) -> Person:
    access.require(user, Permission.AUTHORITY_EDIT)
    person = db.session.get(Person, person_id)
    if person is None:
        raise NotFound()
    return person


def testimonies_naming(place: Place) -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(testimony_places)
        .join(Testimony, Testimony.id == testimony_places.c.testimony_id)
        .where(testimony_places.c.place_id == place.id, Testimony.deleted_at.is_(None))
    )


# --- validating ------------------------------------------------------------------------------------


def _anonymised_keys() -> set[str]:
    """Name keys of narrators whose consent, in any version, asks for them to be anonymised."""
    names = db.session.scalars(
        select(Narrator.name)
        .distinct()
        .join(Testimony, Testimony.narrator_id == Narrator.id)
        .join(ConsentVersion, ConsentVersion.testimony_id == Testimony.id)
        .where(ConsentVersion.anonymize_narrator.is_(True))
    )
    return {key for key in (name_key(name) for name in names if name) if key}


def _clean(value: Any, field: str, limit: int = MAX_NAME) -> str:
    text = " ".join(unicodedata.normalize("NFC", value if isinstance(value, str) else "").split())
    if not text:
        raise Invalid(_("Nothing was saved."), {field: _("Give a name.")})
    if len(text) > limit:
        raise Invalid(_("Nothing was saved."), {field: _("Use at most %(n)s characters.", n=limit)})
    if not any(ch.isalpha() for ch in text):
        raise Invalid(_("Nothing was saved."), {field: _("A name needs at least one letter.")})
    return text


def _checked(model: type, entry: Entry | None, value: Any, field: str) -> str:
    """A name that may join this entry (None: a new one), or Invalid saying why not in `field`."""
    text = _clean(value, field)
    key = name_key(text)
    # Consent is law (issue #3): the authority links every name of an entry to the others in search,
    # so a narrator's real name in an entry would tie an anonymised testimony to that name for
    # anyone who searches. Any name sharing its key with the name of a narrator who asked to be
    # anonymised is refused, and the message says nothing of which testimony it would have exposed.
    if key in _anonymised_keys():
        message = (
            _("This name cannot be used as a variant.")
            if field == "variant"
            else _("This name cannot be used as a preferred name.")
        )
        raise Invalid(_("Nothing was saved."), {field: message})
    # Search links names by key, so one key belongs to one entry of a kind: otherwise a variant
    # would silently merge two places (or two people) in every search.
    for other in db.session.scalars(select(model)):
        if entry is not None and other.id == entry.id:
            continue
        if any(name_key(name) == key for name in names_of(other)):
            message = (
                _("“%(name)s” is already a name of the place “%(other)s”.", name=text, other=other.name)
                if model is Place
                else _("“%(name)s” is already a name of the person “%(other)s”.", name=text, other=other.name)
            )
            raise Invalid(_("Nothing was saved."), {field: message})
    if entry is not None and field == "variant":
        if any(name.casefold() == text.casefold() for name in names_of(entry)):
            raise Invalid(
                _("Nothing was saved."), {field: _("“%(name)s” is already listed here.", name=text)}
            )
        if len(entry.variants or []) >= MAX_VARIANTS:
            raise Invalid(
                _("Nothing was saved."), {field: _("An entry holds at most %(n)s variants.", n=MAX_VARIANTS)}
            )
    return text


# --- writing ---------------------------------------------------------------------------------------


def _stamp() -> dt.datetime:
    """Now, but never before the newest change already recorded: search compares the newest stamp
    with the one its synonyms were built at, so a server whose clock is behind must still move it."""
    newest = db.session.execute(
        select(
            select(func.max(Place.updated_at)).scalar_subquery(),
            select(func.max(Person.updated_at)).scalar_subquery(),
        )
    ).one()
    latest = max((t for t in newest if t is not None), default=None)
    now = utcnow()
    return now if latest is None or now > latest else latest + dt.timedelta(microseconds=1)


def _commit(field: str, reindexed: Iterable[int] = ()) -> None:
    """Commit the change as one unit, with outbox rows for the testimonies it touches."""
    work = UnitOfWork()
    for testimony_id in reindexed:
        work.reindex(testimony_id)
    try:
        work.commit()
    except IntegrityError:
        # Another archivist saved the same name a moment before: nothing of this change is kept.
        db.session.rollback()
        raise Invalid(
            _("Nothing was saved."), {field: _("Someone has just saved this name elsewhere.")}
        ) from None


def create_place(user, name: str) -> Place:
    access.require(user, Permission.AUTHORITY_EDIT)
    name = _checked(Place, None, name, "name")
    place = Place(name=name, variants=[], updated_at=_stamp())
    db.session.add(place)
    db.session.flush()
    record_event(user, "authority.place.create", place, name=name)
    _commit("name")
    return place


def create_person(user, name: str, note: str = "") -> Person:
    access.require(user, Permission.AUTHORITY_EDIT)
    name = _checked(Person, None, name, "name")
    note = _note(note)
    person = Person(name=name, variants=[], note=note, updated_at=_stamp())
    db.session.add(person)
    db.session.flush()
    record_event(user, "authority.person.create", person, name=name)
    _commit("name")
    return person


def add_variant(user, entry: Entry, variant: str) -> Entry:
    access.require(user, Permission.AUTHORITY_EDIT)
    variant = _checked(type(entry), entry, variant, "variant")
    # A new list, so that SQLAlchemy sees the JSON column change.
    entry.variants = [*(entry.variants or []), variant]
    entry.updated_at = _stamp()
    record_event(user, f"authority.{kind_of(entry)}.variant_add", entry, name=entry.name, variant=variant)
    _commit("variant")
    return entry


def remove_variant(user, entry: Entry, variant: str) -> Entry:
    access.require(user, Permission.AUTHORITY_EDIT)
    if variant not in (entry.variants or []):
        raise Invalid(_("Nothing was saved."), {"variant": _("This is not a variant of this entry.")})
    entry.variants = [v for v in entry.variants if v != variant]
    entry.updated_at = _stamp()
    record_event(user, f"authority.{kind_of(entry)}.variant_remove", entry, name=entry.name, variant=variant)
    _commit("variant")
    return entry


def rename(user, entry: Entry, name: str) -> Entry:
    """A new preferred name. The old one stays as a variant, so that the published versions of
    testimonies, which keep the name they were approved with, are still found by it."""
    access.require(user, Permission.AUTHORITY_EDIT)
    name = _checked(type(entry), entry, name, "name")
    if name == entry.name:
        raise Invalid(_("Nothing was saved."), {"name": _("This is the preferred name already.")})
    old = entry.name
    variants = [v for v in entry.variants or [] if v != name]
    if old.casefold() != name.casefold():
        variants.append(old)
    entry.name, entry.variants, entry.updated_at = name, variants, _stamp()
    reindexed: list[int] = []
    if isinstance(entry, Place):
        # The working copies now show the new name: the staff index is brought up to date.
        reindexed = list(
            db.session.scalars(
                select(testimony_places.c.testimony_id).where(testimony_places.c.place_id == entry.id)
            )
        )
    record_event(user, f"authority.{kind_of(entry)}.rename", entry, old=old, new=name)
    _commit("name", reindexed)
    return entry


def _note(value: Any) -> str:
    note = (value if isinstance(value, str) else "").strip()
    if len(note) > MAX_NOTE:
        raise Invalid(_("Nothing was saved."), {"note": _("Use at most %(n)s characters.", n=MAX_NOTE)})
    return note


def set_note(user, person: Person, note: str) -> Person:
    access.require(user, Permission.AUTHORITY_EDIT)
    note = _note(note)
    person.note = note
    person.updated_at = _stamp()
    record_event(user, "authority.person.note", person, name=person.name)
    _commit("note")
    return person


# --- what search reads -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchNames:
    """The authority as search uses it.

    `synonyms`: a word's name key -> the other keys it stands for. `place_aliases`: a place name ->
    the other names of its entry, for autocomplete.
    """

    synonyms: dict[str, tuple[str, ...]]
    place_aliases: dict[str, tuple[str, ...]]


def _link(synonyms: dict[str, set[str]], names: list[str]) -> None:
    """Words at the same position of names with as many words stand for one another: "Səfər
    Uydurmalı" and "Сафар Уйдурмалы" link Səfər with Сафар and Uydurmalı with Уйдурмалы."""
    by_length: dict[int, list[list[str]]] = defaultdict(list)
    for name in names:
        keys = name_key(name).split()
        by_length[len(keys)].append(keys)
    for group in by_length.values():
        for position in range(len(group[0])):
            column = {keys[position] for keys in group}
            for key in column:
                synonyms[key] |= column - {key}


def _build() -> SearchNames:
    hidden = _anonymised_keys()
    synonyms: dict[str, set[str]] = defaultdict(set)
    aliases: dict[str, tuple[str, ...]] = {}
    # Only places the authority has touched can have variants; the catalogue adds bare names.
    places = db.session.execute(select(Place.name, Place.variants).where(Place.updated_at.is_not(None)))
    people = db.session.execute(select(Person.name, Person.variants))
    for is_place, rows in ((True, places), (False, people)):
        for name, variants in rows:
            # Refused when entered; left out here too, for a narrator anonymised after the fact.
            names = [n for n in [name, *(variants or [])] if name_key(n) not in hidden]
            if len(names) < 2:
                continue
            _link(synonyms, names)
            if is_place:
                aliases.update({n: tuple(o for o in names if o != n) for n in names})
    return SearchNames({k: tuple(sorted(v)) for k, v in synonyms.items() if v}, aliases)


def search_names() -> SearchNames:
    """The authority's search names, rebuilt only when it (or a consent) has changed since.

    One indexed query per call: the newest change of places and people, and the newest consent
    version (a narrator may have asked for anonymity since). The built names are kept per app.
    """
    version = tuple(
        db.session.execute(
            select(
                select(func.max(Place.updated_at)).scalar_subquery(),
                select(func.max(Person.updated_at)).scalar_subquery(),
                select(func.max(ConsentVersion.id)).scalar_subquery(),
            )
        ).one()
    )
    cache = current_app.extensions.setdefault("archive_authority_names", {})
    cached = cache.get("names")
    if cached is not None and cached[0] == version:
        return cached[1]
    names = _build()
    cache["names"] = (version, names)
    return names
