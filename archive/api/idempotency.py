"""Creates that can be retried: a request sent again under the same `Idempotency-Key` (after a
dropped connection, say) gets the first request's answer instead of making a second record.

The answer is saved in the create's own unit of work, so a key is on record exactly when what it
made is. Two requests racing under one key both try to save it; the unique (user, key) constraint
lets one commit, and the other, rolled back whole, answers what the winner saved.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable, Iterable
from typing import TypeVar

from flask import Response, current_app, jsonify, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from archive.accounts.models import User
from archive.api.models import IdempotentRequest
from archive.errors import ArchiveError, Invalid
from archive.extensions import db
from archive.timeutil import utcnow

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
MAX_KEY = 255
# What of a created answer comes back on a replay besides its status and body.
KEPT_HEADERS = ("Location", "ETag")

Made = TypeVar("Made")


class KeyReused(ArchiveError):
    """The key was used for another request: the caller's retry logic has a bug, or two requests
    share a key by mistake. Nothing is made, and the first answer is not given away."""

    status = 422
    code = "idempotency_key_reused"
    default_message = f"This {HEADER} was used for a different request; send a new key for a new request."


def fingerprint(*parts: bytes) -> str:
    """A digest of everything the request asks for, to tell a retry from a different request."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def json_fingerprint(data: object) -> str:
    """The same JSON document gives the same digest, however its keys are ordered or spaced."""
    return fingerprint(json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode())


def _key() -> str | None:
    raw = request.headers.get(HEADER)
    if raw is None:
        return None
    key = raw.strip()
    if not key or len(key) > MAX_KEY or not key.isascii() or not key.isprintable():
        raise Invalid(
            f"{HEADER} must be 1 to {MAX_KEY} printable ASCII characters.",
            {HEADER: f"1 to {MAX_KEY} printable ASCII characters, such as a UUID."},
        )
    return key


def _kept_since() -> dt.datetime:
    return utcnow() - dt.timedelta(hours=float(current_app.config["IDEMPOTENCY_KEY_HOURS"]))


def _stored(user: User, key: str, since: dt.datetime) -> IdempotentRequest | None:
    query = select(IdempotentRequest).where(
        IdempotentRequest.user_id == user.id,
        IdempotentRequest.key == key,
        IdempotentRequest.created_at >= since,
    )
    return db.session.scalars(query).first()


def _replay(stored: IdempotentRequest, route: str, digest: str) -> Response:
    if stored.route != route or stored.fingerprint != digest:
        raise KeyReused(fields={HEADER: "Already used for a different request."})
    response = jsonify(stored.body)
    response.status_code = stored.status
    for name, value in stored.headers.items():
        response.headers[name] = value
    response.headers[REPLAYED] = "true"
    return response


def _keep(user: User, key: str, route: str, digest: str, response: Response, since: dt.datetime) -> None:
    """Save the answer under the key, in the caller's unit of work. The keys whose time is up go
    in the same stroke (this caller's expired one among them, which is free again), so the table
    holds about a day of creates and no more."""
    db.session.execute(delete(IdempotentRequest).where(IdempotentRequest.created_at < since))
    db.session.add(
        IdempotentRequest(
            user_id=user.id,
            key=key,
            route=route,
            fingerprint=digest,
            status=response.status_code,
            headers=_kept(response.headers.items()),
            body=response.get_json(),
        )
    )
    db.session.flush()


def _kept(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {name: value for name, value in headers if name in KEPT_HEADERS}


def once(
    user: User,
    route: str,
    digest: str,
    create: Callable[[Callable[[Made], None] | None], Made],
    answer: Callable[[Made], Response],
) -> Response:
    """Run `create` (an operation given a callback to call inside its unit of work) and answer
    with `answer` of what it made; under a key already answered, answer that again instead.

    `route` and `digest` (see `fingerprint`) say what was asked: the same key with another route
    or body is refused."""
    key = _key()
    if key is None:
        return answer(create(None))
    # One cut-off for the whole request: a key is either found below or pruned by `_keep`.
    since = _kept_since()
    stored = _stored(user, key, since)
    if stored is not None:
        return _replay(stored, route, digest)
    answered: list[Response] = []

    def keep(made: Made) -> None:
        db.session.flush()
        response = answer(made)
        _keep(user, key, route, digest, response, since)
        answered.append(response)

    try:
        create(keep)
    except (IntegrityError, ArchiveError):
        # Another request under this key committed first, and this one, rolled back whole, ran
        # into the key or into what the other one made (its external_id, say): the first answer.
        stored = _stored(user, key, since)
        if stored is None:
            raise
        return _replay(stored, route, digest)
    return answered[0]
