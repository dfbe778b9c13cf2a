"""Fixtures: a real app on a fresh instance folder per test, a real SQLite file (or a real
PostgreSQL database, truncated between tests), a real Whoosh index on disk, users of every role and
a small factory for testimonies."""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator

import pytest
from flask import g
from flask.testing import FlaskClient
from sqlalchemy import text

from archive import create_app
from archive.extensions import db

PASSWORD = "correct horse battery staple"
ROLES = ("admin", "moderator", "moderator2", "archivist", "archivist2", "researcher")


def postgres_url() -> str | None:
    url = os.environ.get("ARCHIVE_TEST_POSTGRES_URL")
    if not url and os.environ.get("CI"):
        raise RuntimeError("CI must run the PostgreSQL tests: set ARCHIVE_TEST_POSTGRES_URL")
    return url


@pytest.fixture(scope="session", autouse=True)
def renditions_finish():
    """Renditions are made by processes of their own: the session ends once they have."""
    yield
    from archive.media.service import wait_for_renderers

    wait_for_renderers()


@pytest.fixture
def backend() -> str:
    """The database the app runs on; API modules override this to run on both."""
    return "sqlite"


def _database_url(backend: str, tmp_path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'archive.sqlite3'}"
    url = postgres_url()
    if url is None:
        pytest.skip("no PostgreSQL server: set ARCHIVE_TEST_POSTGRES_URL (.ci/run does)")
    return url


def make_app(tmp_path, backend: str = "sqlite", **config):
    settings = {
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "TESTING": True,
        "SECRET_KEY": "test-only-key",
        "WTF_CSRF_ENABLED": False,
        "OUTBOX_THREAD": False,
        "SQLALCHEMY_DATABASE_URI": _database_url(backend, tmp_path),
    }
    settings.update(config)
    os.makedirs(settings["INSTANCE_PATH"], exist_ok=True)
    settings.setdefault("INDEX_PATH", os.path.join(settings["INSTANCE_PATH"], "index"))
    return create_app(settings)


def _reset(backend: str) -> None:
    if backend == "sqlite":
        db.create_all()
        return
    db.create_all()
    tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
    db.session.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    db.session.commit()


@pytest.fixture
def app(tmp_path, backend) -> Iterator:
    app = make_app(tmp_path, backend)
    app.test_client_class = FreshRequestClient
    with app.app_context():
        _reset(backend)
        yield app
        db.session.remove()
        db.engine.dispose()


class FreshRequestClient(FlaskClient):
    """Each request starts with an empty `g`, as in a served app.

    The test's app context stays pushed so the test can use the database, and Flask reuses it for
    the client's requests: without this, the user Flask-Login caches in `g` would carry over from
    one request to the next.
    """

    def open(self, *args, **kwargs):
        vars(g._get_current_object()).clear()
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def users(app) -> dict:
    """One account of each role, plus a second moderator and archivist for four-eyes tests."""
    from archive.accounts.service import create_user

    out = {}
    for key in ROLES:
        role = key.rstrip("2")
        out[key] = create_user(None, f"{key}@example.org", role, PASSWORD, name=key.title())
    return out


@pytest.fixture
def tokens(app, users) -> dict:
    from archive.accounts.service import create_token

    return {key: create_token(user) for key, user in users.items()}


def login(client, user, password: str = PASSWORD):
    return client.post("/login", data={"email": user.email, "password": password})


SAMPLE_BODY = {
    "title": "A fictional testimony about the winter road",
    "summary": "Fictional demonstration testimony about leaving a village in winter.",
    "narrator": {
        "name": "Leyla Fictionova",
        "pseudonym": "L. F.",
        "birth_year": 1950,
        "gender": "female",
    },
    "interview": {
        "date": "2019-03-14",
        "place": "Bakı",
        "interviewer": "Test Interviewer",
        "languages": ["en"],
    },
    "places": ["Ağdam", "Xocalı"],
    "subjects": ["winter", "family"],
    "segments": [
        {
            "start_ms": 0,
            "end_ms": 60000,
            "speaker": "Narrator",
            "text": "We walked through the forest along the river in deep snow.",
            "keywords": [],
        },
        {
            "start_ms": 60000,
            "end_ms": 120000,
            "speaker": "Narrator",
            "text": "My brother carried our grandmother's blue shawl.",
            "keywords": ["shawl"],
        },
        {
            "start_ms": 120000,
            "end_ms": 180000,
            "speaker": "Narrator",
            "text": "In Ağdam strangers gave us bread and a warm room.",
            "keywords": [],
        },
    ],
    "consent": {
        "access": "public",
        "anonymize_narrator": False,
        "publish_media": True,
        "publish_transcript": True,
        "redactions": [],
        "signed_on": "2019-03-14",
        "obtained_by": "Test Interviewer",
        "notes": "",
    },
}


def sample_body(**overrides) -> dict:
    """A testimony body; keyword overrides replace top-level keys, `access=` and `consent_*=` the
    consent's."""
    body = copy.deepcopy(SAMPLE_BODY)
    for key, value in overrides.items():
        if key == "access":
            body["consent"]["access"] = value
        elif key.startswith("consent_"):
            body["consent"][key.removeprefix("consent_")] = value
        else:
            body[key] = value
    if body["consent"]["access"] == "sealed":
        body["consent"].setdefault("sealed_until", "2099-01-01")
        body["consent"].setdefault("release_to", "public")
    return body


@pytest.fixture
def create_testimony(app, users):
    """Factory: create_testimony(state="published", access="research", title=…) drives the real
    services (archivist enters, archivist submits, another moderator approves)."""
    from archive.consent.service import validate_consent
    from archive.operations import change_consent, review, submit_for_review
    from archive.operations import create_testimony as create
    from archive.search.outbox import drain

    def factory(state: str = "published", **overrides):
        withdraw = overrides.get("access") == "withdrawn"
        if withdraw:
            overrides["access"] = "public"
        testimony = create(users["archivist"], sample_body(**overrides))
        if state in ("in_review", "published", "changes_requested"):
            submit_for_review(users["archivist"], testimony)
        if state == "published":
            review(users["moderator"], testimony, "approve", "Fine.")
        if state == "changes_requested":
            review(users["moderator"], testimony, "request_changes", "Please check the dates.")
        if withdraw:
            values = validate_consent({**sample_body()["consent"], "access": "withdrawn"})
            change_consent(users["archivist"], testimony, values)
        drain()
        return testimony

    return factory


# --- a real server and a real browser ------------------------------------------------------------

CHROMIUM = os.environ.get("ARCHIVE_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = os.path.join(os.path.dirname(__file__), "screenshots")


@pytest.fixture
def live_server(app):
    """The test's app served over real HTTP on a free loopback port, in a thread."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            raise RuntimeError(f"CI must run the browser tests: no Chromium at {CHROMIUM}")
        pytest.skip(f"no Chromium at {CHROMIUM} (.ci/run installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )  # fmt: skip
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request):
    """A fresh browser tab; a failing test leaves its screenshot in tests/screenshots/."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-GB")
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        os.makedirs(SCREENSHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SCREENSHOTS, f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def browser_login(page, live_server: str, user, password: str = PASSWORD) -> None:
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
