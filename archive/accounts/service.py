"""Account operations: creating users, signing in, passwords, roles and API tokens."""

from __future__ import annotations

import secrets
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email
from flask import current_app
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from archive import access
from archive.access import Permission, Role
from archive.accounts.models import ApiToken, User
from archive.audit.service import record_event
from archive.errors import Conflict, Invalid, NotFound
from archive.extensions import db
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


def authenticate(email: str, password: str) -> User | None:
    """The user, or None; the caller says only that the email or password was wrong."""
    user = user_by_email(email or "")
    stored = user.password_hash if user else _dummy_hash(current_app.config["PASSWORD_HASH_METHOD"])
    valid = check_password_hash(stored, password or "")
    if user is None or not valid or not user.active:
        record_event(None, "login.failed", None, email=(email or "")[:254])
        db.session.commit()
        return None
    user.last_login_at = utcnow()
    record_event(user, "login", user)
    db.session.commit()
    return user


def change_password(user: User, current: str, new: str) -> None:
    if not check_password_hash(user.password_hash, current or ""):
        raise Invalid("The current password is not right.", {"current": "Not your password."})
    check_password(new, "new")
    user.password_hash = hash_password(new)
    record_event(user, "user.password_change", user)
    db.session.commit()


def set_password(actor, user: User, new: str) -> None:
    if actor is not None:
        access.require(actor, Permission.USERS_MANAGE)
    check_password(new)
    user.password_hash = hash_password(new)
    record_event(actor, "user.password_reset", user)
    db.session.commit()


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


def create_token(user: User) -> str:
    """A new API token for this user: shown once, stored as a hash."""
    token = "ta_" + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user_id=user.id, token_hash=ApiToken.hash(token)))
    record_event(user, "token.create", user)
    db.session.commit()
    return token


def user_from_token(token: str) -> User | None:
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == ApiToken.hash(token)))
    if row is None or row.revoked_at is not None or not row.user.active:
        return None
    return row.user
