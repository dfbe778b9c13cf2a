"""Every registered route, walked as each role, answers as the access policy says it should.

A new route without a row here fails the test: every page must be placed in the policy."""

from __future__ import annotations

import pytest

from archive import access
from archive.access import Permission
from tests.conftest import login

ROLES = (None, "researcher", "archivist", "moderator", "admin")

# endpoint -> (what it needs, which testimony it is asked about)
#   a Permission: the policy's permission; "anyone": no condition; "signed_in": any account;
#   "view": may see the testimony; "view+<permission>": may see it, then needs the permission.
POLICY = {
    "catalogue.home": ("anyone", None),
    "search.results": ("anyone", None),
    "search.suggestions": ("anyone", None),
    "catalogue.show": ("view", "draft"),
    "accounts.login": ("anyone", None),
    "accounts.logout": ("anyone", None),
    "accounts.account": ("signed_in", None),
    "accounts.users": (Permission.USERS_MANAGE, None),
    "accounts.new_user": (Permission.USERS_MANAGE, None),
    "accounts.user": (Permission.USERS_MANAGE, None),
    "editor.new": (Permission.TESTIMONY_CREATE, None),
    "editor.mine": (Permission.STAFF_AREA, None),
    "editor.edit": ("view+" + Permission.TESTIMONY_EDIT, "published"),
    "review.queue": (Permission.REVIEW_DECIDE, None),
    "review.decide": ("view+" + Permission.REVIEW_DECIDE, "in_review"),
    "review.history": ("view+" + Permission.STAFF_AREA, "published"),
    "consent.show": ("view+" + Permission.CONSENT_EDIT, "published"),
    "media.manage": ("view+" + Permission.TESTIMONY_EDIT, "published"),
    # A recording of a draft: staff fetch it, nobody else even learns it exists.
    "media.stream": ("view", "draft"),
    "api.openapi": ("anyone", None),
    "api.search": ("anyone", None),
    "api.list_testimonies": (Permission.STAFF_AREA, None),
    "api.get_testimony": ("view", "draft"),
    "api.transcript_vtt": ("view", "published"),
    "oai.endpoint": ("anyone", None),
    "oai.sitemap": ("anyone", None),
    "oai.feed": ("anyone", None),
    "set_language": ("redirect", None),
    "review.revision": ("view+" + Permission.STAFF_AREA, "published"),
    "review.compare": ("view+" + Permission.STAFF_AREA, "published"),
    "review.audit": (Permission.AUDIT_READ, None),
    "review.audit_csv": (Permission.AUDIT_READ, None),
    "review.deleted": (Permission.TESTIMONY_RESTORE, None),
    "authority.places": (Permission.AUTHORITY_EDIT, None),
    "authority.place": (Permission.AUTHORITY_EDIT, None),
    "authority.people": (Permission.AUTHORITY_EDIT, None),
    "authority.person": (Permission.AUTHORITY_EDIT, None),
}
NOT_WALKED = {"static"}


@pytest.fixture
def world(create_testimony, users):
    import io

    from archive.authority.service import create_person
    from archive.operations import add_media as upload
    from tests.test_media import wav_bytes

    draft = create_testimony(state="draft")
    return {
        "draft": draft,
        "recording": upload(users["archivist"], draft, io.BytesIO(wav_bytes(1)), "tape.wav", None),
        "in_review": create_testimony(state="in_review"),
        "published": create_testimony(state="published"),
        "person": create_person(users["archivist"], "Fictional Person Mentioned"),
    }


def _url(rule, world, testimony_key, users) -> str:
    values = {}
    for arg in rule.arguments:
        if arg in ("id", "testimony_id"):
            values[arg] = world[testimony_key or "published"].id
        elif arg == "user_id":
            values[arg] = users["archivist"].id
        elif arg == "place_id":
            values[arg] = world["published"].places[0].id
        elif arg == "media_id":
            values[arg] = world["recording"].id
        elif arg == "person_id":
            values[arg] = world["person"].id
        elif arg == "code":
            values[arg] = "az"
        elif arg == "version":
            values[arg] = 1
        else:
            raise AssertionError(f"{rule.endpoint}: no value for <{arg}>")
    return rule.build(values)[1]


def _expected(need: str, user, testimony) -> set[int]:
    signed_in = user is not None
    denied = {302} if not signed_in else {403}
    if need == "anyone":
        return {200}
    if need == "redirect":
        return {302}
    if need == "signed_in":
        return {200} if signed_in else {302}
    if need.startswith("view"):
        if not access.can_view(user, testimony):
            return {404}
        permission = need.partition("+")[2]
        if permission and not access.has_permission(user, Permission(permission)):
            return {403} if signed_in else {404}
        return {200}
    return {200} if access.has_permission(user, Permission(need)) else denied


def test_every_route_has_a_row_in_the_policy_table(app):
    endpoints = {r.endpoint for r in app.url_map.iter_rules() if "GET" in r.methods}
    assert endpoints - NOT_WALKED == set(POLICY)


@pytest.mark.parametrize("role", ROLES)
def test_every_page_answers_each_role_as_the_policy_says(app, client, users, world, role):
    user = users[role] if role else None
    if user is not None:
        login(client, user)
    wrong = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in NOT_WALKED or "GET" not in rule.methods:
            continue
        need, testimony_key = POLICY[rule.endpoint]
        url = _url(rule, world, testimony_key, users)
        if rule.endpoint == "accounts.logout":
            continue  # walking it would sign the walker out; tests/test_accounts.py covers it
        expected = _expected(need, user, world.get(testimony_key or "published"))
        if rule.endpoint.startswith("api.") and 302 in expected:
            expected = {401}
        response = client.get(url)
        status = response.status_code
        response.close()
        if status not in expected:
            wrong.append(f"{url} ({rule.endpoint}) as {role or 'public'}: {status}, expected {expected}")
    assert wrong == []
