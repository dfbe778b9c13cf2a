"""People of the name authority, and where its places lie; places are `archive.catalogue.models.Place`,
which testimonies name."""

import datetime as dt

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from archive.extensions import db
from archive.timeutil import utcnow


class Person(db.Model):
    """A person testimonies speak of, under one preferred name and its variant spellings.

    Never a narrator: narrators' names are governed by their consent, not by the authority. A person
    only testimonies have named (the catalogue adds the names it is given) has no `updated_at`
    until the authority touches it, as with places.
    """

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)
    variants: Mapped[list] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # When the authority last changed this entry; None for a person only a testimony has named.
    updated_at: Mapped[dt.datetime | None] = mapped_column(index=True)


class PlaceCoordinates(db.Model):
    """Where a place of the authority lies (WGS 84 degrees), for the map of places: set by an
    archivist on the entry's page, or by an OHMS import for a place that had none."""

    __tablename__ = "place_coordinates"

    place_id: Mapped[int] = mapped_column(ForeignKey("places.id", ondelete="CASCADE"), primary_key=True)
    latitude: Mapped[float]
    longitude: Mapped[float]
