"""The fictional sample archive loaded by `archive demo`: accounts of every role and testimonies in
every consent level and workflow state. Running it again changes nothing."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from archive import operations
from archive.accounts.service import create_user, user_by_email
from archive.authority.models import Person
from archive.authority.service import (
    add_variant,
    coordinates_of,
    create_person,
    create_subject,
    names_of,
    rename,
    set_coordinates,
    set_labels,
    set_note,
)
from archive.catalogue.models import Place, Subject, Testimony
from archive.extensions import db
from archive.search.outbox import drain

DATA = Path(__file__).with_name("testimonies.json")
# The subjects of the sample testimonies, with their labels in each interface language.
SUBJECTS = Path(__file__).with_name("subjects.json")
# The places the sample testimonies name, as the name authority joins their spellings, and where the
# real towns among them lie (public geography; the villages of the stories are left unplaced).
PLACES = Path(__file__).with_name("places.json")
# The people the sample testimonies speak of, as the name authority joins their spellings.
PEOPLE = Path(__file__).with_name("people.json")
ACCOUNTS = {
    "admin": ("admin@demo.example", "admin", "Demo Admin"),
    "moderator": ("moderator@demo.example", "moderator", "Demo Moderator"),
    "moderator2": ("moderator2@demo.example", "moderator", "Second Demo Moderator"),
    "archivist": ("archivist@demo.example", "archivist", "Demo Archivist"),
    "researcher": ("researcher@demo.example", "researcher", "Demo Researcher"),
}


def _credentials_file() -> Path:
    return Path(current_app.instance_path) / "demo-credentials.json"


def _accounts() -> tuple[dict, dict]:
    path = _credentials_file()
    saved = json.loads(path.read_text()) if path.exists() else {}
    users, credentials = {}, {}
    for key, (email, role, name) in ACCOUNTS.items():
        user = user_by_email(email)
        if user is None:
            password = secrets.token_urlsafe(12)
            user = create_user(None, email, role, password, name=name)
            saved[key] = password
        users[key] = user
        credentials[key] = (email, saved.get(key, "(set before; see `archive users create`)"))
    path.write_text(json.dumps(saved, indent=1))
    path.chmod(0o600)
    return users, credentials


def _subjects(archivist) -> None:
    """The subject entries, before the testimonies that name them (in lower case, in English)."""
    for labels in json.loads(SUBJECTS.read_text(encoding="utf-8")):
        subject = db.session.scalar(select(Subject).where(Subject.name == labels["en"]))
        if subject is None:
            create_subject(archivist, labels)
        elif subject.labels != labels:
            set_labels(archivist, subject, labels)


def _places(archivist) -> None:
    """The authority's entries of the places the testimonies name: their other spellings joined as
    variants, and their coordinates for the map, unless an archivist has set some already."""
    for entry in json.loads(PLACES.read_text(encoding="utf-8")):
        place = db.session.scalar(select(Place).where(Place.name == entry["name"]))
        if place is None:
            continue
        if "latitude" in entry and coordinates_of(place) is None:
            set_coordinates(archivist, place, entry["latitude"], entry["longitude"])
        for variant in entry["variants"]:
            if variant not in names_of(place):
                add_variant(archivist, place, variant)


def _people(archivist) -> None:
    """The authority's entries of the people the testimonies speak of: the spelling a testimony
    typed is renamed to the preferred name (and kept as a variant), other spellings are joined as
    variants, and a note is written unless an archivist has written one already."""
    for entry in json.loads(PEOPLE.read_text(encoding="utf-8")):
        person = db.session.scalar(select(Person).where(Person.name == entry["name"]))
        if person is None:
            typed = db.session.scalar(select(Person).where(Person.name == entry["typed"]))
            if typed is not None:
                person = rename(archivist, typed, entry["name"])
            else:
                person = create_person(archivist, entry["name"], entry["note"])
        for variant in entry["variants"]:
            if variant not in names_of(person):
                add_variant(archivist, person, variant)
        if not person.note:
            set_note(archivist, person, entry["note"])


def load_demo(echo: Callable[[str], None] = print) -> dict:
    """Load the sample archive; returns {role: (email, password)} of the demo accounts."""
    users, credentials = _accounts()
    _subjects(users["archivist"])
    records = json.loads(DATA.read_text(encoding="utf-8"))
    added = 0
    for record in records:
        state = record.pop("_state")
        author = users[record.pop("_author", "archivist")]
        if db.session.scalar(select(Testimony.id).where(Testimony.title == record["title"])):
            continue
        consent = record["consent"]
        withdraw = consent["access"] == "withdrawn"
        if withdraw:
            # A withdrawn testimony was once public: enter it so, then record the withdrawal.
            record["consent"] = {**consent, "access": "public"}
        testimony = operations.create_testimony(author, record, note="demo data")
        if state in ("in_review", "published", "changes_requested"):
            operations.submit_for_review(author, testimony)
        reviewer = users["moderator2"] if author is users["moderator"] else users["moderator"]
        if state == "published":
            operations.approve(reviewer, testimony, "Checked against the consent form.")
        elif state == "changes_requested":
            operations.request_changes(reviewer, testimony, "Please check the interview date.")
        if withdraw:
            operations.withdraw(users["archivist"], testimony)
        added += 1
    _places(users["archivist"])
    _people(users["archivist"])
    drain()
    echo(f"Demo archive: {added} testimonies added, {len(records) - added} were there already.")
    return credentials
