"""The JSON API as its users drive it, on SQLite and on PostgreSQL: what each caller may see and do,
how bad input is refused without losing anything, and the review and consent workflows."""

from __future__ import annotations

import copy
import html
import io
import re

import pytest
import webvtt
from sqlalchemy import func, select

from archive.catalogue import models as catalogue
from archive.consent.models import ConsentVersion
from archive.extensions import db
from archive.review.models import Revision
from tests.conftest import sample_body

NAME = "Leyla Fictionova"
# Remove once archive/search/index.py reopens searchers instead of calling Searcher.refresh().
PSEUDONYM = "L. F."


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def api(client, tokens):
    """Call the API as a role key of `tokens` (None for the public)."""

    def call(method: str, path: str, role: str | None = None, **kwargs):
        headers = dict(kwargs.pop("headers", {}))
        if role is not None:
            headers["Authorization"] = f"Bearer {tokens[role]}"
        return client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)

    return call


def rows() -> dict[str, int]:
    return {
        model.__name__: db.session.scalar(select(func.count()).select_from(model))
        for model in (catalogue.Testimony, catalogue.Segment, ConsentVersion, Revision)
    }


def hit_ids(response) -> list[int]:
    assert response.status_code == 200, response.json
    return [hit["id"] for hit in response.json["hits"]]


def create(api, role: str = "archivist", **overrides) -> dict:
    response = api("POST", "/testimonies", role, json=sample_body(**overrides))
    assert response.status_code == 201, response.json
    return response.json


def publish(api, testimony_id: int, author: str = "archivist", reviewer: str = "moderator") -> None:
    assert api("POST", f"/testimonies/{testimony_id}/submit", author).status_code == 200
    decision = {"decision": "approve", "comment": "Checked against the consent form."}
    response = api("POST", f"/testimonies/{testimony_id}/review", reviewer, json=decision)
    assert response.status_code == 200, response.json


# --- creating ---------------------------------------------------------------------------------


def test_an_archivist_creates_a_draft_that_the_public_never_sees(api):
    response = api("POST", "/testimonies", "archivist", json=sample_body())

    assert response.status_code == 201
    created = response.json
    assert created["version"] == 1 and created["state"] == "draft"
    assert response.headers["Location"] == f"/api/v1/testimonies/{created['id']}"
    assert response.headers["ETag"] == '"1"'
    assert api("GET", f"/testimonies/{created['id']}", "archivist").status_code == 200
    for role in (None, "researcher"):
        missing = api("GET", f"/testimonies/{created['id']}", role)
        assert missing.status_code == 404
        assert missing.json["error"]["code"] == "not_found"
        assert hit_ids(api("GET", "/search?q=snow", role)) == []
    assert hit_ids(api("GET", "/search?q=snow", "archivist")) == [created["id"]]


def _bad_segment_end(body: dict) -> None:
    body["segments"][1]["end_ms"] = body["segments"][1]["start_ms"] - 1


def _bad_birth_year(body: dict) -> None:
    body["narrator"]["birth_year"] = "long ago"


def _bad_access(body: dict) -> None:
    body["consent"]["access"] = "everyone"


@pytest.mark.parametrize(
    ("spoil", "field"),
    [
        (_bad_segment_end, "segments[1].end_ms"),
        (_bad_birth_year, "narrator.birth_year"),
        (_bad_access, "consent.access"),
    ],
)
def test_a_bad_body_names_the_bad_field_and_saves_nothing(api, users, spoil, field):
    before = rows()
    body = sample_body()
    spoil(body)

    response = api("POST", "/testimonies", "archivist", json=body)

    assert response.status_code == 422
    assert response.json["error"]["code"] == "invalid"
    assert list(response.json["error"]["fields"]) == [field]
    assert rows() == before


def test_every_bad_field_of_a_body_is_named_at_once(api, users):
    body = sample_body()
    for spoil in (_bad_segment_end, _bad_birth_year, _bad_access):
        spoil(body)

    response = api("POST", "/testimonies", "archivist", json=body)

    assert response.status_code == 422
    assert {"segments[1].end_ms", "narrator.birth_year", "consent.access"} <= set(
        response.json["error"]["fields"]
    )


@pytest.mark.parametrize(
    ("data", "content_type", "status"),
    [
        ('{"title": "A fictional testimony",', "application/json", 400),
        ("title=A fictional testimony", "application/x-www-form-urlencoded", 400),
        ("", "application/json", 400),
        ('["a list, not a testimony"]', "application/json", 422),
    ],
)
def test_a_body_that_is_not_a_json_object_gets_a_json_error(api, users, data, content_type, status):
    before = rows()

    response = api("POST", "/testimonies", "archivist", data=data, content_type=content_type)

    assert response.status_code == status
    assert response.json["error"]["message"]
    assert "body" in response.json["error"]["fields"]
    assert rows() == before


def test_malformed_json_is_reported_with_where_it_breaks(api, users):
    response = api("POST", "/testimonies", "archivist", data='{"title": }', content_type="application/json")

    assert response.status_code == 400
    assert "line 1 column 11" in response.json["error"]["message"]


def test_the_public_must_sign_in_to_create_and_a_researcher_may_not(api, client, users):
    before = rows()

    assert api("POST", "/testimonies", None, json=sample_body()).status_code == 401
    assert api("POST", "/testimonies", "researcher", json=sample_body()).status_code == 403
    forged = client.post(
        "/api/v1/testimonies", json=sample_body(), headers={"Authorization": "Bearer ta_not-a-real-token"}
    )
    assert forged.status_code == 401
    assert forged.json["error"]["code"] == "unauthorized"
    assert rows() == before


# --- editing ----------------------------------------------------------------------------------


def test_an_edit_needs_if_match_with_the_current_version(api):
    testimony = create(api)
    path = f"/testimonies/{testimony['id']}"
    change = {"title": "A fictional testimony about the spring road"}

    missing = api("PATCH", path, "archivist", json=change)
    assert missing.status_code == 428
    assert missing.json["error"]["code"] == "precondition_required"

    stale = api("PATCH", path, "archivist", json=change, headers={"If-Match": "7"})
    assert stale.status_code == 409
    assert stale.json["error"]["current_version"] == 1

    fresh = api("PATCH", path, "archivist", json=change, headers={"If-Match": '"1"'})
    assert fresh.status_code == 200
    assert fresh.json["version"] == 2
    assert fresh.headers["ETag"] == '"2"'
    shown = api("GET", path, "archivist").json
    assert (shown["version"], shown["title"]) == (2, change["title"])


def test_a_bad_edit_leaves_the_testimony_as_it_was(api):
    testimony = create(api)
    path = f"/testimonies/{testimony['id']}"
    segments = copy.deepcopy(sample_body()["segments"])
    segments[1]["end_ms"] = 0
    before = rows()

    response = api(
        "PATCH", path, "archivist", json={"title": "Changed", "segments": segments}, headers={"If-Match": "1"}
    )

    assert response.status_code == 422
    assert "segments[1].end_ms" in response.json["error"]["fields"]
    assert rows() == before
    shown = api("GET", path, "archivist").json
    assert (shown["version"], shown["title"]) == (1, testimony["title"])


def test_a_researcher_may_not_edit_a_published_testimony_and_the_public_is_told_nothing(
    api, create_testimony
):
    testimony = create_testimony(state="published")
    path = f"/testimonies/{testimony.id}"
    change = {"title": "Vandalised"}

    assert api("PATCH", path, "researcher", json=change, headers={"If-Match": "1"}).status_code == 403
    assert api("PATCH", path, None, json=change, headers={"If-Match": "1"}).status_code == 404
    assert api("DELETE", path, "researcher").status_code == 403
    assert api("DELETE", path, None).status_code == 404
    assert api("GET", path).json["title"] == sample_body()["title"]


# --- review -----------------------------------------------------------------------------------


def test_another_moderator_publishes_a_submission_and_the_public_then_finds_it(api):
    testimony = create(api)
    path = f"/testimonies/{testimony['id']}"

    submitted = api("POST", f"{path}/submit", "archivist")
    assert submitted.json["state"] == "in_review"
    assert api("GET", path).status_code == 404
    approved = api("POST", f"{path}/review", "moderator", json={"decision": "approve", "comment": "Fine."})

    assert approved.status_code == 200
    assert approved.json["state"] == "published"
    public = api("GET", path)
    assert public.status_code == 200
    assert [s["start_ms"] for s in public.json["segments"]] == [0, 60000, 120000]
    found = api("GET", "/search?q=shawl")
    assert hit_ids(found) == [testimony["id"]]
    [passage] = found.json["hits"][0]["segments"]
    assert (passage["start_ms"], passage["end_ms"]) == (60000, 120000)
    assert "<mark>shawl</mark>" in passage["snippet"]


def test_nobody_reviews_their_own_submission(api):
    testimony = create(api, role="moderator")
    path = f"/testimonies/{testimony['id']}"
    api("POST", f"{path}/submit", "moderator")

    own = api("POST", f"{path}/review", "moderator", json={"decision": "approve", "comment": ""})

    assert own.status_code == 403
    assert api("POST", f"{path}/review", "archivist", json={"decision": "approve"}).status_code == 403
    assert api("GET", path).status_code == 404
    assert api("GET", path, "moderator").json["state"] == "in_review"


@pytest.mark.parametrize(
    ("decision", "field"),
    [
        ({"decision": "maybe"}, "decision"),
        ({"decision": "reject", "comment": ""}, "comment"),
        ({"decision": "approve", "verdict": "yes"}, "verdict"),
    ],
)
def test_a_review_decision_that_makes_no_sense_is_refused(api, decision, field):
    testimony = create(api)
    path = f"/testimonies/{testimony['id']}"
    api("POST", f"{path}/submit", "archivist")

    response = api("POST", f"{path}/review", "moderator", json=decision)

    assert response.status_code == 422
    assert field in response.json["error"]["fields"]
    assert api("GET", path, "moderator").json["state"] == "in_review"


# --- consent ----------------------------------------------------------------------------------


def test_a_research_testimony_is_seen_by_researchers_but_not_the_public(api, create_testimony):
    testimony = create_testimony(access="research")
    path = f"/testimonies/{testimony.id}"

    assert api("GET", path, "researcher").status_code == 200
    assert hit_ids(api("GET", "/search?q=shawl", "researcher")) == [testimony.id]
    assert api("GET", path).status_code == 404
    assert hit_ids(api("GET", "/search?q=shawl")) == []


def test_narrowing_consent_takes_a_testimony_out_of_public_search_at_once(api, create_testimony):
    testimony = create_testimony(access="public")
    assert hit_ids(api("GET", "/search?q=shawl")) == [testimony.id]
    consent = {**sample_body()["consent"], "access": "staff"}

    response = api("PUT", f"/testimonies/{testimony.id}/consent", "archivist", json=consent)

    assert response.status_code == 201
    assert response.json["applied"] is True
    assert response.json["consent"]["access"] == "staff"
    assert hit_ids(api("GET", "/search?q=shawl")) == []
    assert api("GET", f"/testimonies/{testimony.id}").status_code == 404


def test_widening_consent_waits_for_a_moderator_other_than_its_author(api, create_testimony):
    testimony = create_testimony(access="staff")
    path = f"/testimonies/{testimony.id}"
    consent = {**sample_body()["consent"], "access": "public"}

    asked = api("PUT", f"{path}/consent", "moderator", json=consent)

    assert asked.status_code == 202
    assert asked.json["applied"] is False
    assert asked.json["pending_consent"]["access"] == "public"
    assert api("GET", path).status_code == 404
    assert hit_ids(api("GET", "/search?q=shawl")) == []
    approve = {"decision": "approve", "comment": "The signed form allows it.", "target": "consent"}
    assert api("POST", f"{path}/review", "moderator", json=approve).status_code == 403
    assert api("GET", path).status_code == 404

    assert api("POST", f"{path}/review", "moderator2", json=approve).status_code == 200
    assert api("GET", path).status_code == 200
    assert hit_ids(api("GET", "/search?q=shawl")) == [testimony.id]


def test_a_bad_consent_is_refused_and_the_old_one_stays(api, create_testimony):
    testimony = create_testimony(access="public")
    before = rows()
    consent = {**sample_body()["consent"], "access": "sealed", "sealed_until": None}

    response = api("PUT", f"/testimonies/{testimony.id}/consent", "archivist", json=consent)

    assert response.status_code == 422
    assert {"sealed_until", "release_to"} <= set(response.json["error"]["fields"])
    assert rows() == before
    assert api("GET", f"/testimonies/{testimony.id}").json["consent"]["access"] == "public"


def test_the_public_sees_only_the_pseudonym_of_an_anonymised_narrator(api, create_testimony):
    testimony = create_testimony(consent_anonymize_narrator=True)

    public = api("GET", f"/testimonies/{testimony.id}")
    found = api("GET", "/search?q=shawl")

    assert public.json["narrator"]["name"] == PSEUDONYM
    assert public.json["narrator_label"] == PSEUDONYM
    assert [hit["narrator"] for hit in found.json["hits"]] == [PSEUDONYM]
    for response in (public, found, api("GET", "/search?q=Fictionova")):
        assert "Fictionova" not in response.get_data(as_text=True)
    assert api("GET", f"/testimonies/{testimony.id}", "archivist").json["narrator"]["name"] == NAME


def test_a_redacted_segment_is_hidden_from_public_json_transcript_and_search(api, create_testimony):
    redaction = {"start_ms": 60000, "end_ms": 120000, "reason": "Names a living person (fictional)."}
    testimony = create_testimony(consent_redactions=[redaction])
    path = f"/testimonies/{testimony.id}"

    public = api("GET", path)
    transcript = api("GET", f"{path}/transcript.vtt")

    assert [s["start_ms"] for s in public.json["segments"]] == [0, 120000]
    assert "shawl" not in public.get_data(as_text=True)
    assert "shawl" not in transcript.get_data(as_text=True)
    assert "forest" in transcript.get_data(as_text=True)
    assert hit_ids(api("GET", "/search?q=shawl")) == []
    assert hit_ids(api("GET", "/search?q=forest")) == [testimony.id]
    assert "shawl" in api("GET", f"{path}/transcript.vtt", "archivist").get_data(as_text=True)


# --- transcripts ------------------------------------------------------------------------------


def test_the_public_transcript_is_webvtt_with_speakers_and_escaped_text(api, create_testimony):
    segments = copy.deepcopy(sample_body()["segments"])
    segments[0]["text"] = "Bread & salt --> <b>not a tag</b>\n\nafter a blank line"
    segments[1]["speaker"] = "Interviewer <Test>"
    testimony = create_testimony(segments=segments)

    response = api("GET", f"/testimonies/{testimony.id}/transcript.vtt")

    assert response.status_code == 200
    assert response.mimetype == "text/vtt"
    vtt = webvtt.from_string(response.get_data(as_text=True))
    assert [(c.start, c.end) for c in vtt.captions] == [
        ("00:00:00.000", "00:01:00.000"),
        ("00:01:00.000", "00:02:00.000"),
        ("00:02:00.000", "00:03:00.000"),
    ]
    assert [html.unescape(c.voice) for c in vtt.captions] == ["Narrator", "Interviewer <Test>", "Narrator"]
    assert html.unescape(vtt.captions[0].text) == "Bread & salt --> <b>not a tag</b>\nafter a blank line"
    assert "<b>" not in vtt.captions[0].raw_text


def test_the_transcript_of_a_draft_is_not_found_for_the_public(api):
    testimony = create(api)

    response = api("GET", f"/testimonies/{testimony['id']}/transcript.vtt")

    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_a_transcript_the_narrator_kept_private_has_no_cues_for_the_public(api, create_testimony):
    testimony = create_testimony(consent_publish_transcript=False)

    response = api("GET", f"/testimonies/{testimony.id}/transcript.vtt")

    assert response.status_code == 200
    assert webvtt.from_string(response.get_data(as_text=True)).captions == []


# --- search -----------------------------------------------------------------------------------


def test_search_answers_hits_grouped_by_testimony_with_facets(api, create_testimony):
    testimony = create_testimony()

    response = api("GET", "/search?q=bread")

    assert response.status_code == 200
    assert {"total", "page", "hits", "facets"} <= set(response.json)
    assert (response.json["total"], response.json["page"]) == (1, 1)
    [hit] = response.json["hits"]
    assert (hit["id"], hit["title"], hit["narrator"]) == (testimony.id, sample_body()["title"], NAME)
    assert {"start_ms", "end_ms", "snippet"} <= set(hit["segments"][0])
    assert ["Ağdam", 1] in response.json["facets"]["place"]


def test_search_filters_by_place_language_and_years_and_pages(api, create_testimony):
    interview = {**sample_body()["interview"], "date": "2005-06-01", "languages": ["az"]}
    older = create_testimony(
        title="A fictional testimony from the mill", places=["Şuşa"], interview=interview
    )
    newer = create_testimony(title="A fictional testimony from the orchard")

    assert hit_ids(api("GET", "/search?q=bread&place=Şuşa")) == [older.id]
    assert hit_ids(api("GET", "/search?q=bread&lang=AZ")) == [older.id]
    assert hit_ids(api("GET", "/search?q=bread&from=2010&to=2020")) == [newer.id]
    assert hit_ids(api("GET", "/search?sort=date")) == [older.id, newer.id]
    second = api("GET", "/search?sort=date&per_page=1&page=2")
    assert (second.json["total"], hit_ids(second)) == (2, [newer.id])


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("page=two", "page"),
        ("page=0", "page"),
        ("per_page=100000", "per_page"),
        ("from=2020&to=2010", "from"),
        ("from=last+year", "from"),
        ("decade=fifties", "decade"),
        ("sort=loudest", "sort"),
    ],
)
def test_search_refuses_bad_parameters_naming_them(api, users, query, field):
    response = api("GET", f"/search?q=bread&{query}")

    assert response.status_code == 422
    assert field in response.json["error"]["fields"]


# --- the rest ---------------------------------------------------------------------------------


def test_a_deleted_testimony_is_gone_for_everyone_but_admins(api, create_testimony):
    testimony = create_testimony()
    path = f"/testimonies/{testimony.id}"

    assert api("DELETE", path, "archivist").status_code == 204

    assert api("GET", path).status_code == 404
    assert api("GET", path, "archivist").status_code == 404
    assert hit_ids(api("GET", "/search?q=shawl")) == []
    assert api("GET", path, "admin").json["deleted"] is True


def test_a_withdrawn_testimony_is_hidden_even_from_archivists(api, create_testimony):
    testimony = create_testimony(access="withdrawn")
    path = f"/testimonies/{testimony.id}"

    assert api("GET", path, "archivist").status_code == 404
    assert api("GET", f"{path}/transcript.vtt", "archivist").status_code == 404
    assert hit_ids(api("GET", "/search?q=shawl", "archivist")) == []
    assert api("GET", path, "admin").status_code == 200


def test_staff_list_their_entries_and_others_may_not(api, create_testimony):
    draft = create_testimony(state="draft")
    published = create_testimony(state="published", title="A fictional published testimony")

    listed = api("GET", "/testimonies", "archivist")
    drafts = api("GET", "/testimonies?state=draft", "archivist")

    assert {item["id"] for item in listed.json["items"]} == {draft.id, published.id}
    assert [item["id"] for item in drafts.json["items"]] == [draft.id]
    assert api("GET", "/testimonies?state=lost", "archivist").status_code == 422
    assert api("GET", "/testimonies").status_code == 401
    assert api("GET", "/testimonies", "researcher").status_code == 403


def test_media_upload_stores_the_file_on_both_databases(api, create_testimony):
    from tests.test_media import wav_bytes

    testimony = create_testimony()
    path = f"/testimonies/{testimony.id}/media"
    content = wav_bytes(1)
    upload = {"file": (io.BytesIO(content), "interview.wav")}

    response = api("POST", path, "archivist", data=upload, content_type="multipart/form-data")

    assert response.status_code == 201, response.json
    assert response.json["size"] == len(content) and response.json["kind"] == "audio"
    assert response.headers["Location"] == response.json["url"]
    assert api("POST", path, "researcher").status_code == 403
    assert api("POST", path).status_code == 404
    not_multipart = api("POST", path, "archivist", json={"file": "interview.wav"})
    assert not_multipart.status_code == 422 and "file" in not_multipart.json["error"]["fields"]


def test_an_id_too_large_for_the_database_is_simply_not_found(api, users):
    assert api("GET", f"/testimonies/{2**63}").status_code == 404


def _document_paths(rule: str) -> str:
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.removeprefix("/api/v1"))


def test_the_openapi_document_describes_every_api_route(api, app):
    document = api("GET", "/openapi.json").json
    routes = [r for r in app.url_map.iter_rules() if r.rule.startswith("/api/v1/")]

    assert document["openapi"].startswith("3.")
    assert len(routes) >= 10
    for rule in routes:
        path = _document_paths(rule.rule)
        assert path in document["paths"], path
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert method.lower() in document["paths"][path], f"{method} {path}"
    assert {"Testimony", "Consent", "Segment", "Error"} <= set(document["components"]["schemas"])
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_the_openapi_document_is_a_valid_openapi_document(api):
    from openapi_spec_validator import validate

    validate(api("GET", "/openapi.json").json)


def test_a_page_for_an_id_beyond_any_database_id_is_not_found(client):
    assert client.get(f"/testimonies/{2**40}").status_code == 404
    assert client.get(f"/testimonies/{2**40}/history").status_code == 404
