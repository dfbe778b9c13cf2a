"""The review workflow as a state machine: each transition allowed or refused by role and state,
through the JSON API, with the public version staying as it was until an edit is approved."""

from __future__ import annotations

import pytest

from tests.conftest import sample_body


@pytest.fixture
def api(client, tokens):
    def call(method: str, path: str, role: str | None = None, **kwargs):
        headers = dict(kwargs.pop("headers", {}))
        if role:
            headers["Authorization"] = f"Bearer {tokens[role]}"
        return client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)

    return call


def _submit(api, tid, role="archivist"):
    return api("POST", f"/testimonies/{tid}/submit", role)


def _review(api, tid, role, decision, comment="Checked."):
    return api("POST", f"/testimonies/{tid}/review", role, json={"decision": decision, "comment": comment})


@pytest.mark.parametrize(
    ("state", "action", "role", "status", "after"),
    [
        ("draft", "submit", "archivist", 200, "in_review"),
        ("draft", "submit", "researcher", 404, "draft"),
        ("draft", "approve", "moderator", 409, "draft"),
        ("in_review", "submit", "archivist", 409, "in_review"),
        ("in_review", "approve", "moderator", 200, "published"),
        ("in_review", "approve", "archivist", 403, "in_review"),
        ("in_review", "approve", "archivist2", 403, "in_review"),
        ("in_review", "request_changes", "moderator", 200, "changes_requested"),
        ("in_review", "reject", "moderator", 200, "rejected"),
        ("changes_requested", "submit", "archivist", 200, "in_review"),
        ("changes_requested", "approve", "moderator", 409, "changes_requested"),
        ("published", "submit", "archivist", 409, "published"),
        ("published", "approve", "moderator", 409, "published"),
    ],
)
def test_each_transition_is_allowed_or_refused_by_role_and_state(
    api, create_testimony, state, action, role, status, after
):
    t = create_testimony(state=state)
    answer = _submit(api, t.id, role) if action == "submit" else _review(api, t.id, role, action)
    assert answer.status_code == status, answer.json
    assert api("GET", f"/testimonies/{t.id}", "admin").json["state"] == after


def test_a_moderator_who_submitted_an_entry_cannot_approve_it_but_another_can(api):
    created = api("POST", "/testimonies", "moderator", json=sample_body())
    tid = created.json["id"]
    assert _submit(api, tid, "moderator").status_code == 200
    refused = _review(api, tid, "moderator", "approve")
    assert refused.status_code == 403
    assert "own submission" in refused.json["error"]["message"]
    assert _review(api, tid, "moderator2", "approve").status_code == 200


def test_sending_back_or_rejecting_needs_a_comment_for_the_archivist(api, create_testimony):
    t = create_testimony(state="in_review")
    for decision in ("request_changes", "reject"):
        answer = _review(api, t.id, "moderator", decision, comment="  ")
        assert answer.status_code == 422
        assert "comment" in answer.json["error"]["fields"]


def test_an_edit_of_a_published_testimony_stays_private_until_approved(api, create_testimony):
    t = create_testimony()
    version = api("GET", f"/testimonies/{t.id}", "archivist").json["version"]
    edited = api("PATCH", f"/testimonies/{t.id}", "archivist", json={"title": "A corrected title"},
                 headers={"If-Match": str(version)})  # fmt: skip
    assert edited.status_code == 200
    assert api("GET", f"/testimonies/{t.id}").json["title"] == sample_body()["title"]
    assert api("GET", "/search?q=corrected").json["total"] == 0
    _submit(api, t.id)
    assert api("GET", f"/testimonies/{t.id}").json["title"] == sample_body()["title"]
    assert _review(api, t.id, "moderator", "approve").status_code == 200
    assert api("GET", f"/testimonies/{t.id}").json["title"] == "A corrected title"
    assert api("GET", "/search?q=corrected").json["total"] == 1


def test_unpublishing_takes_a_testimony_offline_and_needs_a_reason(app, users, create_testimony, api):
    from archive.errors import Forbidden, Invalid
    from archive.operations import unpublish

    t = create_testimony()
    with pytest.raises(Forbidden):
        unpublish(users["archivist"], t, "No reason an archivist may give.")
    with pytest.raises(Invalid):
        unpublish(users["moderator"], t, " ")
    unpublish(users["moderator"], t, "The family asked for time to read it first.")
    assert api("GET", f"/testimonies/{t.id}").status_code == 404
    assert api("GET", "/search?q=shawl").json["total"] == 0
    assert api("GET", f"/testimonies/{t.id}", "archivist").json["state"] == "unpublished"
