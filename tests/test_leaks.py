"""The leak suite: unique canary words planted in every kind of restricted place must never come
back to the public or a researcher, on any surface."""

from __future__ import annotations

import io
import re
from html import escape
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import login, sample_body

# Each canary is a made-up word that appears nowhere else.
CANARIES = {
    "sealed": "zorblaquint",
    "research": "quellmorvant",
    "staff": "travenhollow",
    "draft": "mirthwaldex",
    "in_review": "plondersky",
    "redacted": "vexillumbra",
    "anonymised_name": "Krasimira Oblenskaya",
    "withdrawn": "gondrevalle",
    "consent_note": "sprindlewort",
    "untranscribed": "haldrumvey",
    "unpublished_edit": "fennicortex",
    "recording_tag": "brunnewaltig",
    "form_scan": "quiddlestorm",
}
RESEARCH_MAY_SEE = {"research"}
# The OAI-PMH identifier of a testimony, less its number, as the test client's host makes it.
OAI_ID = "oai:localhost:testimony/"


def _segments(word: str) -> list[dict]:
    body = sample_body()
    segments = body["segments"]
    segments[1] = {**segments[1], "text": f"The word {word} was said here by the river."}
    return segments


@pytest.fixture
def planted(create_testimony, users, app):
    """A small archive in which every restricted place holds its canary."""
    from archive.operations import update_testimony

    made = {
        "visible": create_testimony(title="An open testimony about the river crossing"),
        "sealed": create_testimony(access="sealed", segments=_segments(CANARIES["sealed"]),
                                   places=[CANARIES["sealed"].title()]),
        "research": create_testimony(access="research", segments=_segments(CANARIES["research"]),
                                     places=[CANARIES["research"].title()]),
        "staff": create_testimony(access="staff", segments=_segments(CANARIES["staff"]),
                                  subjects=[CANARIES["staff"]]),
        "draft": create_testimony(state="draft", segments=_segments(CANARIES["draft"]),
                                  title=f"Draft {CANARIES['draft']}"),
        "in_review": create_testimony(state="in_review", segments=_segments(CANARIES["in_review"])),
        "withdrawn": create_testimony(access="withdrawn", segments=_segments(CANARIES["withdrawn"]),
                                      title=f"Withdrawn {CANARIES['withdrawn']}"),
        "untranscribed": create_testimony(consent_publish_transcript=False,
                                          segments=_segments(CANARIES["untranscribed"])),
        "note": create_testimony(consent_notes=f"Private note {CANARIES['consent_note']}"),
    }  # fmt: skip
    redacted = _segments(CANARIES["redacted"])
    made["redacted"] = create_testimony(
        segments=redacted,
        consent_redactions=[{"start_ms": 60000, "end_ms": 120000, "reason": "a living relative"}],
    )
    made["anonymised"] = create_testimony(
        narrator={"name": CANARIES["anonymised_name"], "pseudonym": "The teacher", "birth_year": 1950,
                  "gender": None},
        consent_anonymize_narrator=True,
    )  # fmt: skip
    made["recorded"] = _recorded(create_testimony, users)
    edited = create_testimony()
    update_testimony(users["archivist"], edited,
                     {"summary": f"An edit not yet approved: {CANARIES['unpublished_edit']}"},
                     edited.version)  # fmt: skip
    made["edited"] = edited
    from archive.search.outbox import drain

    drain()
    return made


def _recorded(create_testimony, users):
    """A public testimony whose consent publishes media, with a recording whose own tags hold a
    canary (as a recorder's metadata might hold a real name), a redacted stretch, and a scan of
    the signed form holding another."""
    from archive.consent.service import validate_consent
    from archive.operations import add_media as upload
    from archive.operations import change_consent, review, submit_for_review
    from tests.test_media import PDF, wav_bytes

    testimony = create_testimony(
        consent_publish_media=True,
        consent_redactions=[{"start_ms": 1000, "end_ms": 2000, "reason": "a neighbour's name"}],
    )
    tag = CANARIES["recording_tag"].encode()
    upload(users["archivist"], testimony, io.BytesIO(wav_bytes(3, tag=tag)), "tape.wav", None)
    scan = PDF.replace(b"%%EOF", b"% " + CANARIES["form_scan"].encode() + b"\n%%EOF")
    form = upload(users["archivist"], testimony, io.BytesIO(scan), "signed.pdf", "consent_form")
    redaction = {"start_ms": 1000, "end_ms": 2000, "reason": "a neighbour's name"}
    consent = {**sample_body()["consent"], "publish_media": True, "form": form.id, "redactions": [redaction]}
    change_consent(users["archivist"], testimony, validate_consent(consent))
    submit_for_review(users["archivist"], testimony)
    review(users["moderator"], testimony, "approve", "Recording checked.")
    return testimony


def _probes(planted) -> list[str]:
    """Every public surface, as URLs: search (words, prefix, fuzzy), pages, API, VTT, suggestions,
    OAI-PMH, the sitemap and the Atom feed."""
    urls = ["/", "/search", "/api/v1/search", "/api/v1/search?q=river", "/search?q=river",
            "/oai", "/api/v1/openapi.json", "/does-not-exist", "/api/v1/does-not-exist",
            "/oai?verb=ListRecords&metadataPrefix=oai_dc", "/oai?verb=ListIdentifiers&metadataPrefix=oai_dc",
            "/oai?verb=Identify", "/sitemap.xml", "/feed.atom"]  # fmt: skip
    for word in CANARIES.values():
        for form in (word, word[:5] + "*", word[:-1] + "~", word.split()[0].lower()):
            urls += [f"/api/v1/search?q={form}", f"/search?q={form}", f"/search/suggest?q={form[:4]}"]
        urls += [f"/api/v1/search?place={word.title()}", f"/api/v1/search?subject={word}"]
    from archive.extensions import db
    from archive.media.models import MediaFile

    urls += [f"/media/{m.id}" for m in db.session.query(MediaFile).all()]
    for t in planted.values():
        urls += [f"/testimonies/{t.id}", f"/api/v1/testimonies/{t.id}",
                 f"/api/v1/testimonies/{t.id}/transcript.vtt", f"/testimonies/{t.id}?t=60000",
                 f"/oai?verb=GetRecord&metadataPrefix=oai_dc&identifier={OAI_ID}{t.id}"]  # fmt: skip
    return urls


def _leaks(client, urls, allowed=frozenset()) -> list[str]:
    found = []
    for url in urls:
        response = client.get(url)
        # Media come back as bytes: a tag is found in them as in any page.
        body = response.get_data().decode("utf-8", "replace")
        response.close()
        q = parse_qs(urlsplit(url).query).get("q", [""])[0]
        if q:
            # Pages repeat the reader's own query and carry their address in the sign-in link:
            # those echoes are not leaks, so they are cut out before looking.
            body = re.sub(r'href="/login\?next=[^"]*"', "", body)
            for echo in (f"“{escape(q)}”", f'value="{escape(q)}"'):
                body = body.replace(echo, "")
        body = body.lower()
        for name, word in CANARIES.items():
            if name in allowed:
                continue
            for token in word.lower().split():
                if token in body:
                    found.append(f"{name} ({token}) at {url}")
    return found


def test_no_canary_reaches_the_public_on_any_surface(client, planted):
    assert _leaks(client, _probes(planted)) == []


def test_no_canary_beyond_research_reaches_a_researcher(client, planted, users):
    login(client, users["researcher"])
    assert _leaks(client, _probes(planted), allowed=RESEARCH_MAY_SEE) == []


def test_researcher_does_find_the_research_canary(client, planted, users):
    # The suite must be able to see a canary where one is allowed, or it proves nothing.
    login(client, users["researcher"])
    hits = client.get(f"/api/v1/search?q={CANARIES['research']}").get_json()
    assert hits["total"] == 1
    assert CANARIES["research"] in hits["hits"][0]["segments"][0]["snippet"]


def test_staff_find_the_draft_canary(client, planted, users):
    login(client, users["archivist"])
    hits = client.get(f"/api/v1/search?q={CANARIES['draft']}").get_json()
    assert [h["id"] for h in hits["hits"]] == [planted["draft"].id]


def test_public_totals_and_facets_count_only_what_the_public_may_see(client, planted):
    answer = client.get("/api/v1/search").get_json()
    public_ids = {planted[k].id for k in ("visible", "untranscribed", "note", "redacted", "anonymised",
                                          "edited", "recorded")}  # fmt: skip
    assert answer["total"] == len(public_ids)
    places = dict(map(tuple, answer["facets"]["place"]))
    assert CANARIES["sealed"].title() not in places
    assert places.get("Ağdam") == len(public_ids)


def test_withdrawal_takes_a_testimony_off_every_public_surface_at_once(client, planted, users):
    from archive.consent.service import validate_consent
    from archive.operations import change_consent

    visible = planted["visible"]
    assert client.get(f"/api/v1/testimonies/{visible.id}").status_code == 200
    change_consent(users["archivist"], visible, validate_consent({**sample_body()["consent"],
                                                                  "access": "withdrawn"}))  # fmt: skip
    from archive.search.outbox import drain

    drain()
    assert client.get(f"/api/v1/testimonies/{visible.id}").status_code == 404
    assert client.get(f"/testimonies/{visible.id}").status_code == 404
    hits = client.get("/api/v1/search?q=crossing").get_json()
    assert visible.id not in [h["id"] for h in hits["hits"]]


def test_no_canary_reaches_a_public_bag(planted, tmp_path):
    """The public BagIt export is built from what the public may see: a bag of anything else is
    refused, and the bags there are hold no canary, in any file, media included."""
    from archive.errors import NotFound
    from archive.preservation.service import export_bag

    exported = 0
    for name, testimony in planted.items():
        target = tmp_path / f"bag-{name}"
        try:
            export_bag(testimony.id, target, kind="public")
        except NotFound:
            assert not target.exists()
            continue
        exported += 1
        for path in target.rglob("*"):
            if path.is_file():
                text = path.read_bytes().decode("utf-8", "replace").lower()
                for canary, word in CANARIES.items():
                    assert word.lower().split()[0] not in text, f"{canary} in {path}"
    assert exported == 7
