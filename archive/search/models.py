"""The search outbox: a row per change, written in the same transaction as the change itself."""

import datetime as dt

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from archive.extensions import db
from archive.timeutil import utcnow


class OutboxEntry(db.Model):
    """A change to a testimony that every node's index is to apply. Its id is a position: nodes
    record how far they have applied by it, so it is never handed out twice, even once the rows
    before it are pruned (on SQLite that takes AUTOINCREMENT; PostgreSQL's sequence never goes back)."""

    __tablename__ = "search_outbox"
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(BigInteger().with_variant(db.Integer, "sqlite"), primary_key=True)
    testimony_id: Mapped[int] = mapped_column(index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class IndexNode(db.Model):
    """How far each node's index (one index folder, named by the id kept in it) has applied the
    outbox, so rows that every active node has applied can be pruned. The row named `PRUNED` holds
    the highest id pruned so far: a node that comes back below it rebuilds rather than miss rows."""

    __tablename__ = "search_index_nodes"

    PRUNED = "pruned"

    node_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int] = mapped_column(BigInteger().with_variant(db.Integer, "sqlite"))
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
