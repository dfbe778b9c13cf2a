"""The optional second factor for staff: set up on the account page with a key shown as text and an
`otpauth://` address, confirmed with a code; signing in then asks for a code after the password;
an instance may require it of every admin before anything else."""

from __future__ import annotations

import datetime as dt
import os
import re

import pyotp
from flask_migrate import upgrade
from sqlalchemy import text
from werkzeug.security import generate_password_hash

from archive.accounts import second_factor
from archive.accounts.throttle import DEVICE_COOKIE
from archive.audit.models import AuditEvent
from archive.extensions import db
from archive.preservation.backup import backup, restore
from tests.conftest import PASSWORD, TEST_PASSWORD_HASH, login, make_app


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


def code_later(monkeypatch, totp: pyotp.TOTP, minutes: int) -> str:
    """Move the archive's clock on by so many minutes: the code the app shows then."""
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=minutes)
    monkeypatch.setattr(second_factor, "utcnow", lambda: moment.replace(tzinfo=None))
    return totp.at(moment)


def stored_secret(user) -> str | None:
    """What the database itself holds, as a dump or a replica would show it."""
    query = text("SELECT totp_secret FROM users WHERE id = :id")
    return db.session.execute(query, {"id": user.id}).scalar()


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


def test_the_database_never_holds_the_second_factor_in_clear(client, users):
    login(client, users["moderator"])
    client.post("/account", data={"action": "totp_begin"})
    secret = re.search(r'<code class="totp-secret">([A-Z2-7]+)</code>', text_of(client.get("/account")))[1]
    sessions = db.session.execute(text("SELECT data FROM web_sessions")).scalars().all()
    assert sessions and not any(secret in str(data) for data in sessions)
    client.post("/account", data={"action": "totp_confirm", "code": pyotp.TOTP(secret).now()})
    stored = stored_secret(users["moderator"])
    assert stored and secret not in stored
    assert secret not in stored.upper()


def test_codes_still_work_after_a_key_rotation_with_the_old_key_as_a_fallback(
    app, client, users, monkeypatch
):
    login(client, users["archivist"])
    totp = set_up(client)
    client.post("/logout")
    monkeypatch.setitem(app.config, "SECRET_KEY_FALLBACKS", [app.config["SECRET_KEY"]])
    monkeypatch.setitem(app.config, "SECRET_KEY", "a-fictional-new-secret-key")
    assert login(client, users["archivist"]).headers["Location"] == "/login/code"
    assert client.post("/login/code", data={"code": code_later(monkeypatch, totp, 1)}).status_code == 302
    assert "Sign out" in text_of(client.get("/"))
    client.post("/logout")

    # That sign-in encrypted the secret under the new key: the old one may now be forgotten.
    monkeypatch.setitem(app.config, "SECRET_KEY_FALLBACKS", [])
    assert login(client, users["archivist"]).headers["Location"] == "/login/code"
    assert client.post("/login/code", data={"code": code_later(monkeypatch, totp, 2)}).status_code == 302
    assert "Sign out" in text_of(client.get("/"))


def test_with_a_lost_key_the_code_is_refused_clearly_and_an_admin_can_still_reset_it(
    app, client, users, monkeypatch, caplog
):
    login(client, users["archivist"])
    totp = set_up(client)
    client.post("/logout")
    monkeypatch.setitem(app.config, "SECRET_KEY", "a-fictional-key-it-was-never-under")
    assert login(client, users["archivist"]).headers["Location"] == "/login/code"
    refused = client.post("/login/code", data={"code": next_code(totp)})
    assert refused.status_code == 422
    assert "Ask an admin to reset your second factor" in text_of(refused)
    assert "Sign out" not in text_of(client.get("/"))
    assert "cannot be decrypted" in caplog.text
    assert db.session.query(AuditEvent).filter_by(action="login.failed").count() == 1

    admin = app.test_client()
    login(admin, users["admin"])
    admin.post(f"/admin/users/{users['archivist'].id}", data={"action": "totp_reset"})
    assert login(client, users["archivist"]).headers["Location"] == "/"


def test_a_backup_from_before_the_encryption_restores_with_codes_that_still_work(tmp_path, monkeypatch):
    """A backup carries the instance's secret key file; the restore must encrypt the old plain
    secrets under that key, the one the restored instance starts with, not the new machine's."""
    monkeypatch.delenv("ARCHIVE_SECRET_KEY", raising=False)
    # The restore rebuilds an empty index: in this process, not in two it would have to start.
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    totp = pyotp.TOTP(pyotp.random_base32())
    source = make_app(tmp_path / "source", SECRET_KEY="the-fictional-source-key")
    (tmp_path / "source" / "instance" / "secret_key").write_text("the-fictional-source-key")
    with source.app_context():
        upgrade(directory=source.extensions["migrate"].directory, revision="f4b8d2e6a1c3-1")
        db.session.execute(
            text(
                "INSERT INTO users (email, name, role, password_hash, active, created_at, totp_secret) "
                "VALUES ('keeper@example.org', '', 'archivist', :hash, true, CURRENT_TIMESTAMP, :secret)"
            ),
            {"hash": generate_password_hash(PASSWORD, TEST_PASSWORD_HASH), "secret": totp.secret},
        )
        db.session.commit()
        backup(tmp_path / "backup")
        db.session.remove()
        db.engine.dispose()

    (tmp_path / "target" / "instance").mkdir(parents=True)
    (tmp_path / "target" / "instance" / "secret_key").write_text("the-fictional-new-machine-key")
    target = make_app(tmp_path / "target", SECRET_KEY="the-fictional-new-machine-key")
    with target.app_context():
        upgrade(directory=target.extensions["migrate"].directory)
        restore(tmp_path / "backup")
        db.session.remove()
        db.engine.dispose()

    # The next start reads the instance's key file, which is now the backup's.
    key = (tmp_path / "target" / "instance" / "secret_key").read_text()
    restarted = make_app(tmp_path / "target", SECRET_KEY=key)
    client = restarted.test_client()
    with restarted.app_context():
        signed = client.post("/login", data={"email": "keeper@example.org", "password": PASSWORD})
        assert signed.headers["Location"] == "/login/code"
        assert client.post("/login/code", data={"code": totp.now()}).status_code == 302
        assert "Sign out" in text_of(client.get("/"))
        db.session.remove()
        db.engine.dispose()
