"""BagIt exports: a preservation bag holds everything, checksummed; a public bag only what the
public may see; a bad request writes nothing."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil

import bagit
import pytest

from tests.conftest import sample_body
from tests.test_media import PDF, TAG_CANARY, samples_of, wav_bytes

# CI installs ffmpeg (.ci/test); elsewhere these tests wait for it to be installed.
needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None and not os.environ.get("CI"), reason="ffmpeg is not installed"
)


@pytest.fixture
def recorded(create_testimony, users):
    """A published, anonymised testimony with a recording, a signed-form scan and two consent versions."""
    from archive.consent.service import validate_consent
    from archive.operations import add_media as upload
    from archive.operations import change_consent, review, submit_for_review

    testimony = create_testimony(
        narrator={
            "name": "Gulnar Inventedova",
            "pseudonym": "The weaver",
            "birth_year": 1948,
            "gender": None,
        },
        consent_anonymize_narrator=True,
        consent_publish_media=True,
    )
    recording = upload(users["archivist"], testimony, io.BytesIO(wav_bytes()), "tape-side-a.wav", None)
    scan = upload(users["archivist"], testimony, io.BytesIO(PDF), "signed.pdf", "consent_form")
    consent = {
        **sample_body()["consent"],
        "anonymize_narrator": True,
        "publish_media": True,
        "form": scan.id,
        "redactions": [{"start_ms": 2000, "end_ms": 3000, "reason": "a neighbour's name"}],
        "notes": "Kept private: the narrator asked about the neighbour's name.",
    }
    change_consent(users["archivist"], testimony, validate_consent(consent))
    submit_for_review(users["archivist"], testimony)
    review(users["moderator"], testimony, "approve", "Recording checked.")
    return testimony, recording, scan


def _payload(bag_dir) -> dict[str, bytes]:
    return {
        str(p.relative_to(bag_dir / "data")): p.read_bytes()
        for p in (bag_dir / "data").rglob("*")
        if p.is_file()
    }


def test_a_preservation_bag_holds_everything_with_verified_checksums(app, recorded, tmp_path):
    testimony, recording, scan = recorded
    target = tmp_path / "bag"
    result = app.test_cli_runner().invoke(args=["export", "bag", str(testimony.id), str(target)])
    assert result.exit_code == 0, result.output
    assert "checksums verified" in result.output
    bag = bagit.Bag(str(target))
    bag.validate()
    assert bag.info["External-Identifier"] == f"testimony-{testimony.id}"
    assert {"sha256", "sha512"} <= set(bag.algorithms)
    files = _payload(target)
    assert files[f"media/{recording.id}-tape-side-a.wav"] == wav_bytes()
    assert files[f"media/{scan.id}-signed.pdf"] == PDF
    record = json.loads(files["testimony.json"])
    assert record["working_copy"]["narrator"]["name"] == "Gulnar Inventedova"
    consent = json.loads(files["consent.json"])
    assert [c["version"] for c in consent] == [1, 2]
    assert consent[-1]["form"] == scan.id and "neighbour" in consent[-1]["notes"]
    assert json.loads(files["revisions.json"])[-1]["version"] == testimony.version
    assert any(e["action"] == "media.upload" for e in json.loads(files["audit.json"]))
    media = {m["id"]: m for m in json.loads(files["media.json"])}
    assert media[recording.id]["sha256"] == hashlib.sha256(wav_bytes()).hexdigest()
    assert files["transcript.vtt"].startswith(b"WEBVTT")


@needs_ffmpeg
def test_a_public_bag_holds_only_what_the_public_may_see(app, recorded, tmp_path):
    testimony, recording, scan = recorded
    target = tmp_path / "public-bag"
    result = app.test_cli_runner().invoke(
        args=["export", "bag", str(testimony.id), str(target), "--for", "public"]
    )
    assert result.exit_code == 0, result.output
    bagit.Bag(str(target)).validate()
    files = _payload(target)
    everything = b"".join(files.values())
    for secret in (b"Gulnar", b"Inventedova", TAG_CANARY, b"neighbour's name was", b"signed.pdf", b"%PDF"):
        assert secret not in everything
    assert json.loads(files["testimony.json"])["narrator"]["name"] == "The weaver"
    (name,) = [n for n in files if n.startswith("media/")]
    samples = samples_of(files[name])
    assert all(s == 0 for s in samples[2 * 8000 + 1 : 3 * 8000])
    assert b"Kept private" not in everything


def test_a_bag_is_refused_where_it_would_overwrite_or_reveal(app, create_testimony, tmp_path):
    staff_only = create_testimony(access="staff")
    runner = app.test_cli_runner()
    target = tmp_path / "hidden"
    result = runner.invoke(args=["export", "bag", str(staff_only.id), str(target), "--for", "public"])
    assert result.exit_code == 1
    assert "not visible to the public" in result.output
    assert not target.exists()
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("someone's notes")
    result = runner.invoke(args=["export", "bag", str(staff_only.id), str(occupied)])
    assert result.exit_code == 1 and "not empty" in result.output
    assert [p.name for p in occupied.iterdir()] == ["keep.txt"]
    result = runner.invoke(args=["export", "bag", "999999", str(tmp_path / "none")])
    assert result.exit_code == 1 and "no testimony 999999" in result.output
