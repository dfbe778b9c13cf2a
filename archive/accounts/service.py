"""Account operations: creating users, signing in, passwords, roles and API tokens."""

from __future__ import annotations

import datetime as dt
import secrets
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from archive import access
from archive.access import Permission, Role
from archive.accounts import sessions, throttle
from archive.accounts.models import ApiToken, User
from archive.audit.service import record_event
from archive.errors import Conflict, Forbidden, Invalid, NotFound
from archive.extensions import db, get_row
from archive.timeutil import utcnow

MIN_PASSWORD = 10


def hash_password(password: str) -> str:
    """A password's hash, as strong as the configuration's `PASSWORD_HASH_METHOD` asks."""
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


@lru_cache(maxsize=4)
def _dummy_hash(method: str) -> str:
    """Checked against on unknown emails too, so a failed sign-in takes as long either way: made
    with the method real hashes are made with."""
    return generate_password_hash("not-a-real-password", method=method)


def normalise_email(email: str) -> str:
    try:
        return validate_email(email or "", check_deliverability=False).normalized.lower()
    except EmailNotValidError as e:
        raise Invalid("The email address is not valid.", {"email": str(e)}) from None


def check_password(password: str, field: str = "password") -> None:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise Invalid("The password is too short.", {field: f"Use at least {MIN_PASSWORD} characters."})


def parse_role(value: str) -> Role:
    try:
        return access.valid_role(value)
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise Invalid("Unknown role.", {"role": f"Must be one of: {roles}."}) from None


def user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def create_user(actor, email: str, role: str, password: str, name: str = "") -> User:
    """A new account. `actor` None is the command line, run by whoever administers the machine."""
    if actor is not None:
        access.require(actor, Permission.USERS_MANAGE)
    email = normalise_email(email)
    role = parse_role(role)
    check_password(password)
    if user_by_email(email) is not None:
        raise Conflict("An account with this email exists already.")
    user = User(
        email=email,
        role=role.value,
        name=(name or "").strip()[:200],
        password_hash=hash_password(password),
    )
    db.session.add(user)
    db.session.flush()
    record_event(actor, "user.create", user, email=email, role=role.value)
    db.session.commit()
    return user


def authenticate(email: str, password: str, address: str = "") -> User | None:
    """The user, or None; the caller says only that the email or password was wrong. Raises
    `throttle.Throttled` while the account or the client's address is locked, before the password
    is even looked at, unless the attempt carries a device cookie of the account
    (`throttle.carrying`)."""
    key = throttle.account_key(email)
    throttle.refuse_if_locked(key, address or "")
    user = user_by_email(email or "")
    stored = user.password_hash if user else _dummy_hash(current_app.config["PASSWORD_HASH_METHOD"])
    valid = check_password_hash(stored, password or "")
    if user is None or not valid or not user.active:
        record_event(None, "login.failed", None, email=key)
        throttle.record_failure(key, address or "")
        db.session.commit()
        return None
    if user.totp_secret is not None:
        # Half a sign-in: the code is still to come. The account's failures stay counted, or the
        # right password typed again between guesses would give endless guesses at the code.
        record_event(user, "login.password", user)
    else:
        signed_in(user)
    db.session.commit()
    return user


def signed_in(user: User) -> None:
    """A whole sign-in (the password, and the code where there is a second factor): recorded, and
    the account's count of failures cleared."""
    user.last_login_at = utcnow()
    throttle.forget_failures(throttle.account_key(user.email))
    record_event(user, "login", user)


def remember_browser(user: User, keys: list[str]) -> list[str]:
    """After a whole sign-in, this browser gets a new device cookie for the account: the keys the
    cookie is to hold from now on."""
    kept = throttle.remember_device(user, keys)
    db.session.commit()
    return kept


def change_password(user: User, current: str, new: str, keep_session: str | None = None) -> None:
    """A new password; every other session of the user ends (`keep_session`: the hash of the
    session the change was made in), and no browser is trusted by a device cookie any more."""
    if not check_password_hash(user.password_hash, current or ""):
        raise Invalid("The current password is not right.", {"current": "Not your password."})
    check_password(new, "new")
    user.password_hash = hash_password(new)
    ended = sessions.end_sessions(user, keep_session)
    devices = throttle.forget_devices(user)
    record_event(user, "user.password_change", user, sessions_ended=ended, devices_forgotten=devices)
    db.session.commit()


def set_password(actor, user: User, new: str) -> None:
    """An admin's reset: whoever knew the old password is signed out everywhere, and no browser
    keeps a device cookie of the account."""
    if actor is not None:
        access.require(actor, Permission.USERS_MANAGE)
    check_password(new)
    user.password_hash = hash_password(new)
    ended = sessions.end_sessions(user)
    devices = throttle.forget_devices(user)
    record_event(actor, "user.password_reset", user, sessions_ended=ended, devices_forgotten=devices)
    db.session.commit()


def _require_sign_in_owner(actor, user: User) -> None:
    if not access.may_manage_sign_in(actor, user):
        raise Forbidden()


def end_all_sessions(actor, user: User) -> int:
    """Sign the user out everywhere, the actor's own session included when it is theirs; the
    account's device cookies go too."""
    _require_sign_in_owner(actor, user)
    ended = sessions.end_sessions(user)
    devices = throttle.forget_devices(user)
    record_event(actor, "user.sessions_end", user, sessions_ended=ended, devices_forgotten=devices)
    db.session.commit()
    return ended


def list_sessions(actor, user: User) -> list:
    _require_sign_in_owner(actor, user)
    return sessions.sessions_of(user)


def set_role(actor, user: User, role: str) -> None:
    access.require(actor, Permission.USERS_MANAGE)
    new = parse_role(role)
    if not access.may_set_role(actor, user, new):
        raise Conflict("You cannot take away your own admin role; ask another admin.")
    old = user.role
    user.role = new.value
    record_event(actor, "user.role_change", user, old=old, new=new.value)
    db.session.commit()


def set_active(actor, user: User, active: bool) -> None:
    access.require(actor, Permission.USERS_MANAGE)
    if not access.may_set_active(actor, user, active):
        raise Conflict("You cannot deactivate your own account.")
    user.active = active
    if not active:
        sessions.end_sessions(user)
        throttle.forget_devices(user)
    record_event(actor, "user.activate" if active else "user.deactivate", user)
    db.session.commit()


def list_users(actor) -> list[User]:
    access.require(actor, Permission.USERS_MANAGE)
    return list(db.session.scalars(select(User).order_by(User.email)))


def get_user(actor, user_id: int) -> User:
    access.require(actor, Permission.USERS_MANAGE)
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound()
    return user


# A token's last use is written at most this often: a busy script does not cost a write per call.
TOKEN_TOUCH_EVERY = dt.timedelta(seconds=60)


def create_token(user: User, days: float | None = None) -> str:
    """A new API token for this user: shown once, stored as a hash; it expires after `days`
    (the configured `TOKEN_DAYS` if None)."""
    days = float(current_app.config["TOKEN_DAYS"] if days is None else days)
    if days <= 0:
        raise Invalid("A token must last at least some time.", {"expires": "Give a number of days above 0."})
    token = "ta_" + secrets.token_urlsafe(32)
    row = ApiToken(
        user_id=user.id, token_hash=ApiToken.hash(token), expires_at=utcnow() + dt.timedelta(days=days)
    )
    db.session.add(row)
    db.session.flush()
    record_event(user, "token.create", user, token_id=row.id, expires_at=row.expires_at.isoformat())
    db.session.commit()
    return token


def token_is_live(row: ApiToken, now: dt.datetime | None = None) -> bool:
    now = now or utcnow()
    return row.revoked_at is None and (row.expires_at is None or row.expires_at > now)


def user_from_token(token: str) -> User | None:
    """The token's user while the token is neither revoked nor expired and the account is active."""
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == ApiToken.hash(token)))
    now = utcnow()
    if row is None or not token_is_live(row, now) or not row.user.active:
        return None
    if row.last_used_at is None or now - row.last_used_at >= TOKEN_TOUCH_EVERY:
        row.last_used_at = now
        db.session.commit()
    return row.user


def list_tokens(actor, user: User) -> list[ApiToken]:
    """The user's tokens, newest first; `actor` None is the command line."""
    if actor is not None:
        _require_sign_in_owner(actor, user)
    return list(
        db.session.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc()))
    )


def get_token(token_id: int) -> ApiToken:
    row = get_row(ApiToken, token_id)
    if row is None:
        raise NotFound("No API token has this id.")
    return row


def revoke_token(actor, token_id: int, owner: User | None = None) -> ApiToken:
    """Revoke a token at once. `owner`: the page's account, so that a form cannot reach another
    user's token by its id; `actor` None is the command line."""
    row = get_token(token_id)
    if owner is not None and row.user_id != owner.id:
        raise NotFound("No API token has this id.")
    if actor is not None:
        _require_sign_in_owner(actor, row.user)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        record_event(actor, "token.revoke", row.user, token_id=row.id)
        db.session.commit()
    return row
