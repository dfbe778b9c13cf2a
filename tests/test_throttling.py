"""Sign-in throttling: repeated wrong passwords lock the account, and the client address, for a
while; the right password is refused too (429), each lock is in the audit log, and the address
is the client's behind as many proxies as the instance trusts, never one a client makes up."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from archive.accounts.models import SignInFailure
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
