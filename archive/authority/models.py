"""People of the name authority; places are `archive.catalogue.models.Place`, which testimonies name."""

import datetime as dt

from sqlalchemy import JSON, String, Text
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
