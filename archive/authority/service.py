"""What the name authority does: places and people under one preferred name with variant spellings
in other scripts, subjects with a label in each interface language, kept by archivists, and what
search reads from them: the synonyms of names and how facet values are grouped.

Every write checks the policy, validates everything before changing anything, records an audit
event and commits once, with the outbox rows of the testimonies it changes; a refused change
leaves the database as it was.
"""

from __future__ import annotations

import datetime as dt
import math
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import Any, TypeVar

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import ScalarSelect, Select, func, select
from sqlalchemy.exc import IntegrityError

from archive import access
from archive.access import Permission
from archive.audit.service import record_event
from archive.authority.models import Person, PlaceCoordinates
from archive.catalogue.models import (
    Place,
    Subject,
    Testimony,
    testimony_people,
    testimony_places,
    testimony_subjects,
)
from archive.catalogue.service import subject_key
from archive.consent.anonymity import anonymised_name_keys, name_key
from archive.consent.models import ConsentVersion
from archive.errors import Invalid, NotFound
from archive.extensions import db
from archive.search.analysis import fold, lowercase_auto
from archive.timeutil import utcnow
from archive.unit_of_work import UnitOfWork

MAX_NAME = 300
MAX_NOTE = 2000
MAX_VARIANTS = 50
# Rows a list page shows; a search narrows a longer list.
LISTED = 200

Entry = Place | Person
# The interface languages a subject has a label in; the first is the one a label is required in.
LABEL_LANGUAGES = ("en", "az", "ru")


def kind_of(entry: Entry) -> str:
    return "place" if isinstance(entry, Place) else "person"


def names_of(entry: Entry) -> list[str]:
    """The preferred name first, then the variants."""
    return [entry.name, *(entry.variants or [])]


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


def _with_counts(model: type, entry_column, testimony_column) -> list[tuple[Any, int]]:
    """Every row of `model` (places or subjects) with the number of testimonies, not deleted, that
    name it through the link table these two columns belong to."""
    named = (
        select(entry_column.label("entry_id"), func.count().label("testimonies"))
        .join(Testimony, Testimony.id == testimony_column)
        .where(Testimony.deleted_at.is_(None))
        .group_by(entry_column)
        .subquery()
    )
    query = select(model, func.coalesce(named.c.testimonies, 0)).outerjoin(
        named, named.c.entry_id == model.id
    )
    return [(entry, count) for entry, count in db.session.execute(query)]


def list_places(user, q: str = "") -> Listing:
    """Places with the number of (not deleted) testimonies naming each."""
    access.require(user, Permission.AUTHORITY_EDIT)
    return _listing(_with_counts(Place, testimony_places.c.place_id, testimony_places.c.testimony_id), q)


def list_people(user, q: str = "") -> Listing:
    """People with the number of (not deleted) testimonies speaking of each."""
    access.require(user, Permission.AUTHORITY_EDIT)
    return _listing(_with_counts(Person, testimony_people.c.person_id, testimony_people.c.testimony_id), q)


Entry = TypeVar("Entry", Place, Person, Subject)


def _entry(user, model: type[Entry], entry_id: int) -> Entry:
    """An authority entry of one kind, for those who may edit the authority."""
    access.require(user, Permission.AUTHORITY_EDIT)
    entry = db.session.get(model, entry_id)
    if entry is None:
        raise NotFound()
    return entry


def get_place(user, place_id: int) -> Place:
    return _entry(user, Place, place_id)


def get_person(user, person_id: int) -> Person:
    return _entry(user, Person, person_id)


def _links(entry: Entry):
    """The link table's columns of testimonies naming this place or person: (entry, testimony)."""
    if isinstance(entry, Place):
        return testimony_places.c.place_id, testimony_places.c.testimony_id
    return testimony_people.c.person_id, testimony_people.c.testimony_id


def testimonies_naming(entry: Entry) -> int:
    """How many testimonies, not deleted, name this place or person."""
    entry_column, testimony_column = _links(entry)
    return db.session.scalar(
        select(func.count())
        .select_from(entry_column.table)
        .join(Testimony, Testimony.id == testimony_column)
        .where(entry_column == entry.id, Testimony.deleted_at.is_(None))
    )


# --- validating ------------------------------------------------------------------------------------


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
    if key in anonymised_name_keys():
        message = (
            _("This name cannot be used as a variant.")
            if field == "variant"
            else _("This name cannot be used as a preferred name.")
        )
        raise Invalid(_("Nothing was saved."), {field: message})
    # Search links names by key, so one key belongs to one entry of a kind: otherwise a variant
    # would silently merge two places (or two people) in every search. A place only testimonies
    # have named is no entry: its name may become a variant of one, which is how the authority
    # joins spellings that folding cannot. A preferred name is a row's name, so it is never one.
    others = select(model)
    if model in (Place, Person) and field == "variant":
        others = others.where(model.updated_at.is_not(None))
    for other in db.session.scalars(others):
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
            select(func.max(Subject.updated_at)).scalar_subquery(),
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
    # The working copies now show the new name: the staff index is brought up to date.
    entry_column, testimony_column = _links(entry)
    reindexed = list(db.session.scalars(select(testimony_column).where(entry_column == entry.id)))
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


# --- where places lie --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Located:
    """A place as the map shows it: its authority entry (None for a name no row holds) and where it
    lies (None where nobody has said)."""

    place: Place | None
    coordinates: PlaceCoordinates | None


def coordinates_of(place: Place) -> PlaceCoordinates | None:
    return db.session.get(PlaceCoordinates, place.id)


def _degrees(value: Any, field: str, limit: int) -> float | None:
    """A number of degrees within ±limit from a form's text (a decimal comma allowed) or a number;
    None for a blank."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        value = value.strip().replace(",", ".")
    try:
        degrees = float(value)
    except (TypeError, ValueError):
        degrees = math.nan
    if not math.isfinite(degrees) or not -limit <= degrees <= limit:
        message = (
            _("The latitude is a number of degrees from -90 (south) to 90 (north), such as 40.41.")
            if field == "latitude"
            else _("The longitude is a number of degrees from -180 (west) to 180 (east), such as 49.87.")
        )
        raise Invalid(_("Nothing was saved."), {field: message})
    return degrees


def checked_coordinates(latitude: Any, longitude: Any) -> tuple[float, float] | None:
    """Both numbers in range, or None where both are blank; Invalid naming the field otherwise."""
    lat, lon = _degrees(latitude, "latitude", 90), _degrees(longitude, "longitude", 180)
    if lat is None and lon is None:
        return None
    if lat is None:
        raise Invalid(_("Nothing was saved."), {"latitude": _("Give the latitude as well as the longitude.")})
    if lon is None:
        raise Invalid(
            _("Nothing was saved."), {"longitude": _("Give the longitude as well as the latitude.")}
        )
    return lat, lon


def set_coordinates(user, place: Place, latitude: Any, longitude: Any) -> PlaceCoordinates | None:
    """Where the place lies; both blank says nobody knows (the place leaves the map, not the list)."""
    access.require(user, Permission.AUTHORITY_EDIT)
    checked = checked_coordinates(latitude, longitude)
    stored = coordinates_of(place)
    if checked is None:
        if stored is not None:
            db.session.delete(stored)
    elif stored is None:
        stored = PlaceCoordinates(place_id=place.id, latitude=checked[0], longitude=checked[1])
        db.session.add(stored)
    else:
        stored.latitude, stored.longitude = checked
    place.updated_at = _stamp()
    record_event(
        user,
        "authority.place.coordinates",
        place,
        name=place.name,
        latitude=checked[0] if checked else None,
        longitude=checked[1] if checked else None,
    )
    _commit("latitude")
    return None if checked is None else stored


def _authority_entry(name: str) -> Place | None:
    """The authority's entry one of whose names is this name in any script or spelling, else the
    catalogue's place of exactly this name."""
    key = name_key(name)
    if key:
        for entry in db.session.scalars(select(Place).where(Place.updated_at.is_not(None))):
            if any(name_key(n) == key for n in names_of(entry)):
                return entry
    return db.session.scalar(select(Place).where(Place.name == name))


def coordinates_from_import(
    user, points: Iterable[tuple[str, float, float]], *, dry_run: bool = False
) -> list[tuple[str, float, float]]:
    """Places an imported record locates (name, latitude, longitude) that the authority did not
    locate yet get these coordinates; a place that has coordinates keeps them, whoever set them.
    The place becomes an authority entry. Returns what was (or, in a dry run, would be) added."""
    access.require(user, Permission.AUTHORITY_EDIT)
    added: list[tuple[str, float, float]] = []
    for name, latitude, longitude in points:
        place = _authority_entry(name)
        if place is not None and coordinates_of(place) is not None:
            continue
        if any(name_key(name) == name_key(done) for done, _lat, _lon in added):
            continue
        added.append((place.name if place is not None else name, latitude, longitude))
        if dry_run:
            continue
        if place is None:
            place = Place(name=_clean(name, "name"), variants=[])
            db.session.add(place)
            db.session.flush()
        db.session.add(PlaceCoordinates(place_id=place.id, latitude=latitude, longitude=longitude))
        place.updated_at = _stamp()
        db.session.flush()
        record_event(
            user,
            "authority.place.coordinates",
            place,
            name=place.name,
            latitude=latitude,
            longitude=longitude,
        )
    if added and not dry_run:
        _commit("name")
    return added


def locate(names: Iterable[str]) -> dict[str, Located]:
    """Each place name as testimonies give it, resolved to its authority entry (whose preferred name
    the map shows) and where that lies. Three queries, whatever the number of names."""
    names = list(dict.fromkeys(names))
    entries = list(db.session.scalars(select(Place).where(Place.updated_at.is_not(None))))
    by_key: dict[str, Place] = {}
    for entry in entries:
        for name in names_of(entry):
            by_key.setdefault(name_key(name), entry)
    bare = {
        place.name: place
        for place in db.session.scalars(select(Place).where(Place.name.in_(names)))
        if place.updated_at is None
    }
    places = {name: by_key.get(name_key(name)) or bare.get(name) for name in names}
    ids = {place.id for place in places.values() if place is not None}
    located = {
        row.place_id: row
        for row in db.session.scalars(select(PlaceCoordinates).where(PlaceCoordinates.place_id.in_(ids)))
    }
    return {
        name: Located(place, located.get(place.id) if place is not None else None)
        for name, place in places.items()
    }


# --- subjects --------------------------------------------------------------------------------------


def list_subjects(user, q: str = "") -> Listing:
    """Subjects, entries and those only testimonies have named, with the number of (not deleted)
    testimonies of each."""
    access.require(user, Permission.AUTHORITY_EDIT)
    rows = _with_counts(Subject, testimony_subjects.c.subject_id, testimony_subjects.c.testimony_id)
    q = " ".join((q or "").split())
    if q:
        wanted = subject_key(q)
        rows = [row for row in rows if any(wanted in subject_key(n) for n in subject_names_of(row[0]))]
    rows.sort(key=lambda row: (subject_key(row[0].name), row[0].name))
    return Listing(rows[:LISTED], len(rows))


def get_subject(user, subject_id: int) -> Subject:
    return _entry(user, Subject, subject_id)


def subject_names_of(subject: Subject) -> list[str]:
    """The name testimonies store first, then its labels."""
    return list(dict.fromkeys([subject.name, *(subject.labels or {}).values()]))


def _checked_labels(subject: Subject | None, labels: Mapping[str, Any]) -> dict[str, str]:
    """Labels that may be this subject's (None: a new one), or Invalid naming the field of each
    that may not. A label joins the testimonies that give it to this subject in facets and when
    they are saved, so one label belongs to one subject."""
    clean: dict[str, str] = {}
    errors: dict[str, str] = {}
    for language in LABEL_LANGUAGES:
        value = labels.get(language)
        if not (isinstance(value, str) and value.strip()) and language != LABEL_LANGUAGES[0]:
            continue
        try:
            clean[language] = _clean(value, f"label_{language}")
        except Invalid as error:
            errors.update(error.fields)
    others = db.session.scalars(select(Subject).where(Subject.updated_at.is_not(None)))
    taken = {
        name_key(name): other
        for other in others
        if subject is None or other.id != subject.id
        for name in subject_names_of(other)
    }
    # The name testimonies store joins the subject's names too: it may not be another's label.
    named = [(f"label_{language}", label) for language, label in clean.items()]
    if subject is not None:
        named.append((f"label_{LABEL_LANGUAGES[0]}", subject.name))
    for field_name, label in named:
        other = taken.get(name_key(label))
        if other is not None:
            errors.setdefault(
                field_name,
                _("“%(name)s” is already a label of the subject “%(other)s”.", name=label, other=other.name),
            )
    if errors:
        raise Invalid(_("Nothing was saved."), errors)
    return clean


def create_subject(user, labels: Mapping[str, Any]) -> Subject:
    """A new subject entry; testimonies store its English label as its name."""
    access.require(user, Permission.AUTHORITY_EDIT)
    clean = _checked_labels(None, labels)
    name = clean[LABEL_LANGUAGES[0]]
    if db.session.scalar(select(Subject.id).where(Subject.name == name)) is not None:
        raise Invalid(
            _("Nothing was saved."),
            {"label_en": _("“%(name)s” is a subject already: give it labels on its own page.", name=name)},
        )
    subject = Subject(name=name, labels=clean, updated_at=_stamp())
    db.session.add(subject)
    db.session.flush()
    record_event(user, "authority.subject.create", subject, name=name, labels=clean)
    _commit("label_en")
    return subject


def set_labels(user, subject: Subject, labels: Mapping[str, Any]) -> Subject:
    """The subject's label in each interface language. Its name, which published testimonies keep,
    stays as it is; the English label is what readers of the English interface see."""
    access.require(user, Permission.AUTHORITY_EDIT)
    clean = _checked_labels(subject, labels)
    old = dict(subject.labels or {})
    subject.labels = clean
    subject.updated_at = _stamp()
    record_event(user, "authority.subject.labels", subject, name=subject.name, old=old, new=clean)
    _commit("label_en")
    return subject


# --- what search reads -----------------------------------------------------------------------------


@lru_cache(maxsize=100_000)
def _value_key(value: str) -> str:
    # A value without a letter ("1992") is its own key, not the empty key of every such value.
    return name_key(value) or value.casefold()


# The facets whose values are names: one place (or subject) typed several ways is one value.
NAMED_FACETS = ("place", "person", "subject")


@dataclass(frozen=True)
class FacetNames:
    """Which facet values are one place or one subject, as search groups them.

    Values whose names fold to one key (`name_key`: "Ağdam", "Aghdam", "Агдам") are one; where the
    key is a name of an authority entry, the entry decides: every value it names is one, shown
    under its preferred name (for a subject, its name; the page shows its label). `entries` maps a
    facet to the name key of each name of an entry and that entry's preferred name.
    """

    entries: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def group(self, facet: str, value: str) -> tuple[tuple[str, str], str | None]:
        """The value's group, and the entry's preferred name where an entry decides it."""
        key = _value_key(value)
        preferred = self.entries.get(facet, {}).get(key)
        return (("entry", preferred), preferred) if preferred is not None else (("key", key), None)


@dataclass(frozen=True)
class SearchNames:
    """The authority as search uses it.

    `synonyms`: a word's name key -> the other keys it stands for. `place_aliases`: a place name ->
    the other names of its entry, for autocomplete. `facets`: how facet values are grouped.
    `subject_labels`: a subject entry's name -> its label in each interface language.
    """

    synonyms: dict[str, tuple[str, ...]]
    place_aliases: dict[str, tuple[str, ...]]
    facets: FacetNames = field(default_factory=FacetNames)
    subject_labels: dict[str, dict[str, str]] = field(default_factory=dict)


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
    hidden = anonymised_name_keys()
    synonyms: dict[str, set[str]] = defaultdict(set)
    aliases: dict[str, tuple[str, ...]] = {}
    grouped: dict[str, dict[str, str]] = {facet: {} for facet in NAMED_FACETS}
    # Only entries the authority has touched can have variants; the catalogue adds bare names.
    places = db.session.execute(select(Place.name, Place.variants).where(Place.updated_at.is_not(None)))
    people = db.session.execute(select(Person.name, Person.variants).where(Person.updated_at.is_not(None)))
    for is_place, rows in ((True, places), (False, people)):
        for name, variants in rows:
            # Refused when entered; left out here too, for a narrator anonymised after the fact.
            names = [n for n in [name, *(variants or [])] if name_key(n) not in hidden]
            # Shown under its preferred name, or its first other name the rule leaves.
            for n in names:
                grouped["place" if is_place else "person"].setdefault(_value_key(n), names[0])
            if len(names) < 2:
                continue
            _link(synonyms, names)
            if is_place:
                aliases.update({n: tuple(o for o in names if o != n) for n in names})
    labels: dict[str, dict[str, str]] = {}
    for name, entry_labels in db.session.execute(
        select(Subject.name, Subject.labels).where(Subject.updated_at.is_not(None))
    ):
        labels[name] = dict(entry_labels or {})
        for n in [name, *labels[name].values()]:
            grouped["subject"].setdefault(_value_key(n), name)
    return SearchNames(
        {k: tuple(sorted(v)) for k, v in synonyms.items() if v}, aliases, FacetNames(grouped), labels
    )


@cache
def names_version() -> tuple[ScalarSelect, ...]:
    """What the search names are built from, as columns: the newest change of places, people and
    subjects, and the newest consent version (a narrator may have asked for anonymity since).
    Built once, as they are asked at every search, with its other checks (`search.service`)."""
    return (
        select(func.max(Place.updated_at)).scalar_subquery(),
        select(func.max(Person.updated_at)).scalar_subquery(),
        select(func.max(Subject.updated_at)).scalar_subquery(),
        select(func.max(ConsentVersion.id)).scalar_subquery(),
    )


@cache
def _names_version() -> Select:
    return select(*names_version())


def search_names(version: Sequence[Any] | None = None) -> SearchNames:
    """The authority's search names, rebuilt only when it (or a consent) has changed since.

    `version`: the values of `names_version()` the caller has read; else one indexed query reads
    them here. The built names are kept per app.
    """
    if version is None:
        version = db.session.connection().execute(_names_version()).one()
    version = tuple(version)
    cache = current_app.extensions.setdefault("archive_authority_names", {})
    cached = cache.get("names")
    if cached is not None and cached[0] == version:
        return cached[1]
    names = _build()
    cache["names"] = (version, names)
    return names
