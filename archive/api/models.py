"""The answers the API keeps for retried creates: one row per caller's `Idempotency-Key`."""

import datetime as dt

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from archive.extensions import db
from archive.timeutil import utcnow


class IdempotentRequest(db.Model):
    """A create that succeeded under a key, with the answer it got, saved in the create's own
    transaction: the key exists exactly when what it made does."""

    __tablename__ = "idempotency_keys"
    # A key is the caller's own: two users' equal keys never meet, and one user's key is one
    # request, whichever route it was sent to.
    __table_args__ = (UniqueConstraint("user_id", "key", name="uq_idempotency_keys_user_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    route: Mapped[str] = mapped_column(String(300))
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int]
    headers: Mapped[dict] = mapped_column(JSON, default=dict)
    body: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
