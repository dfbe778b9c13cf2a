"""Every answer the archive gives (pages, staff and admin pages, the JSON API, OAI-PMH XML, media
streams, static files, error pages) carries the same security headers; HSTS and Secure cookies are
on in production and off on a plainly local instance."""

from __future__ import annotations

import http.client
import io
import os
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from flask import abort

from archive.extensions import db
from tests.conftest import TEST_PASSWORD_HASH, login, make_app

POLICY = {
    "default-src": "'self'",
    "img-src": "'self'",
    "media-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def policy_of(response) -> dict[str, str]:
    header = response.headers.get("Content-Security-Policy", "")
    return {part.split(" ", 1)[0]: part.split(" ", 1)[1] for part in header.split("; ") if " " in part}


def assert_protected(response) -> None:
    assert policy_of(response) == POLICY, response.headers.get("Content-Security-Policy")
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "camera=()" in response.headers["Permissions-Policy"]
    # Each header is sent once: two places setting one header would send both.
    for name in ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy"):
        assert len(response.headers.getlist(name)) == 1, name


@pytest.fixture
def archive_with_media(users, create_testimony):
    """A published testimony and a draft with a recording, as ids for the paths below."""
    from archive.operations import add_media
    from tests.test_media import wav_bytes

    published = create_testimony()
    draft = create_testimony("draft", title="A fictional draft with a recording")
    recording = add_media(users["archivist"], draft, io.BytesIO(wav_bytes(2)), "tape.wav", None)
    return {"id": published.id, "draft": draft.id, "media": recording.id}


# (who is signed in, path, expected status): every kind of page and answer.
ANSWERS = [
    (None, "/", 200),
    (None, "/search?q=snow", 200),
    (None, "/search/suggest?q=sn", 200),
    (None, "/testimonies/{id}", 200),
    (None, "/testimonies/{id}/history", 404),
    (None, "/login", 200),
    (None, "/mine", 302),
    (None, "/api/v1/search?q=snow", 200),
    (None, "/api/v1/testimonies/{id}", 200),
    (None, "/api/v1/testimonies/{draft}", 404),
    (None, "/api/v1/testimonies/{id}/transcript.vtt", 200),
    (None, "/api/v1/openapi.json", 200),
    (None, "/oai?verb=Identify", 200),
    (None, "/oai?verb=NoSuchVerb", 200),
    (None, "/sitemap.xml", 200),
    (None, "/feed.atom", 200),
    (None, "/media/{media}", 404),
    (None, "/static/style.css", 200),
    (None, "/static/archive.js", 200),
    (None, "/no/such/page", 404),
    (None, "/api/v1/no/such/route", 404),
    ("researcher", "/admin/users", 403),
    ("researcher", "/account", 200),
    ("archivist", "/mine", 200),
    ("archivist", "/testimonies/new", 200),
    ("archivist", "/testimonies/{draft}/edit", 200),
    ("archivist", "/testimonies/{draft}/media", 200),
    ("archivist", "/testimonies/{id}/consent", 200),
    ("archivist", "/testimonies/{id}/history", 200),
    ("archivist", "/media/{media}", 200),
    ("archivist", "/authority/places", 200),
    ("moderator", "/review", 200),
    ("moderator", "/review/{id}", 200),
    ("admin", "/admin/users", 200),
    ("admin", "/admin/audit", 200),
    ("admin", "/admin/audit.csv", 200),
    ("admin", "/admin/deleted", 200),
]


@pytest.mark.parametrize(("who", "path", "status"), ANSWERS)
def test_every_kind_of_answer_carries_the_security_headers(
    client, users, archive_with_media, who, path, status
):
    if who is not None:
        login(client, users[who])
    response = client.get(path.format(**archive_with_media))

    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert_protected(response)
    response.close()


def test_api_writes_and_their_errors_carry_the_headers(client, tokens):
    from tests.conftest import sample_body

    created = client.post(
        "/api/v1/testimonies", json=sample_body(), headers={"Authorization": f"Bearer {tokens['archivist']}"}
    )
    assert created.status_code == 201
    assert_protected(created)
    forged = {"Authorization": "Bearer forged"}
    refused = client.post("/api/v1/testimonies", json=sample_body(), headers=forged)
    assert refused.status_code == 401
    assert refused.json["error"]["code"]
    assert_protected(refused)


def test_a_signed_in_form_post_and_its_redirect_carry_the_headers(client, users):
    response = login(client, users["researcher"])
    assert response.status_code == 302
    assert_protected(response)


def test_the_test_suite_instance_is_plainly_local(client):
    """Tests (like the demo's `archive serve`) run on plain HTTP: no HSTS, no Secure cookie."""
    response = client.get("/lang/az", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in response.headers
    assert "Secure" not in response.headers["Set-Cookie"]
    assert "HttpOnly" in response.headers["Set-Cookie"]


@pytest.fixture
def production(tmp_path):
    """An app as production runs it: not testing, not debug, nothing said about the transport, and
    a route that fails as a bug would."""
    app = make_app(tmp_path, TESTING=False)

    @app.route("/broken")
    def broken():
        raise RuntimeError("a fictional bug")

    @app.route("/forbidden")
    def forbidden():
        abort(403)

    with app.app_context():
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_production_sends_hsts_over_https_and_marks_the_session_cookie_secure(production):
    client = production.test_client()
    over_tls = client.get("/lang/az", headers={"X-Forwarded-Proto": "https"})
    assert over_tls.headers["Strict-Transport-Security"].startswith("max-age=")
    assert int(over_tls.headers["Strict-Transport-Security"].split(";")[0].split("=")[1]) >= 180 * 86400
    cookie = over_tls.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert_protected(over_tls)


def test_production_leaves_the_https_redirect_to_the_proxy(production):
    """A health check or a monitor on the loopback asks over plain HTTP and gets its answer."""
    response = production.test_client().get("/", base_url="http://127.0.0.1:5000")
    assert response.status_code == 200
    assert_protected(response)


def test_production_error_pages_carry_the_headers(production):
    client = production.test_client()
    for path, status in (("/broken", 500), ("/forbidden", 403), ("/no/such/page", 404)):
        response = client.get(path, headers={"X-Forwarded-Proto": "https"})
        assert response.status_code == status
        assert "a fictional bug" not in response.get_data(as_text=True)
        assert_protected(response)
        assert "Strict-Transport-Security" in response.headers


@pytest.mark.parametrize(("testing", "setting", "secure"), [(True, True, True), (False, False, False)])
def test_the_secure_transport_setting_decides_over_the_default(tmp_path, testing, setting, secure):
    app = make_app(tmp_path, TESTING=testing, SECURE_TRANSPORT=setting)
    with app.app_context():
        db.create_all()  # the session the answer sets is a row
    response = app.test_client().get("/lang/az", headers={"X-Forwarded-Proto": "https"})
    assert ("Secure" in response.headers["Set-Cookie"]) is secure
    assert ("Strict-Transport-Security" in response.headers) is secure
    with app.app_context():
        db.engine.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _served_cookie(archive: str, env: dict, args: list[str], port: int) -> tuple[str, dict]:
    """`archive serve ARGS` started for real; the Set-Cookie and headers of one answer over HTTP."""
    server = subprocess.Popen(
        [archive, "serve", *args, "--port", str(port), "--workers", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            try:
                # The language link sets the session cookie on its redirect (not followed here).
                connection.request("GET", "/lang/az")
                answer = connection.getresponse()
                return answer.getheader("Set-Cookie", ""), dict(answer.getheaders())
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.3)
            finally:
                connection.close()
    finally:
        # gunicorn's quick shutdown: SIGTERM would wait out its graceful timeout.
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


def test_archive_serve_is_plainly_local_without_host_and_secure_with_one(tmp_path):
    archive = str(Path(sys.executable).with_name("archive"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARCHIVE_")}
    env.update(
        ARCHIVE_INSTANCE_PATH=str(tmp_path / "instance"),
        ARCHIVE_PASSWORD_HASH_METHOD=TEST_PASSWORD_HASH,
    )
    upgraded = subprocess.run([archive, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=99)
    assert upgraded.returncode == 0, upgraded.stderr

    # The first server builds the instance's index; the other two then start side by side (each
    # takes a second or two to boot).
    local, headers = _served_cookie(archive, env, [], _free_port())
    assert "session=" in local and "Secure" not in local
    assert headers["X-Frame-Options"] == "DENY"

    with ThreadPoolExecutor(2) as pool:
        deployed, told = pool.map(
            lambda served: _served_cookie(archive, *served, _free_port())[0],
            [(env, ["--host", "127.0.0.1"]), ({**env, "ARCHIVE_SECURE_TRANSPORT": "true"}, [])],
        )
    assert "session=" in deployed and "Secure" in deployed
    assert "Secure" in told
