"""OAI-PMH at /oai: a harvester gets Dublin Core of exactly what the public may see, deleted headers
for what was public once and is no longer, and the protocol's errors where it asks for them."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import xml.etree.ElementTree as ET

import pytest

from tests.conftest import login, sample_body

OAI = "{http://www.openarchives.org/OAI/2.0/}"
DC = "{http://purl.org/dc/elements/1.1/}"
OAI_DC = "{http://www.openarchives.org/OAI/2.0/oai_dc/}"
XSI = "{http://www.w3.org/2001/XMLSchema-instance}"
DATESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")
OAI_ID = "oai:localhost:testimony/"


def harvest(client, query: str, *, method: str = "GET") -> ET.Element:
    """The parsed answer to one OAI-PMH request, after the checks every answer must pass."""
    if method == "POST":
        response = client.post("/oai", data=query, content_type="application/x-www-form-urlencoded")
    else:
        response = client.get(f"/oai?{query}")
    assert response.status_code == 200
    assert response.mimetype == "text/xml"
    assert response.mimetype_params["charset"] == "utf-8"
    root = ET.fromstring(response.data)
    assert root.tag == f"{OAI}OAI-PMH"
    assert root.get(f"{XSI}schemaLocation").split() == [
        "http://www.openarchives.org/OAI/2.0/",
        "http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd",
    ]
    assert DATESTAMP.fullmatch(root.findtext(f"{OAI}responseDate"))
    assert root.findtext(f"{OAI}request") == "http://localhost/oai"
    return root


def errors(root: ET.Element) -> list[str]:
    return [e.get("code") for e in root.findall(f"{OAI}error")]


def headers(root: ET.Element) -> list[ET.Element]:
    return root.findall(f".//{OAI}header")


def ids(root: ET.Element, *, deleted: bool | None = None) -> list[int]:
    """The testimony ids of the headers in an answer; only live or only deleted ones if asked."""
    found = []
    for header in headers(root):
        if deleted is not None and (header.get("status") == "deleted") != deleted:
            continue
        identifier = header.findtext(f"{OAI}identifier")
        assert identifier.startswith(OAI_ID)
        found.append(int(identifier.removeprefix(OAI_ID)))
    return found


def dublin_core(root: ET.Element) -> dict[str, list[str]]:
    dc = root.find(f".//{OAI}metadata/{OAI_DC}dc")
    out: dict[str, list[str]] = {}
    for element in dc:
        assert element.tag.startswith(DC)
        out.setdefault(element.tag.removeprefix(DC), []).append(element.text)
    return out


def get_record(client, testimony) -> ET.Element:
    return harvest(client, f"verb=GetRecord&metadataPrefix=oai_dc&identifier={OAI_ID}{testimony.id}")


def list_all(client, verb: str = "ListRecords", **args: str) -> ET.Element:
    query = "&".join(f"{k}={v}" for k, v in {"verb": verb, "metadataPrefix": "oai_dc", **args}.items())
    return harvest(client, query)


def consent(**changes) -> dict:
    from archive.consent.service import validate_consent

    return validate_consent({**sample_body()["consent"], **changes})


def age(testimony, moment: dt.datetime) -> None:
    """Move a testimony's whole history (entry, consents, review decisions) back to `moment`."""
    from sqlalchemy import update

    from archive.consent.models import ConsentVersion
    from archive.extensions import db
    from archive.review.models import ReviewDecision

    testimony.created_at = testimony.updated_at = testimony.published_at = moment
    for model in (ConsentVersion, ReviewDecision):
        db.session.execute(update(model).where(model.testimony_id == testimony.id).values(created_at=moment))
    db.session.execute(
        update(ConsentVersion)
        .where(ConsentVersion.testimony_id == testimony.id, ConsentVersion.decided_at.is_not(None))
        .values(decided_at=moment)
    )
    db.session.commit()
    db.session.expire_all()


# --- Identify and the formats -------------------------------------------------------------------


def test_identify_describes_a_repository_keeping_deleted_records_with_seconds_granularity(client):
    root = harvest(client, "verb=Identify")
    assert errors(root) == []
    assert root.find(f"{OAI}request").attrib == {"verb": "Identify"}
    identify = root.find(f"{OAI}Identify")
    assert [child.tag.removeprefix(OAI) for child in identify] == [
        "repositoryName", "baseURL", "protocolVersion", "adminEmail", "earliestDatestamp",
        "deletedRecord", "granularity",
    ]  # fmt: skip
    assert identify.findtext(f"{OAI}repositoryName") == "Testimony Archive"
    assert identify.findtext(f"{OAI}baseURL") == "http://localhost/oai"
    assert identify.findtext(f"{OAI}protocolVersion") == "2.0"
    assert re.fullmatch(r"\S+@(\S+\.)+\S+", identify.findtext(f"{OAI}adminEmail"))
    assert DATESTAMP.fullmatch(identify.findtext(f"{OAI}earliestDatestamp"))
    assert identify.findtext(f"{OAI}deletedRecord") == "persistent"
    assert identify.findtext(f"{OAI}granularity") == "YYYY-MM-DDThh:mm:ssZ"


def test_earliest_datestamp_is_that_of_the_oldest_record(client, create_testimony):
    old, new = create_testimony(), create_testimony()
    age(old, dt.datetime(2020, 1, 10, 12, 0, 0, 500))
    age(new, dt.datetime(2022, 5, 1))
    identify = harvest(client, "verb=Identify").find(f"{OAI}Identify")
    assert identify.findtext(f"{OAI}earliestDatestamp") == "2020-01-10T12:00:00Z"


def test_oai_dc_is_the_one_metadata_format(client, create_testimony):
    public = create_testimony()
    for query in ("verb=ListMetadataFormats", f"verb=ListMetadataFormats&identifier={OAI_ID}{public.id}"):
        formats = harvest(client, query).findall(f"{OAI}ListMetadataFormats/{OAI}metadataFormat")
        assert [f.findtext(f"{OAI}metadataPrefix") for f in formats] == ["oai_dc"]
        assert formats[0].findtext(f"{OAI}schema") == "http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
        assert formats[0].findtext(f"{OAI}metadataNamespace") == "http://www.openarchives.org/OAI/2.0/oai_dc/"


def test_metadata_formats_of_a_draft_are_asked_of_an_identifier_that_does_not_exist(client, create_testimony):
    draft = create_testimony(state="draft")
    root = harvest(client, f"verb=ListMetadataFormats&identifier={OAI_ID}{draft.id}")
    assert errors(root) == ["idDoesNotExist"]


def test_the_archive_has_no_sets(client, create_testimony):
    create_testimony()
    assert errors(harvest(client, "verb=ListSets")) == ["noSetHierarchy"]
    assert errors(list_all(client, set="winter")) == ["noSetHierarchy"]


# --- what a harvester gets ----------------------------------------------------------------------


def test_list_records_gives_public_published_testimonies_and_nothing_else(client, create_testimony):
    public = [create_testimony(), create_testimony(title="Another open testimony")]
    for hidden in (
        create_testimony(access="research"),
        create_testimony(access="staff"),
        create_testimony(access="sealed"),
        create_testimony(state="draft"),
        create_testimony(state="in_review"),
        create_testimony(state="changes_requested"),
    ):
        assert hidden.id not in [t.id for t in public]
    for verb in ("ListRecords", "ListIdentifiers"):
        root = list_all(client, verb)
        assert errors(root) == []
        assert ids(root) == [t.id for t in public]
        assert ids(root, deleted=True) == []
    assert len(list_all(client).findall(f".//{OAI}record/{OAI}metadata")) == 2
    assert list_all(client, "ListIdentifiers").find(f".//{OAI}metadata") is None


def test_a_record_is_dublin_core_of_what_the_public_sees(client, create_testimony):
    public = create_testimony()
    root = get_record(client, public)
    assert errors(root) == []
    assert root.find(f"{OAI}request").attrib == {
        "verb": "GetRecord",
        "metadataPrefix": "oai_dc",
        "identifier": f"{OAI_ID}{public.id}",
    }
    dc_root = root.find(f".//{OAI_DC}dc")
    assert dc_root.get(f"{XSI}schemaLocation").split() == [
        "http://www.openarchives.org/OAI/2.0/oai_dc/",
        "http://www.openarchives.org/OAI/2.0/oai_dc.xsd",
    ]
    dc = dublin_core(root)
    assert dc["title"] == ["A fictional testimony about the winter road"]
    assert dc["creator"] == ["Leyla Fictionova"]
    assert dc["contributor"] == ["Test Interviewer"]
    assert dc["description"] == ["Fictional demonstration testimony about leaving a village in winter."]
    assert dc["date"] == ["2019-03-14"]
    assert dc["language"] == ["en"]
    assert dc["coverage"] == ["Ağdam", "Xocalı"]
    assert sorted(dc["subject"]) == ["family", "winter"]
    assert dc["type"] == ["Oral history", "Sound"]
    assert dc["identifier"] == [f"http://localhost/testimonies/{public.id}"]
    assert "consent" in dc["rights"][0]
    header = root.find(f".//{OAI}header")
    assert header.get("status") is None
    assert header.findtext(f"{OAI}datestamp") == public.published_at.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_an_anonymised_narrator_is_harvested_by_pseudonym_and_the_real_name_never(client, create_testimony):
    anonymised = create_testimony(
        narrator={"name": "Krasimira Oblenskaya", "pseudonym": "The teacher", "birth_year": 1950},
        consent_anonymize_narrator=True,
    )
    assert dublin_core(get_record(client, anonymised))["creator"] == ["The teacher"]
    for query in (
        f"verb=GetRecord&metadataPrefix=oai_dc&identifier={OAI_ID}{anonymised.id}",
        "verb=ListRecords&metadataPrefix=oai_dc",
        "verb=ListIdentifiers&metadataPrefix=oai_dc",
    ):
        body = client.get(f"/oai?{query}").get_data(as_text=True)
        assert "Krasimira" not in body and "Oblenskaya" not in body


def test_anonymising_a_public_narrator_changes_the_record_at_once_and_dates_it_for_reharvest(
    client, create_testimony, users
):
    from archive.operations import change_consent

    public = create_testimony()
    age(public, dt.datetime(2020, 1, 1))
    assert dublin_core(get_record(client, public))["creator"] == ["Leyla Fictionova"]
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    change_consent(users["archivist"], public, consent(anonymize_narrator=True))
    root = get_record(client, public)
    assert dublin_core(root)["creator"] == ["L. F."]
    assert "Leyla" not in ET.tostring(root, encoding="unicode")
    stamp = dt.datetime.strptime(root.findtext(f".//{OAI}datestamp"), "%Y-%m-%dT%H:%M:%SZ")
    assert stamp >= before
    assert ids(list_all(client, **{"from": before.strftime("%Y-%m-%dT%H:%M:%SZ")})) == [public.id]


def test_a_redacted_segment_never_reaches_a_harvester(client, create_testimony, users):
    segments = sample_body()["segments"]
    segments[1]["text"] = "The word vexillumbra was said here by the river."
    redacted = create_testimony(
        segments=segments,
        consent_redactions=[{"start_ms": 60000, "end_ms": 120000, "reason": "a living relative"}],
    )
    login(client, users["archivist"])
    assert "vexillumbra" in client.get(f"/api/v1/testimonies/{redacted.id}").get_data(as_text=True)
    client.post("/logout")
    for query in (
        f"verb=GetRecord&metadataPrefix=oai_dc&identifier={OAI_ID}{redacted.id}",
        "verb=ListRecords&metadataPrefix=oai_dc",
    ):
        assert "vexillumbra" not in client.get(f"/oai?{query}").get_data(as_text=True)


def test_an_unapproved_edit_is_not_harvested(client, create_testimony, users):
    from archive.operations import update_testimony

    public = create_testimony()
    update_testimony(users["archivist"], public, {"summary": "An edit not yet approved: fennicortex"}, 1)
    body = client.get("/oai?verb=ListRecords&metadataPrefix=oai_dc").get_data(as_text=True)
    assert "fennicortex" not in body
    assert dublin_core(get_record(client, public))["description"] == [sample_body()["summary"]]


def test_a_signed_in_admin_harvests_only_public_records_too(client, create_testimony, users):
    public = create_testimony()
    create_testimony(access="staff")
    create_testimony(state="draft")
    login(client, users["admin"])
    assert ids(list_all(client, "ListIdentifiers")) == [public.id]


def test_a_draft_never_appears(client, create_testimony):
    draft = create_testimony(state="draft", title="Draft mirthwaldex")
    assert errors(list_all(client)) == ["noRecordsMatch"]
    assert errors(get_record(client, draft)) == ["idDoesNotExist"]
    assert "mirthwaldex" not in client.get("/oai?verb=ListRecords&metadataPrefix=oai_dc").get_data(
        as_text=True
    )


# --- deleted records ----------------------------------------------------------------------------


def test_withdrawing_a_public_testimony_turns_it_into_a_deleted_header_at_once(
    client, create_testimony, users
):
    from archive.operations import change_consent

    public = create_testimony(title="The gondrevalle crossing")
    assert ids(list_all(client), deleted=False) == [public.id]
    before = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    change_consent(users["archivist"], public, consent(access="withdrawn"))
    for root in (get_record(client, public), list_all(client), list_all(client, "ListIdentifiers")):
        assert errors(root) == []
        assert ids(root, deleted=True) == [public.id]
        assert ids(root, deleted=False) == []
        assert root.find(f".//{OAI}metadata") is None
        stamp = root.findtext(f".//{OAI}header/{OAI}datestamp")
        assert dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ") >= before
        assert "gondrevalle" not in ET.tostring(root, encoding="unicode")


def _unpublish(users, testimony):
    from archive.operations import unpublish

    unpublish(users["moderator"], testimony, "Taken offline for checking.")


def _delete(users, testimony):
    from archive.operations import delete_testimony

    delete_testimony(users["archivist"], testimony)


def _narrow(access: str):
    def narrow(users, testimony):
        from archive.operations import change_consent

        seal = {"sealed_until": "2099-01-01", "release_to": "public"} if access == "sealed" else {}
        change_consent(users["archivist"], testimony, consent(access=access, **seal))

    return narrow


@pytest.mark.parametrize(
    "stop",
    [_unpublish, _delete, _narrow("research"), _narrow("staff"), _narrow("sealed")],
    ids=["unpublished", "soft-deleted", "narrowed-to-research", "narrowed-to-staff", "sealed"],
)
def test_a_testimony_that_stops_being_public_is_kept_as_a_deleted_record(
    client, create_testimony, users, stop
):
    public, other = create_testimony(), create_testimony()
    stop(users, public)
    root = list_all(client)
    assert ids(root, deleted=True) == [public.id]
    assert ids(root, deleted=False) == [other.id]
    assert errors(get_record(client, public)) == []
    assert ids(get_record(client, public), deleted=True) == [public.id]


def test_a_deleted_record_is_dated_when_it_stopped_being_public(client, create_testimony, users):
    from archive.extensions import db
    from archive.operations import change_consent

    public = create_testimony()
    age(public, dt.datetime(2021, 1, 1))
    _, withdrawal = change_consent(users["archivist"], public, consent(access="withdrawn"))
    withdrawal.created_at = dt.datetime(2021, 3, 4, 5, 6, 7, 890)
    db.session.commit()
    root = get_record(client, public)
    assert root.findtext(f".//{OAI}datestamp") == "2021-03-04T05:06:07Z"
    assert ids(list_all(client, until="2021-03-04"), deleted=True) == [public.id]
    assert errors(list_all(client, **{"from": "2021-03-05"})) == ["noRecordsMatch"]


@pytest.mark.parametrize(
    "overrides",
    [
        {"access": "research"},
        {"access": "staff"},
        {"access": "sealed"},
        {"state": "draft"},
        {"state": "in_review"},
    ],
    ids=["research", "staff", "sealed", "draft", "in-review"],
)
def test_a_testimony_never_public_never_appears_not_even_once_withdrawn(
    client, create_testimony, users, overrides
):
    from archive.operations import change_consent

    never = create_testimony(**overrides)
    change_consent(users["archivist"], never, consent(access="withdrawn"))
    assert errors(list_all(client)) == ["noRecordsMatch"]
    assert errors(list_all(client, "ListIdentifiers")) == ["noRecordsMatch"]
    assert errors(get_record(client, never)) == ["idDoesNotExist"]


def test_a_draft_that_had_public_consent_but_was_never_published_never_appears(
    client, create_testimony, users
):
    from archive.operations import delete_testimony

    draft = create_testimony(state="draft")
    delete_testimony(users["archivist"], draft)
    assert errors(get_record(client, draft)) == ["idDoesNotExist"]
    assert errors(list_all(client)) == ["noRecordsMatch"]


# --- GetRecord and identifiers ------------------------------------------------------------------


@pytest.mark.parametrize(
    "identifier",
    [
        "{research}",
        "{draft}",
        "999999",
        "99999999999999999999999999",
        "0",
        "-1",
        "abc",
        "",
    ],
)
def test_get_record_of_anything_not_public_answers_id_does_not_exist(client, create_testimony, identifier):
    research, draft = create_testimony(access="research"), create_testimony(state="draft")
    local = identifier.format(research=research.id, draft=draft.id)
    root = harvest(client, f"verb=GetRecord&metadataPrefix=oai_dc&identifier={OAI_ID}{local}")
    assert errors(root) == ["idDoesNotExist"]
    assert root.find(f"{OAI}GetRecord") is None


def test_identifiers_of_another_repository_do_not_exist_here(client, create_testimony):
    public = create_testimony()
    for identifier in (f"oai:elsewhere.org:testimony/{public.id}", f"oai:localhost:other/{public.id}",
                       f"{public.id}", f"http://localhost/testimonies/{public.id}"):  # fmt: skip
        query = f"verb=GetRecord&metadataPrefix=oai_dc&identifier={identifier}"
        assert errors(harvest(client, query)) == ["idDoesNotExist"]


def test_a_configured_repository_id_names_the_identifiers(app, client, create_testimony):
    app.config["OAI_REPOSITORY_ID"] = "testimonies.example.org"
    public = create_testimony()
    root = list_all(client, "ListIdentifiers")
    assert root.findtext(f".//{OAI}identifier") == f"oai:testimonies.example.org:testimony/{public.id}"
    query = (
        f"verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:testimonies.example.org:testimony/{public.id}"
    )
    assert errors(harvest(client, query)) == []
    assert errors(get_record(client, public)) == ["idDoesNotExist"]


def test_a_harvester_may_post_its_request_without_a_csrf_token(app, client, create_testimony):
    app.config["WTF_CSRF_ENABLED"] = True
    public = create_testimony()
    root = harvest(client, "verb=ListIdentifiers&metadataPrefix=oai_dc", method="POST")
    assert ids(root) == [public.id]


# --- the protocol's errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["", "verb=", "verb=Nope", "verb=identify", "verb=Identify&verb=Identify", "metadataPrefix=oai_dc"],
)
def test_a_missing_unknown_or_repeated_verb_is_a_bad_verb(client, query):
    root = harvest(client, query)
    assert errors(root) == ["badVerb"]
    # After badVerb the request is echoed without attributes.
    assert root.find(f"{OAI}request").attrib == {}


@pytest.mark.parametrize(
    "query",
    [
        "verb=Identify&metadataPrefix=oai_dc",
        "verb=ListRecords",
        "verb=ListIdentifiers&from=2020-01-01",
        "verb=GetRecord&metadataPrefix=oai_dc",
        "verb=GetRecord&identifier=oai:localhost:testimony/1",
        "verb=ListRecords&metadataPrefix=oai_dc&metadataPrefix=oai_dc",
        "verb=ListRecords&metadataPrefix=",
        "verb=ListRecords&metadataPrefix=oai%20dc",
        "verb=ListRecords&metadataPrefix=oai_dc&set=a%20b",
        "verb=ListRecords&metadataPrefix=oai_dc&from=2020-13-01",
        "verb=ListRecords&metadataPrefix=oai_dc&from=2020-02-30",
        "verb=ListRecords&metadataPrefix=oai_dc&from=2020-01-01T00:00Z",
        "verb=ListRecords&metadataPrefix=oai_dc&from=2020-01-01T00:00:00",
        "verb=ListRecords&metadataPrefix=oai_dc&from=2020-01-01T00:00:00%2B01:00",
        "verb=ListRecords&metadataPrefix=oai_dc&from=%D9%A2%D9%A0%D9%A2%D9%A0-01-01",
        "verb=ListRecords&metadataPrefix=oai_dc&from=2020-01-01&until=2021-01-01T00:00:00Z",
        "verb=ListRecords&metadataPrefix=oai_dc&from=2021-01-01&until=2020-12-31",
        "verb=ListRecords&metadataPrefix=oai_dc&resumptionToken=abc",
        "verb=ListSets&set=x",
        "verb=GetRecord&metadataPrefix=oai_dc&identifier=x&resumptionToken=abc",
        "verb=ListMetadataFormats&identifier=x&identifier=y",
        "verb=Identify&unknown=1",
    ],
)
def test_a_bad_argument_is_refused_with_bad_argument(client, query):
    root = harvest(client, query)
    assert errors(root) == ["badArgument"]
    assert root.find(f"{OAI}request").attrib == {}
    assert len(root) == 3


def test_a_format_other_than_oai_dc_cannot_be_disseminated(client, create_testimony):
    public = create_testimony()
    for query in ("verb=ListRecords&metadataPrefix=marc21", "verb=ListIdentifiers&metadataPrefix=mods",
                  f"verb=GetRecord&metadataPrefix=marc21&identifier={OAI_ID}{public.id}"):  # fmt: skip
        root = harvest(client, query)
        assert errors(root) == ["cannotDisseminateFormat"]
        assert root.find(f"{OAI}request").get("verb") == query.split("&")[0].removeprefix("verb=")


def _token(**state) -> str:
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode()


@pytest.mark.parametrize(
    "token",
    [
        "not a token!",
        "%%%",
        "e30",  # {}
        _token(v=1, verb="ListRecords", args={"metadataPrefix": "oai_dc"}, after="3"),
        _token(v=1, verb="ListRecords", args={"metadataPrefix": "oai_dc"}, after=0),
        _token(v=1, verb="ListRecords", args={"metadataPrefix": "oai_dc", "bogus": "x"}, after=1),
        _token(v=1, verb="ListRecords", args={"metadataPrefix": "oai_dc", "from": "yesterday"}, after=1),
        _token(v=1, verb="ListRecords", args={}, after=1),
        _token(v=2, verb="ListRecords", args={"metadataPrefix": "oai_dc"}, after=1),
        _token(v=1, verb="ListIdentifiers", args={"metadataPrefix": "oai_dc"}, after=1),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_a_bad_resumption_token_is_refused(client, create_testimony, token):
    create_testimony(), create_testimony()
    root = harvest(client, f"verb=ListRecords&resumptionToken={token.replace('%', '%25')}")
    assert errors(root) == ["badResumptionToken"]
    assert root.find(f"{OAI}ListRecords") is None


def test_a_token_for_one_list_does_not_continue_another(app, client, create_testimony):
    app.config["OAI_PAGE_SIZE"] = 1
    create_testimony(), create_testimony()
    token = list_all(client, "ListIdentifiers").findtext(f".//{OAI}resumptionToken")
    assert errors(harvest(client, f"verb=ListIdentifiers&resumptionToken={token}")) == []
    assert errors(harvest(client, f"verb=ListRecords&resumptionToken={token}")) == ["badResumptionToken"]
    assert errors(harvest(client, f"verb=ListSets&resumptionToken={token}")) == ["badResumptionToken"]


def test_an_empty_archive_has_no_records_to_match(client):
    assert errors(list_all(client)) == ["noRecordsMatch"]
    assert errors(list_all(client, "ListIdentifiers")) == ["noRecordsMatch"]


# --- paging and dates ---------------------------------------------------------------------------


def _pages(client, verb: str, **args: str) -> list[ET.Element]:
    pages = [list_all(client, verb, **args)]
    while (token := pages[-1].find(f".//{OAI}resumptionToken")) is not None and token.text:
        pages.append(harvest(client, f"verb={verb}&resumptionToken={token.text}"))
        assert len(pages) < 50
    return pages


@pytest.mark.parametrize("verb", ["ListRecords", "ListIdentifiers"])
def test_a_long_list_comes_in_pages_joined_by_resumption_tokens(app, client, create_testimony, verb):
    app.config["OAI_PAGE_SIZE"] = 10
    made = [create_testimony() for _ in range(25)]
    create_testimony(access="research")
    pages = _pages(client, verb)
    assert [len(headers(page)) for page in pages] == [10, 10, 5]
    assert [i for page in pages for i in ids(page)] == [t.id for t in made]
    tokens = [page.find(f"{OAI}{verb}/{OAI}resumptionToken") for page in pages]
    assert [t.get("completeListSize") for t in tokens] == ["25", "25", "25"]
    assert [t.get("cursor") for t in tokens] == ["0", "10", "20"]
    assert tokens[0].text and tokens[1].text and not tokens[2].text
    assert pages[1].find(f"{OAI}request").attrib == {"verb": verb, "resumptionToken": tokens[0].text}


def test_a_list_on_one_page_carries_no_resumption_token(client, create_testimony):
    create_testimony(), create_testimony()
    assert list_all(client).find(f".//{OAI}resumptionToken") is None


def test_a_token_keeps_the_lists_date_window(app, client, create_testimony):
    app.config["OAI_PAGE_SIZE"] = 2
    made = [create_testimony() for _ in range(5)]
    for testimony, year in zip(made, (2019, 2020, 2020, 2020, 2023), strict=True):
        age(testimony, dt.datetime(year, 6, 1))
    pages = _pages(client, "ListIdentifiers", **{"from": "2020-01-01", "until": "2020-12-31"})
    assert [i for page in pages for i in ids(page)] == [t.id for t in made[1:4]]


def test_a_harvest_in_progress_skips_no_record_when_an_earlier_one_is_withdrawn(
    app, client, create_testimony, users
):
    from archive.operations import change_consent

    app.config["OAI_PAGE_SIZE"] = 3
    made = [create_testimony() for _ in range(7)]
    for testimony in made:
        age(testimony, dt.datetime(2020, 6, 1))
    first = list_all(client, "ListIdentifiers", until="2020-12-31")
    token = first.findtext(f".//{OAI}resumptionToken")
    # Withdrawn now, the first record's datestamp leaves the window: the list shrinks under the harvester.
    change_consent(users["archivist"], made[0], consent(access="withdrawn"))
    rest = harvest(client, f"verb=ListIdentifiers&resumptionToken={token}")
    seen = ids(first) + ids(rest)
    while (token := rest.findtext(f".//{OAI}resumptionToken")) is not None and token:
        rest = harvest(client, f"verb=ListIdentifiers&resumptionToken={token}")
        seen += ids(rest)
    assert seen == [t.id for t in made]


def test_from_and_until_select_records_by_datestamp_inclusively(client, create_testimony):
    early, middle, late = create_testimony(), create_testimony(), create_testimony()
    age(early, dt.datetime(2020, 1, 10, 12, 0, 0))
    age(middle, dt.datetime(2021, 6, 15, 8, 30, 0, 250_000))
    age(late, dt.datetime(2022, 12, 31, 23, 0, 0))
    root = list_all(client)
    stamps = {i: h.findtext(f"{OAI}datestamp") for i, h in zip(ids(root), headers(root), strict=True)}
    assert stamps[middle.id] == "2021-06-15T08:30:00Z"
    cases = {
        (("from", "2021-01-01"),): [middle, late],
        (("until", "2021-06-15"),): [early, middle],
        (("from", "2021-06-15"), ("until", "2021-06-15")): [middle],
        (("from", "2021-06-15T08:30:00Z"), ("until", "2021-06-15T08:30:00Z")): [middle],
        (("from", "2021-06-15T08:30:01Z"),): [late],
        (("until", "2021-06-15T08:29:59Z"),): [early],
        (("from", "2022-12-31"),): [late],
    }
    for args, expected in cases.items():
        assert ids(list_all(client, "ListIdentifiers", **dict(args))) == [t.id for t in expected], args
    assert errors(list_all(client, until="2019-12-31")) == ["noRecordsMatch"]
    assert errors(list_all(client, **{"from": "2023-01-01"})) == ["noRecordsMatch"]
