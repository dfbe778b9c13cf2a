"""OAI-PMH 2.0 (oai_dc), the sitemap and the Atom feed: public records only, built as XML here.

What may be harvested is `archive.oai.service`'s answer, itself the policy's; these routes parse the
request, ask, and write the XML with the standard library's ElementTree.

Configuration (all optional): `OAI_REPOSITORY_ID` (the namespace of identifiers
`oai:<id>:testimony/<n>`; the request's host without its port by default), `OAI_REPOSITORY_NAME`,
`OAI_ADMIN_EMAIL` and `OAI_PAGE_SIZE` (records per page of a list, 100 by default).

Resumption tokens are stateless: URL-safe base64 of the list's arguments and the id of the last
record sent. Lists are in order of testimony id and continue *after that id* rather than after a
count, so a testimony published or withdrawn during a harvest neither shifts a page nor makes a
harvester skip or repeat a record.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable

from flask import Blueprint, Response, current_app, request, url_for
from werkzeug.datastructures import MultiDict

from archive.extensions import csrf
from archive.oai import service
from archive.oai.service import Record
from archive.timeutil import utcnow

bp = Blueprint("oai", __name__)

OAI = "http://www.openarchives.org/OAI/2.0/"
OAI_DC = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC = "http://purl.org/dc/elements/1.1/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
ATOM = "http://www.w3.org/2005/Atom"
SITEMAP = "http://www.sitemaps.org/schemas/sitemap/0.9"
OAI_SCHEMA = f"{OAI} http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd"
OAI_DC_SCHEMA = "http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
for _prefix, _uri in (("oai_dc", OAI_DC), ("dc", DC), ("xsi", XSI)):
    ET.register_namespace(_prefix, _uri)

METADATA_PREFIX = "oai_dc"
GRANULARITY = "YYYY-MM-DDThh:mm:ssZ"
FEED_SIZE = 30
RIGHTS = (
    "Made public with the narrator's informed consent, which decides who may see what of this "
    "testimony and may be narrowed or withdrawn at any time; ask the archive before any reuse."
)

# verb -> (required arguments, optional arguments, whether it takes a resumptionToken)
VERBS: dict[str, tuple[frozenset[str], frozenset[str], bool]] = {
    "Identify": (frozenset(), frozenset(), False),
    "ListMetadataFormats": (frozenset(), frozenset({"identifier"}), False),
    "ListSets": (frozenset(), frozenset(), True),
    "GetRecord": (frozenset({"identifier", "metadataPrefix"}), frozenset(), False),
    "ListIdentifiers": (frozenset({"metadataPrefix"}), frozenset({"from", "until", "set"}), True),
    "ListRecords": (frozenset({"metadataPrefix"}), frozenset({"from", "until", "set"}), True),
}
# The protocol's own syntax for these arguments (OAI-PMH.xsd), so an echoed request stays valid.
_SYNTAX = {
    "metadataPrefix": re.compile(r"[A-Za-z0-9\-_.!~*'()]+"),
    "set": re.compile(r"[A-Za-z0-9\-_.!~*'()]+(:[A-Za-z0-9\-_.!~*'()]+)*"),
}
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_SECOND = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
# Longer numbers cannot be a testimony's id, and would overflow the database's integers.
_LOCAL_ID = re.compile(r"[1-9][0-9]{0,17}")
# Characters XML 1.0 cannot carry at all, not even escaped.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


class OAIError(Exception):
    """One OAI-PMH error condition: answered with HTTP 200 and an <error> element."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


# --- the OAI-PMH endpoint ----------------------------------------------------------------------


@bp.route("/oai", methods=["GET", "POST"])
@csrf.exempt  # harvesters POST form-encoded requests and hold no session to carry a token in
def endpoint() -> Response:
    args = request.form if request.method == "POST" else request.args
    root = ET.Element("OAI-PMH", {"xmlns": OAI, f"{{{XSI}}}schemaLocation": OAI_SCHEMA})
    _sub(root, "responseDate", _datestamp(utcnow()))
    echo = _sub(root, "request", url_for("oai.endpoint", _external=True))
    try:
        verb, given = _parse(args)
    except OAIError as error:
        # After badVerb or badArgument the request is echoed without attributes, as the spec says.
        _error(root, [error])
        return _xml(root)
    for key, value in [("verb", verb), *sorted(given.items())]:
        echo.set(key, value)
    try:
        _HANDLERS[verb](root, given)
    except OAIError as error:
        _error(root, [error])
    except _Errors as errors:
        _error(root, errors.errors)
    return _xml(root)


class _Errors(Exception):
    def __init__(self, errors: list[OAIError]):
        super().__init__(", ".join(e.code for e in errors))
        self.errors = errors


def _parse(args: MultiDict) -> tuple[str, dict[str, str]]:
    """The verb and its arguments, checked against the protocol's rules for that verb."""
    verbs = args.getlist("verb")
    if len(verbs) != 1 or verbs[0] not in VERBS:
        raise OAIError("badVerb", "Give exactly one verb: " + ", ".join(VERBS) + ".")
    verb = verbs[0]
    required, optional, resumable = VERBS[verb]
    given: dict[str, str] = {}
    for key in args:
        if key == "verb":
            continue
        values = args.getlist(key)
        if len(values) > 1:
            raise OAIError("badArgument", f"The argument {key} is repeated.")
        given[key] = values[0]
    if "resumptionToken" in given and resumable:
        if len(given) > 1:
            raise OAIError("badArgument", "resumptionToken is an exclusive argument.")
        return verb, given
    illegal = sorted(set(given) - required - optional)
    if illegal:
        raise OAIError("badArgument", f"{verb} does not take: {', '.join(illegal)}.")
    missing = sorted(required - set(given))
    if missing:
        raise OAIError("badArgument", f"{verb} needs: {', '.join(missing)}.")
    empty = sorted(k for k, v in given.items() if not v)
    if empty:
        raise OAIError("badArgument", f"No value given for: {', '.join(empty)}.")
    for key, pattern in _SYNTAX.items():
        if key in given and not pattern.fullmatch(given[key]):
            raise OAIError("badArgument", f"{key} is not written as the protocol requires.")
    _window(given.get("from"), given.get("until"))
    return verb, given


def _window(since: str | None, until: str | None) -> tuple[dt.datetime | None, dt.datetime | None]:
    """`from` and `until` as inclusive bounds; a day means all of that day."""
    start = _moment(since, "from", end_of_day=False)
    end = _moment(until, "until", end_of_day=True)
    if since and until and len(since) != len(until):
        raise OAIError("badArgument", "from and until must have the same granularity.")
    if start and end and start > end:
        raise OAIError("badArgument", "from is later than until.")
    return start, end


def _moment(value: str | None, name: str, *, end_of_day: bool) -> dt.datetime | None:
    if value is None:
        return None
    try:
        if _DAY.fullmatch(value):
            day = dt.date.fromisoformat(value)
            return dt.datetime.combine(day, dt.time(23, 59, 59) if end_of_day else dt.time())
        if _SECOND.fullmatch(value):
            return dt.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        pass
    raise OAIError("badArgument", f"{name} must be a UTC datestamp YYYY-MM-DD or {GRANULARITY}.")


def _identify(root: ET.Element, given: dict[str, str]) -> None:
    config = current_app.config
    earliest = service.earliest_datestamp() or utcnow()
    node = _sub(root, "Identify")
    _sub(node, "repositoryName", config.get("OAI_REPOSITORY_NAME", "Testimony Archive"))
    _sub(node, "baseURL", url_for("oai.endpoint", _external=True))
    _sub(node, "protocolVersion", "2.0")
    _sub(node, "adminEmail", config.get("OAI_ADMIN_EMAIL", "archive@example.org"))
    _sub(node, "earliestDatestamp", _datestamp(earliest))
    _sub(node, "deletedRecord", "persistent")
    _sub(node, "granularity", GRANULARITY)


def _list_metadata_formats(root: ET.Element, given: dict[str, str]) -> None:
    if "identifier" in given:
        _record_named(given["identifier"])
    node = _sub(_sub(root, "ListMetadataFormats"), "metadataFormat")
    _sub(node, "metadataPrefix", METADATA_PREFIX)
    _sub(node, "schema", OAI_DC_SCHEMA)
    _sub(node, "metadataNamespace", OAI_DC)


def _list_sets(root: ET.Element, given: dict[str, str]) -> None:
    if "resumptionToken" in given:
        raise OAIError("badResumptionToken", "This repository never issues tokens for ListSets.")
    raise OAIError("noSetHierarchy", "This repository does not support sets.")


def _get_record(root: ET.Element, given: dict[str, str]) -> None:
    _check_prefix(given["metadataPrefix"])
    record = _record_named(given["identifier"])
    _write_record(_sub(root, "GetRecord"), record)


def _list(verb: str) -> Callable[[ET.Element, dict[str, str]], None]:
    def answer(root: ET.Element, given: dict[str, str]) -> None:
        after = 0
        if "resumptionToken" in given:
            given, after = _read_token(verb, given["resumptionToken"])
        errors = []
        try:
            _check_prefix(given["metadataPrefix"])
        except OAIError as error:
            errors.append(error)
        if "set" in given:
            errors.append(OAIError("noSetHierarchy", "This repository does not support sets."))
        if errors:
            raise _Errors(errors)
        since, until = _window(given.get("from"), given.get("until"))
        records = service.harvestable(since=since, until=until)
        cursor = sum(1 for r in records if r.id <= after)
        page = records[cursor : cursor + _page_size()]
        if not page:
            raise OAIError("noRecordsMatch", "No records match these arguments.")
        node = _sub(root, verb)
        for record in page:
            if verb == "ListRecords":
                _write_record(node, record)
            else:
                _write_header(node, record)
        more = cursor + len(page) < len(records)
        if more or after:
            token = _sub(node, "resumptionToken", _make_token(verb, given, page[-1].id) if more else None)
            token.set("completeListSize", str(len(records)))
            token.set("cursor", str(cursor))

    return answer


_HANDLERS: dict[str, Callable[[ET.Element, dict[str, str]], None]] = {
    "Identify": _identify,
    "ListMetadataFormats": _list_metadata_formats,
    "ListSets": _list_sets,
    "GetRecord": _get_record,
    "ListIdentifiers": _list("ListIdentifiers"),
    "ListRecords": _list("ListRecords"),
}


def _page_size() -> int:
    return int(current_app.config.get("OAI_PAGE_SIZE", 100))


def _check_prefix(prefix: str) -> None:
    if prefix != METADATA_PREFIX:
        raise OAIError("cannotDisseminateFormat", f"Only {METADATA_PREFIX} is offered.")


def _repository_id() -> str:
    configured = current_app.config.get("OAI_REPOSITORY_ID")
    return configured or re.sub(r":\d+$", "", request.host)


def _identifier(testimony_id: int) -> str:
    return f"oai:{_repository_id()}:testimony/{testimony_id}"


def _record_named(identifier: str) -> Record:
    """The record an identifier names; idDoesNotExist for anything never public, as for nonsense."""
    local = identifier.removeprefix(f"oai:{_repository_id()}:testimony/")
    record = service.record_of(int(local)) if local != identifier and _LOCAL_ID.fullmatch(local) else None
    if record is None:
        raise OAIError("idDoesNotExist", "No record has this identifier.")
    return record


# --- resumption tokens -------------------------------------------------------------------------


def _make_token(verb: str, given: dict[str, str], last_id: int) -> str:
    state = {"v": 1, "verb": verb, "args": given, "after": last_id}
    raw = json.dumps(state, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_token(verb: str, token: str) -> tuple[dict[str, str], int]:
    """The list's arguments and the last id sent; anything else is a bad token."""
    bad = OAIError("badResumptionToken", "The resumption token is not valid.")
    try:
        state = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        raise bad from None
    if not isinstance(state, dict) or state.get("v") != 1 or state.get("verb") != verb:
        raise bad
    args, after = state.get("args"), state.get("after")
    _, optional, _ = VERBS[verb]
    if (
        not isinstance(args, dict)
        or not isinstance(after, int)
        or isinstance(after, bool)
        or after < 1
        or set(args) - optional - {"metadataPrefix"}
        or not all(isinstance(v, str) and v for v in args.values())
        or "metadataPrefix" not in args
    ):
        raise bad
    try:
        _window(args.get("from"), args.get("until"))
    except OAIError:
        raise bad from None
    return args, after


# --- writing OAI-PMH XML -----------------------------------------------------------------------


def _write_header(parent: ET.Element, record: Record) -> ET.Element:
    header = _sub(parent, "header")
    if record.deleted:
        header.set("status", "deleted")
    _sub(header, "identifier", _identifier(record.id))
    _sub(header, "datestamp", _datestamp(record.datestamp))
    return header


def _write_record(parent: ET.Element, record: Record) -> None:
    node = _sub(parent, "record")
    _write_header(node, record)
    if record.deleted:
        return
    view = service.public_view(record.testimony)
    dc = ET.SubElement(
        _sub(node, "metadata"),
        f"{{{OAI_DC}}}dc",
        {f"{{{XSI}}}schemaLocation": f"{OAI_DC} {OAI_DC_SCHEMA}"},
    )
    interview = view.get("interview") or {}

    def element(name: str, value: str | None) -> None:
        if value:
            ET.SubElement(dc, f"{{{DC}}}{name}").text = _clean(value)

    element("title", view.get("title"))
    element("creator", view["narrator_label"])
    element("contributor", interview.get("interviewer"))
    element("description", view.get("summary"))
    element("date", interview.get("date"))
    for language in interview.get("languages") or []:
        element("language", language)
    for place in view.get("places") or []:
        element("coverage", place)
    for subject in view.get("subjects") or []:
        element("subject", subject)
    # The people a testimony speaks of are subjects too, as catalogues record personal names.
    for person in view.get("people") or []:
        element("subject", person)
    element("type", "Oral history")
    element("type", "Sound")
    element("publisher", current_app.config.get("OAI_REPOSITORY_NAME", "Testimony Archive"))
    element("identifier", url_for("catalogue.show", id=record.id, _external=True))
    element("rights", RIGHTS)


def _error(root: ET.Element, errors: list[OAIError]) -> None:
    for error in errors:
        _sub(root, "error", error.message).set("code", error.code)


# --- the sitemap and the Atom feed -------------------------------------------------------------


@bp.route("/sitemap.xml")
def sitemap() -> Response:
    urlset = ET.Element("urlset", {"xmlns": SITEMAP})
    ET.SubElement(ET.SubElement(urlset, "url"), "loc").text = url_for("catalogue.home", _external=True)
    for testimony in service.public_testimonies():
        url = ET.SubElement(urlset, "url")
        ET.SubElement(url, "loc").text = url_for("catalogue.show", id=testimony.id, _external=True)
        if testimony.published_at:
            ET.SubElement(url, "lastmod").text = _datestamp(testimony.published_at)
    return _xml(urlset, mimetype="application/xml")


@bp.route("/feed.atom")
def feed() -> Response:
    name = current_app.config.get("OAI_REPOSITORY_NAME", "Testimony Archive")
    entries = service.recently_published(FEED_SIZE)
    root = ET.Element("feed", {"xmlns": ATOM})

    def sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
        node = ET.SubElement(parent, tag, attrs)
        node.text = _clean(text) if text else None
        return node

    self_url = url_for("oai.feed", _external=True)
    sub(root, "title", f"{name}: newly published testimonies")
    sub(root, "id", self_url)
    sub(root, "link", rel="self", href=self_url, type="application/atom+xml")
    sub(root, "link", rel="alternate", href=url_for("catalogue.home", _external=True), type="text/html")
    newest = max((t.published_at for t, _ in entries if t.published_at), default=None)
    sub(root, "updated", _datestamp(newest or utcnow()))
    sub(sub(root, "author"), "name", name)
    for testimony, view in entries:
        link = url_for("catalogue.show", id=testimony.id, _external=True)
        entry = sub(root, "entry")
        sub(entry, "title", view.get("title") or "")
        sub(entry, "id", link)
        sub(entry, "link", rel="alternate", href=link, type="text/html")
        sub(entry, "updated", _datestamp(testimony.published_at or testimony.updated_at))
        sub(sub(entry, "author"), "name", view["narrator_label"])
        if view.get("summary"):
            sub(entry, "summary", view["summary"], type="text")
    return _xml(root, mimetype="application/atom+xml")


# --- XML ---------------------------------------------------------------------------------------


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    node = ET.SubElement(parent, tag)
    node.text = _clean(text) if text is not None else None
    return node


def _clean(text: str) -> str:
    return _NOT_XML.sub("", str(text))


def _datestamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _xml(root: ET.Element, mimetype: str = "text/xml") -> Response:
    # Each document's own elements are left unqualified under a literal default xmlns on the root:
    # ElementTree's default_namespace option refuses the unqualified attributes the formats use.
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return Response(body, content_type=f"{mimetype}; charset=utf-8")
