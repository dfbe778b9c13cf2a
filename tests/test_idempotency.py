"""Writes that a client can retry, on SQLite and on PostgreSQL: under one `Idempotency-Key` the
same create makes one testimony (or one stored file) and gets the same answer, however often
and however concurrently it is sent, and a different request under that key is refused; a
testimony's `external_id` is its key in other systems; an edit that changes nothing saves nothing."""

from __future__ import annotations

import datetime as dt
import io
import json
import threading
import urllib.error
import urllib.request

import pytest
from sqlalchemy import func, select, update

from archive.api.models import IdempotentRequest
from archive.audit.models import AuditEvent
from archive.catalogue import models as catalogue
from archive.extensions import db
from archive.media.models import MediaFile
from archive.review.models import Revision
from archive.search.models import OutboxEntry
from tests.conftest import PASSWORD, make_app, sample_body


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def api(client, tokens):
    def call(method: str, path: str, role: str | None = "archivist", key: str | None = None, **kwargs):
        headers = dict(kwargs.pop("headers", {}))
        if role is not None:
            headers["Authorization"] = f"Bearer {tokens[role]}"
        if key is not None:
            headers["Idempotency-Key"] = key
        return client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)

    return call


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_retried_create_answers_the_first_answer_and_makes_nothing_new(api):
    first = api("POST", "/testimonies", key="retry-7f3a", json=sample_body())
    made = (count(catalogue.Testimony), count(Revision))

    again = api("POST", "/testimonies", key="retry-7f3a", json=sample_body())

    assert first.status_code == 201 and "Idempotent-Replayed" not in first.headers
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json == first.json
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["ETag"] == first.headers["ETag"]
    assert (count(catalogue.Testimony), count(Revision)) == made == (1, 1)


def test_the_same_body_with_its_keys_in_another_order_is_the_same_request(api):
    body = sample_body()
    first = api("POST", "/testimonies", key="k-order", json=body)
    reordered = json.dumps(dict(reversed(list(body.items()))), indent=2)

    again = api("POST", "/testimonies", key="k-order", data=reordered, content_type="application/json")

    assert again.status_code == 201 and again.json["id"] == first.json["id"]
    assert count(catalogue.Testimony) == 1


def test_without_a_key_each_create_makes_a_testimony(api):
    ids = {api("POST", "/testimonies", json=sample_body()).json["id"] for _ in range(2)}
    assert len(ids) == 2 and count(catalogue.Testimony) == 2


def test_the_same_key_with_another_body_is_refused_naming_the_header(api):
    api("POST", "/testimonies", key="k-1", json=sample_body(title="The first request"))

    other = api("POST", "/testimonies", key="k-1", json=sample_body(title="Another request"))

    assert other.status_code == 422
    assert other.json["error"]["code"] == "idempotency_key_reused"
    assert "Idempotency-Key" in other.json["error"]["fields"]
    assert "The first request" not in other.get_data(as_text=True)
    assert count(catalogue.Testimony) == 1


def test_keys_are_each_users_own(api):
    mine = api("POST", "/testimonies", "archivist", key="shared-key", json=sample_body())
    theirs = api("POST", "/testimonies", "archivist2", key="shared-key", json=sample_body())

    assert theirs.status_code == 201 and "Idempotent-Replayed" not in theirs.headers
    assert theirs.json["id"] != mine.json["id"] and count(catalogue.Testimony) == 2


def test_a_refused_create_keeps_no_answer_so_the_corrected_retry_is_made(api):
    refused = api("POST", "/testimonies", key="k-fix", json=sample_body(title=""))
    assert refused.status_code == 422 and count(IdempotentRequest) == 0

    fixed = api("POST", "/testimonies", key="k-fix", json=sample_body())

    assert fixed.status_code == 201 and "Idempotent-Replayed" not in fixed.headers
    assert count(catalogue.Testimony) == 1


@pytest.mark.parametrize("key", ["", " ", "x" * 256, "ключ"])
def test_a_malformed_key_is_refused_naming_the_header(api, key):
    response = api("POST", "/testimonies", headers={"Idempotency-Key": key}, json=sample_body())

    assert response.status_code == 422
    assert "Idempotency-Key" in response.json["error"]["fields"]
    assert count(catalogue.Testimony) == 0


def test_a_key_expires_after_the_setting_and_expired_keys_are_pruned(api, app):
    first = api("POST", "/testimonies", key="k-old", json=sample_body())
    api("POST", "/testimonies", key="k-other", json=sample_body())
    hours = app.config["IDEMPOTENCY_KEY_HOURS"]
    assert hours == 24
    long_ago = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=hours, minutes=1)
    db.session.execute(update(IdempotentRequest).values(created_at=long_ago))

    later = api("POST", "/testimonies", key="k-old", json=sample_body())

    assert later.status_code == 201 and "Idempotent-Replayed" not in later.headers
    assert later.json["id"] != first.json["id"] and count(catalogue.Testimony) == 3
    assert db.session.scalars(select(IdempotentRequest.key)).all() == ["k-old"]


def test_a_retried_media_upload_stores_one_file(api, create_testimony):
    from tests.test_media import wav_bytes

    testimony = create_testimony()
    path = f"/testimonies/{testimony.id}/media"
    content = wav_bytes(1)

    def upload(data: bytes, name: str = "interview.wav"):
        form = {"file": (io.BytesIO(data), name)}
        return api("POST", path, key="upload-1", data=form, content_type="multipart/form-data")

    first = upload(content)
    version = db.session.get(catalogue.Testimony, testimony.id).version
    again = upload(content)
    other = upload(wav_bytes(2))

    assert first.status_code == 201 and again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true" and again.json == first.json
    assert again.headers["Location"] == first.headers["Location"]
    assert other.status_code == 422 and "Idempotency-Key" in other.json["error"]["fields"]
    assert count(MediaFile) == 1
    assert db.session.get(catalogue.Testimony, testimony.id).version == version


def _send_at_once(
    url: str, token: str, times: int = 6, key: str | None = "one-click"
) -> list[tuple[int, dict]]:
    """The same create sent by `times` clients at the same instant, as a double click or a
    client's eager retry would; its external_id is one more thing the racers meet on."""
    body = json.dumps(sample_body(external_id="RACE-1")).encode()
    start = threading.Barrier(times)
    answers: list[tuple[int, dict]] = []

    def send() -> None:
        request = urllib.request.Request(
            f"{url}/api/v1/testimonies",
            data=body,
            method="POST",
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": "application/json",
                **({"Idempotency-Key": key} if key else {}),
            },
        )
        start.wait()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                answers.append((response.status, json.loads(response.read())))
        except urllib.error.HTTPError as e:
            answers.append((e.code, json.loads(e.read())))

    threads = [threading.Thread(target=send) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def _one_testimony_for_all(answers: list[tuple[int, dict]]) -> None:
    assert [status for status, _ in answers] == [201] * 6
    assert len({answer["id"] for _, answer in answers}) == 1
    db.session.remove()
    assert count(catalogue.Testimony) == 1 and count(Revision) == 1
    assert count(IdempotentRequest) == 1


@pytest.mark.parametrize("backend", ["postgres"])
def test_concurrent_requests_under_one_key_make_one_testimony_on_postgresql(live_server, tokens):
    _one_testimony_for_all(_send_at_once(live_server, tokens["archivist"]))


@pytest.mark.parametrize("backend", ["postgres"])
def test_concurrent_creates_of_one_external_id_make_one_testimony_and_refuse_the_rest(live_server, tokens):
    answers = _send_at_once(live_server, tokens["archivist"], key=None)

    assert sorted(status for status, _ in answers) == [201] + [422] * 5
    for status, answer in answers:
        if status == 422:
            assert "already has this external_id" in answer["error"]["fields"]["external_id"]
    db.session.remove()
    assert count(catalogue.Testimony) == 1


@pytest.mark.parametrize("backend", ["postgres"])
def test_concurrent_edits_giving_one_external_id_to_several_testimonies_keep_it_to_one(
    live_server, tokens, create_testimony
):
    drafts = [create_testimony(state="draft", title=f"A fictional entry {n}") for n in range(6)]
    # Read here: the threads that send the edits have no database session of their own.
    drafts = [(t.id, t.version) for t in drafts]
    start = threading.Barrier(len(drafts))
    answers: list[tuple[int, dict]] = []

    def edit(testimony_id: int, version: int) -> None:
        request = urllib.request.Request(
            f"{live_server}/api/v1/testimonies/{testimony_id}",
            data=json.dumps({"external_id": "RACE-2"}).encode(),
            method="PATCH",
            headers={
                "Authorization": f"Bearer {tokens['archivist']}",
                "Content-Type": "application/json",
                "If-Match": str(version),
            },
        )
        start.wait()
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                answers.append((response.status, json.loads(response.read())))
        except urllib.error.HTTPError as e:
            answers.append((e.code, json.loads(e.read())))

    threads = [threading.Thread(target=edit, args=draft) for draft in drafts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(status for status, _ in answers) == [200] + [422] * 5
    for status, answer in answers:
        if status == 422:
            assert "already has this external_id" in answer["error"]["fields"]["external_id"]
    db.session.remove()
    holders = db.session.scalars(
        select(catalogue.Testimony).where(catalogue.Testimony.external_id == "RACE-2")
    ).all()
    assert len(holders) == 1


def test_concurrent_requests_under_one_key_make_one_testimony_on_sqlite(tmp_path):
    """On an app of its own: the suite's SQLite app begins its transactions early, to nest each
    test in one, which a served SQLite archive does not do."""
    from werkzeug.serving import make_server

    from archive.accounts.service import create_token, create_user

    app = make_app(tmp_path / "served")
    with app.app_context():
        db.create_all()
        token = create_token(create_user(None, "a@example.org", "archivist", PASSWORD, name="A"))
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            answers = _send_at_once(f"http://127.0.0.1:{server.server_port}", token)
        finally:
            server.shutdown()
            thread.join(timeout=5)
        _one_testimony_for_all(answers)
        db.session.remove()
        db.engine.dispose()


# --- external_id ------------------------------------------------------------------------------


def test_staff_see_and_set_the_external_id_and_the_public_never_see_it(api, create_testimony):
    made = api("POST", "/testimonies", json=sample_body(external_id="  ACC-2019-044 "))
    published = create_testimony(external_id="ACC-2019-045")

    assert made.status_code == 201 and made.json["external_id"] == "ACC-2019-044"
    staff_view = api("GET", f"/testimonies/{published.id}", "archivist").json
    assert staff_view["external_id"] == "ACC-2019-045"
    for role in ("researcher", None):
        seen = api("GET", f"/testimonies/{published.id}", role)
        assert seen.status_code == 200 and "external_id" not in seen.json
        assert "ACC-2019-045" not in seen.get_data(as_text=True)
    changed = api(
        "PATCH",
        f"/testimonies/{made.json['id']}",
        headers={"If-Match": "1"},
        json={"external_id": "ACC-2019-046"},
    )
    assert changed.status_code == 200 and changed.json["external_id"] == "ACC-2019-046"
    cleared = api(
        "PATCH", f"/testimonies/{made.json['id']}", headers={"If-Match": "2"}, json={"external_id": ""}
    )
    assert cleared.status_code == 200 and cleared.json["external_id"] is None


def test_two_testimonies_never_share_an_external_id(api):
    first = api("POST", "/testimonies", json=sample_body(external_id="ACC-1"))
    other = api("POST", "/testimonies", json=sample_body(external_id="ACC-2"))

    again = api("POST", "/testimonies", json=sample_body(external_id="ACC-1"))
    taken = api(
        "PATCH", f"/testimonies/{other.json['id']}", headers={"If-Match": "1"}, json={"external_id": "ACC-1"}
    )
    unkeyed = [api("POST", "/testimonies", json=sample_body()) for _ in range(2)]

    for refused in (again, taken):
        assert refused.status_code == 422
        assert (
            refused.json["error"]["fields"]["external_id"]
            == f"Testimony {first.json['id']} already has this external_id."
        )
    assert [r.status_code for r in unkeyed] == [201, 201]
    assert count(catalogue.Testimony) == 4
    assert api("GET", f"/testimonies/{other.json['id']}").json["external_id"] == "ACC-2"


# --- an edit that changes nothing -------------------------------------------------------------


def test_a_patch_that_changes_nothing_saves_no_version_revision_event_or_outbox_row(api):
    made = api("POST", "/testimonies", json=sample_body(external_id="ACC-7")).json
    path = f"/testimonies/{made['id']}"
    before = [count(m) for m in (Revision, AuditEvent, OutboxEntry)]
    same = {k: made[k] for k in ("title", "summary", "narrator", "places", "subjects", "external_id")}
    same["places"] = list(reversed(same["places"]))
    body = sample_body()

    answers = [
        api("PATCH", path, headers={"If-Match": "1"}, json=same),
        api("PATCH", path, headers={"If-Match": "1"}, json={"consent": body["consent"]}),
        api("PATCH", path, headers={"If-Match": "1"}, json={"segments": body["segments"]}),
        api("PATCH", path, headers={"If-Match": "1"}, json=api("GET", path).json),
    ]

    for answer in answers:
        assert answer.status_code == 200, answer.json
        assert answer.json["version"] == 1 and answer.headers["ETag"] == '"1"'
    assert [count(m) for m in (Revision, AuditEvent, OutboxEntry)] == before
    changed = api("PATCH", path, headers={"If-Match": "1"}, json={**same, "title": "A new fictional title"})
    assert changed.status_code == 200 and changed.json["version"] == 2
    assert count(Revision) == before[0] + 1


def test_a_patch_that_changes_nothing_still_needs_the_current_version(api):
    made = api("POST", "/testimonies", json=sample_body()).json
    path = f"/testimonies/{made['id']}"
    api("PATCH", path, headers={"If-Match": "1"}, json={"title": "Changed once"})

    stale = api("PATCH", path, headers={"If-Match": "1"}, json={"title": "Changed once"})

    assert stale.status_code == 409
