"""Consent rules: narrowing applies at once, widening waits for a second person, seals open by
themselves on their day and the release is recorded."""

from __future__ import annotations

import datetime as dt

import pytest

from archive import access
from archive.consent.service import validate_consent
from archive.errors import Forbidden, Invalid
from archive.operations import change_consent, release_due_seals, review
from tests.conftest import sample_body

BASE = sample_body()["consent"]


def consent(**changes) -> dict:
    return validate_consent({**BASE, **changes})


@pytest.mark.parametrize(
    ("old", "new", "widens"),
    [
        ({"access": "public"}, {"access": "research"}, False),
        ({"access": "research"}, {"access": "public"}, True),
        (
            {"access": "staff"},
            {"access": "sealed", "sealed_until": "2030-01-01", "release_to": "public"},
            True,
        ),
        ({"access": "public"}, {"access": "withdrawn"}, False),
        ({"anonymize_narrator": True}, {"anonymize_narrator": False}, True),
        ({"anonymize_narrator": False}, {"anonymize_narrator": True}, False),
        ({"redactions": [{"start_ms": 0, "end_ms": 10, "reason": "r"}]}, {"redactions": []}, True),
        ({}, {"redactions": [{"start_ms": 0, "end_ms": 10, "reason": "r"}]}, False),
        ({"publish_transcript": False}, {"publish_transcript": True}, True),
        ({}, {"notes": "Only a note changed."}, False),
        (
            {"access": "sealed", "sealed_until": "2030-01-01", "release_to": "public"},
            {"access": "sealed", "sealed_until": "2028-01-01", "release_to": "public"},
            True,
        ),
    ],
)
def test_a_change_widens_only_when_it_grants_something_new(old, new, widens):
    assert access.widens(consent(**old), consent(**new)) is widens


def test_a_seal_becomes_its_release_level_on_its_day(app, create_testimony):
    t = create_testimony(access="sealed", consent_sealed_until="2030-06-01", consent_release_to="research")
    assert access.effective_access(t.consent, dt.date(2030, 5, 31)) is access.Access.SEALED
    assert access.effective_access(t.consent, dt.date(2030, 6, 1)) is access.Access.RESEARCH


def test_an_ended_seal_is_recorded_in_the_history_and_reaches_the_index(app, client, create_testimony):
    from archive.search.outbox import drain

    t = create_testimony(access="sealed", consent_sealed_until="2030-06-01")
    assert client.get(f"/api/v1/testimonies/{t.id}").status_code == 404
    assert release_due_seals(dt.date(2030, 6, 1)) == [t.id]
    drain()
    assert t.consent.access == "public"
    assert "2030-06-01" in t.consent.reason
    assert client.get(f"/api/v1/testimonies/{t.id}").status_code == 200
    assert client.get("/api/v1/search?q=shawl").get_json()["total"] == 1
    assert release_due_seals(dt.date(2030, 6, 2)) == []


def test_narrowing_applies_at_once(app, users, create_testimony):
    t = create_testimony()
    applied, version = change_consent(users["archivist"], t, consent(access="research"))
    assert applied and version.status == "approved"
    assert not access.can_view(None, t)


def test_widening_waits_and_its_author_cannot_approve_it(app, users, create_testimony):
    t = create_testimony(access="research")
    applied, version = change_consent(users["moderator"], t, consent(access="public"))
    assert not applied and version.status == "pending"
    assert not access.can_view(None, t)
    with pytest.raises(Forbidden):
        review(users["moderator"], t, "approve", "", target="consent")
    review(users["moderator2"], t, "approve", "The family agreed in writing.", target="consent")
    assert access.can_view(None, t)


def test_a_mixed_change_applies_its_narrowing_part_now(app, users, create_testimony):
    t = create_testimony(access="research")
    redaction = [{"start_ms": 0, "end_ms": 60000, "reason": "a neighbour's name"}]
    applied, _ = change_consent(users["archivist"], t, consent(access="public", redactions=redaction))
    assert not applied
    assert t.consent.access == "research"
    assert t.consent.redactions == redaction
    assert t.pending_consent.access == "public"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"access": "secret"}, "access"),
        ({"access": "sealed"}, "sealed_until"),
        ({"access": "sealed", "sealed_until": "2030-01-01"}, "release_to"),
        ({"redactions": [{"start_ms": 50, "end_ms": 10, "reason": "x"}]}, "redactions[0].end_ms"),
        ({"anonymize_narrator": "yes"}, "anonymize_narrator"),
        ({"signed_on": "14/03/2019"}, "signed_on"),
    ],
)
def test_bad_consent_names_the_field(changes, field):
    with pytest.raises(Invalid) as error:
        validate_consent({**BASE, **changes})
    assert field in error.value.fields


def test_an_unknown_consent_state_is_an_error_not_a_permission(app, create_testimony):
    t = create_testimony()
    t.consent.access = "everyone"
    with pytest.raises(ValueError):
        access.can_view(None, t)
