"""The named operations: each user action commits once, its change and its outbox rows together."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from archive.audit.models import AuditEvent
from archive.catalogue import models as catalogue
from archive.errors import Invalid
from archive.extensions import db
from archive.operations import create_testimony, update_testimony, withdraw
from archive.review.models import Revision
from archive.search.models import OutboxEntry
from archive.search.outbox import drain
from tests.conftest import sample_body


def _counts() -> dict[str, int]:
    tables = {
        "testimonies": catalogue.Testimony,
        "revisions": Revision,
        "outbox": OutboxEntry,
        "audit": AuditEvent,
    }
    return {name: db.session.scalar(select(func.count()).select_from(t)) for name, t in tables.items()}


def test_a_step_refused_late_in_an_operation_leaves_nothing_behind(app, users):
    """The testimony row is written before its consent is checked against the scans: when the
    consent names a scan that does not exist, the row, its revision and its outbox row go too."""
    before = _counts()
    body = sample_body(consent_form=999)
    with pytest.raises(Invalid) as refused:
        create_testimony(users["archivist"], body)
    assert "form" in refused.value.fields
    assert _counts() == before


def test_an_edit_of_content_and_consent_is_one_version_and_reaches_the_index_once(app, users):
    testimony = create_testimony(users["archivist"], sample_body(access="public"))
    drain()
    before = _counts()
    narrower = {**sample_body()["consent"], "access": "staff"}
    change = {"title": "A fictional testimony, retitled", "consent": narrower}
    update_testimony(users["archivist"], testimony, change, testimony.version)
    after = _counts()
    assert testimony.version == 2 and testimony.consent.access == "staff"
    assert after["revisions"] == before["revisions"] + 1
    assert after["outbox"] == before["outbox"] + 1


def test_a_withdrawal_keeps_the_consent_in_force_otherwise_and_empties_every_index(
    app, client, users, create_testimony, tokens
):
    testimony = create_testimony(access="public")
    kept = testimony.consent
    assert client.get("/api/v1/search?q=shawl").get_json()["total"] == 1
    version = withdraw(users["archivist"], testimony)
    drain()
    assert version.status == "approved" and testimony.consent.access == "withdrawn"
    assert testimony.consent.signed_on == kept.signed_on and testimony.consent.obtained_by == kept.obtained_by
    assert kept in testimony.consents  # the history stays
    for caller in (None, "researcher", "moderator"):
        headers = {"Authorization": f"Bearer {tokens[caller]}"} if caller else {}
        assert client.get("/api/v1/search?q=shawl", headers=headers).get_json()["total"] == 0
