"""The policy's own answers, asked directly: who may do what and why not, when the public could see
a testimony, and that what the policy does not know is an error, never "allowed".

Models are built in memory, never stored: the policy reads only their fields. The app is there
for its models to be mapped, each beside the others it refers to.
"""

from __future__ import annotations

import datetime as dt

import pytest

from archive import access
from archive.access import Answer, History, Reason
from archive.accounts.models import User
from archive.catalogue import models as catalogue
from archive.consent.models import ConsentVersion

pytestmark = pytest.mark.usefixtures("app")

JAN = dt.datetime(2021, 1, 1)


def _user(role: str, user_id: int = 1) -> User:
    return User(id=user_id, role=role, active=True, email=f"{role}@example.org")


def _consent(number: int, access_level: str, at: dt.datetime, **fields) -> ConsentVersion:
    return ConsentVersion(
        number=number, status="approved", access=access_level, created_at=at, decided_at=at, **fields
    )


def _testimony(*consents: ConsentVersion, **fields) -> catalogue.Testimony:
    testimony = catalogue.Testimony(
        created_at=JAN, updated_at=JAN, state=fields.pop("state", "published"), version=1, **fields
    )
    testimony.consents = list(consents)
    return testimony


def _days(n: int) -> dt.datetime:
    return JAN + dt.timedelta(days=n)


# --- what the policy does not know ------------------------------------------------------------


def test_an_unknown_role_is_an_error_not_a_permission():
    stranger = _user("superuser")
    testimony = _testimony(_consent(1, "public", JAN), published_revision_id=1)
    for question in (
        lambda: access.can_view(stranger, testimony),
        lambda: access.has_permission(stranger, access.Permission.STAFF_AREA),
        lambda: access.may_submit(stranger, testimony),
        lambda: access.may_search_by_consent(stranger),
    ):
        with pytest.raises(ValueError, match="superuser"):
            question()


def test_an_unknown_consent_level_is_an_error_not_a_permission():
    testimony = _testimony(_consent(1, "secret", JAN), published_revision_id=1)
    with pytest.raises(ValueError, match="secret"):
        access.can_view(None, testimony)
    with pytest.raises(ValueError, match="secret"):
        access.public_periods(testimony, History(approvals=[JAN]), now=_days(10))


def test_an_unknown_permission_is_an_error():
    with pytest.raises(ValueError):
        access.has_permission(_user("admin"), "testimony:everything")


# --- may this person do this, and why not ---------------------------------------------------


def test_a_moderator_decides_only_what_they_neither_submitted_nor_last_edited():
    moderator = _user("moderator", 5)
    submission = _testimony(state="in_review", submitted_by_id=3, updated_by_id=3)
    assert access.may_decide(moderator, submission) == Answer()
    assert access.may_decide(
        moderator, _testimony(state="in_review", submitted_by_id=5, updated_by_id=3)
    ) == Answer(Reason.OWN_SUBMISSION)
    assert access.may_decide(
        moderator, _testimony(state="in_review", submitted_by_id=3, updated_by_id=5)
    ) == Answer(Reason.LAST_EDITOR)
    assert access.may_decide(moderator, _testimony(state="draft")) == Answer(Reason.NOT_IN_REVIEW)
    assert access.may_decide(_user("archivist", 9), submission) == Answer(Reason.NOT_PERMITTED)
    assert not access.may_decide(None, submission)


def test_nobody_decides_a_consent_widening_they_asked_for():
    pending = ConsentVersion(number=2, status="pending", access="public", created_by_id=5)
    assert access.may_decide_consent(_user("moderator", 6), pending)
    assert access.may_decide_consent(_user("moderator", 5), pending) == Answer(Reason.OWN_CONSENT_REQUEST)
    assert access.may_decide_consent(_user("archivist", 6), pending) == Answer(Reason.NOT_PERMITTED)
    assert access.may_decide_consent(_user("moderator", 6), None) == Answer(Reason.NOTHING_PENDING)


@pytest.mark.parametrize(
    ("state", "deleted", "role", "reason"),
    [
        ("draft", False, "archivist", None),
        ("changes_requested", False, "archivist", None),
        ("rejected", False, "archivist", None),
        ("unpublished", False, "archivist", None),
        ("in_review", False, "archivist", Reason.NOT_SUBMITTABLE),
        ("published", False, "admin", Reason.NOT_SUBMITTABLE),
        ("draft", True, "admin", Reason.DELETED),
        ("draft", False, "researcher", Reason.NOT_PERMITTED),
    ],
)
def test_what_may_be_sent_to_review(state, deleted, role, reason):
    testimony = _testimony(state=state, deleted_at=JAN if deleted else None)
    assert access.may_submit(_user(role), testimony) == Answer(reason)


def test_only_a_published_testimony_is_taken_offline_and_only_by_a_moderator():
    published = _testimony(published_revision_id=4)
    assert access.may_unpublish(_user("moderator"), published)
    assert access.may_unpublish(_user("archivist"), published) == Answer(Reason.NOT_PERMITTED)
    assert access.may_unpublish(_user("admin"), _testimony(state="draft")) == Answer(Reason.NOT_PUBLISHED)


def test_an_older_version_is_restored_but_not_the_current_one_nor_into_a_deleted_entry():
    testimony = _testimony(state="draft")
    testimony.version = 3
    assert access.may_restore_revision(_user("archivist"), testimony, 2)
    assert access.may_restore_revision(_user("archivist"), testimony, 3) == Answer(Reason.CURRENT_VERSION)
    assert access.may_restore_revision(_user("researcher"), testimony, 2) == Answer(Reason.NOT_PERMITTED)
    testimony.deleted_at = JAN
    assert access.may_restore_revision(_user("admin"), testimony, 2) == Answer(Reason.DELETED)


def test_only_staff_search_by_consent_level():
    assert [access.may_search_by_consent(u) for u in (None, _user("researcher"), _user("archivist"))] == [
        False,
        False,
        True,
    ]


# --- when the public could see a testimony ----------------------------------------------------


def test_a_public_testimony_is_public_from_its_approval_on():
    testimony = _testimony(_consent(1, "public", JAN), published_at=_days(3))
    assert access.public_periods(testimony, History(approvals=[_days(3)]), now=_days(10)) == [
        (_days(3), access.OPEN_END)
    ]


def test_a_never_published_testimony_was_never_public():
    testimony = _testimony(_consent(1, "public", JAN), state="draft")
    assert access.public_periods(testimony, History(), now=_days(10)) == []


def test_a_withdrawal_ends_the_public_period_when_it_is_recorded():
    testimony = _testimony(
        _consent(1, "public", JAN), _consent(2, "withdrawn", _days(5)), published_at=_days(1)
    )
    assert access.public_periods(testimony, History(approvals=[_days(1)]), now=_days(10)) == [
        (_days(1), _days(5))
    ]


def test_unpublishing_deleting_and_restoring_each_end_or_reopen_a_period():
    testimony = _testimony(_consent(1, "public", JAN), published_at=_days(6))
    history = History(
        approvals=[_days(1), _days(6)], unpublished=[_days(3)], deleted=[_days(8)], restored=[_days(9)]
    )
    assert access.public_periods(testimony, history, now=_days(20)) == [
        (_days(1), _days(3)),
        (_days(6), _days(8)),
        (_days(9), access.OPEN_END),
    ]


def test_a_seal_counts_as_public_only_from_the_day_it_ends():
    sealed = _consent(1, "sealed", JAN, sealed_until=dt.date(2021, 1, 11), release_to="public")
    testimony = _testimony(sealed, published_at=_days(1))
    history = History(approvals=[_days(1)])
    assert access.public_periods(testimony, history, now=_days(5)) == []
    assert access.public_periods(testimony, history, now=_days(15)) == [(_days(10), access.OPEN_END)]


def test_a_seal_released_to_researchers_never_made_it_public():
    sealed = _consent(1, "sealed", JAN, sealed_until=dt.date(2021, 1, 11), release_to="research")
    testimony = _testimony(sealed, published_at=_days(1))
    assert access.public_periods(testimony, History(approvals=[_days(1)]), now=_days(30)) == []


def test_an_admin_neither_demotes_nor_closes_their_own_account():
    admin, other = _user("admin", 1), _user("archivist", 2)
    assert access.may_set_role(admin, other, "moderator")
    assert access.may_set_role(admin, admin, "admin")
    assert access.may_set_role(admin, admin, "moderator") == Answer(Reason.OWN_ACCOUNT)
    assert access.may_set_role(_user("moderator", 3), other, "admin") == Answer(Reason.NOT_PERMITTED)
    assert access.may_set_active(admin, other, False)
    assert access.may_set_active(admin, admin, True)
    assert access.may_set_active(admin, admin, False) == Answer(Reason.OWN_ACCOUNT)
    with pytest.raises(ValueError):
        access.may_set_role(admin, other, "owner")
