"""People of the name authority, and where its places lie; places are `archive.catalogue.models.Place`,
which testimonies name."""

import datetime as dt

from sqlalchemy import JSON, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from archive.extensions import db
from archive.timeutil import utcnow


class Person(db.Model):
    """A person mentioned in testimonies, under one preferred name and its variant spellings.

    Never a narrator: narrators' names are governed by their consent, not by the authority.
    """

    __tablename__ = "people"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)
    variants: Mapped[list] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class PlaceCoordinates(db.Model):
    """Where a place of the authority lies (WGS 84 degrees), for the map of places: set by an
    archivist on the entry's page, or by an OHMS import for a place that had none."""

    __tablename__ = "place_coordinates"

    place_id: Mapped[int] = mapped_column(ForeignKey("places.id", ondelete="CASCADE"), primary_key=True)
    latitude: Mapped[float]
    longitude: Mapped[float]
