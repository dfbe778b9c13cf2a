"""The schema comes from Alembic migrations, on both databases, and matches the models."""

import pyotp
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import create_engine, inspect, make_url, text
from sqlalchemy.exc import DBAPIError
from werkzeug.security import generate_password_hash

from archive.extensions import db
from tests.conftest import PASSWORD, TEST_PASSWORD_HASH, make_app, postgres_url

# On PostgreSQL these tests drop and create the schema over and over: they do it in a schema of their
# own, so the suite's app, which keeps its tables and users in the database's default schema for the
# whole session, never loses them.
SCHEMA = "migrations_test"


def _empty_database() -> None:
    db.drop_all()
    with db.engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
        if conn.dialect.name == "postgresql":
            conn.execute(text("DROP FUNCTION IF EXISTS audit_events_refuse_change()"))


def _own_schema(url: str) -> str:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"'))
    engine.dispose()
    return make_url(url).update_query_dict({"options": f"-csearch_path={SCHEMA}"}).render_as_string(False)


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_app(request, tmp_path):
    config = {}
    if request.param == "postgres" and (url := postgres_url()):
        config["SQLALCHEMY_DATABASE_URI"] = _own_schema(url)
    app = make_app(tmp_path, request.param, **config)
    with app.app_context():
        _empty_database()
        yield app
        db.session.remove()
        _empty_database()
        db.engine.dispose()


def test_upgrade_creates_every_table_the_models_know(fresh_app):
    upgrade(directory=fresh_app.extensions["migrate"].directory)
    tables = set(inspect(db.engine).get_table_names())
    assert {t.name for t in db.metadata.sorted_tables} <= tables
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == [], f"the models changed without a migration: {diff}"


def test_downgrade_to_base_removes_the_schema_and_upgrade_restores_it(fresh_app):
    directory = fresh_app.extensions["migrate"].directory
    upgrade(directory=directory)
    downgrade(directory=directory, revision="base")
    assert "testimonies" not in inspect(db.engine).get_table_names()
    upgrade(directory=directory)
    assert "testimonies" in inspect(db.engine).get_table_names()


def test_the_database_itself_refuses_to_change_or_delete_an_audit_event(fresh_app):
    upgrade(directory=fresh_app.extensions["migrate"].directory)
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO audit_events (at, action, target_type, details) "
                          "VALUES (CURRENT_TIMESTAMP, 'login', '', '{}')"))  # fmt: skip
    for statement in ("UPDATE audit_events SET action = 'nothing'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as conn:
            conn.execute(text(statement))
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT action FROM audit_events")).scalars().all() == ["login"]


def test_the_upgrade_encrypts_a_plain_second_factor_its_owner_still_signs_in_and_downgrade_decrypts(
    fresh_app,
):
    directory = fresh_app.extensions["migrate"].directory
    before = "f4b8d2e6a1c3-1"  # the revision before second factors were encrypted
    upgrade(directory=directory, revision=before)
    secret = pyotp.random_base32()
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (email, name, role, password_hash, active, created_at, totp_secret) "
                "VALUES ('keeper@example.org', '', 'archivist', :hash, true, CURRENT_TIMESTAMP, :secret)"
            ),
            {"hash": generate_password_hash(PASSWORD, TEST_PASSWORD_HASH), "secret": secret},
        )
    upgrade(directory=directory)
    query = text("SELECT totp_secret FROM users")
    with db.engine.connect() as conn:
        stored = conn.scalar(query)
    assert secret not in stored.upper()
    client = fresh_app.test_client()
    signed = client.post("/login", data={"email": "keeper@example.org", "password": PASSWORD})
    assert signed.headers["Location"] == "/login/code"
    assert client.post("/login/code", data={"code": pyotp.TOTP(secret).now()}).status_code == 302
    db.session.remove()

    downgrade(directory=directory, revision=before)
    with db.engine.connect() as conn:
        assert conn.scalar(query) == secret
