"""Staff pages of the name authority: the lists of places, people and subjects, and one page per
entry where archivists add and remove variant names, change the preferred name and say where a place
lies, or give a subject its label in each interface language; and the public map of places.

The views parse the forms, call `archive.authority.service` (which checks the policy, validates and
writes the audit log) and render; a refusal is shown beside the field it is about.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm

from archive import access
from archive.access import Permission
from archive.authority import places_map, service
from archive.authority.forms import (
    CoordinatesForm,
    NewEntryForm,
    NoteForm,
    RemoveVariantForm,
    RenameForm,
    SubjectForm,
    VariantForm,
)
from archive.authority.models import PlaceCoordinates
from archive.catalogue.editor import signed_in
from archive.errors import Invalid
from archive.search.service import search_for

bp = Blueprint("authority", __name__, url_prefix="/authority")
# The public side of the authority: where the places testimonies speak of lie.
places_bp = Blueprint("places", __name__, url_prefix="/places")

# What each list and entry page calls its entries.
KINDS = {
    "place": {
        "list": "authority.places",
        "entry": "authority.place",
        "title": _l("Places"),
        "add": _l("Add a place"),
        "search": _l("Find a place by any of its names"),
        "empty": _l("No place has this name."),
    },
    "person": {
        "list": "authority.people",
        "entry": "authority.person",
        "title": _l("People"),
        "add": _l("Add a person"),
        "search": _l("Find a person by any of their names"),
        "empty": _l("No person has this name."),
    },
}


def _show(form: FlaskForm, error: Invalid) -> None:
    """Each of the service's field messages beside its input, the rest above the form."""
    placed = False
    for name, message in error.fields.items():
        if name in form:
            form[name].errors = [*form[name].errors, message]
            placed = True
    if not placed:
        form.form_errors.append(error.message)


def _list(kind: str):
    access.require(current_user, Permission.AUTHORITY_EDIT)
    form = NewEntryForm()
    status = 200
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        try:
            if kind == "place":
                entry = service.create_place(current_user, form.name.data)
            else:
                entry = service.create_person(current_user, form.name.data, form.note.data)
        except Invalid as error:
            _show(form, error)
            status = 422
        else:
            flash(_("“%(name)s” is added.", name=entry.name), "success")
            return redirect(url_for(KINDS[kind]["entry"], **{f"{kind}_id": entry.id}))
    q = (request.args.get("q") or "").strip()[: service.MAX_NAME]
    listing = (
        service.list_places(current_user, q) if kind == "place" else service.list_people(current_user, q)
    )
    return render_template(
        "authority/list.html", kind=kind, labels=KINDS[kind], listing=listing, q=q, form=form
    ), status


@bp.route("/places", methods=["GET", "POST"])
@signed_in
def places():
    return _list("place")


@bp.route("/people", methods=["GET", "POST"])
@signed_in
def people():
    return _list("person")


@bp.route("/places/<int:place_id>", methods=["GET", "POST"])
@signed_in
def place(place_id: int):
    return _entry(service.get_place(current_user, place_id))


@bp.route("/people/<int:person_id>", methods=["GET", "POST"])
@signed_in
def person(person_id: int):
    return _entry(service.get_person(current_user, person_id))


def _entry(entry: service.Entry):
    kind = service.kind_of(entry)
    # Several small forms share the page; the button pressed says which one was sent, and only that
    # one reads the request: the others show what is stored.
    action = request.form.get("action") if request.method == "POST" else None

    def made(sent_by: str, form_class: type[FlaskForm], **stored) -> FlaskForm:
        return form_class() if sent_by == action else form_class(formdata=None, **stored)

    forms = {
        "add_variant": made("add_variant", VariantForm),
        "remove_variant": made("remove_variant", RemoveVariantForm),
        "rename": made("rename", RenameForm, name=entry.name),
    }
    located = None
    if kind == "person":
        forms["note"] = made("note", NoteForm, note=entry.note)
    else:
        located = service.coordinates_of(entry)
        forms["coordinates"] = made(
            "coordinates",
            CoordinatesForm,
            latitude=_degrees(located.latitude) if located else "",
            longitude=_degrees(located.longitude) if located else "",
        )
    status = 200
    if request.method == "POST":
        form = forms.get(action)
        if form is None or not form.validate_on_submit():
            abort(400)
        try:
            message = _apply(action, entry, form)
        except Invalid as error:
            _show(form, error)
            status = 422
        else:
            flash(message, "success")
            return redirect(url_for(KINDS[kind]["entry"], **{f"{kind}_id": entry.id}))
    return render_template(
        "authority/entry.html",
        kind=kind,
        labels=KINDS[kind],
        entry=entry,
        testimonies=service.testimonies_naming(entry),
        located=located,
        **forms,
    ), status


def _apply(action: str, entry: service.Entry, form: FlaskForm) -> str:
    if action == "add_variant":
        service.add_variant(current_user, entry, form.variant.data)
        return _("“%(variant)s” is now a variant of “%(name)s”.", variant=entry.variants[-1], name=entry.name)
    if action == "remove_variant":
        service.remove_variant(current_user, entry, form.variant.data)
        return _(
            "“%(variant)s” is no longer a variant of “%(name)s”.", variant=form.variant.data, name=entry.name
        )
    if action == "rename":
        old = entry.name
        service.rename(current_user, entry, form.name.data)
        if old in entry.variants:
            return _(
                "The preferred name is now “%(name)s”; “%(old)s” is kept as a variant.",
                name=entry.name,
                old=old,
            )
        return _("The preferred name is now “%(name)s”.", name=entry.name)
    if action == "coordinates":
        if service.set_coordinates(current_user, entry, form.latitude.data, form.longitude.data) is None:
            return _(
                "“%(name)s” has no coordinates now, so it is listed beside the map, not drawn on it.",
                name=entry.name,
            )
        return _("“%(name)s” is on the map of places now.", name=entry.name)
    service.set_note(current_user, entry, form.note.data)
    return _("The note is saved.")


def _degrees(value: float) -> str:
    """Degrees as an archivist typed them: no trailing zeros, no exponent."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


@dataclass
class MapPlace:
    """One place of the map: its preferred name, the names its testimonies use, how many of them
    this reader may see, and where it lies (None: listed, not drawn)."""

    name: str
    values: list[str]
    count: int
    coordinates: PlaceCoordinates | None


def _map_places() -> list[MapPlace]:
    """The places of the testimonies this reader may see, one per authority entry whatever spelling
    or script each testimony used, counted from the reader's own search."""
    facet = search_for(current_user, "", per_page=1)["facets"].get("place", [])
    located = service.locate(value for value, _count in facet)
    places: dict[object, MapPlace] = {}
    for value, count in facet:
        where = located[value]
        key = where.place.id if where.place is not None else value
        name = where.place.name if where.place is not None else value
        if key in places:
            places[key].values.append(value)
        else:
            places[key] = MapPlace(name, [value], count, where.coordinates)
    for place in places.values():
        if len(place.values) > 1:
            # A testimony may name the place twice, in two spellings: the search says how many.
            place.count = search_for(current_user, "", filters={"place": place.values}, per_page=1)["total"]
    return sorted(places.values(), key=lambda p: (-p.count, p.name))


@places_bp.route("/map")
def map_of_places():
    places = _map_places()
    points = [
        places_map.Point(p.name, p.count, p.coordinates.latitude, p.coordinates.longitude, p)
        for p in places
        if p.coordinates is not None
    ]
    return render_template(
        "authority/map.html",
        places=places,
        drawn=places_map.draw(points),
        outline=places_map.OUTLINE_FILE,
    )


def _labels(form: SubjectForm) -> dict[str, str]:
    return {language: form[f"label_{language}"].data for language in service.LABEL_LANGUAGES}


@bp.route("/subjects", methods=["GET", "POST"])
@signed_in
def subjects():
    access.require(current_user, Permission.AUTHORITY_EDIT)
    form = SubjectForm()
    status = 200
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        try:
            subject = service.create_subject(current_user, _labels(form))
        except Invalid as error:
            _show(form, error)
            status = 422
        else:
            flash(_("“%(name)s” is added.", name=subject.name), "success")
            return redirect(url_for("authority.subject", subject_id=subject.id))
    q = (request.args.get("q") or "").strip()[: service.MAX_NAME]
    listing = service.list_subjects(current_user, q)
    return render_template(
        "authority/subjects.html", listing=listing, q=q, form=form, languages=service.LABEL_LANGUAGES
    ), status


@bp.route("/subjects/<int:subject_id>", methods=["GET", "POST"])
@signed_in
def subject(subject_id: int):
    entry = service.get_subject(current_user, subject_id)
    # What is stored: a language without a label is left blank, not filled with the name.
    labels = {
        f"label_{language}": (entry.labels or {}).get(language, "") for language in service.LABEL_LANGUAGES
    }
    labels["label_en"] = labels["label_en"] or entry.name
    form = SubjectForm() if request.method == "POST" else SubjectForm(formdata=None, **labels)
    status = 200
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        try:
            service.set_labels(current_user, entry, _labels(form))
        except Invalid as error:
            _show(form, error)
            status = 422
        else:
            flash(_("The labels of “%(name)s” are saved.", name=entry.name), "success")
            return redirect(url_for("authority.subject", subject_id=entry.id))
    return render_template("authority/subject.html", entry=entry, form=form), status
