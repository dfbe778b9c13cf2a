"""Sign-in throttling: too many wrong passwords for one account, or from one client address, and
further attempts are refused for a while, the right password included. The failures are rows in
the database, so every node counts the same ones.

A browser that has signed in to an account carries a device cookie for it (OWASP's "device
cookies"): its attempts at that account pass both locks, which strangers' failures set, and its own
failures count against the cookie alone, which a few of them invalidate. So a reading room behind
one address, or a moderator whose email a stranger knows, is not locked out by someone else's
guesses, while guessing without such a cookie stays as slow as before.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from flask import current_app
from sqlalchemy import delete, func, select, update

from archive.accounts.models import DeviceCookie, SignInFailure, User
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
    """Raise `Throttled` while this account or this address is locked, unless the attempt carries
    a device cookie of this account."""
    if _known_device(email) is not None:
        return
    now = utcnow()
    for _scope, where, limit in _limits(email, address):
        until = _locked_until(where, limit, now - _window())
        if until is not None and until > now:
            raise Throttled(max(1, int((until - now).total_seconds()) + 1))


def record_failure(email: str, address: str) -> None:
    """Count one failure; the one that reaches a limit locks, and the lock goes to the audit log.
    Made with a device cookie of this account, it counts against that cookie alone, and the one
    that reaches the cookie's limit invalidates it. Part of the caller's transaction."""
    device = _known_device(email)
    if device is not None:
        _count_against_device(device, email, address)
        return
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


# The cookie that carries a browser's device keys.
DEVICE_COOKIE = "archive_device"
# A browser several people sign in from (a reading room's desk) is remembered for this many
# accounts, the most recent first.
DEVICES_PER_BROWSER = 4
# Where the session keeps the device keys the current sign-in attempt carries.
_CARRIED = "sign_in_devices"
_KEY = re.compile(r"[A-Za-z0-9_-]{32,64}")


def device_keys(cookie: str | None) -> list[str]:
    """The device keys a cookie's value holds; anything malformed is left out."""
    keys = [key for key in (cookie or "").split(".") if _KEY.fullmatch(key)]
    return keys[:DEVICES_PER_BROWSER]


def device_cookie_value(keys: Iterable[str]) -> str:
    return ".".join(keys)


@contextmanager
def carrying(keys: Iterable[str]) -> Iterator[None]:
    """The device keys this sign-in attempt carries, for every step of it (the password, the code):
    `refuse_if_locked` and `record_failure` read them here, as the audit log reads the client's
    address, so no step in between has to pass them on."""
    db.session.info[_CARRIED] = tuple(keys)
    try:
        yield
    finally:
        db.session.info.pop(_CARRIED, None)


def _device_lifetime() -> dt.timedelta:
    return dt.timedelta(days=float(current_app.config["DEVICE_COOKIE_DAYS"]))


def _known_device(email: str) -> DeviceCookie | None:
    """The carried device cookie of the account this email names, while it is valid."""
    keys = db.session.info.get(_CARRIED)
    if not keys or not email:
        return None
    return db.session.scalar(
        select(DeviceCookie)
        .join(User, User.id == DeviceCookie.user_id)
        .where(
            DeviceCookie.key_hash.in_([DeviceCookie.hash(key) for key in keys]),
            func.lower(User.email) == email,
            DeviceCookie.created_at > utcnow() - _device_lifetime(),
            DeviceCookie.failures < int(current_app.config["SIGN_IN_FAILURES_PER_DEVICE"]),
        )
        .limit(1)
    )


def _count_against_device(device: DeviceCookie, email: str, address: str) -> None:
    limit = int(current_app.config["SIGN_IN_FAILURES_PER_DEVICE"])
    # Counted in the database, so concurrent guesses with one stolen cookie each count.
    failures = db.session.scalar(
        update(DeviceCookie)
        .where(DeviceCookie.id == device.id)
        .values(failures=DeviceCookie.failures + 1)
        .returning(DeviceCookie.failures)
    )
    if failures is not None and failures >= limit:
        db.session.execute(delete(DeviceCookie).where(DeviceCookie.id == device.id))
        if failures == limit:
            record_event(
                None, "login.locked", None, scope="device", email=email, address=address, failures=failures
            )


def remember_device(user: User, keys: Iterable[str]) -> list[str]:
    """After a whole sign-in: a new device key for this account (any it had in this browser goes,
    so a copy of the old cookie is worthless), and the browser's keys for other accounts that are
    still valid. Part of the caller's transaction."""
    keys = list(keys)
    now = utcnow()
    carried = {DeviceCookie.hash(key): key for key in keys}
    valid = db.session.execute(
        select(DeviceCookie.key_hash, DeviceCookie.user_id).where(
            DeviceCookie.key_hash.in_(carried), DeviceCookie.created_at > now - _device_lifetime()
        )
    ).all()
    others = {key_hash for key_hash, user_id in valid if user_id != user.id}
    # Expired cookies go whenever one is made: the table holds live ones only.
    db.session.execute(
        delete(DeviceCookie).where(
            (DeviceCookie.created_at <= now - _device_lifetime())
            | ((DeviceCookie.user_id == user.id) & DeviceCookie.key_hash.in_(carried))
        )
    )
    key = secrets.token_urlsafe(32)
    db.session.add(DeviceCookie(key_hash=DeviceCookie.hash(key), user_id=user.id, created_at=now))
    kept = [k for k in keys if DeviceCookie.hash(k) in others]
    return [key, *kept][:DEVICES_PER_BROWSER]


def forget_devices(user: User) -> int:
    """Invalidate every device cookie of this account (a new password, sign out everywhere); part
    of the caller's transaction."""
    return db.session.execute(delete(DeviceCookie).where(DeviceCookie.user_id == user.id)).rowcount
