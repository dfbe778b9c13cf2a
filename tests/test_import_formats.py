"""Importing testimonies from a spreadsheet's CSV and from OHMS XML: good testimonies are saved whole as
drafts, bad ones are reported where they stand in the file and nothing of them is saved, and a hostile
XML file is refused before it can do harm. All names and stories here are fictional."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from archive.catalogue import models as catalogue
from archive.catalogue.ohms import ohms_source
from archive.consent.models import ConsentVersion
from archive.extensions import db
from archive.operations import import_file
from tests import test_cli
from tests.conftest import sample_body

# The `archive` command on an instance folder of its own, as tests/test_cli.py runs it.
instance, run, database, count = test_cli.instance, test_cli.run, test_cli.database, test_cli.count
upgraded = test_cli.upgraded

VTT = """WEBVTT

00:00.000 --> 00:40.000
<v Narrator>We carried the apricot seedlings in a basket of wet cloth.

00:40.000 --> 01:30.000
<v Narrator>In spring my father planted them behind the new house.
"""
HEADER = [
    "title",
    "summary",
    "narrator_name",
    "narrator_pseudonym",
    "narrator_birth_year",
    "interview_date",
    "interviewer",
    "languages",
    "places",
    "subjects",
    "consent_access",
    "consent_anonymize_narrator",
    "consent_publish_media",
    "transcript_vtt",
]


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request) -> str:
    return request.param


def row(n: int, **cells: str) -> dict[str, str]:
    values = {
        "title": f"A fictional testimony about the orchard, number {n}",
        "summary": "Fictional demonstration testimony about replanting an orchard after leaving home.",
        "narrator_name": f"Narmin Fictionova {n}",
        "narrator_pseudonym": f"N. F. {n}",
        "narrator_birth_year": "1948",
        "interview_date": "2018-05-02",
        "interviewer": "Test Interviewer",
        "languages": "en; ru",
        "places": "Ağdam; Bakı",
        "subjects": "orchard; family",
        "consent_access": "research",
        "consent_anonymize_narrator": "yes",
        "consent_publish_media": "no",
        "transcript_vtt": VTT,
    }
    values.update(cells)
    return values


def write_csv(path: Path, rows: list[dict[str, str]], header: list[str] = HEADER) -> Path:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=header, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    path.write_text(out.getvalue(), encoding="utf-8", newline="")
    return path


def lines_before(path: Path, title: str) -> int:
    """The physical line on which the row with this title starts."""
    text = path.read_text(encoding="utf-8")
    return text[: text.index(title)].count("\n") + 1


def rows_of(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def quiet(*_args) -> None:
    pass


def hit_ids(client, token: str | None, q: str) -> list[int]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.get(f"/api/v1/search?q={q}", headers=headers)
    assert response.status_code == 200, response.json
    return [hit["id"] for hit in response.json["hits"]]


# --- CSV ------------------------------------------------------------------------------------------


def test_a_csv_saves_its_good_rows_as_drafts_for_staff_and_reports_each_bad_row_by_line_and_column(
    app, users, tokens, client, tmp_path
):
    rows = [row(n) for n in range(1, 6)]
    rows[1]["narrator_birth_year"] = "some time before the war"
    rows[3]["consent_publish_media"] = "perhaps"
    rows[3]["transcript_vtt"] = VTT.replace("00:40.000 --> 01:30.000", "00:40.000 --> 00:10.000")
    path = write_csv(tmp_path / "orchard.csv", rows)

    report = import_file(users["archivist"], path, echo=quiet)

    assert report.total == 5 and report.imported == 3
    second, fourth = lines_before(path, rows[1]["title"]), lines_before(path, rows[3]["title"])
    assert [p.split(": ")[0] for p in report.problems] == [f"line {second} (row 2)", f"line {fourth} (row 4)"]
    assert "narrator_birth_year: Must be a whole number." in report.problems[0]
    assert "consent_publish_media: “perhaps” is not yes or no" in report.problems[1]
    assert "transcript_vtt: Cue 2 (line 6): the end time must be after the start time." in report.problems[1]
    saved = db.session.scalars(select(catalogue.Testimony).order_by(catalogue.Testimony.id)).all()
    assert [t.title for t in saved] == [rows[n]["title"] for n in (0, 2, 4)]
    assert {t.state for t in saved} == {catalogue.State.DRAFT}
    assert rows_of(catalogue.Segment) == 6 and rows_of(ConsentVersion) == 3
    first = saved[0]
    assert first.narrator.name == "Narmin Fictionova 1" and first.narrator.birth_year == 1948
    assert first.languages == ["en", "ru"] and first.interview_date.isoformat() == "2018-05-02"
    assert sorted(p.name for p in first.places) == ["Ağdam", "Bakı"]
    assert first.consent.access == "research" and first.consent.anonymize_narrator is True
    assert first.consent.publish_media is False
    assert [(s.start_ms, s.end_ms, s.speaker) for s in first.segments] == [
        (0, 40_000, "Narrator"),
        (40_000, 90_000, "Narrator"),
    ]
    assert sorted(hit_ids(client, tokens["archivist"], "apricot")) == [t.id for t in saved]
    assert hit_ids(client, tokens["researcher"], "apricot") == []
    assert hit_ids(client, None, "apricot") == []


def test_a_row_whose_quoted_cells_span_lines_is_reported_at_the_line_where_it_starts(app, users, tmp_path):
    path = tmp_path / "multiline.csv"
    path.write_text(
        "title,summary,narrator_name,transcript_vtt\n"  # line 1
        'A fictional testimony of the river crossing,"First paragraph.\n'  # line 2: row 1 starts
        "\n"
        'Second paragraph, after a blank line.",Rauf Fictionov,"WEBVTT\n'
        "\n"
        "00:00.000 --> 00:20.000\n"
        'The ferry left before dawn."\n'  # line 7: row 1 ends
        '"A fictional testimony, unfinished",,,\n'  # line 8: row 2 has no narrator
        'A fictional testimony of the mill,"One line\n'  # line 9: row 3 starts
        'and another",Sevda Fictionova,not a transcript\n',
        encoding="utf-8",
    )

    report = import_file(users["archivist"], path, echo=quiet)

    assert report.total == 3 and report.imported == 1
    assert report.problems == [
        "line 8 (row 2): narrator_name: Give the narrator's name or a pseudonym.",
        "line 9 (row 3): transcript_vtt: Line 1: a WebVTT transcript starts with the line WEBVTT.",
    ]
    [saved] = db.session.scalars(select(catalogue.Testimony)).all()
    assert saved.summary == "First paragraph.\n\nSecond paragraph, after a blank line."
    assert [s.text for s in saved.segments] == ["The ferry left before dawn."]


def test_a_csv_saved_with_a_byte_order_mark_and_spreadsheet_headers_is_read(app, users, tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(
        "\ufeffTitle,Narrator Name,Consent-Access,Subjects\r\n"
        "A fictional testimony about bread,Aygün Fictionova,staff,bread; neighbours\r\n"
        "\r\n".encode()
    )

    report = import_file(users["archivist"], path, echo=quiet)

    assert report.problems == [] and report.imported == 1
    [saved] = db.session.scalars(select(catalogue.Testimony)).all()
    assert saved.title == "A fictional testimony about bread"
    assert sorted(s.name for s in saved.subjects) == ["bread", "neighbours"]
    assert saved.consent.access == "staff"


def test_a_transcript_file_is_read_from_the_csv_folder_and_a_path_leaving_it_is_refused(app, users, tmp_path):
    folder = tmp_path / "batch"
    (folder / "transcripts").mkdir(parents=True)
    (folder / "transcripts" / "one.vtt").write_text(VTT, encoding="utf-8")
    (tmp_path / "outside.vtt").write_text(VTT, encoding="utf-8")
    header = ["title", "narrator_name", "transcript_file"]
    cells = [
        ("beside", "transcripts/one.vtt"),
        ("outside", "../outside.vtt"),
        ("absolute", str(tmp_path / "outside.vtt")),
        ("missing", "transcripts/two.vtt"),
    ]
    rows = [
        {"title": f"Fictional testimony {name}", "narrator_name": "A. Fictional", "transcript_file": file}
        for name, file in cells
    ]
    path = write_csv(folder / "batch.csv", rows, header)

    report = import_file(users["archivist"], path, echo=quiet)

    assert report.imported == 1
    assert report.problems == [
        "line 3 (row 2): transcript_file: “../outside.vtt” leads outside the CSV file's folder; "
        "keep it inside.",
        f"line 4 (row 3): transcript_file: “{tmp_path / 'outside.vtt'}” must be a path relative to the CSV "
        "file's folder.",
        "line 5 (row 4): transcript_file: there is no file “transcripts/two.vtt” beside the CSV file.",
    ]
    [saved] = db.session.scalars(select(catalogue.Testimony)).all()
    assert saved.title == "Fictional testimony beside" and len(saved.segments) == 2


def test_a_csv_with_unknown_columns_or_no_title_column_is_refused_whole_naming_them(app, users, tmp_path):
    path = tmp_path / "wrong.csv"
    path.write_text("name,narrator_name,Mood\nFictional,Fictional Narrator,calm\n", encoding="utf-8")

    report = import_file(users["archivist"], path, echo=quiet)

    assert report.imported == 0 and report.total == 0
    [problem] = report.problems
    assert problem.startswith(
        "wrong.csv: line 1: the header row has no title column; unknown columns “name”, “Mood”"
    )
    assert rows_of(catalogue.Testimony) == 0


def test_a_dry_run_of_a_csv_or_an_ohms_file_checks_everything_and_saves_nothing(app, users, tmp_path):
    csv_path = write_csv(tmp_path / "dry.csv", [row(1), row(2, consent_access="everyone")])
    xml_path = tmp_path / "dry.xml"
    xml_path.write_text(OHMS, encoding="utf-8")

    from_csv = import_file(users["archivist"], csv_path, dry_run=True, echo=quiet)
    from_ohms = import_file(users["archivist"], xml_path, dry_run=True, echo=quiet)

    assert (from_csv.imported, from_csv.total) == (1, 2)
    assert from_csv.problems[0].endswith(
        "consent_access: Must be one of: public, research, staff, sealed, withdrawn."
    )
    assert (from_ohms.imported, from_ohms.problems) == (1, [])
    assert [rows_of(m) for m in (catalogue.Testimony, catalogue.Segment, ConsentVersion)] == [0, 0, 0]


def test_a_csv_import_through_the_installed_command(run, database, tmp_path):
    rows = [row(1), row(2, narrator_birth_year="unknown"), row(3)]
    path = write_csv(tmp_path / "orchard.csv", rows)

    dry = run("import", str(path), "--dry-run", "--as", "archivist@example.org")
    result = run("import", str(path), "--as", "archivist@example.org")

    assert dry.returncode == 1 and "would import 2 of 3" in dry.stdout
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    line = lines_before(path, rows[1]["title"])
    assert f"line {line} (row 2): narrator_birth_year: Must be a whole number." in result.stderr
    assert "imported 2 of 3 records; 1 refused" in result.stdout
    assert count(database, "SELECT count(*) FROM testimonies WHERE state = 'draft'") == 2
    assert count(database, "SELECT count(*) FROM segments") == 4


# --- OHMS XML -------------------------------------------------------------------------------------

OHMS = """<?xml version="1.0" encoding="UTF-8"?>
<ROOT xmlns="https://www.weareavp.com/nunncenter/ohms" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <record id="0001" dt="2020-01-15">
    <version>5.4</version>
    <date value="2017-09-21" format="yyyy-mm-dd"/>
    <title>A fictional testimony about the school by the sea</title>
    <duration>0:07:30</duration>
    <subject>schools</subject>
    <keyword>teachers;exams</keyword>
    <interviewee>Tamara Fictionova</interviewee>
    <interviewer>Test Interviewer</interviewer>
    <language>English</language>
    <description>Fictional demonstration testimony about a village school.</description>
    <index>
      <point>
        <time>0</time>
        <title>Introduction</title>
        <partial_transcript>I was born in a fictional village by the sea.</partial_transcript>
        <synopsis>The narrator introduces herself.</synopsis>
        <keywords>village;sea</keywords>
        <subjects>childhood</subjects>
      </point>
      <point>
        <time>95</time>
        <title>The school</title>
        <synopsis>The narrator remembers the school and its teacher of geography.</synopsis>
        <keywords>school</keywords>
        <gpspoints>
          <gps>40.1, 49.8</gps>
          <gps_zoom>10</gps_zoom>
          <gps_text>Fictional Harbour</gps_text>
        </gpspoints>
      </point>
      <point>
        <time>250</time>
        <title>Leaving</title>
        <partial_transcript>We left with our books tied in a scarf.</partial_transcript>
      </point>
    </index>
    <transcript/>
    <rights>Fictional rights statement.</rights>
  </record>
</ROOT>
"""
BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<ROOT><record><title>&lol9;</title><interviewee>Fictional</interviewee></record></ROOT>
"""


def write_xml(tmp_path: Path, text: str, name: str = "interview.xml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_an_ohms_index_becomes_segments_that_end_where_the_next_point_starts(
    app, users, tokens, client, tmp_path
):
    report = import_file(users["archivist"], write_xml(tmp_path, OHMS), echo=quiet)

    assert (report.imported, report.problems) == (1, [])
    assert "interview.xml: OHMS holds no consent; the testimony is kept to staff" in report.notes[0]
    [saved] = db.session.scalars(select(catalogue.Testimony)).all()
    assert saved.state == catalogue.State.DRAFT
    assert saved.title == "A fictional testimony about the school by the sea"
    assert saved.narrator.name == "Tamara Fictionova" and saved.interviewer == "Test Interviewer"
    assert saved.interview_date.isoformat() == "2017-09-21" and saved.languages == ["en"]
    assert sorted(s.name for s in saved.subjects) == ["exams", "schools", "teachers"]
    assert [p.name for p in saved.places] == ["Fictional Harbour"]
    school = "The school. The narrator remembers the school and its teacher of geography."
    assert [(s.start_ms, s.end_ms, s.text, s.keywords) for s in saved.segments] == [
        (0, 95_000, "I was born in a fictional village by the sea.", ["village", "sea", "childhood"]),
        (95_000, 250_000, school, ["school"]),
        (250_000, 450_000, "We left with our books tied in a scarf.", []),
    ]
    assert saved.consent.access == "staff"
    assert hit_ids(client, tokens["archivist"], "scarf") == [saved.id]
    assert hit_ids(client, None, "scarf") == []


def test_an_ohms_transcript_without_an_index_is_cut_at_its_time_markers(app, users, tmp_path):
    text = (
        '<?xml version="1.0"?>\n'
        "<ROOT><record>\n"
        "<title>A fictional testimony about the bridge</title>\n"
        "<interviewee>Elnur Fictionov</interviewee>\n"
        "<duration>00:05:00</duration>\n"
        "<transcript>[00:00:00] INTERVIEWER: Where did you live?\n"
        "NARRATOR: Near the old bridge.\n"
        "[00:01:30] NARRATOR: In winter the river froze.\n"
        "[00:03:05] NARRATOR: We crossed on the ice.</transcript>\n"
        "</record></ROOT>\n"
    )

    report = import_file(users["archivist"], write_xml(tmp_path, text), echo=quiet)

    assert report.problems == []
    [saved] = db.session.scalars(select(catalogue.Testimony)).all()
    assert [(s.start_ms, s.end_ms, s.text) for s in saved.segments] == [
        (0, 90_000, "INTERVIEWER: Where did you live? NARRATOR: Near the old bridge."),
        (90_000, 185_000, "NARRATOR: In winter the river froze."),
        (185_000, 300_000, "NARRATOR: We crossed on the ice."),
    ]


def test_an_ohms_transcript_timed_by_its_sync_line_map_is_cut_at_each_interval(tmp_path):
    text = (
        "<ROOT><record><title>A fictional testimony about the well</title>\n"
        "<interviewee>Fictional Narrator</interviewee><duration>0:02:30</duration>\n"
        "<sync>1:|2(2)|3(1)</sync>\n"
        "<transcript>We dug the well\nall summer long and\nfound water in autumn.</transcript>\n"
        "</record></ROOT>\n"
    )

    [entry] = ohms_source(write_xml(tmp_path, text)).entries

    assert entry.problems == {}
    assert [(s["start_ms"], s["end_ms"], s["text"]) for s in entry.body["segments"]] == [
        (0, 60_000, "We dug the well all summer"),
        (60_000, 120_000, "long and found"),
        (120_000, 150_000, "water in autumn."),
    ]


def test_an_ohms_record_with_bad_values_is_reported_by_element_and_line_and_not_saved(app, users, tmp_path):
    text = OHMS.replace("<time>95</time>", "<time>soon</time>").replace(
        "<title>A fictional testimony about the school by the sea</title>", "<title> </title>"
    )

    point_line = text[: text.index("<time>soon")].count("\n")  # the line before: <point> opens there

    report = import_file(users["archivist"], write_xml(tmp_path, text), echo=quiet)

    assert report.imported == 0
    [problem] = report.problems
    assert problem.startswith(
        f"interview.xml: <point> 2 (line {point_line}): its <time> “soon” is not a number of seconds."
    )
    assert "<title> (line 6): This field is required." in problem
    assert [rows_of(m) for m in (catalogue.Testimony, catalogue.Segment, ConsentVersion)] == [0, 0, 0]


# Two more points shaped as OHMS exports write them: OHMS 5's <gpspoints> group, and an older
# file's GPS elements on the point itself, its place named by <gps_description>.
LOCATED_POINTS = """<point>
        <time>300</time>
        <title>The road south</title>
        <synopsis>The narrator passes Ağdam.</synopsis>
        <gpspoints>
          <gps>40.05, 47.1</gps>
          <gps_zoom>9</gps_zoom>
          <gps_text>Aghdam</gps_text>
          <gps_text_alt></gps_text_alt>
        </gpspoints>
      </point>
      <point>
        <time>400</time>
        <title>The cove</title>
        <synopsis>The narrator reaches the cove.</synopsis>
        <gps>39.5,48.25</gps>
        <gps_zoom>12</gps_zoom>
        <gps_description>Fictional Cove</gps_description>
      </point>
    </index>"""


def test_an_ohms_points_gps_locates_its_place_in_the_authority_where_nobody_had(app, users, tmp_path):
    from archive.authority import service as authority
    from archive.authority.models import PlaceCoordinates

    archivist = users["archivist"]
    agdam = authority.create_place(archivist, "Ağdam")
    authority.add_variant(archivist, agdam, "Aghdam")
    authority.set_coordinates(archivist, agdam, "39.99", "46.93")
    path = write_xml(tmp_path, OHMS.replace("</index>", LOCATED_POINTS, 1))

    report = import_file(archivist, path, echo=quiet)

    assert (report.imported, report.problems) == (1, [])
    located = [note for note in report.notes if "name authority" in note]
    assert located == [
        "interview.xml: the place “Fictional Harbour” is placed at 40.1, 49.8 in the name authority, "
        "which had no coordinates for it",
        "interview.xml: the place “Fictional Cove” is placed at 39.5, 48.25 in the name authority, "
        "which had no coordinates for it",
    ]
    where = {
        place.name: (row.latitude, row.longitude)
        for place, row in db.session.execute(
            select(catalogue.Place, PlaceCoordinates).join(
                PlaceCoordinates, PlaceCoordinates.place_id == catalogue.Place.id
            )
        )
    }
    # The archivist's coordinates for Ağdam stand, whatever spelling the file used.
    assert where == {
        "Ağdam": (39.99, 46.93),
        "Fictional Harbour": (40.1, 49.8),
        "Fictional Cove": (39.5, 48.25),
    }
    [saved] = db.session.scalars(select(catalogue.Testimony)).all()
    assert [p.name for p in saved.places] == ["Aghdam", "Fictional Cove", "Fictional Harbour"]

    again = import_file(archivist, path, echo=quiet)
    assert [note for note in again.notes if "name authority" in note] == []


def test_an_ohms_gps_that_is_not_a_latitude_and_longitude_is_reported_by_line(app, users, tmp_path):
    text = OHMS.replace("<gps>40.1, 49.8</gps>", "<gps>north of the bay</gps>")
    gps_line = text[: text.index("<gps>north")].count("\n") + 1

    report = import_file(users["archivist"], write_xml(tmp_path, text), echo=quiet)

    assert report.imported == 0
    assert report.problems == [
        f"interview.xml: <gps> (line {gps_line}): “north of the bay” is not a latitude and longitude "
        "in degrees, like “40.41, 49.87”."
    ]


def test_malformed_xml_is_reported_with_its_line(app, users, tmp_path):
    text = OHMS.replace(
        "<interviewer>Test Interviewer</interviewer>", "<interviewer>Test Interviewer</interviewee>"
    )

    report = import_file(users["archivist"], write_xml(tmp_path, text), echo=quiet)

    assert report.problems == ["interview.xml: line 11, column 36: not well-formed XML (mismatched tag)"]
    assert rows_of(catalogue.Testimony) == 0


@pytest.mark.parametrize(
    "text",
    [
        BOMB,
        '<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY secret SYSTEM "file:///etc/hostname">]>\n'
        "<ROOT><record><title>&secret;</title></record></ROOT>\n",
        '<?xml version="1.0"?>\n<ROOT><record><title>Fine</title></record>\n<record/></ROOT>\n',
    ],
    ids=["billion laughs", "external entity", "two records"],
)
def test_an_unsafe_or_unexpected_ohms_file_is_refused_whole(app, users, tmp_path, text):
    report = import_file(users["archivist"], write_xml(tmp_path, text), echo=quiet)

    assert report.imported == 0 and len(report.problems) == 1
    assert report.problems[0].startswith("interview.xml: line ")
    assert rows_of(catalogue.Testimony) == 0


def test_an_ohms_import_through_the_installed_command(run, database, tmp_path):
    path = write_xml(tmp_path, OHMS)

    result = run("import", str(path), "--as", "archivist@example.org")

    assert result.returncode == 0, result.stderr
    assert "imported 1 of 1" in result.stdout
    assert "OHMS holds no consent" in result.stdout
    assert count(database, "SELECT count(*) FROM testimonies WHERE state = 'draft'") == 1
    assert count(database, "SELECT count(*) FROM segments") == 3
    assert count(database, "SELECT count(*) FROM consent_versions WHERE access = 'staff'") == 1


def test_an_xml_bomb_is_refused_cleanly_by_the_installed_command(run, database, tmp_path):
    path = write_xml(tmp_path, BOMB, "bomb.xml")

    started = time.monotonic()
    result = run("import", str(path), "--as", "archivist@example.org")

    assert time.monotonic() - started < 60
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "bomb.xml: line 2: refused: the file holds a document type declaration" in result.stderr
    assert count(database) == 0


def test_a_file_of_another_kind_is_refused_naming_the_kinds_import_reads(run, database, tmp_path):
    path = tmp_path / "testimonies.txt"
    path.write_text("A fictional testimony\n")

    result = run("import", str(path), "--as", "archivist@example.org")

    assert result.returncode == 2
    assert "import reads .json" in result.stderr and ".csv" in result.stderr and ".xml" in result.stderr
    assert "Traceback" not in result.stderr
    assert count(database) == 0


# --- importing again: external_id -----------------------------------------------------------------


def versions() -> list[tuple[str | None, int]]:
    rows = select(catalogue.Testimony.external_id, catalogue.Testimony.version).order_by(
        catalogue.Testimony.id
    )
    return [tuple(r) for r in db.session.execute(rows)]


KEYED = ["external_id", *HEADER]


def test_a_csv_imported_again_updates_by_external_id_and_leaves_identical_rows_alone(app, users, tmp_path):
    rows = [row(1, external_id="ORCH-1"), row(2, external_id="ORCH-2"), row(3, external_id="ORCH-3")]
    first = import_file(users["archivist"], write_csv(tmp_path / "orchard.csv", rows, KEYED), echo=quiet)
    rows[1]["title"] = "A fictional testimony about the orchard, corrected"
    path = write_csv(tmp_path / "orchard.csv", rows, KEYED)

    again = import_file(users["archivist"], path, echo=quiet)

    assert first.counts == {"added": 3, "updated": 0, "unchanged": 0, "refused": 0}
    assert again.counts == {"added": 0, "updated": 1, "unchanged": 2, "refused": 0}
    assert versions() == [("ORCH-1", 1), ("ORCH-2", 2), ("ORCH-3", 1)]
    assert rows_of(catalogue.Testimony) == 3 and rows_of(ConsentVersion) == 3
    corrected = db.session.scalars(
        select(catalogue.Testimony).where(catalogue.Testimony.external_id == "ORCH-2")
    ).one()
    assert corrected.title == "A fictional testimony about the orchard, corrected"
    assert [(t.position, t.text[:9]) for t in corrected.segments] == [(1, "We carrie"), (2, "In spring")]
    where = [f"line {lines_before(path, r['title'])} (row {n})" for n, r in enumerate(rows, 1)]
    assert [line for _, line in again.records] == [
        f"{where[0]}: unchanged, testimony {first.ids[0]}",
        f"{where[1]}: updated, testimony {first.ids[1]}",
        f"{where[2]}: unchanged, testimony {first.ids[2]}",
    ]
    assert again.ids == [first.ids[1]]


def test_a_json_import_cut_short_by_a_crash_can_be_run_again_without_duplicates(app, users, tmp_path):
    bodies = [sample_body(title=f"Fictional testimony {n}", external_id=f"J-{n}") for n in range(1, 5)]
    (tmp_path / "part.json").write_text(json.dumps(bodies[:2]), encoding="utf-8")
    (tmp_path / "all.json").write_text(json.dumps(bodies), encoding="utf-8")
    import_file(users["archivist"], tmp_path / "part.json", echo=quiet)

    report = import_file(users["archivist"], tmp_path / "all.json", echo=quiet)

    assert report.counts == {"added": 2, "updated": 0, "unchanged": 2, "refused": 0}
    assert [key for key, _ in versions()] == ["J-1", "J-2", "J-3", "J-4"]
    assert rows_of(catalogue.Segment) == 4 * len(sample_body()["segments"])


def test_an_import_refuses_to_change_a_deleted_an_in_review_or_a_withdrawn_testimony_naming_why(
    app, users, tmp_path, create_testimony
):
    from archive.operations import delete_testimony

    deleted = create_testimony("draft", external_id="GONE")
    delete_testimony(users["admin"], deleted)
    in_review = create_testimony("in_review", external_id="WAIT")
    create_testimony(access="withdrawn", external_id="NO")
    bodies = [
        sample_body(title="Changed by a second import", external_id=key) for key in ("GONE", "WAIT", "NO")
    ]
    (tmp_path / "again.json").write_text(json.dumps(bodies, indent=1), encoding="utf-8")
    before = versions()

    report = import_file(users["archivist"], tmp_path / "again.json", echo=quiet)

    assert report.counts == {"added": 0, "updated": 0, "unchanged": 0, "refused": 3}
    assert versions() == before and rows_of(catalogue.Testimony) == 3
    gone, wait, withdrawn = report.problems
    assert (
        gone.startswith("record 1 (line 2): external_id: ") and "is deleted; an admin may restore it" in gone
    )
    assert f"testimony {in_review.id} with this external_id is in review" in wait
    assert "was withdrawn by its narrator; it is not changed" in withdrawn


def test_an_ohms_record_imported_again_is_found_by_its_accession_number(app, users, tmp_path):
    keyed = OHMS.replace("<title>", "<accession>OH-2017-09</accession>\n    <title>", 1)
    path = write_xml(tmp_path, keyed)
    first = import_file(users["archivist"], path, echo=quiet)

    again = import_file(users["archivist"], path, echo=quiet)
    unkeyed = ohms_source(write_xml(tmp_path, OHMS, "plain.xml")).entries[0].body

    assert first.counts["added"] == 1 and again.counts == {
        "added": 0,
        "updated": 0,
        "unchanged": 1,
        "refused": 0,
    }
    assert versions() == [("OH-2017-09", 1)]
    assert unkeyed["external_id"] == "0001"


def test_a_csv_imported_twice_through_the_installed_command_reports_each_row(run, database, tmp_path):
    path = write_csv(tmp_path / "orchard.csv", [row(1, external_id="C-1"), row(2, external_id="C-2")], KEYED)
    run("import", str(path), "--as", "archivist@example.org")

    result = run("import", str(path), "--as", "archivist@example.org")

    assert result.returncode == 0, result.stderr
    assert f"line {lines_before(path, row(2)['title'])} (row 2): unchanged" in result.stdout
    assert "imported 2 of 2 records; 0 refused (0 added, 0 updated, 2 unchanged, 0 refused)" in result.stdout
    assert count(database) == 2
    assert count(database, "SELECT count(*) FROM revisions") == 2
