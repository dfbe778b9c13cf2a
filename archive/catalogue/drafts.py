"""Drafts of the testimony form: what someone typed and has not saved, kept so that nothing typed
is lost, neither to a session that ended nor to a closed tab.

A draft is bookkeeping, not a change of the testimony (no version, no audit event, no index), so
these functions commit it at once, as `service.record_visit` does: a draft must outlive the request
that failed to save.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import delete, func, select

from archive import access
from archive.access import Permission
from archive.catalogue.models import EditorDraft
from archive.extensions import db
from archive.timeutil import utcnow


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _mine(user, testimony_id: int | None) -> tuple:
    """The conditions that pick this user's drafts of that testimony."""
    of_testimony = (
        EditorDraft.testimony_id.is_(None)
        if testimony_id is None
        else EditorDraft.testimony_id == testimony_id
    )
    return (EditorDraft.user_id == user.id, of_testimony)


def draft_for(user, testimony_id: int | None) -> EditorDraft | None:
    """This user's draft of that testimony (None: of a new one)."""
    return db.session.scalars(
        select(EditorDraft).where(*_mine(user, testimony_id)).order_by(EditorDraft.saved_at.desc())
    ).first()


def keep(user, testimony_id: int | None, fields: dict[str, str]) -> EditorDraft:
    """Keep what this user typed in the form of that testimony, in place of their earlier draft."""
    access.require(user, Permission.TESTIMONY_CREATE)
    draft = draft_for(user, testimony_id)
    if draft is None:
        draft = EditorDraft(user_id=user.id, testimony_id=testimony_id)
        db.session.add(draft)
    draft.fields = fields
    draft.saved_at = utcnow()
    db.session.commit()
    return draft


def keep_until_sign_in(
    key: str,
    testimony_id: int | None,
    fields: dict[str, str],
    minutes: float,
    *,
    replacing: str | None,
    at_most: int,
) -> bool:
    """Keep a form sent by a browser whose session had ended, under the new random key of its
    cookie, in place of the one its old key (`replacing`) held; drafts so kept that nobody took
    back within `minutes` go. Whoever has no session may send such a form, so no more than
    `at_most` wait at once: False, and nothing kept, past that."""
    now = utcnow()
    db.session.execute(
        delete(EditorDraft).where(
            EditorDraft.user_id.is_(None), EditorDraft.saved_at < now - dt.timedelta(minutes=minutes)
        )
    )
    if replacing:
        db.session.execute(
            delete(EditorDraft).where(
                EditorDraft.user_id.is_(None), EditorDraft.key_hash == key_hash(replacing)
            )
        )
    waiting = db.session.scalar(
        select(func.count()).select_from(EditorDraft).where(EditorDraft.user_id.is_(None))
    )
    if waiting >= at_most:
        db.session.commit()
        return False
    db.session.add(
        EditorDraft(key_hash=key_hash(key), testimony_id=testimony_id, fields=fields, saved_at=now)
    )
    db.session.commit()
    return True


def take_back(user, key: str, testimony_id: int | None, minutes: float) -> EditorDraft | None:
    """The draft this browser's key holds for that testimony, made this user's: the page that
    calls this has checked that the user may edit the testimony."""
    draft = db.session.scalars(
        select(EditorDraft).where(
            EditorDraft.key_hash == key_hash(key),
            EditorDraft.user_id.is_(None),
            EditorDraft.saved_at >= utcnow() - dt.timedelta(minutes=minutes),
        )
    ).first()
    if draft is None or draft.testimony_id != testimony_id:
        return None
    db.session.execute(delete(EditorDraft).where(EditorDraft.id != draft.id, *_mine(user, testimony_id)))
    draft.user_id = user.id
    draft.key_hash = None
    db.session.commit()
    return draft


def discard(user, testimony_id: int | None) -> None:
    """Forget this user's draft of that testimony (it was saved, or they chose not to keep it)."""
    access.require(user, Permission.TESTIMONY_CREATE)
    db.session.execute(delete(EditorDraft).where(*_mine(user, testimony_id)))
    db.session.commit()
