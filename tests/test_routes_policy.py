"""Every registered route, walked with every method it accepts, as each role, on records of each
consent and state, answers as the table below says.

The table is written by hand, not asked of `archive.access`: it is what the policy must answer,
so a change in the policy that changes an answer fails here until the table is changed on purpose.
A new route (or a new method on a route) without rows fails too: every door must be placed.
"""

from __future__ import annotations

import io

import pytest
from werkzeug.exceptions import MethodNotAllowed

from archive.jobs.models import JobKind
from tests.conftest import login

ROLES = (None, "researcher", "archivist", "moderator", "admin")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")

# What a request answers, beside plain status codes:
LOGIN = "login"  # the sign-in page: a redirect to /login for pages, 401 on the API
MOVED = "moved"  # a redirect elsewhere: the action was let through and sent the user on
SERVED = "served"  # a recording streamed, or (503) its rendition for this caller being made first

ALL = (200,) * 5
# The statuses in the order of ROLES: public, researcher, archivist, moderator, admin.
SIGNED_IN = (LOGIN, 200, 200, 200, 200)
STAFF_PAGE = (LOGIN, 403, 200, 200, 200)
MODERATORS_PAGE = (LOGIN, 403, 403, 200, 200)
ADMINS_PAGE = (LOGIN, 403, 403, 403, 200)
# How records are seen: `public` by anyone, `research` by researchers and staff, `draft` and
# `in_review` (whatever their consent) and `sealed` by staff, `withdrawn` and `deleted` by admins.
SEEN = {
    "public": ALL,
    "research": (404, 200, 200, 200, 200),
    "sealed": (404, 404, 200, 200, 200),
    "draft": (404, 404, 200, 200, 200),
    "in_review": (404, 404, 200, 200, 200),
    "withdrawn": (404, 404, 404, 404, 200),
    "deleted": (404, 404, 404, 404, 200),
}


def _staff_only(allowed):
    """An action for staff on a record: the public never learns it exists (404), a researcher who may
    see it is refused (403), staff get `allowed`; admins alone see withdrawn records."""
    return {
        "public": (404, 403, allowed, allowed, allowed),
        "research": (404, 403, allowed, allowed, allowed),
        "draft": (404, 404, allowed, allowed, allowed),
        "withdrawn": (404, 404, 404, 404, allowed),
    }


def _moderators_only(allowed):
    """An action for moderators on a record: archivists who see it are refused too."""
    return {
        "public": (404, 403, 403, allowed, allowed),
        "in_review": (404, 404, 403, allowed, allowed),
        "withdrawn": (404, 404, 404, 404, allowed),
    }


# (endpoint, method) -> {record: statuses in the order of ROLES}; the record None where the route
# names none. Requests that would change something are sent so that they stop just after the
# policy's answer (no body or a refused one, see PROBES; a record in the wrong state), except the
# two DELETE rows, whose records nothing else reads. The walk follows this order; signing out last.
TABLE: dict[tuple[str, str], dict] = {
    ("static", "GET"): {None: ALL},
    ("catalogue.home", "GET"): {None: ALL},
    ("catalogue.subjects", "GET"): {None: ALL},
    ("catalogue.people", "GET"): {None: ALL},
    ("search.results", "GET"): {None: ALL},
    ("search.suggestions", "GET"): {None: ALL},
    ("search.healthz", "GET"): {None: ALL},
    ("search.admin_health", "GET"): {None: ADMINS_PAGE},
    ("set_language", "GET"): {None: (MOVED,) * 5},
    ("oai.endpoint", "GET"): {None: ALL},
    ("oai.endpoint", "POST"): {None: ALL},
    ("oai.sitemap", "GET"): {None: ALL},
    ("oai.feed", "GET"): {None: ALL},
    ("catalogue.show", "GET"): SEEN,
    ("accounts.login", "GET"): {None: ALL},
    ("accounts.login", "POST"): {None: (422,) * 5},
    ("accounts.logout", "GET"): {None: (MOVED, 200, 200, 200, 200)},
    # Without a password just checked there is no code to ask for: back to the sign-in page.
    ("accounts.login_code", "GET"): {None: (LOGIN,) * 5},
    ("accounts.login_code", "POST"): {None: (LOGIN,) * 5},
    ("accounts.account", "GET"): {None: SIGNED_IN},
    ("accounts.account", "POST"): {None: (LOGIN, 422, 422, 422, 422)},
    ("accounts.users", "GET"): {None: ADMINS_PAGE},
    ("accounts.new_user", "GET"): {None: ADMINS_PAGE},
    ("accounts.new_user", "POST"): {None: (LOGIN, 403, 403, 403, 422)},
    ("accounts.user", "GET"): {None: ADMINS_PAGE},
    ("accounts.user", "POST"): {None: ADMINS_PAGE},
    ("editor.new", "GET"): {None: STAFF_PAGE},
    ("editor.new", "POST"): {None: (LOGIN, 403, 422, 422, 422)},
    ("editor.mine", "GET"): {None: STAFF_PAGE},
    ("editor.edit", "GET"): _staff_only(200),
    ("editor.edit", "POST"): _staff_only(422),
    ("editor.transcript", "GET"): _staff_only(200),
    ("editor.autosave_new", "POST"): {None: (LOGIN, 403, 200, 200, 200)},
    ("editor.autosave", "POST"): _staff_only(200),
    ("editor.discard_draft_new", "POST"): {None: (LOGIN, 403, MOVED, MOVED, MOVED)},
    ("editor.discard_draft", "POST"): _staff_only(MOVED),
    # A published or in-review entry cannot be sent to review: the page says so and goes back.
    ("editor.submit", "POST"): {
        "public": (404, 403, MOVED, MOVED, MOVED),
        "in_review": (404, 404, MOVED, MOVED, MOVED),
        "withdrawn": (404, 404, 404, 404, MOVED),
    },
    # Without the box ticked that confirms it, nothing is deleted.
    ("editor.delete", "POST"): _staff_only(422),
    ("consent.show", "GET"): _staff_only(200),
    ("consent.show", "POST"): _staff_only(422),
    ("media.manage", "GET"): _staff_only(200),
    ("media.manage", "POST"): _staff_only(422),
    # A recording of the published version reaches everyone; one only in a draft, the staff.
    ("media.stream", "GET"): {
        "public_recording": (SERVED,) * 5,
        "draft_recording": (404, 404, SERVED, SERVED, SERVED),
    },
    # Removing a file already removed: the page says so and goes back.
    ("media.delete", "POST"): {
        "removed_public_recording": (404, 403, MOVED, MOVED, MOVED),
        "removed_draft_recording": (404, 404, MOVED, MOVED, MOVED),
    },
    ("review.queue", "GET"): {None: MODERATORS_PAGE},
    ("review.decide", "GET"): _moderators_only(200),
    ("review.decide", "POST"): _moderators_only(422),
    # Without a reason nothing is taken offline; what is not published cannot be.
    ("review.unpublish", "POST"): {
        "public": (404, 403, 403, 422, 422),
        "in_review": (404, 404, 403, MOVED, MOVED),
        "withdrawn": (404, 404, 404, 404, 422),
    },
    ("review.history", "GET"): _staff_only(200),
    ("review.revision", "GET"): _staff_only(200),
    ("review.compare", "GET"): _staff_only(200),
    # Sent with a stale version, so that nothing is restored.
    ("review.restore_revision", "POST"): _staff_only(409),
    ("review.audit", "GET"): {None: ADMINS_PAGE},
    ("review.audit_csv", "GET"): {None: ADMINS_PAGE},
    ("review.deleted", "GET"): {None: ADMINS_PAGE},
    # Asked before the record is looked up; a record that is not deleted is not restored.
    ("review.restore_deleted", "POST"): {
        "public": ADMINS_PAGE[:4] + (MOVED,),
        "withdrawn": ADMINS_PAGE[:4] + (MOVED,),
    },
    ("authority.places", "GET"): {None: STAFF_PAGE},
    ("authority.places", "POST"): {None: (LOGIN, 403, 422, 422, 422)},
    ("authority.people", "GET"): {None: STAFF_PAGE},
    ("authority.people", "POST"): {None: (LOGIN, 403, 422, 422, 422)},
    ("authority.place", "GET"): {None: STAFF_PAGE},
    ("authority.place", "POST"): {None: (LOGIN, 403, 400, 400, 400)},
    ("authority.person", "GET"): {None: STAFF_PAGE},
    ("authority.person", "POST"): {None: (LOGIN, 403, 400, 400, 400)},
    ("places.map_of_places", "GET"): {None: ALL},
    ("jobs.import_page", "GET"): {None: STAFF_PAGE},
    # Without a file nothing is imported.
    ("jobs.import_page", "POST"): {None: (LOGIN, 403, 422, 422, 422)},
    # A job is followed by who started it (here an archivist) and by admins; nobody else learns of it.
    ("jobs.show", "GET"): {"job": (LOGIN, 404, 200, 404, 200)},
    ("jobs.progress", "GET"): {"job": (LOGIN, 404, 200, 404, 200)},
    # A rebuild is under way already: the admin is sent to its page, and no second one starts.
    ("jobs.rebuild_indexes", "POST"): {None: ADMINS_PAGE[:4] + (MOVED,)},
    ("authority.subjects", "GET"): {None: STAFF_PAGE},
    # Sent without labels: refused for that once the policy let the caller through.
    ("authority.subjects", "POST"): {None: (LOGIN, 403, 422, 422, 422)},
    ("authority.subject", "GET"): {None: STAFF_PAGE},
    ("authority.subject", "POST"): {None: (LOGIN, 403, 422, 422, 422)},
    ("api.openapi", "GET"): {None: ALL},
    ("api.search", "GET"): {None: ALL},
    ("api.list_testimonies", "GET"): {None: STAFF_PAGE},
    # Sent without a JSON body: refused for that once the policy let the caller through.
    ("api.create_testimony", "POST"): {None: (LOGIN, 403, 400, 400, 400)},
    ("api.get_testimony", "GET"): SEEN,
    ("api.transcript_vtt", "GET"): {k: SEEN[k] for k in ("public", "research", "draft", "withdrawn")},
    # Without If-Match: the edit must name the version it was made on.
    ("api.update_testimony", "PATCH"): _staff_only(428),
    ("api.put_consent", "PUT"): _staff_only(400),
    # Only what is a draft (or was sent back, rejected, taken offline) can be submitted.
    ("api.submit", "POST"): {
        "public": (404, 403, 409, 409, 409),
        "in_review": (404, 404, 409, 409, 409),
        "withdrawn": (404, 404, 404, 404, 409),
    },
    ("api.review", "POST"): _moderators_only(400),
    ("api.upload_media", "POST"): _staff_only(422),
    # Only admins restore, and only what is deleted.
    ("api.restore_testimony", "POST"): {
        "public": (404, 403, 403, 403, 409),
        "draft": (404, 404, 403, 403, 409),
        "withdrawn": (404, 404, 404, 404, 409),
    },
    ("api.delete_testimony", "DELETE"): {
        "spare_public": (404, 403, 204, 204, 204),
        "spare_draft": (404, 404, 204, 204, 204),
    },
    ("accounts.logout", "POST"): {None: (MOVED,) * 5},
}


# What a request sends where an empty one would change something the policy allowed.
PROBES = {
    # A seal without the date it ends: refused, so no consent version is recorded.
    "consent.show": {"access": "sealed"},
    # A stale version: nothing is restored.
    "review.restore_revision": {"if_match": "0"},
}


@pytest.fixture
def world(create_testimony, users):
    """A record of each consent and state, recordings in and out of the published version, and the
    other things routes name: an account, a place, a person, a subject."""
    from archive.authority.service import create_person
    from archive.operations import add_media as upload
    from archive.operations import delete_testimony, remove_media, review, submit_for_review
    from archive.search.outbox import drain
    from tests.test_media import wav_bytes

    archivist = users["archivist"]

    def recording(testimony, name: str):
        return upload(archivist, testimony, io.BytesIO(wav_bytes(1)), name, None)

    records = {
        "public": create_testimony(),
        "research": create_testimony(access="research"),
        "sealed": create_testimony(access="sealed"),
        "draft": create_testimony(state="draft"),
        "in_review": create_testimony(state="in_review"),
        "withdrawn": create_testimony(access="withdrawn"),
        "deleted": create_testimony(),
        "spare_public": create_testimony(),
        "spare_draft": create_testimony(state="draft"),
    }
    delete_testimony(archivist, records["deleted"])
    # Recordings change the working copy: they go to records of their own, so that every other
    # record stays in its state. A published one is uploaded to a draft that is then approved.
    heard = create_testimony(state="draft")
    records["public_recording"] = recording(heard, "heard.wav")
    records["removed_public_recording"] = recording(heard, "removed.wav")
    remove_media(archivist, records["removed_public_recording"])
    submit_for_review(archivist, heard)
    review(users["moderator"], heard, "approve", "Fine.")
    unheard = create_testimony(state="draft")
    records["draft_recording"] = recording(unheard, "draft.wav")
    records["removed_draft_recording"] = recording(unheard, "removed.wav")
    remove_media(archivist, records["removed_draft_recording"])
    drain()
    records["job"] = _job(users["archivist"], JobKind.IMPORT)
    _job(users["admin"], JobKind.INDEX_REBUILD)
    records["account"] = users["archivist"]
    records["place"] = records["public"].places[0]
    records["person"] = create_person(archivist, "Fictional Person Mentioned")
    records["subject"] = records["public"].subjects[0]
    return records


def _job(user, kind):
    """A job as its thread leaves it while it runs, with no thread: the walk starts none."""
    from archive.jobs import service as jobs
    from archive.unit_of_work import unit_of_work

    with unit_of_work():
        job = jobs.create_job(user, kind, {"filename": "walk.csv", "dry_run": True, "publish": False})
    with unit_of_work():
        jobs.begin(job.id)
    return job


def _url(rule, record_key: str | None, world: dict) -> str:
    values = {}
    for arg in rule.arguments:
        if arg in ("id", "testimony_id", "media_id"):
            values[arg] = world[record_key].id
        elif arg == "user_id":
            values[arg] = world["account"].id
        elif arg == "place_id":
            values[arg] = world["place"].id
        elif arg == "job_id":
            values[arg] = world["job"].id
        elif arg == "person_id":
            values[arg] = world["person"].id
        elif arg == "subject_id":
            values[arg] = world["subject"].id
        elif arg == "version":
            values[arg] = 1
        elif arg == "code":
            values[arg] = "en"
        elif arg == "filename":
            values[arg] = "style.css"
        else:
            raise AssertionError(f"{rule.endpoint}: no value for <{arg}>")
    return rule.build(values)[1]


def _seen(response, endpoint: str):
    """The answer as the table writes it."""
    status = response.status_code
    if status == 302:
        return LOGIN if response.headers["Location"].startswith("/login") else MOVED
    if status == 401 and endpoint.startswith("api."):
        return LOGIN
    if status in (200, 503) and endpoint == "media.stream":
        return SERVED
    return status


def _rules(app) -> dict:
    return {r.endpoint: r for r in app.url_map.iter_rules()}


def test_every_route_and_method_has_rows_in_the_table(app):
    accepted = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        for method in METHODS
        if method in rule.methods
    }
    assert sorted(accepted - set(TABLE)) == [], "routes missing from the table"
    assert sorted(set(TABLE) - accepted) == [], "rows for routes or methods that no longer exist"


def _records_as_stored(world: dict) -> dict:
    """What the walk must leave as it was: every record the DELETE rows do not aim at."""
    from archive.catalogue.models import Testimony
    from archive.extensions import db

    db.session.expire_all()
    return {
        key: (t.state, t.version, t.deleted_at, [(c.number, c.status) for c in t.consents])
        for key, t in world.items()
        if isinstance(t, Testimony) and not key.startswith("spare_")
    }


@pytest.mark.parametrize("role", ROLES)
def test_every_route_answers_each_role_as_the_table_says(app, client, users, world, role):
    if role is not None:
        login(client, users[role])
    before = _records_as_stored(world)
    rules = _rules(app)
    column = ROLES.index(role)
    wrong = []
    for (endpoint, method), rows in TABLE.items():
        rule = rules[endpoint]
        for record_key, statuses in rows.items():
            url = _url(rule, record_key, world)
            response = client.open(url, method=method, data=PROBES.get(endpoint))
            seen = _seen(response, endpoint)
            response.close()
            expected = statuses[column]
            if seen != expected:
                wrong.append(f"{method} {url} ({endpoint}, {record_key}): {seen}, expected {expected}")
    assert not wrong, f"as {role or 'the public'}:\n" + "\n".join(wrong)
    assert _records_as_stored(world) == before, "the walk changed a record"


def test_a_method_no_route_accepts_answers_405(app, client):
    # Routing answers before any view or record is looked at, so any values do for the address.
    adapter = app.url_map.bind("localhost")
    wrong, tried = [], 0
    for rule in app.url_map.iter_rules():
        values = {arg: {"filename": "style.css", "code": "en"}.get(arg, 1) for arg in rule.arguments}
        url = rule.build(values)[1]
        for method in METHODS:
            try:
                adapter.match(url, method=method)
            except MethodNotAllowed:
                tried += 1
                status = client.open(url, method=method).status_code
                if status != 405:
                    wrong.append(f"{method} {url}: {status}")
    assert tried > 100
    assert not wrong, "\n".join(wrong)
