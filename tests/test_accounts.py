"""Signing in and out, changing one's own password, and the admins' user pages."""

from __future__ import annotations

import re

import pytest

from tests.conftest import PASSWORD, login, make_app

NEW_PASSWORD = "a river of mulberry trees"


def text_of(response) -> str:
    return response.get_data(as_text=True)


def test_signing_in_with_the_right_password_signs_in(client, users):
    response = login(client, users["researcher"])
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    page = text_of(client.get("/"))
    assert "Researcher</a>" in page
    assert "Sign out" in page


def test_a_failed_sign_in_says_the_same_for_a_wrong_email_and_a_wrong_password(client, users):
    wrong_password = client.post(
        "/login", data={"email": "researcher@example.org", "password": "not it at all"}
    )
    unknown_email = client.post("/login", data={"email": "nobody@example.org", "password": PASSWORD})
    assert wrong_password.status_code == unknown_email.status_code == 422
    message = "The email or password is not right."
    assert message in text_of(wrong_password)
    assert message in text_of(unknown_email)

    def form_errors(response):
        return re.findall(r'<div class="form-errors".*?</div>', text_of(response), re.S)

    assert form_errors(wrong_password) == form_errors(unknown_email)
    assert "Sign out" not in text_of(client.get("/"))


def test_a_deactivated_account_cannot_sign_in(client, users):
    from archive.accounts.service import set_active

    set_active(users["admin"], users["researcher"], False)
    response = login(client, users["researcher"])
    assert "The email or password is not right." in text_of(response)


def test_signing_in_returns_to_the_page_that_asked_for_it(client, users):
    response = client.post(
        "/login", data={"email": "admin@example.org", "password": PASSWORD, "next": "/admin/users"}
    )
    assert response.headers["Location"] == "/admin/users"


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/x", "/\\evil.example", "/\t/evil.example", "javascript:x"],
)
def test_signing_in_never_sends_the_user_to_another_site(client, users, target):
    response = client.post(
        "/login", data={"email": "admin@example.org", "password": PASSWORD, "next": target}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_the_sign_in_form_carries_a_local_next_page_only(client, app):
    assert 'name="next" type="hidden" value="/account"' in text_of(client.get("/login?next=/account"))
    assert "evil" not in text_of(client.get("/login?next=https://evil.example/"))


def test_signing_out_signs_out(client, users):
    login(client, users["archivist"])
    assert "Sign out" in text_of(client.get("/"))
    response = client.post("/logout")
    assert response.status_code == 302
    page = text_of(client.get("/"))
    assert "Sign out" not in page
    assert "Sign in" in page


def test_signing_out_by_address_only_asks_to_confirm(client, users):
    login(client, users["archivist"])
    page = text_of(client.get("/logout"))
    assert "You are signed in as Archivist." in page
    assert "Sign out" in text_of(client.get("/"))


def test_changing_the_password_needs_the_current_one_and_says_which_field_is_wrong(client, users):
    login(client, users["researcher"])
    response = client.post(
        "/account", data={"current": "not my password", "new": NEW_PASSWORD, "repeat": NEW_PASSWORD}
    )
    assert response.status_code == 422
    page = text_of(response)
    assert re.search(
        r'<ul class="field-errors" id="current-errors">\s*<li>This is not your current password.', page
    )

    response = client.post("/account", data={"current": PASSWORD, "new": "short", "repeat": "short"})
    assert re.search(r'id="new-errors">\s*<li>Use at least 10 characters.', text_of(response))

    response = client.post(
        "/account", data={"current": PASSWORD, "new": NEW_PASSWORD, "repeat": "different words"}
    )
    assert re.search(r'id="repeat-errors">\s*<li>The two new passwords differ.', text_of(response))

    client.post("/logout")
    assert login(client, users["researcher"]).status_code == 302


def test_changing_the_password_works(client, users):
    login(client, users["researcher"])
    response = client.post(
        "/account", data={"current": PASSWORD, "new": NEW_PASSWORD, "repeat": NEW_PASSWORD}
    )
    assert response.status_code == 302
    assert "Your password is changed." in text_of(client.get("/account"))
    client.post("/logout")
    assert login(client, users["researcher"]).status_code == 422
    assert login(client, users["researcher"], NEW_PASSWORD).status_code == 302


def test_the_account_page_needs_a_signed_in_user(client, app):
    response = client.get("/account")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_an_admin_creates_a_user_and_changes_their_role(client, users):
    from archive.accounts.service import user_by_email

    login(client, users["admin"])
    response = client.post(
        "/admin/users/new",
        data={"email": "Nigar@Example.org", "name": "Nigar", "role": "researcher", "password": NEW_PASSWORD},
    )
    assert response.status_code == 302
    created = user_by_email("nigar@example.org")
    assert created is not None and created.role == "researcher"
    assert "nigar@example.org" in text_of(client.get("/admin/users"))

    response = client.post(f"/admin/users/{created.id}", data={"action": "role", "role": "archivist"})
    assert response.status_code == 302
    assert "The role is changed." in text_of(client.get(f"/admin/users/{created.id}"))
    assert user_by_email("nigar@example.org").role == "archivist"

    client.post("/logout")
    assert login(client, created, NEW_PASSWORD).status_code == 302
    assert "New testimony" in text_of(client.get("/"))


def test_creating_a_user_shows_field_errors(client, users):
    login(client, users["admin"])
    response = client.post(
        "/admin/users/new",
        data={"email": "not an address", "name": "", "role": "researcher", "password": "short"},
    )
    assert response.status_code == 422
    page = text_of(response)
    assert 'id="password-errors"' in page
    response = client.post(
        "/admin/users/new",
        data={"email": "archivist@example.org", "role": "researcher", "password": NEW_PASSWORD},
    )
    assert "An account with this email exists already." in text_of(response)


def test_an_admin_deactivates_reactivates_and_resets_a_password(client, users):
    target = users["researcher"]
    login(client, users["admin"])
    client.post(f"/admin/users/{target.id}", data={"action": "deactivate"})
    assert "deactivated" in text_of(client.get("/admin/users"))
    client.post(f"/admin/users/{target.id}", data={"action": "activate"})
    client.post(f"/admin/users/{target.id}", data={"action": "password", "password": NEW_PASSWORD})
    client.post("/logout")
    assert login(client, target, NEW_PASSWORD).status_code == 302


def test_an_admin_cannot_demote_themselves(client, users):
    login(client, users["admin"])
    response = client.post(f"/admin/users/{users['admin'].id}", data={"action": "role", "role": "researcher"})
    assert response.status_code == 422
    assert "You cannot take away your own admin role" in text_of(response)
    assert users["admin"].role == "admin"


@pytest.mark.parametrize("role", ["moderator", "archivist", "researcher"])
@pytest.mark.parametrize("path", ["/admin/users", "/admin/users/new", "/admin/users/1"])
def test_only_admins_may_open_the_user_pages(client, users, role, path):
    login(client, users[role])
    assert client.get(path).status_code == 403
    if path != "/admin/users":
        assert client.post(path, data={"action": "role", "role": "admin"}).status_code == 403
    assert users[role].role == role


@pytest.mark.parametrize("path", ["/admin/users", "/admin/users/new", "/admin/users/1"])
def test_the_public_is_sent_to_sign_in_from_the_user_pages(client, users, path):
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/login?next={path.replace('/', '%2F')}"


def test_forms_refuse_a_request_without_its_csrf_token(tmp_path):
    from archive.accounts.service import create_user
    from archive.extensions import db

    app = make_app(tmp_path / "csrf", WTF_CSRF_ENABLED=True)
    with app.app_context():
        db.create_all()
        create_user(None, "admin@example.org", "admin", PASSWORD)
        client = app.test_client()
        credentials = {"email": "admin@example.org", "password": PASSWORD}
        refused = client.post("/login", data=credentials)
        assert refused.status_code == 400
        assert "Sign out" not in text_of(client.get("/"))

        form = text_of(client.get("/login"))
        token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form).group(1)
        assert client.post("/login", data={**credentials, "csrf_token": token}).status_code == 302
        assert client.post("/logout").status_code == 400
        assert "Sign out" in text_of(client.get("/"))
        db.session.remove()
        db.engine.dispose()


def test_outside_the_test_suite_passwords_are_hashed_with_scrypt_at_full_strength(tmp_path):
    """The suite sets a cheap hash (tests/conftest.py); an archive as installed must not."""
    from archive import config
    from archive.accounts.service import authenticate, create_user
    from archive.extensions import db

    method = config.defaults(tmp_path)["PASSWORD_HASH_METHOD"]
    app = make_app(tmp_path / "installed", PASSWORD_HASH_METHOD=method)
    with app.app_context():
        db.create_all()
        user = create_user(None, "admin@example.org", "admin", PASSWORD)
        assert user.password_hash.startswith("scrypt:32768:8:1$")
        assert authenticate("admin@example.org", PASSWORD) == user
        assert authenticate("admin@example.org", PASSWORD + "!") is None
        assert authenticate("nobody@example.org", PASSWORD) is None
        db.session.remove()
        db.engine.dispose()
