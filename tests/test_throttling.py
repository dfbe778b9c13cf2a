"""Sign-in throttling: repeated wrong passwords lock the account, and the client address, for a
while; the right password is refused too (429), each lock is in the audit log, and the address
is the client's behind as many proxies as the instance trusts, never one a client makes up. A
browser that signed in before carries a device cookie that lets it past the locks strangers set,
until its own failures, or a new password, make the cookie worthless."""

from __future__ import annotations

import datetime as dt

import pyotp
import pytest
from sqlalchemy import select, update

from archive.accounts import second_factor
from archive.accounts.models import SignInFailure
from archive.accounts.throttle import DEVICE_COOKIE
from archive.audit.models import AuditEvent
from archive.extensions import db
from tests.conftest import PASSWORD, make_app

LOCKED = "Too many failed sign-ins."


def sign_in(client, email: str, password: str, **kwargs):
    return client.post("/login", data={"email": email, "password": password}, **kwargs)


def locks() -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "login.locked")))


def signed_in(client) -> bool:
    return "Sign out" in client.get("/").get_data(as_text=True)


def known_browser(app, user):
    """A browser in which this user has signed in before, and then signed out."""
    browser = app.test_client()
    assert sign_in(browser, user.email, PASSWORD).status_code == 302
    browser.post("/logout")
    assert not signed_in(browser)
    return browser


def lock_account(app, email: str) -> None:
    stranger = app.test_client()
    for _ in range(app.config["SIGN_IN_FAILURES_PER_ACCOUNT"]):
        sign_in(stranger, email, "not the password")
    assert sign_in(stranger, email, PASSWORD).status_code == 429


def test_repeated_wrong_passwords_lock_the_account_even_for_the_right_one(app, client, users):
    email = users["researcher"].email
    limit = app.config["SIGN_IN_FAILURES_PER_ACCOUNT"]
    for _ in range(limit):
        assert sign_in(client, email, "not the password").status_code == 422

    refused = sign_in(client, email, PASSWORD)

    assert refused.status_code == 429
    assert LOCKED in refused.get_data(as_text=True)
    assert int(refused.headers["Retry-After"]) > 0
    assert not signed_in(client)
    # Other accounts are not locked by someone guessing at this one.
    assert sign_in(client, users["archivist"].email, PASSWORD).status_code == 302


def test_a_lock_is_recorded_once_in_the_audit_log(app, client, users):
    email = users["researcher"].email
    for _ in range(app.config["SIGN_IN_FAILURES_PER_ACCOUNT"] + 3):
        sign_in(client, email, "not the password")
    [lock] = locks()
    assert lock.details["scope"] == "account"
    assert lock.details["email"] == email
    assert lock.details["ip"] == "127.0.0.1"


def test_the_refusal_is_in_the_readers_language(app, client, users):
    email = users["researcher"].email
    for _ in range(app.config["SIGN_IN_FAILURES_PER_ACCOUNT"]):
        sign_in(client, email, "not the password")
    english = sign_in(client, email, PASSWORD).get_data(as_text=True)
    russian = client.post("/login?lang_ui=ru", data={"email": email, "password": PASSWORD})
    assert russian.status_code == 429
    assert LOCKED in english
    assert LOCKED not in russian.get_data(as_text=True)
    assert "Слишком много" in russian.get_data(as_text=True)


def test_the_account_opens_again_once_the_failures_leave_the_window(app, client, users):
    email = users["researcher"].email
    for _ in range(app.config["SIGN_IN_FAILURES_PER_ACCOUNT"]):
        sign_in(client, email, "not the password")
    assert sign_in(client, email, PASSWORD).status_code == 429

    window = dt.timedelta(minutes=app.config["SIGN_IN_WINDOW_MINUTES"])
    db.session.execute(update(SignInFailure).values(failed_at=SignInFailure.failed_at - window))
    db.session.commit()

    assert sign_in(client, email, PASSWORD).status_code == 302
    assert signed_in(client)


def test_a_right_password_before_the_limit_clears_the_accounts_count(app, client, users):
    email = users["researcher"].email
    limit = app.config["SIGN_IN_FAILURES_PER_ACCOUNT"]
    for _ in range(limit - 1):
        sign_in(client, email, "not the password")
    assert sign_in(client, email, PASSWORD).status_code == 302
    client.post("/logout")
    for _ in range(limit - 1):
        sign_in(client, email, "not the password")
    assert sign_in(client, email, PASSWORD).status_code == 302


def test_many_failures_from_one_address_lock_that_address_for_every_account(app, client, users):
    app.config["SIGN_IN_FAILURES_PER_ADDRESS"] = 20
    for n in range(20):
        sign_in(client, f"guess{n}@example.org", "not the password")

    assert sign_in(client, users["moderator"].email, PASSWORD).status_code == 429
    [lock] = locks()
    assert lock.details["scope"] == "address"
    assert lock.details["address"] == "127.0.0.1"
    elsewhere = app.test_client()
    response = sign_in(
        elsewhere, users["moderator"].email, PASSWORD, environ_base={"REMOTE_ADDR": "192.0.2.7"}
    )
    assert response.status_code == 302


def test_without_trusted_proxies_a_forwarded_for_header_does_not_change_the_address(app, client, users):
    app.config["SIGN_IN_FAILURES_PER_ADDRESS"] = 3
    for n in range(3):
        sign_in(client, f"guess{n}@example.org", "x", headers={"X-Forwarded-For": f"198.51.100.{n}"})
    response = sign_in(
        client, users["moderator"].email, PASSWORD, headers={"X-Forwarded-For": "198.51.100.99"}
    )
    assert response.status_code == 429
    assert locks()[0].details["address"] == "127.0.0.1"


def test_behind_a_trusted_proxy_the_forwarded_client_address_is_throttled(tmp_path):
    from archive.accounts.service import create_user

    app = make_app(tmp_path, TRUSTED_PROXIES=1, SIGN_IN_FAILURES_PER_ADDRESS=3)
    with app.app_context():
        db.create_all()
        create_user(None, "reader@example.org", "researcher", PASSWORD)
        client = app.test_client()
        attacker = {"X-Forwarded-For": "203.0.113.5"}
        for n in range(3):
            sign_in(client, f"guess{n}@example.org", "x", headers=attacker)

        assert sign_in(client, "reader@example.org", PASSWORD, headers=attacker).status_code == 429
        # Another client behind the same proxy is not locked out by the attacker.
        other = {"X-Forwarded-For": "203.0.113.6"}
        assert sign_in(client, "reader@example.org", PASSWORD, headers=other).status_code == 302
        [lock] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "login.locked"))
        assert lock.details["address"] == lock.details["ip"] == "203.0.113.5"
        db.session.remove()
        db.engine.dispose()


def test_twenty_failures_from_one_address_lock_out_a_new_browser_there_but_not_a_known_one(
    app, client, users
):
    staff = users["moderator"]
    desk = known_browser(app, staff)
    for n in range(20):
        sign_in(client, f"guess{n}@example.org", "not the password")

    assert sign_in(app.test_client(), staff.email, PASSWORD).status_code == 429
    assert sign_in(desk, staff.email, PASSWORD).status_code == 302
    assert signed_in(desk)
    assert [lock.details["scope"] for lock in locks()] == ["address"]


def test_strangers_failures_for_an_account_do_not_lock_out_its_owners_known_browser(app, users):
    owner = users["moderator"]
    laptop = known_browser(app, owner)
    lock_account(app, owner.email)

    assert sign_in(laptop, owner.email, PASSWORD).status_code == 302
    assert signed_in(laptop)
    [lock] = locks()
    assert lock.details["scope"] == "account"


def test_a_device_cookie_of_another_account_or_a_forged_one_gives_nothing(app, users):
    target = users["moderator"]
    known_browser(app, target)  # the account has a trusted browser, just not these
    researchers_browser = known_browser(app, users["researcher"])
    lock_account(app, target.email)

    assert sign_in(researchers_browser, target.email, PASSWORD).status_code == 429
    forged = app.test_client()
    forged.set_cookie(DEVICE_COOKIE, "A" * 43)
    assert sign_in(forged, target.email, PASSWORD).status_code == 429
    # The researcher's own cookie still works for the researcher, after that refusal.
    assert sign_in(researchers_browser, users["researcher"].email, PASSWORD).status_code == 302


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_device_cookies_own_failures_lock_it(app, users):
    app.config["SIGN_IN_FAILURES_PER_DEVICE"] = 3
    owner = users["moderator"]
    stolen_laptop = known_browser(app, owner)
    lock_account(app, owner.email)

    for _ in range(3):
        assert sign_in(stolen_laptop, owner.email, "a guess").status_code == 422

    assert sign_in(stolen_laptop, owner.email, PASSWORD).status_code == 429
    assert [lock.details["scope"] for lock in locks()] == ["account", "device"]


def test_a_password_change_makes_old_device_cookies_worthless(app, users):
    owner = users["moderator"]
    old_laptop = known_browser(app, owner)
    new_laptop = app.test_client()
    sign_in(new_laptop, owner.email, PASSWORD)
    new_password = "a new and longer passphrase"
    changed = new_laptop.post(
        "/account", data={"current": PASSWORD, "new": new_password, "repeat": new_password}
    )
    assert changed.status_code == 302
    new_laptop.post("/logout")
    lock_account(app, owner.email)

    assert sign_in(old_laptop, owner.email, new_password).status_code == 429
    # The browser the password was changed in is trusted anew.
    assert sign_in(new_laptop, owner.email, new_password).status_code == 302


@pytest.mark.parametrize("ending", ["an admin's password reset", "sign out everywhere"])
def test_ending_an_accounts_sign_ins_makes_its_device_cookies_worthless(app, users, ending):
    owner = users["moderator"]
    laptop = known_browser(app, owner)
    admin = app.test_client()
    sign_in(admin, users["admin"].email, PASSWORD)
    if ending == "sign out everywhere":
        form = {"action": "sessions_end"}
    else:
        form = {"action": "password", "password": PASSWORD}
    assert admin.post(f"/admin/users/{owner.id}", data=form).status_code == 302
    lock_account(app, owner.email)

    assert sign_in(laptop, owner.email, PASSWORD).status_code == 429


def test_the_device_cookie_is_http_only_same_site_long_lived_and_secure_with_the_session(app, users):
    app.config["SESSION_COOKIE_SECURE"] = True
    app.config["DEVICE_COOKIE_DAYS"] = 30
    answer = sign_in(app.test_client(), users["researcher"].email, PASSWORD)

    [cookie] = [c for c in answer.headers.getlist("Set-Cookie") if c.startswith(DEVICE_COOKIE + "=")]
    attributes = {part.strip().split("=")[0].lower(): part for part in cookie.split(";")[1:]}
    assert {"httponly", "secure", "max-age"} <= attributes.keys()
    assert attributes["samesite"].strip() == "SameSite=Lax"
    assert attributes["max-age"].strip() == f"Max-Age={30 * 86400}"


def test_with_a_second_factor_the_browser_is_known_only_once_the_code_is_right(app, users):
    staff = users["moderator"]
    totp = pyotp.TOTP(pyotp.random_base32())
    staff.totp_secret = second_factor.seal(totp.secret)
    db.session.commit()
    desk = app.test_client()
    assert sign_in(desk, staff.email, PASSWORD).status_code == 302
    assert desk.get_cookie(DEVICE_COOKIE) is None
    assert desk.post("/login/code", data={"code": totp.now()}).status_code == 302
    assert desk.get_cookie(DEVICE_COOKIE) is not None
    desk.post("/logout")
    app.config["SIGN_IN_FAILURES_PER_ADDRESS"] = 3
    for n in range(3):
        sign_in(app.test_client(), f"guess{n}@example.org", "not the password")

    assert sign_in(desk, staff.email, PASSWORD).status_code == 302
    later = totp.at(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30))
    assert desk.post("/login/code", data={"code": later}).status_code == 302
    assert signed_in(desk)
