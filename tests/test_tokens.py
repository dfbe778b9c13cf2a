"""API tokens expire, record their last use, and can be revoked from the command line and the
account pages; a revoked or expired token answers 401 with the JSON error body at once."""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.request

import pytest
from sqlalchemy import select, update

from archive.accounts.models import ApiToken
from archive.accounts.service import create_token
from archive.extensions import db
from archive.timeutil import utcnow
from tests import test_cli
from tests.conftest import login

# The command line's fixtures: an upgraded instance folder, `archive …` on it, an app served from it.
upgraded, instance, database, run, served = (
    test_cli.upgraded,
    test_cli.instance,
    test_cli.database,
    test_cli.run,
    test_cli.served,
)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request) -> str:
    return request.param


def call(base: str, token: str, path: str = "/api/v1/testimonies") -> tuple[int, dict]:
    """A GET over real HTTP with this bearer token: the status and the JSON body."""
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def row_of(token: str) -> ApiToken:
    db.session.commit()  # ends the read transaction: SQLite would go on showing its snapshot
    return db.session.scalar(select(ApiToken).where(ApiToken.token_hash == ApiToken.hash(token)))


def test_a_new_token_expires_after_90_days_by_default(app, users):
    token = create_token(users["archivist"])
    left = row_of(token).expires_at - utcnow()
    assert dt.timedelta(days=89, hours=23) < left <= dt.timedelta(days=90)


def test_a_revoked_token_answers_401_at_once_over_http(live_server, users):
    token = create_token(users["archivist"])
    assert call(live_server, token)[0] == 200

    from archive.accounts.service import revoke_token

    revoke_token(users["archivist"], row_of(token).id)

    status, body = call(live_server, token)
    assert status == 401
    assert body["error"]["code"] == "unauthorized"
    assert "revoked" in body["error"]["message"]


def test_an_expired_token_answers_401_over_http(live_server, users):
    token = create_token(users["archivist"], days=1)
    assert call(live_server, token)[0] == 200
    db.session.execute(
        update(ApiToken)
        .where(ApiToken.id == row_of(token).id)
        .values(expires_at=utcnow() - dt.timedelta(seconds=1))
    )
    db.session.commit()

    status, body = call(live_server, token)
    assert status == 401
    assert body["error"]["code"] == "unauthorized"


def test_the_last_use_is_recorded_at_most_once_a_minute(live_server, users):
    token = create_token(users["archivist"])
    assert row_of(token).last_used_at is None
    call(live_server, token)
    first = row_of(token).last_used_at
    assert first is not None
    call(live_server, token)
    assert row_of(token).last_used_at == first  # a busy script costs no write per request

    earlier = first - dt.timedelta(minutes=2)
    db.session.execute(update(ApiToken).where(ApiToken.id == row_of(token).id).values(last_used_at=earlier))
    db.session.commit()
    call(live_server, token)
    assert row_of(token).last_used_at > earlier + dt.timedelta(minutes=1)


def test_the_account_page_lists_ones_tokens_and_revokes_them(app, client, users):
    token = create_token(users["archivist"])
    token_id = row_of(token).id
    login(client, users["archivist"])
    page = client.get("/account").get_data(as_text=True)
    assert f"#{token_id}" in page
    assert "Revoke" in page

    response = client.post("/account", data={"action": "token_revoke", "token_id": token_id})

    assert response.status_code == 302
    assert row_of(token).revoked_at is not None
    # Refused even beside a signed-in session: the token named in the request decides.
    assert client.get("/api/v1/testimonies", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert "revoked" in client.get("/account").get_data(as_text=True)


def test_the_account_page_cannot_revoke_someone_elses_token(app, client, users):
    token = create_token(users["admin"])
    login(client, users["archivist"])
    response = client.post("/account", data={"action": "token_revoke", "token_id": row_of(token).id})
    assert response.status_code == 404
    assert row_of(token).revoked_at is None


def test_an_admin_revokes_a_users_token_on_the_users_page(app, client, users):
    token = create_token(users["researcher"])
    login(client, users["admin"])
    user_page = f"/admin/users/{users['researcher'].id}"
    assert f"#{row_of(token).id}" in client.get(user_page).get_data(as_text=True)

    response = client.post(user_page, data={"action": "token_revoke", "token_id": row_of(token).id})

    assert response.status_code == 302
    assert row_of(token).revoked_at is not None


# --- the command line ---------------------------------------------------------------------------


def test_tokens_list_and_revoke_on_the_command_line(run, database, served):
    created = run("tokens", "create", "archivist@example.org", "--expires", "7")
    assert created.returncode == 0, created.stderr
    [token] = created.stdout.splitlines()
    auth = {"Authorization": f"Bearer {token}"}
    assert served.get("/api/v1/testimonies", headers=auth).status_code == 200

    listed = run("tokens", "list", "archivist@example.org")
    assert listed.returncode == 0, listed.stderr
    header, line = listed.stdout.splitlines()
    assert header.split("\t") == ["id", "created", "last used", "expires", "revoked"]
    token_id, created_at, last_used, expires, revoked = line.split("\t")
    assert last_used != "-"
    assert revoked == "-"
    lasts = dt.datetime.fromisoformat(expires) - dt.datetime.fromisoformat(created_at)
    assert dt.timedelta(days=6, hours=23) < lasts <= dt.timedelta(days=7, seconds=1)

    revoked_now = run("tokens", "revoke", token_id)
    assert revoked_now.returncode == 0, revoked_now.stderr
    assert "archivist@example.org" in revoked_now.stdout
    refused = served.get("/api/v1/testimonies", headers=auth)
    assert refused.status_code == 401
    assert refused.json["error"]["code"] == "unauthorized"
    assert run("tokens", "list", "archivist@example.org").stdout.splitlines()[1].split("\t")[4] != "-"


def test_revoking_an_unknown_token_fails(run, database):
    result = run("tokens", "revoke", "999")
    assert result.returncode != 0
    assert "No API token" in result.stderr


def test_a_token_must_last_some_time(run, database):
    result = run("tokens", "create", "archivist@example.org", "--expires", "0")
    assert result.returncode != 0
    assert result.stdout == ""
