"""The optional second factor for staff accounts: time-based one-time codes (TOTP, RFC 6238) from
an authenticator app, set up on the account page and asked for after the password."""

from __future__ import annotations

import datetime as dt

import pyotp

from archive import access
from archive.accounts import throttle
from archive.accounts.models import User
from archive.accounts.service import signed_in
from archive.audit.service import record_event
from archive.errors import Forbidden, Invalid
from archive.extensions import db, get_row
from archive.timeutil import utcnow

ISSUER = "Testimony Archive"
# A code is taken for its own 30-second step and the one either side: phone clocks drift.
DRIFT_STEPS = 1
# After the password, the code must come within this time.
PENDING_FOR = dt.timedelta(minutes=5)


def new_secret() -> str:
    return pyotp.random_base32()


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


def enrol(user: User, secret: str, code: str) -> None:
    """Turn the second factor on, once a code from the app proves it holds the secret."""
    if not may_enrol(user):
        raise Forbidden("Only staff accounts use a second factor.")
    step = _accepted_step(secret, code, None)
    if step is None:
        raise Invalid("The code is not right.", {"code": "Enter the code your app shows now."})
    user.totp_secret = secret
    user.totp_last_step = step
    record_event(user, "user.totp_enrol", user)
    db.session.commit()


def remove(actor, user: User, code: str | None = None) -> None:
    """Turn it off: its owner with a current code, or an admin (for a lost phone) without."""
    if actor is not None and actor.id == user.id:
        if _accepted_step(user.totp_secret, code or "", user.totp_last_step) is None:
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


def check_code(user: User, code: str, address: str = "") -> bool:
    """The second step of signing in. A wrong code counts as a failed sign-in, so guessing codes
    meets the same lock as guessing passwords; raises `throttle.Throttled` while locked."""
    email = throttle.account_key(user.email)
    throttle.refuse_if_locked(email, address)
    step = _accepted_step(user.totp_secret, code, user.totp_last_step)
    if step is None:
        record_event(None, "login.failed", user, email=email, factor="totp")
        throttle.record_failure(email, address)
        db.session.commit()
        return False
    user.totp_last_step = step
    signed_in(user)
    db.session.commit()
    return True
