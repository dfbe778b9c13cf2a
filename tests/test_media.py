"""Media: uploads checked by content and hashed, streams with Range requests, and the consent policy
on every file — originals for staff, for everyone else a rendition without the file's own tags and
with redacted stretches silenced, consent-form scans never outside the staff."""

from __future__ import annotations

import hashlib
import io
import math
import os
import shutil
import struct
import subprocess
import time
import wave
from pathlib import Path

import pytest
from sqlalchemy import func, select

from archive.extensions import db
from archive.media.models import MediaFile
from tests.conftest import login

# CI installs ffmpeg (.ci/test); elsewhere these tests wait for it to be installed.
needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None and not os.environ.get("CI"), reason="ffmpeg is not installed"
)

RATE = 8000
SECONDS = 6
# A tag a field recorder might have written into the file: it must never reach the public.
TAG_CANARY = b"Realname Tagcanary"
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def wav_bytes(seconds: int = SECONDS, tag: bytes = TAG_CANARY) -> bytes:
    """A tone of `seconds` at 8 kHz, with a LIST/INFO title chunk holding `tag`."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        samples = (int(8000 * math.sin(2 * math.pi * 440 * i / RATE)) for i in range(RATE * seconds))
        w.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    data = buffer.getvalue()
    title = tag + b"\0"
    if len(title) % 2:
        title += b"\0"
    info = b"INFO" + b"INAM" + struct.pack("<I", len(title)) + title
    chunk = b"LIST" + struct.pack("<I", len(info)) + info
    at = data.index(b"data")
    data = data[:at] + chunk + data[at:]
    return b"RIFF" + struct.pack("<I", len(data) - 8) + data[8:]


def samples_of(wav: bytes) -> list[int]:
    with wave.open(io.BytesIO(wav)) as w:
        assert w.getframerate() == RATE
        frames = w.readframes(w.getnframes())
    return list(struct.unpack(f"<{len(frames) // 2}h", frames))


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def upload(client, token, testimony_id, content: bytes, name="interview.wav", kind=None):
    data = {"file": (io.BytesIO(content), name)}
    if kind is not None:
        data["kind"] = kind
    return client.post(
        f"/api/v1/testimonies/{testimony_id}/media",
        data=data,
        headers=bearer(token),
        content_type="multipart/form-data",
    )


def publish_again(users, testimony) -> None:
    from archive.operations import review, submit_for_review
    from archive.search.outbox import drain

    submit_for_review(users["archivist"], testimony)
    review(users["moderator"], testimony, "approve", "Recording checked.")
    drain()


def fetch(client, url, **kwargs):
    """GET a file, read it whole and close the stream, as a player that is done with it would."""
    response = client.get(url, **kwargs)
    response.get_data()
    response.close()
    return response


def fetch_when_ready(client, url, **kwargs):
    """The public rendition is made in a process of its own: ask until it is there."""
    deadline = time.monotonic() + 30
    while True:
        response = fetch(client, url, **kwargs)
        if response.status_code != 503 or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def count_media() -> int:
    return db.session.scalar(select(func.count()).select_from(MediaFile))


# --- uploads -----------------------------------------------------------------------------------


def test_an_archivist_uploads_a_recording_and_gets_its_checksum_and_length(client, tokens, create_testimony):
    testimony = create_testimony("draft")
    content = wav_bytes()
    response = upload(client, tokens["archivist"], testimony.id, content)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["kind"] == "audio"
    assert body["sha256"] == hashlib.sha256(content).hexdigest()
    assert body["size"] == len(content)
    assert body["mime_type"] == "audio/wav"
    assert body["duration_ms"] == SECONDS * 1000
    streamed = fetch(client, body["url"], headers=bearer(tokens["archivist"]))
    assert streamed.status_code == 200
    assert streamed.data == content


def test_adding_a_recording_is_a_new_version_that_goes_through_review(
    client, tokens, users, create_testimony
):
    testimony = create_testimony("published", consent_publish_media=True)
    before = testimony.version
    media_id = upload(client, tokens["archivist"], testimony.id, wav_bytes()).get_json()["id"]
    db.session.refresh(testimony)
    assert testimony.version == before + 1
    assert testimony.state == "draft"
    assert fetch(client, f"/media/{media_id}").status_code == 404
    assert client.get(f"/api/v1/testimonies/{testimony.id}").get_json()["media"] == []
    publish_again(users, testimony)
    listed = client.get(f"/api/v1/testimonies/{testimony.id}").get_json()["media"]
    assert [m["id"] for m in listed] == [media_id]
    assert "filename" not in listed[0] and "sha256" not in listed[0]


@pytest.mark.parametrize(
    ("content", "name", "kind", "field", "words"),
    [
        (b"", "empty.wav", None, "file", "empty"),
        (b"Just some words, not a recording at all.", "notes.wav", None, "file", "Accepted"),
        (wav_bytes(1), "interview.wav", "video", "file", "Expected video"),
        (wav_bytes(1), "interview.wav", "podcast", "kind", "Must be one of"),
        (PDF, "form.pdf", "audio", "file", "Expected audio"),
        (b"RIFF\x10\x00\x00\x00WAVEfmt broken", "broken.wav", None, "file", "damaged"),
    ],
)
def test_bad_uploads_name_the_field_and_store_nothing(
    client, tokens, create_testimony, app, content, name, kind, field, words
):
    testimony = create_testimony("draft")
    version = testimony.version
    response = upload(client, tokens["archivist"], testimony.id, content, name=name, kind=kind)
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert words in error["fields"][field]
    assert count_media() == 0
    db.session.refresh(testimony)
    assert testimony.version == version
    incoming = Path(app.config["MEDIA_PATH"]) / "incoming"
    assert not incoming.exists() or list(incoming.iterdir()) == []


def test_an_upload_without_a_file_names_the_field(client, tokens, create_testimony):
    testimony = create_testimony("draft")
    response = client.post(
        f"/api/v1/testimonies/{testimony.id}/media",
        data={"kind": "audio"},
        headers=bearer(tokens["archivist"]),
        content_type="multipart/form-data",
    )
    assert response.status_code == 422
    assert "file" in response.get_json()["error"]["fields"]


def test_a_file_over_the_limit_is_refused_with_413(client, tokens, create_testimony, app):
    app.config["MEDIA_MAX_BYTES"] = 10_000
    testimony = create_testimony("draft")
    response = upload(client, tokens["archivist"], testimony.id, wav_bytes(2))
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "too_large"
    assert count_media() == 0


def test_who_may_upload(client, tokens, create_testimony):
    public = create_testimony("published", access="public")
    draft = create_testimony("draft")
    assert upload(client, tokens["researcher"], public.id, wav_bytes(1)).status_code == 403
    assert upload(client, tokens["researcher"], draft.id, wav_bytes(1)).status_code == 404
    anonymous = client.post(
        f"/api/v1/testimonies/{public.id}/media",
        data={"file": (io.BytesIO(wav_bytes(1)), "a.wav")},
        content_type="multipart/form-data",
    )
    assert anonymous.status_code in (401, 404)
    assert count_media() == 0


def test_the_same_file_twice_is_stored_once(client, tokens, create_testimony, app):
    testimony = create_testimony("draft")
    content = wav_bytes(1)
    first = upload(client, tokens["archivist"], testimony.id, content).get_json()
    second = upload(client, tokens["archivist"], testimony.id, content).get_json()
    assert first["id"] != second["id"] and first["sha256"] == second["sha256"]
    stored = [p for p in (Path(app.config["MEDIA_PATH"]) / "files").rglob("*") if p.is_file()]
    assert len(stored) == 1


# --- streaming and the policy ----------------------------------------------------------------


def test_staff_stream_the_original_with_range_requests(client, tokens, create_testimony):
    testimony = create_testimony("draft")
    content = wav_bytes()
    url = upload(client, tokens["archivist"], testimony.id, content).get_json()["url"]
    partial = fetch(client, url, headers={**bearer(tokens["archivist"]), "Range": "bytes=100-199"})
    assert partial.status_code == 206
    assert partial.data == content[100:200]
    assert partial.headers["Content-Range"] == f"bytes 100-199/{len(content)}"
    assert "no-cache" in partial.headers["Cache-Control"]


@needs_ffmpeg
def test_the_public_hear_redactions_silenced_and_never_the_files_tags(
    client, tokens, users, create_testimony
):
    testimony = create_testimony(
        "published",
        access="public",
        consent_publish_media=True,
        consent_redactions=[{"start_ms": 2000, "end_ms": 3000, "reason": "a living neighbour's name"}],
    )
    content = wav_bytes()
    media_id = upload(client, tokens["archivist"], testimony.id, content).get_json()["id"]
    publish_again(users, testimony)
    staff = fetch(client, f"/media/{media_id}", headers=bearer(tokens["archivist"]))
    assert TAG_CANARY in staff.data
    public = fetch_when_ready(client, f"/media/{media_id}")
    assert public.status_code == 200
    assert public.mimetype == "audio/wav"
    assert TAG_CANARY not in public.data
    samples = samples_of(public.data)
    assert len(samples) == pytest.approx(RATE * SECONDS, abs=RATE // 10)
    assert all(s == 0 for s in samples[2 * RATE + 1 : 3 * RATE])
    assert max(abs(s) for s in samples[int(0.5 * RATE) : int(1.5 * RATE)]) > 4000
    assert max(abs(s) for s in samples[int(3.5 * RATE) : int(4.5 * RATE)]) > 4000
    ranged = fetch(client, f"/media/{media_id}", headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and ranged.data == public.data[:100]
    assert "no-cache" in public.headers["Cache-Control"]
    assert "testimony-" in public.headers["Content-Disposition"]
    assert "interview" not in public.headers["Content-Disposition"]


@needs_ffmpeg
def test_a_researcher_hears_the_same_redacted_rendition(client, tokens, users, create_testimony):
    testimony = create_testimony(
        "published",
        access="research",
        consent_publish_media=True,
        consent_redactions=[{"start_ms": 1000, "end_ms": 2000, "reason": "health"}],
    )
    media_id = upload(client, tokens["archivist"], testimony.id, wav_bytes()).get_json()["id"]
    publish_again(users, testimony)
    assert fetch(client, f"/media/{media_id}").status_code == 404
    heard = fetch_when_ready(client, f"/media/{media_id}", headers=bearer(tokens["researcher"]))
    assert heard.status_code == 200
    assert all(s == 0 for s in samples_of(heard.data)[RATE + 1 : 2 * RATE])


def test_without_publish_media_nobody_outside_the_staff_gets_the_recording(
    client, tokens, users, create_testimony
):
    testimony = create_testimony("published", access="public", consent_publish_media=False)
    media_id = upload(client, tokens["archivist"], testimony.id, wav_bytes(1)).get_json()["id"]
    publish_again(users, testimony)
    assert fetch(client, f"/media/{media_id}").status_code == 404
    assert fetch(client, f"/media/{media_id}", headers=bearer(tokens["researcher"])).status_code == 404
    assert client.get(f"/api/v1/testimonies/{testimony.id}").get_json()["media"] == []
    assert fetch(client, f"/media/{media_id}", headers=bearer(tokens["moderator"])).status_code == 200


@needs_ffmpeg
def test_withdrawal_and_removal_stop_the_stream_at_once(client, tokens, users, create_testimony):
    from archive.consent.service import validate_consent
    from archive.operations import change_consent
    from tests.conftest import sample_body

    testimony = create_testimony("published", access="public", consent_publish_media=True)
    media_id = upload(client, tokens["archivist"], testimony.id, wav_bytes(1)).get_json()["id"]
    publish_again(users, testimony)
    assert fetch_when_ready(client, f"/media/{media_id}").status_code == 200
    values = validate_consent({**sample_body()["consent"], "access": "withdrawn", "publish_media": True})
    change_consent(users["archivist"], testimony, values)
    assert fetch(client, f"/media/{media_id}").status_code == 404
    assert fetch(client, f"/media/{media_id}", headers=bearer(tokens["researcher"])).status_code == 404
    assert fetch(client, f"/media/{media_id}", headers=bearer(tokens["admin"])).status_code == 200


def test_a_removed_recording_is_gone_for_everyone_but_admins_before_any_review(
    client, tokens, users, create_testimony
):
    testimony = create_testimony("published", access="public", consent_publish_media=True)
    media_id = upload(client, tokens["archivist"], testimony.id, wav_bytes(1)).get_json()["id"]
    publish_again(users, testimony)
    login(client, users["archivist"])
    assert client.post(f"/media/{media_id}/delete").status_code == 302
    client.post("/logout")
    assert fetch(client, f"/media/{media_id}").status_code == 404
    assert fetch(client, f"/media/{media_id}", headers=bearer(tokens["moderator"])).status_code == 404
    assert fetch(client, f"/media/{media_id}", headers=bearer(tokens["admin"])).status_code == 200
    assert db.session.get(MediaFile, media_id) is not None


def test_a_consent_form_scan_never_leaves_the_staff(client, tokens, users, create_testimony):
    testimony = create_testimony("published", access="public", consent_publish_media=True)
    scan = upload(client, tokens["archivist"], testimony.id, PDF, name="signed-form.pdf").get_json()
    assert scan["kind"] == "consent_form"
    db.session.refresh(testimony)
    assert testimony.state == "published", "a scan is not part of what the public is shown"
    for token in (None, tokens["researcher"]):
        headers = bearer(token) if token else {}
        assert fetch(client, f"/media/{scan['id']}", headers=headers).status_code == 404
        listed = client.get(f"/api/v1/testimonies/{testimony.id}", headers=headers).get_json()["media"]
        assert listed == []
    assert fetch(client, f"/media/{scan['id']}", headers=bearer(tokens["archivist"])).data == PDF


def test_the_consent_names_its_signed_form_and_refuses_another_testimonys(client, tokens, users,
                                                                         create_testimony):  # fmt: skip
    from tests.conftest import sample_body

    testimony = create_testimony("draft")
    other = create_testimony("draft")
    scan_id = upload(client, tokens["archivist"], testimony.id, PDF, name="form.pdf").get_json()["id"]
    other_scan = upload(client, tokens["archivist"], other.id, PDF, name="form.pdf").get_json()["id"]
    consent = {**sample_body()["consent"], "form": other_scan}
    url = f"/api/v1/testimonies/{testimony.id}/consent"
    response = client.put(url, json=consent, headers=bearer(tokens["archivist"]))
    assert response.status_code == 422
    assert "form" in response.get_json()["error"]["fields"]
    consent["form"] = scan_id
    response = client.put(url, json=consent, headers=bearer(tokens["archivist"]))
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["consent"]["form"] == scan_id
    # The scan of the consent in force cannot be removed from under it.
    login(client, users["archivist"])
    client.post(f"/media/{scan_id}/delete")
    assert db.session.get(MediaFile, scan_id).deleted_at is None


# --- the staff page --------------------------------------------------------------------------


def test_the_staff_page_uploads_lists_and_explains_a_refusal(client, users, create_testimony):
    testimony = create_testimony("draft")
    login(client, users["archivist"])
    page = client.post(
        f"/testimonies/{testimony.id}/media",
        data={"file": (io.BytesIO(b"plain words"), "notes.txt"), "kind": ""},
        content_type="multipart/form-data",
    )
    assert page.status_code == 422
    assert "Accepted: audio" in page.get_data(as_text=True)
    done = client.post(
        f"/testimonies/{testimony.id}/media",
        data={"file": (io.BytesIO(wav_bytes(1)), "kitchen-interview.wav"), "kind": "audio"},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert done.status_code == 200
    html = done.get_data(as_text=True)
    assert "kitchen-interview.wav" in html and "becomes public when a moderator" in html


def test_the_public_page_plays_the_recording_only_where_allowed(client, tokens, users, create_testimony):
    testimony = create_testimony("published", access="public", consent_publish_media=True)
    upload(client, tokens["archivist"], testimony.id, wav_bytes(1))
    publish_again(users, testimony)
    html = client.get(f"/testimonies/{testimony.id}").get_data(as_text=True)
    assert "Recording" in html
    assert "interview.wav" not in html


# --- fixity ----------------------------------------------------------------------------------


def test_fixity_finds_a_changed_and_a_missing_file(client, tokens, create_testimony, app):
    testimony = create_testimony("draft")
    first = upload(client, tokens["archivist"], testimony.id, wav_bytes(1)).get_json()
    second = upload(client, tokens["archivist"], testimony.id, wav_bytes(2)).get_json()
    runner = app.test_cli_runner()
    clean = runner.invoke(args=["fixity"])
    assert clean.exit_code == 0, clean.output
    assert "2 files" in clean.output
    root = Path(app.config["MEDIA_PATH"]) / "files"
    (root / first["sha256"][:2] / first["sha256"]).write_bytes(b"bit rot")
    (root / second["sha256"][:2] / second["sha256"]).unlink()
    broken = runner.invoke(args=["fixity"])
    assert broken.exit_code == 1
    assert f"media {first['id']}" in broken.output and "SHA-256" in broken.output
    assert f"media {second['id']}" in broken.output and "missing" in broken.output


def _frame_brightness(video: bytes, at: float, tmp_path) -> float:
    """The mean grey level (0-255) of the frame shown at `at` seconds."""
    source = tmp_path / f"probe-{at}.mp4"
    source.write_bytes(video)
    grey = subprocess.run(
        ["ffmpeg", "-v", "error", "-ss", str(at), "-i", str(source), "-frames:v", "1", "-f", "rawvideo",
         "-pix_fmt", "gray", "-"],
        capture_output=True,
        check=True,
    ).stdout  # fmt: skip
    return sum(grey) / len(grey)


@needs_ffmpeg
def test_a_redacted_stretch_of_a_video_is_black_and_silent_for_the_public(
    client, tokens, users, create_testimony, tmp_path
):
    made = tmp_path / "made.mp4"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=white:s=160x120:r=25", "-f", "lavfi", "-i",
         "sine=frequency=440:sample_rate=8000", "-t", "4", "-metadata", f"title={TAG_CANARY.decode()}",
         "-pix_fmt", "yuv420p", str(made)],
        check=True,
    )  # fmt: skip
    testimony = create_testimony(
        "published",
        access="public",
        consent_publish_media=True,
        consent_redactions=[{"start_ms": 1000, "end_ms": 2000, "reason": "a face that must not be shown"}],
    )
    response = upload(client, tokens["archivist"], testimony.id, made.read_bytes(), name="made.mp4")
    assert response.get_json()["kind"] == "video"
    publish_again(users, testimony)
    public = fetch_when_ready(client, f"/media/{response.get_json()['id']}")
    assert public.status_code == 200 and public.mimetype == "video/mp4"
    assert TAG_CANARY not in public.data
    assert _frame_brightness(public.data, 1.5, tmp_path) < 20
    assert _frame_brightness(public.data, 0.5, tmp_path) > 200
    assert _frame_brightness(public.data, 3.0, tmp_path) > 200


def test_the_moderator_sees_the_added_recording_in_the_comparison(client, tokens, users, create_testimony):
    from archive.operations import submit_for_review

    testimony = create_testimony("published", consent_publish_media=True)
    upload(client, tokens["archivist"], testimony.id, wav_bytes(1), name="second-session.wav")
    submit_for_review(users["archivist"], testimony)
    login(client, users["moderator"])
    html = client.get(f"/review/{testimony.id}").get_data(as_text=True)
    row = html[html.index("Recordings") :]
    assert "<ins>second-session.wav" in row[:2000]


def test_a_request_larger_than_any_upload_is_refused_on_every_route(tmp_path):
    from tests.conftest import make_app

    app = make_app(tmp_path, MEDIA_MAX_BYTES=1000)
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert limit == 1000 + 16 * 1024**2
    client = app.test_client()
    with app.app_context():
        db.create_all()
    huge = {"email": "x" * (limit + 1), "password": "p"}
    assert client.post("/login", data=huge).status_code == 413
