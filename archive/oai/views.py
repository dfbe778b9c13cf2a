"""OAI-PMH endpoint. Harvesting is not available yet: the route says so plainly with a 501."""

from flask import Blueprint, Response

bp = Blueprint("oai", __name__)


@bp.route("/oai")
def endpoint() -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<error xmlns="urn:testimony-archive:status">OAI-PMH harvesting is not available yet.</error>\n'
    )
    return Response(body, status=501, mimetype="text/xml")
