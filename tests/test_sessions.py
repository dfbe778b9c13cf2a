"""Sessions live on the server: a copy of the cookie is worth only what the session row is, and the
row goes at sign-out, at a password change, at "sign out everywhere", and when idle or too old."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, update

from archive.accounts.models import WebSession
from archive.extensions import db
from tests.conftest import PASSWORD, login

NEW_PASSWORD = "a river of mulberry trees"
COOKIE = "session"


def cookie_of(client) -> str:
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None, "signing in set no session cookie"
    return f"{COOKIE}={cookie.value}"


def copy_opens(app, cookie: str, testimony) -> dict[str, int]:
    """What a fresh client holding only the copied `Cookie` header gets from a research-only
    testimony and from a staff page."""
    thief = app.test_client(use_cookies=False)  # only the copied header, nothing of its own
    page = thief.get(f"/testimonies/{testimony.id}", headers={"Cookie": cookie})
    queue = thief.get("/review", headers={"Cookie": cookie})
    return {"testimony": page.status_code, "staff": queue.status_code}


OPEN = {"testimony": 200, "staff": 200}
# The testimony is not found (never "forbidden") and the staff page sends to the sign-in page.
CLOSED = {"testimony": 404, "staff": 302}


@pytest.fixture
def signed_in(app, client, users, create_testimony):
    testimony = create_testimony(access="research")
    assert login(client, users["moderator"]).status_code == 302
    cookie = cookie_of(client)
    assert copy_opens(app, cookie, testimony) == OPEN
    return cookie, testimony


def test_the_cookie_holds_only_a_random_key_not_the_session(client, users, signed_in):
    cookie, _ = signed_in
    key = cookie.split("=", 1)[1]
    assert "." not in key  # not a signed, readable payload as Flask's own cookie sessions are
    row = db.session.scalar(select(WebSession).where(WebSession.key_hash == WebSession.hash(key)))
    assert row.user_id == users["moderator"].id
    assert row.data["_user_id"] == str(users["moderator"].id)


def test_a_copied_cookie_opens_nothing_after_sign_out(app, client, signed_in):
    cookie, testimony = signed_in
    assert client.post("/logout").status_code == 302
    assert copy_opens(app, cookie, testimony) == CLOSED


def test_signing_in_gives_a_new_key_so_a_planted_one_is_worthless(app, client, users, create_testimony):
    testimony = create_testimony(access="research")
    client.get("/lang/az")  # an anonymous session, with a key someone could have planted
    planted = cookie_of(client)
    login(client, users["moderator"])
    assert cookie_of(client) != planted
    assert copy_opens(app, planted, testimony) == CLOSED
    assert copy_opens(app, cookie_of(client), testimony) == OPEN


def test_a_password_change_ends_every_other_session_but_keeps_this_one(app, client, users, signed_in):
    cookie, testimony = signed_in
    changer = app.test_client()
    login(changer, users["moderator"])
    response = changer.post(
        "/account", data={"current": PASSWORD, "new": NEW_PASSWORD, "repeat": NEW_PASSWORD}
    )
    assert response.status_code == 302
    assert copy_opens(app, cookie, testimony) == CLOSED
    assert copy_opens(app, cookie_of(changer), testimony) == OPEN
    assert "Sign out" in changer.get("/").get_data(as_text=True)


def test_an_admins_password_reset_ends_every_session_of_the_user(app, client, users, signed_in):
    cookie, testimony = signed_in
    admin = app.test_client()
    login(admin, users["admin"])
    user_id = users["moderator"].id
    response = admin.post(f"/admin/users/{user_id}", data={"action": "password", "password": NEW_PASSWORD})
    assert response.status_code == 302
    assert copy_opens(app, cookie, testimony) == CLOSED


def test_an_admins_sign_out_everywhere_ends_every_session_of_the_user(app, client, users, signed_in):
    cookie, testimony = signed_in
    other_device = app.test_client()
    login(other_device, users["moderator"])
    admin = app.test_client()
    login(admin, users["admin"])

    response = admin.post(f"/admin/users/{users['moderator'].id}", data={"action": "sessions_end"})

    assert response.status_code == 302
    assert copy_opens(app, cookie, testimony) == CLOSED
    assert copy_opens(app, cookie_of(other_device), testimony) == CLOSED
    assert admin.get("/admin/users").status_code == 200  # the admin's own session goes on


def test_a_users_own_sign_out_everywhere_ends_all_of_their_sessions(app, client, users, signed_in):
    cookie, testimony = signed_in
    other_device = app.test_client()
    login(other_device, users["moderator"])

    response = other_device.post("/account", data={"action": "sessions_end"})

    assert response.status_code == 302
    assert copy_opens(app, cookie, testimony) == CLOSED
    assert "Sign out" not in other_device.get("/").get_data(as_text=True)
    assert (
        db.session.scalar(
            select(func.count()).select_from(WebSession).where(WebSession.user_id == users["moderator"].id)
        )
        == 0
    )


def test_nobody_but_the_owner_or_an_admin_ends_someones_sessions(app, client, users, signed_in):
    cookie, testimony = signed_in
    other = app.test_client()
    login(other, users["moderator2"])
    assert (
        other.post(f"/admin/users/{users['moderator'].id}", data={"action": "sessions_end"}).status_code
        == 403
    )
    assert copy_opens(app, cookie, testimony) == OPEN


def _age(cookie: str, **columns: dt.timedelta) -> None:
    """Move the session's timestamps into the past, as if that much time had gone by."""
    key = cookie.split("=", 1)[1]
    row = db.session.scalar(select(WebSession).where(WebSession.key_hash == WebSession.hash(key)))
    values = {name: getattr(row, name) - delta for name, delta in columns.items()}
    db.session.execute(update(WebSession).where(WebSession.id == row.id).values(**values))
    db.session.commit()


def test_a_session_idle_longer_than_the_timeout_ends(app, signed_in):
    cookie, testimony = signed_in
    idle = dt.timedelta(hours=app.config["SESSION_IDLE_HOURS"])
    _age(cookie, last_seen_at=idle - dt.timedelta(minutes=5))
    assert copy_opens(app, cookie, testimony) == OPEN  # and the use counts as activity
    _age(cookie, last_seen_at=idle - dt.timedelta(minutes=5))
    assert copy_opens(app, cookie, testimony) == OPEN
    _age(cookie, last_seen_at=idle + dt.timedelta(minutes=1))
    assert copy_opens(app, cookie, testimony) == CLOSED


def test_a_busy_session_still_ends_at_its_lifetime(app, signed_in):
    cookie, testimony = signed_in
    lifetime = dt.timedelta(days=app.config["SESSION_LIFETIME_DAYS"])
    _age(cookie, created_at=lifetime - dt.timedelta(minutes=5))
    assert copy_opens(app, cookie, testimony) == OPEN
    _age(cookie, created_at=dt.timedelta(minutes=6))
    assert copy_opens(app, cookie, testimony) == CLOSED


def test_the_timeouts_are_settings(app, signed_in):
    cookie, testimony = signed_in
    app.config["SESSION_IDLE_HOURS"] = 0.5
    _age(cookie, last_seen_at=dt.timedelta(minutes=31))
    assert copy_opens(app, cookie, testimony) == CLOSED


def test_the_account_page_lists_the_sessions_and_marks_this_one(app, client, users, signed_in):
    other_device = app.test_client()
    login(other_device, users["moderator"])
    page = client.get("/account", headers={"User-Agent": "Fictional Browser 1.0"}).get_data(as_text=True)
    assert page.count("<tr>") - 1 >= 2  # a header row and one row per session
    assert "(this session)" in page
    assert "Sign out everywhere" in page


def test_what_a_failed_request_flushed_is_not_committed_with_its_session(tmp_path):
    """A route that writes, flushes and then fails answers 500; saving the session row afterwards
    must not commit the half-done change with it."""
    from archive.accounts.models import User
    from archive.accounts.service import create_user
    from tests.conftest import make_app

    app = make_app(tmp_path / "half-done", PROPAGATE_EXCEPTIONS=False)

    @app.post("/test-only/fail-half-way")
    def fail_half_way():
        user = db.session.get(User, 1)
        user.name = "Half-written name"
        db.session.flush()
        raise RuntimeError("a fault after the flush")

    with app.app_context():
        db.create_all()
        create_user(None, "admin@example.org", "admin", PASSWORD, name="Kept Name")
        client = app.test_client()
        assert login(client, db.session.get(User, 1)).status_code == 302
        assert client.post("/test-only/fail-half-way").status_code == 500
        db.session.remove()
        assert db.session.get(User, 1).name == "Kept Name"
        db.session.remove()
        db.engine.dispose()
