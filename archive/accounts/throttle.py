"""Sign-in throttling: too many wrong passwords for one account, or from one client address, and
further attempts are refused for a while, the right password included. The failures are rows in
the database, so every node counts the same ones."""

from __future__ import annotations

import datetime as dt

from flask import current_app
from sqlalchemy import delete, func, select

from archive.accounts.models import SignInFailure
from archive.audit.service import record_event
from archive.errors import ArchiveError
from archive.extensions import db
from archive.timeutil import utcnow


class Throttled(ArchiveError):
    status = 429
    code = "too_many_attempts"
    default_message = "Too many failed sign-ins. Wait a few minutes and try again."

    def __init__(self, retry_after: int):
        super().__init__()
        self.retry_after = retry_after


def account_key(email: str | None) -> str:
    """The account a sign-in attempt counts against, however its email was typed."""
    return (email or "").strip().lower()[:254]


def _window() -> dt.timedelta:
    return dt.timedelta(minutes=float(current_app.config["SIGN_IN_WINDOW_MINUTES"]))


def _limits(email: str, address: str) -> list[tuple[str, object, int]]:
    config = current_app.config
    limits = [("account", SignInFailure.email == email, int(config["SIGN_IN_FAILURES_PER_ACCOUNT"]))]
    if address:
        limits.append(
            ("address", SignInFailure.address == address, int(config["SIGN_IN_FAILURES_PER_ADDRESS"]))
        )
    return limits


def _locked_until(where, limit: int, since: dt.datetime) -> dt.datetime | None:
    """When the lock on these failures ends, or None if they are fewer than the limit: the window
    slides, so the lock ends as the limit-th newest failure leaves it."""
    times = db.session.scalars(
        select(SignInFailure.failed_at)
        .where(where, SignInFailure.failed_at > since)
        .order_by(SignInFailure.failed_at.desc())
        .limit(limit)
    ).all()
    if limit <= 0 or len(times) < limit:
        return None
    return times[-1] + _window()


def refuse_if_locked(email: str, address: str) -> None:
    """Raise `Throttled` while this account or this address is locked."""
    now = utcnow()
    for _scope, where, limit in _limits(email, address):
        until = _locked_until(where, limit, now - _window())
        if until is not None and until > now:
            raise Throttled(max(1, int((until - now).total_seconds()) + 1))


def record_failure(email: str, address: str) -> None:
    """Count one failure; the one that reaches a limit locks, and the lock goes to the audit log.
    Part of the caller's transaction."""
    db.session.add(SignInFailure(email=email, address=address))
    db.session.flush()
    since = utcnow() - _window()
    for scope, where, limit in _limits(email, address):
        count = db.session.scalar(
            select(func.count()).select_from(SignInFailure).where(where, SignInFailure.failed_at > since)
        )
        if count == limit:
            record_event(
                None, "login.locked", None, scope=scope, email=email, address=address, failures=count
            )


def forget_failures(email: str) -> None:
    """A right password clears the account's count (the address's stays, it may guess at others);
    failures older than the window go too, so the table stays small."""
    db.session.execute(
        delete(SignInFailure).where(
            (SignInFailure.email == email) | (SignInFailure.failed_at <= utcnow() - _window())
        )
    )
