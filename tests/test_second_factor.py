"""The optional second factor for staff: set up on the account page with a key shown as text and an
`otpauth://` address, confirmed with a code; signing in then asks for a code after the password;
an instance may require it of every admin before anything else."""

from __future__ import annotations

import datetime as dt
import re

import pyotp

from archive.accounts.throttle import DEVICE_COOKIE
from archive.audit.models import AuditEvent
from archive.extensions import db
from tests.conftest import PASSWORD, login


def text_of(response) -> str:
    return response.get_data(as_text=True)


def set_up(client) -> pyotp.TOTP:
    """Set up a second factor through the account page, as a person with an app would."""
    assert client.post("/account", data={"action": "totp_begin"}).status_code == 302
    page = text_of(client.get("/account"))
    secret = re.search(r'<code class="totp-secret">([A-Z2-7]+)</code>', page).group(1)
    uri = re.search(r'<code class="totp-uri">([^<]+)</code>', page).group(1)
    assert uri.startswith("otpauth://totp/")
    assert f"secret={secret}" in uri
    totp = pyotp.TOTP(secret)
    confirmed = client.post("/account", data={"action": "totp_confirm", "code": totp.now()})
    assert confirmed.status_code == 302
    return totp


def next_code(totp: pyotp.TOTP) -> str:
    """The code of the next 30-second step: taken (clocks drift), and newer than the one that set
    the factor up, which can never be used again."""
    return totp.at(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30))


def test_a_wrong_code_does_not_turn_the_second_factor_on(client, users):
    login(client, users["archivist"])
    client.post("/account", data={"action": "totp_begin"})
    refused = client.post("/account", data={"action": "totp_confirm", "code": "000000"})
    assert refused.status_code == 422
    assert "The code is not right." in text_of(refused)
    db.session.refresh(users["archivist"])
    assert users["archivist"].totp_secret is None


def test_after_setting_it_up_signing_in_asks_for_the_code(app, client, users):
    login(client, users["moderator"])
    totp = set_up(client)
    client.post("/logout")

    response = login(client, users["moderator"])
    assert response.headers["Location"] == "/login/code"
    assert "Sign out" not in text_of(client.get("/"))  # the password alone signs nobody in
    assert client.get("/review").status_code == 302

    wrong = client.post("/login/code", data={"code": "000000"})
    assert wrong.status_code == 422
    assert client.post("/login/code", data={"code": next_code(totp)}).status_code == 302
    assert "Sign out" in text_of(client.get("/"))
    assert client.get("/review").status_code == 200


def test_a_code_is_taken_only_once(app, client, users):
    login(client, users["archivist"])
    totp = set_up(client)
    client.post("/logout")
    code = next_code(totp)
    login(client, users["archivist"])
    assert client.post("/login/code", data={"code": code}).status_code == 302
    client.post("/logout")
    login(client, users["archivist"])
    assert client.post("/login/code", data={"code": code}).status_code == 422


def test_guessing_codes_meets_the_sign_in_lock(app, client, users):
    login(client, users["archivist"])
    totp = set_up(client)
    client.post("/logout")
    # Guessed from a browser the account never signed in from (test_throttling has one it did).
    client.delete_cookie(DEVICE_COOKIE)
    login(client, users["archivist"])
    for _ in range(app.config["SIGN_IN_FAILURES_PER_ACCOUNT"]):
        client.post("/login/code", data={"code": "000000"})
    refused = client.post("/login/code", data={"code": totp.now()})
    assert refused.status_code == 429
    assert "Too many failed sign-ins." in text_of(refused)
    assert login(client, users["archivist"]).status_code == 429
    assert db.session.query(AuditEvent).filter_by(action="login.locked").count() == 1


def test_the_right_password_again_does_not_wipe_out_the_wrong_codes(app, client, users):
    """Someone who has the password must not get endless guesses at the code by typing the password
    again between them: the account's count of failures is cleared only by a whole sign-in."""
    login(client, users["archivist"])
    totp = set_up(client)
    client.post("/logout")
    client.delete_cookie(DEVICE_COOKIE)
    db.session.refresh(users["archivist"])
    signed_in_at = users["archivist"].last_login_at
    guesses = app.config["SIGN_IN_FAILURES_PER_ACCOUNT"]
    for _ in range(guesses - 1):
        assert login(client, users["archivist"]).headers["Location"] == "/login/code"
        assert client.post("/login/code", data={"code": "000000"}).status_code == 422
    assert login(client, users["archivist"]).headers["Location"] == "/login/code"
    assert client.post("/login/code", data={"code": "000000"}).status_code == 422
    refused = client.post("/login/code", data={"code": totp.now()})
    assert refused.status_code == 429
    assert login(client, users["archivist"]).status_code == 429
    db.session.refresh(users["archivist"])
    assert users["archivist"].last_login_at == signed_in_at


def test_a_sign_in_is_recorded_once_its_code_is_right(client, users):
    login(client, users["moderator"])
    totp = set_up(client)
    client.post("/logout")
    before = db.session.query(AuditEvent).filter_by(action="login").count()
    login(client, users["moderator"])
    assert db.session.query(AuditEvent).filter_by(action="login").count() == before
    assert client.post("/login/code", data={"code": next_code(totp)}).status_code == 302
    assert db.session.query(AuditEvent).filter_by(action="login").count() == before + 1
    db.session.refresh(users["moderator"])
    assert users["moderator"].last_login_at is not None


def test_a_researcher_is_not_offered_a_second_factor(client, users):
    login(client, users["researcher"])
    assert "Set up a second factor" not in text_of(client.get("/account"))
    assert client.post("/account", data={"action": "totp_begin"}).status_code == 422


def test_turning_it_off_needs_a_code_and_an_admin_can_for_a_lost_phone(app, client, users):
    login(client, users["archivist"])
    totp = set_up(client)
    assert client.post("/account", data={"action": "totp_remove", "code": "000000"}).status_code == 422
    admin = app.test_client()
    login(admin, users["admin"])
    response = admin.post(f"/admin/users/{users['archivist'].id}", data={"action": "totp_reset"})
    assert response.status_code == 302
    client.post("/logout")
    assert login(client, users["archivist"]).headers["Location"] == "/"
    assert totp  # the old app's codes are no longer asked for


def test_an_instance_can_require_admins_to_set_it_up_first(app, client, users, tokens):
    app.config["REQUIRE_TOTP_FOR_ADMINS"] = True
    login(client, users["admin"])
    blocked = client.get("/admin/users")
    assert blocked.status_code == 302
    assert blocked.headers["Location"] == "/account"
    api = client.get("/api/v1/testimonies", headers={"Authorization": f"Bearer {tokens['admin']}"})
    assert api.status_code == 403
    assert api.json["error"]["code"] == "forbidden"
    # Other roles are not held up.
    other = app.test_client()
    login(other, users["moderator"])
    assert other.get("/review").status_code == 200

    set_up(client)
    assert client.get("/admin/users").status_code == 200


def test_signing_in_with_a_second_factor_still_returns_to_the_page_asked_for(client, users):
    login(client, users["archivist"])
    totp = set_up(client)
    client.post("/logout")
    client.post("/login", data={"email": users["archivist"].email, "password": PASSWORD, "next": "/review"})
    response = client.post("/login/code", data={"code": next_code(totp)})
    assert response.headers["Location"] == "/review"
