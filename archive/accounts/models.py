"""Accounts: a user has one role on the access ladder; API tokens and session ids are stored only as
hashes; failed sign-ins are kept for a while so that every node throttles the same guesses, and
browsers that signed in are remembered (device cookies) so that strangers' guesses do not lock
them out."""

import datetime as dt
import hashlib

from flask_login import UserMixin
from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from archive.extensions import db
from archive.timeutil import utcnow


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[dt.datetime | None]
    last_seen_at: Mapped[dt.datetime | None]
    # The second factor (TOTP): its shared secret, encrypted (a Fernet token of about 140 characters
    # from `second_factor.seal`, never the secret itself), and the last time step a code was
    # accepted for, so that no code is taken twice.
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    totp_last_step: Mapped[int | None]

    tokens: Mapped[list["ApiToken"]] = relationship(back_populates="user")

    @property
    def is_active(self) -> bool:  # Flask-Login refuses sessions of deactivated accounts
        return self.active

    @property
    def display_name(self) -> str:
        return self.name or self.email

    def __repr__(self) -> str:
        return f"<User {self.email} {self.role}>"


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
    # None only for a token that was made before tokens expired; the migration gives those a date.
    expires_at: Mapped[dt.datetime | None]

    user: Mapped[User] = relationship(back_populates="tokens")

    @staticmethod
    def hash(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()


class WebSession(db.Model):
    """A browser's session, kept here rather than in its cookie: the cookie holds only a random id,
    so deleting this row ends the session on every node and for every copy of the cookie."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    client: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(64), default="")

    @staticmethod
    def hash(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()


class SignInFailure(db.Model):
    """One wrong password (or unknown email), by account and by client address."""

    __tablename__ = "sign_in_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    failed_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class DeviceCookie(db.Model):
    """A browser that signed in to this account: its cookie holds a random key, stored here only
    as a hash. It lets that browser past the locks strangers' failures set; its own failures are
    counted here, and the row goes once they reach `SIGN_IN_FAILURES_PER_DEVICE`."""

    __tablename__ = "device_cookies"

    id: Mapped[int] = mapped_column(primary_key=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    # Wrong passwords (or codes) sent with this cookie since the last whole sign-in with it.
    failures: Mapped[int] = mapped_column(default=0)

    @staticmethod
    def hash(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()
