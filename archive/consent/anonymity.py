"""Names no surface outside the staff shows: the names of narrators who asked, in any version of their
consent, to be known by a pseudonym.

Such a name may be typed elsewhere than as its narrator's: as a person another testimony speaks of,
or as a name in the authority. The authority refuses it; a testimony's people keep it for the staff,
and every audience's view leaves it out (`access`), so no public page, export or index holds it. A
name is matched by its name key (`name_key`), so its spellings in other scripts are left out too.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from flask import current_app
from sqlalchemy import Select, func, select

from archive.authority.models import Person
from archive.catalogue.models import Narrator, Testimony, testimony_people
from archive.consent.models import ConsentVersion
from archive.extensions import db
from archive.search.analysis import query_forms, words


def name_key(name: str) -> str:
    """The key search matches a name by, word by word (see `search.analysis.name_key`): "Khojaly",
    "Xocalı", "Hocalı" and "Ходжалы" share one, German "Chodschali" does not, which is what the
    authority is for."""
    return " ".join(query_forms(word).name for word in words(name))


def _anonymised_narrators() -> Select:
    """The names of narrators whose consent, in any version, asks for them to be anonymised."""
    return (
        select(Narrator.name)
        .distinct()
        .join(Testimony, Testimony.narrator_id == Narrator.id)
        .join(ConsentVersion, ConsentVersion.testimony_id == Testimony.id)
        .where(ConsentVersion.anonymize_narrator.is_(True))
    )


def _read_keys() -> frozenset[str]:
    names = db.session.scalars(_anonymised_narrators())
    return frozenset(key for key in (name_key(name) for name in names if name) if key)


# What the kept keys were read at: the newest consent version and the newest change of a testimony.
_VERSION = select(
    select(func.max(ConsentVersion.id)).scalar_subquery(),
    select(func.max(Testimony.updated_at)).scalar_subquery(),
)


def anonymised_name_keys() -> frozenset[str]:
    """Name keys of narrators whose consent, in any version, asks for them to be anonymised.

    Kept per app and read again once a consent version has been added or a testimony (its narrator's
    name with it) has changed since: one query of two indexed maxima per call. A version is never
    removed, so a name once hidden stays hidden while its narrator bears it.
    """
    version = tuple(db.session.execute(_VERSION).one())
    kept = current_app.extensions.setdefault("archive_anonymised_names", {})
    if kept.get("version") != version:
        kept["keys"], kept["version"] = _read_keys(), version
    return kept["keys"]


def shown_people(people: list[str]) -> list[str]:
    """The people of a testimony an audience outside the staff may read: none named as a narrator
    who asked for a pseudonym (the policy's `access._people` asks)."""
    hidden = anonymised_name_keys()
    return [person for person in people if name_key(person) not in hidden]


def testimonies_naming(names: Iterable[str]) -> list[int]:
    """Testimonies whose people include one of these names, in any spelling that shares its key."""
    keys = {key for key in map(name_key, names) if key}
    if not keys:
        return []
    rows = db.session.execute(
        select(Person.name, testimony_people.c.testimony_id).join(
            testimony_people, testimony_people.c.person_id == Person.id
        )
    )
    return sorted({testimony_id for person, testimony_id in rows if name_key(person) in keys})


def indexed_with(testimony_ids: Collection[int]) -> list[int]:
    """The testimonies to index again with these (a unit of work records each once): those whose
    people name the narrator of one of them who is anonymised (in any consent version). So a
    narrator's asking for a pseudonym, or an anonymised narrator's new name, reaches every index at
    once, not only their own testimony's documents. One query when none of these narrators is
    anonymised, as nearly always."""
    if not testimony_ids:
        return []
    names = db.session.scalars(_anonymised_narrators().where(Testimony.id.in_(testimony_ids))).all()
    return testimonies_naming(name for name in names if name)
