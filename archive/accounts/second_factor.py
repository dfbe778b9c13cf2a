"""The optional second factor for staff accounts: time-based one-time codes (TOTP, RFC 6238) from
an authenticator app, set up on the account page and asked for after the password.

The shared secret is kept encrypted, in the database and in a session alike, under a key derived
from the instance's secret key, which is never in the database: a dump of it holds no second factor."""

from __future__ import annotations

import base64
import datetime as dt
import logging

import pyotp
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import current_app

from archive import access
from archive.accounts import throttle
from archive.accounts.models import User
from archive.accounts.service import signed_in
from archive.audit.service import record_event
from archive.errors import ArchiveError, Forbidden, Invalid
from archive.extensions import db, get_row
from archive.timeutil import utcnow

log = logging.getLogger(__name__)

ISSUER = "Testimony Archive"
# A code is taken for its own 30-second step and the one either side: phone clocks drift.
DRIFT_STEPS = 1
# After the password, the code must come within this time.
PENDING_FOR = dt.timedelta(minutes=5)
# The secret key also signs sessions and forms: the second factor's key is derived from it under a
# label of its own, so that no other use of the secret key yields this one.
KEY_PURPOSE = b"testimony-archive: second-factor secrets at rest, v1"


class SecretUnreadable(ArchiveError):
    """The account's secret was encrypted under a key this instance no longer has (neither its
    SECRET_KEY nor any of SECRET_KEY_FALLBACKS): no code can be checked until an admin resets it."""

    status = 422
    code = "second_factor_unreadable"
    default_message = "This archive can no longer read your second factor: ask an admin to reset it."


def _fernet(secret_key: str | bytes) -> Fernet:
    material = secret_key.encode() if isinstance(secret_key, str) else secret_key
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEY_PURPOSE).derive(material)
    return Fernet(base64.urlsafe_b64encode(derived))


def _keys() -> MultiFernet:
    """Encrypts under the current secret key; decrypts under it or any of the fallbacks, so a key
    rotated the way Flask rotates its own (`SECRET_KEY_FALLBACKS`) leaves every secret readable."""
    config = current_app.config
    secret_keys = [config["SECRET_KEY"], *(config.get("SECRET_KEY_FALLBACKS") or ())]
    return MultiFernet([_fernet(key) for key in secret_keys])


def seal(secret: str) -> str:
    """The secret as it may be stored: a Fernet token (AES in CBC mode with an HMAC), ASCII."""
    return _keys().encrypt(secret.encode()).decode("ascii")


def unseal(token: str) -> str:
    """The secret in a token `seal` made; raises `SecretUnreadable` under the wrong keys."""
    try:
        return _keys().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeError):
        raise SecretUnreadable() from None


def begin_enrolment() -> str:
    """A new secret, sealed: the session keeps it so until a code from the app confirms it."""
    return seal(pyotp.random_base32())


def enrolling_secret(sealed: str | None) -> str | None:
    """The secret being set up, to show, from what `begin_enrolment` gave; None if there is none
    (or the key changed meanwhile: the person starts again)."""
    if not sealed:
        return None
    try:
        return unseal(sealed)
    except SecretUnreadable:
        return None


def provisioning_uri(user: User, secret: str) -> str:
    """The `otpauth://` address an authenticator app reads (typed in, or from a QR code)."""
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def may_enrol(user: User) -> bool:
    return access.is_staff(user)


def _accepted_step(secret: str | None, code: str, last_step: int | None) -> int | None:
    """The time step the code belongs to, or None if it is wrong or was used already."""
    code = (code or "").strip().replace(" ", "")
    if not secret or not code.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    now = utcnow().replace(tzinfo=dt.UTC)
    step = totp.timecode(now)
    for candidate in range(step - DRIFT_STEPS, step + DRIFT_STEPS + 1):
        if last_step is not None and candidate <= last_step:
            continue
        if pyotp.utils.strings_equal(totp.generate_otp(candidate), code):
            return candidate
    return None


def enrol(user: User, sealed: str | None, code: str) -> None:
    """Turn the second factor on, once a code from the app proves it holds the secret (`sealed`,
    as `begin_enrolment` gave it)."""
    if not may_enrol(user):
        raise Forbidden("Only staff accounts use a second factor.")
    secret = enrolling_secret(sealed)
    step = _accepted_step(secret, code, None)
    if step is None:
        raise Invalid("The code is not right.", {"code": "Enter the code your app shows now."})
    user.totp_secret = seal(secret)
    user.totp_last_step = step
    record_event(user, "user.totp_enrol", user)
    db.session.commit()


def remove(actor, user: User, code: str | None = None) -> None:
    """Turn it off: its owner with a current code, or an admin (for a lost phone) without."""
    if actor is not None and actor.id == user.id:
        if _accepted_step(_readable_secret(user), code or "", user.totp_last_step) is None:
            raise Invalid("The code is not right.", {"code": "Enter the code your app shows now."})
    elif not access.may_manage_sign_in(actor, user):
        raise Forbidden()
    user.totp_secret = None
    user.totp_last_step = None
    record_event(actor, "user.totp_remove", user)
    db.session.commit()


def pending_user(pending: dict | None) -> User | None:
    """The account whose password was right a moment ago and whose code is awaited, if any."""
    if not isinstance(pending, dict):
        return None
    try:
        since = dt.datetime.fromisoformat(pending["since"])
        user = get_row(User, int(pending["user_id"]))
    except (KeyError, TypeError, ValueError):
        return None
    if user is None or not user.active or user.totp_secret is None or utcnow() - since > PENDING_FOR:
        return None
    return user


def pending(user: User) -> dict:
    """What the session keeps between the password and the code."""
    return {"user_id": user.id, "since": utcnow().isoformat()}


def _readable_secret(user: User) -> str:
    """The account's secret in clear; an unreadable one is logged and raises `SecretUnreadable`."""
    try:
        return unseal(user.totp_secret or "")
    except SecretUnreadable:
        log.error(
            "The second factor of user %s cannot be decrypted with SECRET_KEY or any of "
            "SECRET_KEY_FALLBACKS: an admin must turn it off on the user's page.",
            user.id,
        )
        raise


def check_code(user: User, code: str, address: str = "") -> bool:
    """The second step of signing in. A wrong code counts as a failed sign-in, so guessing codes
    meets the same lock as guessing passwords; raises `throttle.Throttled` while locked, and
    `SecretUnreadable` (recorded in the audit log) when no code can be checked at all."""
    email = throttle.account_key(user.email)
    throttle.refuse_if_locked(email, address)
    try:
        secret = _readable_secret(user)
    except SecretUnreadable:
        record_event(None, "login.failed", user, email=email, factor="totp", reason="unreadable")
        db.session.commit()
        raise
    step = _accepted_step(secret, code, user.totp_last_step)
    if step is None:
        record_event(None, "login.failed", user, email=email, factor="totp")
        throttle.record_failure(email, address)
        db.session.commit()
        return False
    user.totp_last_step = step
    # Sealed again under the current key: one read under a fallback key needs that key no longer.
    user.totp_secret = seal(secret)
    signed_in(user)
    db.session.commit()
    return True
