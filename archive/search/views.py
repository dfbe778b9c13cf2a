"""The search page and its autocomplete: results grouped by testimony, passages at their minute.

Every search goes through `archive.search.service`, which reaches only the index of the caller's
audience, so nothing here can show a word the caller may not read.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint, current_app, g, jsonify, render_template, request, url_for
from flask_login import current_user, login_required
from werkzeug.datastructures import MultiDict

from archive import access
from archive.catalogue.forms import ActionForm
from archive.search.filters import read_filters
from archive.search.query import SORTS
from archive.search.service import health, search_for, suggest_for

bp = Blueprint("search", __name__)

MAX_QUERY = 500
MAX_PAGE = 1000
SUGGESTIONS = 10
# Facets offered as filters, each with the query parameter it sets; `year` sets `from` and `to`
# (several years: the span from the first to the last).
FACET_PARAMS = {
    "place": "place",
    "subject": "subject",
    "person": "person",
    "language": "lang",
    "year": "year",
    "decade": "decade",
    "access": "access",  # the service offers this facet only to whom the policy lets filter by it
}
# Facet values listed before the rest fold away under "more".
FACET_SHOWN = 8


def link(args: MultiDict, *, toggle: tuple[str, str] | None = None, **changes) -> str:
    """This search's address with one filter value toggled or some parameters replaced.

    Changing what is searched starts again at page 1.
    """
    new = MultiDict(args)
    if toggle is not None:
        name, value = toggle
        values = new.getlist(name)
        new.setlist(name, [v for v in values if v != value] if value in values else [*values, value])
        new.pop("page", None)
    for name, value in changes.items():
        if value is None:
            new.pop(name, None)
        else:
            new[name] = str(value)
    # The page's own address, built once per request: a page of facets links to it a hundred times.
    if "search_url" not in g:
        g.search_url = url_for("search.results")
    query = urlencode([(k, v) for k, v in new.items(multi=True) if v is not None])
    return f"{g.search_url}?{query}" if query else g.search_url


@bp.route("/search")
def results():
    args = request.args
    q = (args.get("q") or "").strip()[:MAX_QUERY]
    sort = args.get("sort") if args.get("sort") in SORTS else "relevance"
    page = min(MAX_PAGE, max(1, args.get("page", 1, type=int)))
    per_page = current_app.config["PER_PAGE"]
    # A value that cannot be read is dropped rather than shown as an error.
    filters = read_filters(args).values
    result = search_for(current_user, q, page=page, per_page=per_page, filters=filters, sort=sort)
    # A filter is shown in use where its facet is offered: the service offers only what the caller
    # may filter by.
    active = [
        (param, value)
        for name, param in FACET_PARAMS.items()
        if name in result["facets"]
        for value in args.getlist(param)
    ]
    return render_template(
        "search/results.html",
        q=q,
        sort=sort,
        result=result,
        facets=result["facets"],
        facet_params=FACET_PARAMS,
        facet_shown=FACET_SHOWN,
        active=active,
        page=page,
        pages=max(1, -(-result["total"] // per_page)),
        args=args,
        link=link,
    )


@bp.route("/search/suggest")
def suggestions():
    prefix = (request.args.get("q") or "").strip()[:100]
    return jsonify(suggest_for(current_user, prefix, SUGGESTIONS))


@bp.route("/healthz")
def healthz():
    """For a monitor: 200 when the database answers and the index keeps up, 503 otherwise. The
    writer's last error stays on the admin page: it may name a file or a row."""
    report = health()
    report.pop("writer_error")
    return jsonify(report), 200 if report["status"] == "ok" else 503


@bp.route("/admin/health")
@login_required
def admin_health():
    access.require(current_user, access.Permission.HEALTH_READ)
    return render_template("search/health.html", report=health(), rebuild_form=ActionForm())
