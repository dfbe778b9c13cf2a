"""Testimony Archive: an open-source web archive for oral-history testimonies."""

from __future__ import annotations

import gc
import os
import socket
from pathlib import Path

from flask import Flask
from werkzeug.routing import IntegerConverter

from archive.extensions import MAX_ID

ROOT = Path(__file__).resolve().parent.parent


class DatabaseInteger(IntegerConverter):
    """`<int:…>` in routes: a number no database id can reach is simply not found (404), rather than
    an overflow error from PostgreSQL."""

    def __init__(self, map, *args, **kwargs) -> None:
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def create_app(config: dict | None = None, *, for_restore: bool = False) -> Flask:
    """The app factory: configuration, extensions, blueprints, error handlers.

    An instance that a restore has not finished writing is refused (RestoreUnfinished), but for the
    app `archive restore` runs in (`for_restore`), which empties it and starts again."""
    from archive import access
    from archive import config as defaults
    from archive.consent.anonymity import indexed_with, shown_people
    from archive.extensions import babel, csrf, db, login_manager, migrate
    from archive.preservation.backup import refuse_unfinished_restore
    from archive.search.codec import check_whoosh_version
    from archive.unit_of_work import also_reindex
    from archive.web import locale_selector, register_headers, register_web

    instance = defaults.instance_path()
    if config and config.get("INSTANCE_PATH"):
        instance = Path(config["INSTANCE_PATH"]).resolve()
    instance.mkdir(parents=True, exist_ok=True)
    if not for_restore:
        refuse_unfinished_restore(instance)
    app = Flask(
        __name__,
        instance_path=str(instance),
        instance_relative_config=True,
        template_folder=str(ROOT / "templates"),
    )
    app.config.update(defaults.defaults(instance))
    app.config.from_pyfile("config.py", silent=True)
    app.config.from_prefixed_env("ARCHIVE")
    if url := os.environ.get("ARCHIVE_DATABASE_URL"):
        app.config["SQLALCHEMY_DATABASE_URI"] = url
    if config:
        app.config.update(config)
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        # No request is read past the largest upload (and its few form fields): anything larger is
        # refused with 413 before it is spooled to disk.
        app.config["MAX_CONTENT_LENGTH"] = int(app.config["MEDIA_MAX_BYTES"]) + 16 * 1024**2
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # Several workers and the index writer share the file: wait for a lock rather than fail.
        options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
        options.setdefault("connect_args", {}).setdefault("timeout", 30)
    elif app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        # Each process names itself to the server, so `pg_stat_activity` says which node's worker
        # (or command) holds a connection, a lock or a long query.
        options = app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {})
        name = f"testimony-archive {socket.gethostname()}:{os.getpid()}"[:63]
        options.setdefault("connect_args", {}).setdefault("application_name", name)

    if _serving():
        collect_less_often(app)

    # JSON as UTF-8, keys in the order built: most text here is Azerbaijani or Russian, which
    # escaping to \uXXXX made twice as long, and sorting every answer's keys cost each search.
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.url_map.converters["int"] = DatabaseInteger
    if proxies := int(app.config["TRUSTED_PROXIES"]):
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    db.init_app(app)
    # The policy leaves out of what audiences outside the staff read the people a narrator who
    # asked for a pseudonym might be: which ones is the consent room's rule, read from the database.
    access.read_people_with(shown_people)
    # And a change to such a narrator re-indexes the testimonies that name them.
    also_reindex(indexed_with)
    _sqlite_pragmas(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=locale_selector)
    # A Whoosh other than the pinned one could misread or corrupt every index: refuse to start.
    check_whoosh_version()
    _import_models()
    register_headers(app)
    register_web(app)
    _register_commands(app)

    # Every worker starts one; only the one that leads the index folder writes, the others stand by.
    if app.config["OUTBOX_THREAD"] and not app.testing and _serving():
        from archive.search.outbox import start_background_writer

        start_background_writer(app)
    return app


def _sqlite_pragmas(app: Flask) -> None:
    """SQLite in WAL mode lets readers go on while one process writes; foreign keys are enforced."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    from sqlalchemy import event

    from archive.extensions import db

    with app.app_context():

        @event.listens_for(db.engine, "connect")
        def on_connect(dbapi_connection, _record) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()


def _register_commands(app: Flask) -> None:
    """`flask --app archive …` offers the same commands as `archive …`."""
    from archive.cli import main

    for name, command in main.commands.items():
        if name != "db":  # Flask-Migrate brings its own `flask db`
            app.cli.add_command(command, name)


def collect_less_often(app: Flask) -> None:
    """Tune the cycle collector of a process that serves the app (`archive serve` does this).

    A search makes tens of thousands of short-lived objects, which reference counting frees; the
    collector's passes over the young ones (every 700 allocations) fell on one search in four, and
    its passes over older ones on the slowest: passing every `GC_YOUNG_THRESHOLD` (20,000) made the
    benchmark's p95 at 500 testimonies some 10% lower. The collector still runs, and a cycle is
    freed within that many allocations. Not done for an app made by the tests or a command: the
    setting is the whole process's.
    """
    if app.config["GC_YOUNG_THRESHOLD"]:
        gc.set_threshold(int(app.config["GC_YOUNG_THRESHOLD"]), *gc.get_threshold()[1:])


def _serving() -> bool:
    """The background index writer runs in servers, not in one-shot commands."""
    return os.environ.get("ARCHIVE_SERVING") == "1"


def _import_models() -> None:
    """Every table must be known to SQLAlchemy and Alembic before the first query."""
    from archive.accounts import models as _accounts  # noqa: F401
    from archive.api import models as _api  # noqa: F401
    from archive.audit import models as _audit  # noqa: F401
    from archive.authority import models as _authority  # noqa: F401
    from archive.catalogue import models as _catalogue  # noqa: F401
    from archive.consent import models as _consent  # noqa: F401
    from archive.jobs import models as _jobs  # noqa: F401
    from archive.media import models as _media  # noqa: F401
    from archive.review import models as _review  # noqa: F401
    from archive.search import models as _search  # noqa: F401
