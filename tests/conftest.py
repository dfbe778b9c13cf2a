"""Fixtures: one real app per database (a real SQLite file, or a real PostgreSQL database) built
once per test session, with users of every role made once; each test runs inside a transaction
rolled back at its end, on a fresh instance folder with its own real Whoosh index on disk. Tests
whose data another connection, thread or process must see (a served app, a subprocess) commit for
real instead and the tables are emptied after them. A small factory makes testimonies."""

from __future__ import annotations

import copy
import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from flask import Flask, g
from flask.testing import FlaskClient
from sqlalchemy import create_engine, event, make_url, select, text

from archive import create_app
from archive.extensions import db

PASSWORD = "correct horse battery staple"
ROLES = ("admin", "moderator", "moderator2", "archivist", "archivist2", "researcher")
# Hundreds of passwords are made and checked per run: at production strength (scrypt) they were
# most of the suite's time. tests/test_accounts.py checks that the default stays the strong one.
TEST_PASSWORD_HASH = "pbkdf2:sha256:1"


def postgres_url() -> str | None:
    """The PostgreSQL database the tests run on: ARCHIVE_TEST_POSTGRES_URL's, or, when pytest-xdist
    runs the suite in several processes, a database of each worker's own on that server."""
    url = os.environ.get("ARCHIVE_TEST_POSTGRES_URL")
    if not url and os.environ.get("CI"):
        raise RuntimeError("CI must run the PostgreSQL tests: set ARCHIVE_TEST_POSTGRES_URL")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return _worker_database(url, worker) if url and worker else url


@functools.cache
def _worker_database(url: str, worker: str) -> str:
    """A database for this worker beside the given one, made afresh at its first use in the run
    (the test role may create databases: `.ci/test` gives it that right)."""
    base = make_url(url)
    name = f"{base.database}_{worker}"
    engine = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def pytest_configure(config) -> None:
    config.addinivalue_line(
        "markers",
        "committed: its data must be seen by another connection, thread or process, so it commits "
        "for real and the tables are emptied after it (tests using live_server are so already)",
    )


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
    """An app of its own on a fresh instance folder, for a test that needs other settings."""
    settings = {
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "TESTING": True,
        "SECRET_KEY": "test-only-key",
        "WTF_CSRF_ENABLED": False,
        "OUTBOX_THREAD": False,
        "PASSWORD_HASH_METHOD": TEST_PASSWORD_HASH,
        "SQLALCHEMY_DATABASE_URI": _database_url(backend, tmp_path),
    }
    settings.update(config)
    os.makedirs(settings["INSTANCE_PATH"], exist_ok=True)
    settings.setdefault("INDEX_PATH", os.path.join(settings["INSTANCE_PATH"], "index"))
    return create_app(settings)


def _sqlite_savepoints(engine) -> None:
    """pysqlite begins transactions on its own and so breaks SAVEPOINT: let SQLAlchemy say BEGIN
    (SQLAlchemy's documented workaround), so a test's session can nest in the test's transaction."""

    @event.listens_for(engine, "connect")
    def no_implicit_begin(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def begin(connection) -> None:
        connection.exec_driver_sql("BEGIN")


@dataclass
class SessionArchive:
    """The app of one database for the whole session, its users, and where its ids stood after
    they were made (so every test's new rows get the ids a fresh database would give them)."""

    app: Flask
    backend: str
    user_ids: dict[str, int] = field(default_factory=dict)
    restart_ids: str = ""

    def seed(self) -> None:
        """The users of every role, committed; the tables must be empty."""
        from archive.accounts.service import create_user

        self.user_ids = {
            key: create_user(None, f"{key}@example.org", key.rstrip("2"), PASSWORD, name=key.title()).id
            for key in ROLES
        }
        if self.backend == "postgres":
            # ALTER SEQUENCE … RESTART is transactional in PostgreSQL: each test's rollback undoes it.
            rows = db.session.execute(
                text("SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = current_schema()")
            )
            self.restart_ids = "; ".join(
                f'ALTER SEQUENCE "{name}" RESTART WITH {(last or 0) + 1}' for name, last in rows
            )
        db.session.commit()
        db.session.remove()

    def empty(self) -> None:
        """Remove everything a committing test left, then seed again."""
        db.session.remove()
        tables = db.metadata.sorted_tables
        with db.engine.begin() as connection:
            if self.backend == "postgres":
                names = ", ".join(f'"{t.name}"' for t in tables)
                connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            else:
                # Some tables point at each other: the keys are checked once all rows are gone.
                connection.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
                for table in reversed(tables):
                    connection.execute(table.delete())
        self.seed()

    @contextmanager
    def rolled_back(self) -> Iterator[None]:
        """SQLAlchemy's "joining a Session into an external transaction": every session of the app,
        db.session and the ones the search outbox opens on db.engine alike, runs on one connection
        inside one transaction that is rolled back at the end; their commits release savepoints.
        Meanwhile db.engine is that connection: code that needs a connection of its own (another
        thread, `db.engine.begin()`) belongs in a test marked `committed`."""
        engines = db._app_engines[self.app]  # noqa: SLF001 - the outbox opens Session(db.engine)
        engine = engines[None]
        connection = engine.connect()
        transaction = connection.begin()
        if self.restart_ids:
            connection.exec_driver_sql(self.restart_ids)
        engines[None] = connection
        try:
            yield
        finally:
            db.session.remove()
            engines[None] = engine
            transaction.rollback()
            connection.close()


def _build_archive(backend: str, folder: Path) -> SessionArchive:
    app = make_app(folder, backend)
    app.test_client_class = FreshRequestClient
    with app.app_context():
        if backend == "sqlite":
            _sqlite_savepoints(db.engine)
        db.drop_all()
        db.create_all()
        archive = SessionArchive(app, backend)
        archive.seed()
    return archive


@pytest.fixture(scope="session")
def archives(tmp_path_factory) -> Iterator:
    """`archives(backend)`: the session's app on that database, built the first time it is asked."""
    built: dict[str, SessionArchive] = {}
    # A test's session joins the test's transaction by a savepoint (no effect on an engine).
    db.session.session_factory.configure(join_transaction_mode="create_savepoint")

    def of(backend: str) -> SessionArchive:
        if backend not in built:
            built[backend] = _build_archive(backend, tmp_path_factory.mktemp(f"archive-{backend}"))
        return built[backend]

    yield of
    for archive in built.values():
        with archive.app.app_context():
            db.session.remove()
            db.engine.dispose()


@contextmanager
def _own_folders(app: Flask, tmp_path: Path) -> Iterator[None]:
    """This test's instance folder, index and media; settings and per-app caches as they were."""
    config = dict(app.config)
    extensions = set(app.extensions)
    instance_path = app.instance_path
    instance = tmp_path / "instance"
    instance.mkdir(exist_ok=True)
    app.instance_path = str(instance)
    app.config.update(
        INSTANCE_PATH=str(instance), INDEX_PATH=str(instance / "index"), MEDIA_PATH=str(instance / "media")
    )
    try:
        yield
    finally:
        # The test's search index goes with its folder; a merge it started may finish on its own.
        for key in set(app.extensions) - extensions:
            del app.extensions[key]
        app.config.clear()
        app.config.update(config)
        app.instance_path = instance_path


def _commits(request) -> bool:
    return "live_server" in request.fixturenames or request.node.get_closest_marker("committed") is not None


@pytest.fixture
def session_archive(request, backend, archives) -> SessionArchive:
    return archives(backend)


@pytest.fixture
def app(request, tmp_path, session_archive) -> Iterator[Flask]:
    app = session_archive.app
    with _own_folders(app, tmp_path), app.app_context():
        if _commits(request):
            try:
                yield app
            finally:
                session_archive.empty()
        else:
            with session_archive.rolled_back():
                yield app


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
def users(app, session_archive) -> dict:
    """One account of each role, plus a second moderator and archivist for four-eyes tests."""
    from archive.accounts.models import User

    ids = session_archive.user_ids
    found = {u.id: u for u in db.session.scalars(select(User).where(User.id.in_(ids.values())))}
    return {key: found[ids[key]] for key in ROLES}


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
