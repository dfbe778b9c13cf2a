"""Every public surface follows a consent change within a second: narrowing hides a testimony
everywhere at once, and a widening shows it everywhere once a second moderator approves it."""

from __future__ import annotations

import time

import pytest

from tests.conftest import sample_body

WORD = "quillowmere"
PLACE = "Quillowmere Hollow"


@pytest.fixture
def api(client, tokens):
    def call(method: str, path: str, role: str | None = None, **kwargs):
        headers = {"Authorization": f"Bearer {tokens[role]}"} if role else {}
        return client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)

    return call


def _recording(client, media_id: int) -> bool:
    response = client.get(f"/media/{media_id}")
    response.close()
    return response.status_code == 200


def _public_bag(tid: int, tmp_path) -> bool:
    from archive.errors import NotFound
    from archive.preservation.service import export_bag

    try:
        export_bag(tid, tmp_path / f"bag-{time.monotonic_ns()}", kind="public")
    except NotFound:
        return False
    return True


def _public_surfaces(client, tid: int, media_id: int, tmp_path) -> dict[str, bool]:
    """For each public surface: does it show the testimony?"""
    oai = client.get(
        f"/oai?verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:localhost:testimony/{tid}"
    ).text
    return {
        "recording": _recording(client, media_id),
        "public bag": _public_bag(tid, tmp_path),
        "api record": client.get(f"/api/v1/testimonies/{tid}").status_code == 200,
        "page": client.get(f"/testimonies/{tid}").status_code == 200,
        "vtt": client.get(f"/api/v1/testimonies/{tid}/transcript.vtt").status_code == 200,
        "api search": client.get(f"/api/v1/search?q={WORD}").get_json()["total"] == 1,
        "search page": f"/testimonies/{tid}" in client.get(f"/search?q={WORD}").text,
        "facets": PLACE in str(client.get("/api/v1/search").get_json()["facets"]["place"]),
        "suggestions": PLACE in client.get("/search/suggest?q=Quillow").text,
        "sitemap": f"/testimonies/{tid}<" in client.get("/sitemap.xml").text,
        "feed": f"/testimonies/{tid}" in client.get("/feed.atom").text,
        "oai": "<metadata>" in oai and 'status="deleted"' not in oai,
    }


def _consent(**changes) -> dict:
    return {**sample_body()["consent"], "publish_media": True, **changes}


def test_every_public_surface_follows_narrowing_and_approved_widening_within_a_second(client, api, tmp_path):
    import io

    from tests.test_media import fetch_when_ready, wav_bytes

    body = sample_body(places=[PLACE], consent_publish_media=True)
    body["segments"][0]["text"] += f" The {WORD} stood by the road."
    tid = api("POST", "/testimonies", "archivist", json=body).json["id"]
    upload = {"file": (io.BytesIO(wav_bytes(1)), "tape.wav")}
    media_id = api("POST", f"/testimonies/{tid}/media", "archivist", data=upload).json["id"]
    api("POST", f"/testimonies/{tid}/submit", "archivist")
    api("POST", f"/testimonies/{tid}/review", "moderator", json={"decision": "approve", "comment": "ok"})
    # The public rendition is made once, in the background; after that it is there at once.
    assert fetch_when_ready(client, f"/media/{media_id}").status_code == 200
    surfaces = lambda: _public_surfaces(client, tid, media_id, tmp_path)  # noqa: E731
    shown = surfaces()
    assert all(shown.values()), shown

    started = time.monotonic()
    assert (
        api("PUT", f"/testimonies/{tid}/consent", "archivist", json=_consent(access="staff")).status_code
        == 201
    )
    hidden = surfaces()
    assert time.monotonic() - started < 1.0
    assert not any(hidden.values()), hidden

    asked = api("PUT", f"/testimonies/{tid}/consent", "moderator", json=_consent(access="public"))
    assert asked.status_code == 202
    assert not any(surfaces().values())
    started = time.monotonic()
    decision = {"decision": "approve", "comment": "Consent form re-signed.", "target": "consent"}
    approved = api("POST", f"/testimonies/{tid}/review", "moderator2", json=decision)
    assert approved.status_code == 200, approved.json
    shown = surfaces()
    assert time.monotonic() - started < 1.0
    assert all(shown.values()), shown
