"""Server-side sessions: the cookie carries a random key, the session itself is a row of
`web_sessions`, so signing out, a password change or "sign out everywhere" ends it on every node
and for every copy of the cookie, and the server alone decides when it has been idle too long.

Why not Flask-Session: its SQLAlchemy backend brings a table and model of its own, keyed by the
raw session id, and cannot tie a session to its user; ending "every other session of this user"
needs that link. This interface is small and uses the archive's own table.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from flask import Flask, current_app
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import delete, or_, select, update
from werkzeug.datastructures import CallbackDict

from archive.accounts.models import User, WebSession
from archive.extensions import db
from archive.timeutil import utcnow

# The last-seen time is written at most this often: enough for an idle timeout counted in hours,
# and a busy reader does not cost a write per page.
TOUCH_EVERY = dt.timedelta(seconds=60)
# Flask-Login keeps the signed-in user's id under this key.
USER_KEY = "_user_id"


class ServerSession(CallbackDict, SessionMixin):
    """The session's data; `key` is the cookie's random value, None until first saved."""

    def __init__(self, initial: dict | None = None, key: str | None = None, row_id: int | None = None):
        def on_update(_self) -> None:
            self.modified = True

        super().__init__(initial or {}, on_update)
        self.key = key
        self.row_id = row_id
        self.user_id = (initial or {}).get(USER_KEY)
        self.touch = False
        self.modified = False
        self.had_cookie = False
        self.client = ""
        self.address = ""


def _limits(app: Flask) -> tuple[dt.timedelta, dt.timedelta]:
    idle = dt.timedelta(hours=float(app.config["SESSION_IDLE_HOURS"]))
    lifetime = dt.timedelta(days=float(app.config["SESSION_LIFETIME_DAYS"]))
    return idle, lifetime


def _expired(row: WebSession, now: dt.datetime, idle: dt.timedelta, lifetime: dt.timedelta) -> bool:
    return now - row.last_seen_at > idle or now - row.created_at > lifetime


class DatabaseSessionInterface(SessionInterface):
    """Flask's session, kept in the database and written through `db.session` once the request is
    answered. Its own connection would wait on SQLite's write lock while the request held it, and in
    the test suite's one joined transaction a later rollback would take its rows away."""

    def open_session(self, app: Flask, request) -> ServerSession:
        key = request.cookies.get(self.get_cookie_name(app))
        session = self._load(app, key) if key else ServerSession()
        session.had_cookie = bool(key)
        session.client = request.user_agent.string[:200]
        session.address = (request.remote_addr or "")[:64]
        return session

    def _load(self, app: Flask, key: str) -> ServerSession:
        now = utcnow()
        idle, lifetime = _limits(app)
        row = db.session.scalar(select(WebSession).where(WebSession.key_hash == WebSession.hash(key)))
        if row is None:
            return ServerSession()
        if _expired(row, now, idle, lifetime):
            db.session.delete(row)
            db.session.commit()
            return ServerSession()
        session = ServerSession(dict(row.data), key=key, row_id=row.id)
        session.touch = now - row.last_seen_at >= TOUCH_EVERY
        return session

    def save_session(self, app: Flask, session: ServerSession, response) -> None:
        name = self.get_cookie_name(app)
        domain = self.get_cookie_domain(app)
        path = self.get_cookie_path(app)
        user_id = session.get(USER_KEY)
        if session.had_cookie or session:
            # The answer depends on who asks: no shared cache may hand it to someone else.
            response.vary.add("Cookie")
        # Whatever the request left uncommitted, pending or already flushed (a route that failed
        # half-way with a 500, say), is thrown away at its end: it must never be committed with the
        # session's row.
        db.session.rollback()
        if session.row_id is not None and (not session or user_id != session.user_id):
            # Signing out, or in as someone else: the old key is worthless from now on, so
            # neither a copied cookie nor a key planted before sign-in opens anything.
            db.session.execute(delete(WebSession).where(WebSession.id == session.row_id))
            db.session.commit()
            session.row_id = None
        if not session:
            if session.had_cookie:
                response.delete_cookie(name, domain=domain, path=path)
            return
        now = utcnow()
        if session.row_id is not None:
            if session.modified or session.touch:
                values: dict[str, Any] = {"last_seen_at": now}
                if session.modified:
                    values["data"] = dict(session)
                db.session.execute(update(WebSession).where(WebSession.id == session.row_id).values(**values))
                db.session.commit()
            return
        idle, lifetime = _limits(app)
        # Expired rows go whenever a session begins: the table holds live sessions only.
        db.session.execute(
            delete(WebSession).where(
                or_(WebSession.last_seen_at < now - idle, WebSession.created_at < now - lifetime)
            )
        )
        session.key = secrets.token_urlsafe(32)
        db.session.add(
            WebSession(
                key_hash=WebSession.hash(session.key),
                user_id=int(user_id) if user_id is not None else None,
                data=dict(session),
                created_at=now,
                last_seen_at=now,
                client=session.client,
                address=session.address,
            )
        )
        db.session.commit()
        response.set_cookie(
            name,
            session.key,
            expires=self.get_expiration_time(app, session),
            httponly=self.get_cookie_httponly(app),
            domain=domain,
            path=path,
            secure=self.get_cookie_secure(app),
            samesite=self.get_cookie_samesite(app),
        )


def current_key_hash(session: SessionMixin) -> str | None:
    """The stored hash of this session's key, to name "this session" among a user's others."""
    key = getattr(session, "key", None)
    return WebSession.hash(key) if key else None


def end_sessions(user: User, keep_key_hash: str | None = None) -> int:
    """End every session of this user (but the one named); part of the caller's transaction."""
    statement = delete(WebSession).where(WebSession.user_id == user.id)
    if keep_key_hash is not None:
        statement = statement.where(WebSession.key_hash != keep_key_hash)
    return db.session.execute(statement).rowcount


def sessions_of(user: User) -> list[WebSession]:
    """The user's live sessions, the most recently used first."""
    idle, lifetime = _limits(current_app)
    now = utcnow()
    rows = db.session.scalars(
        select(WebSession).where(WebSession.user_id == user.id).order_by(WebSession.last_seen_at.desc())
    )
    return [row for row in rows if not _expired(row, now, idle, lifetime)]
