"""Recording and reading the audit log. Any room records its events here; this room imports none
of them, so it sits low in the house.

The web layer tells this room the client's address once per request (`note_client`); an event
recorded while it is known carries it as `ip`, and no service has to read Flask's request.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from sqlalchemy import select

from archive import access
from archive.access import Permission
from archive.audit.models import AuditEvent
from archive.extensions import db

AUDIT_PAGE = 100
# Where the current request's client address is kept: the session is the request's own.
_CLIENT = "audit_client"


def note_client(address: str | None) -> None:
    """The address of the client the events of this request are recorded for."""
    db.session.info[_CLIENT] = address


def forget_client() -> None:
    db.session.info.pop(_CLIENT, None)


def record_event(actor, action: str, target: Any = None, **details: Any) -> AuditEvent:
    """Append an audit event; it becomes permanent with the transaction it belongs to."""
    if _CLIENT in db.session.info:
        details.setdefault("ip", db.session.info[_CLIENT])
    event = AuditEvent(
        actor_id=getattr(actor, "id", None),
        action=action,
        target_type=type(target).__name__.lower() if target is not None else "",
        target_id=getattr(target, "id", None),
        details=details,
    )
    db.session.add(event)
    return event


def audit_log(
    user,
    *,
    action: str | None = None,
    actor_id: int | None = None,
    since=None,
    until=None,
    limit: int | None = AUDIT_PAGE,
    offset: int = 0,
) -> list[AuditEvent]:
    """Audit events, newest first, filtered; only admins may read them."""
    access.require(user, Permission.AUDIT_READ)
    query = select(AuditEvent).order_by(AuditEvent.id.desc())
    if action:
        query = query.where(AuditEvent.action.startswith(action))
    if actor_id:
        query = query.where(AuditEvent.actor_id == actor_id)
    if since:
        query = query.where(AuditEvent.at >= since)
    if until:
        query = query.where(AuditEvent.at < until)
    if limit:
        query = query.limit(limit).offset(offset)
    return list(db.session.scalars(query))


def _inert(cell: str) -> str:
    """A cell a spreadsheet shows as text: one starting like a formula gets a leading apostrophe."""
    return "'" + cell if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def audit_csv(user, **filters) -> str:
    """The filtered audit log as CSV; the export itself is an audit event."""
    events = audit_log(user, limit=None, **filters)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "at_utc", "actor", "action", "target_type", "target_id", "details"])
    for e in events:
        actor = e.actor.email if e.actor else ""
        details = json.dumps(e.details, ensure_ascii=False, sort_keys=True)
        cells = [actor, e.action, e.target_type, details]
        writer.writerow(
            [e.id, e.at.isoformat(), *map(_inert, cells[:3]), e.target_id or "", _inert(cells[3])]
        )
    record_event(
        user, "audit.export", None, rows=len(events), filters={k: str(v) for k, v in filters.items()}
    )
    db.session.commit()
    return out.getvalue()
