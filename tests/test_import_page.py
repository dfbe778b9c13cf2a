"""The import page: an archivist uploads a CSV, JSON, OHMS XML or a zip of a CSV with its .vtt files,
checks it in a dry run or imports it, and follows the background job on its own page to the same
per-record report the command line gives. All names and stories here are fictional."""

from __future__ import annotations

import datetime as dt
import io
import re
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from archive.audit.models import AuditEvent
from archive.catalogue import models as catalogue
from archive.extensions import db
from archive.jobs.models import Job
from archive.operations import wait_for_jobs
from tests.conftest import login

VTT = """WEBVTT

00:00.000 --> 00:40.000
<v Narrator>We carried the quince seedlings in a basket of wet cloth.
"""
# Line 2 is a good row; line 3 gives a birth year that is not a year.
CSV_TEXT = (
    "title,narrator_name,narrator_birth_year,consent_access\n"
    "A fictional testimony about the quince orchard,Nigar Fictional,1951,staff\n"
    "A fictional testimony about the mill,Tofiq Fictional,the year of the flood,staff\n"
)


def upload(client, name: str, data: bytes, **fields):
    form = {"file": (io.BytesIO(data), name), **fields}
    return client.post("/import", data=form, content_type="multipart/form-data")


def finished_job_page(client, response) -> str:
    """The job's page once its thread is done, as a reload shows it."""
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert re.fullmatch(r"/jobs/\d+", location)
    wait_for_jobs()
    return client.get(location).get_data(as_text=True)


def count_testimonies() -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(catalogue.Testimony))


@pytest.mark.committed
def test_a_dry_run_of_a_csv_with_a_bad_row_reports_the_row_and_line_and_saves_nothing(app, client, users):
    login(client, users["archivist"])

    page = finished_job_page(client, upload(client, "orchard.csv", CSV_TEXT.encode(), dry_run="y"))

    assert "Dry run: 1 of 2 records would be imported, 1 refused. Nothing was saved." in page
    assert "line 2 (row 1)" in page
    assert re.search(r"line 3 \(row 2\)</td>\s*<td[^>]*>refused</td>\s*<td[^>]*>narrator_birth_year: ", page)
    assert count_testimonies() == 0


@pytest.mark.committed
@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_real_import_adds_the_good_records_as_drafts_and_the_job_page_shows_the_report(
    app, client, users, backend
):
    login(client, users["archivist"])

    response = upload(client, "orchard.csv", CSV_TEXT.encode())
    page = finished_job_page(client, response)

    added = db.session.scalars(select(catalogue.Testimony)).one()
    assert (added.title, added.state) == ("A fictional testimony about the quince orchard", "draft")
    assert "1 of 2 records imported, 1 refused." in page
    assert f'href="/testimonies/{added.id}/edit">testimony {added.id}</a>' in page
    assert "line 3 (row 2)" in page
    progress = client.get(response.headers["Location"] + "/progress").get_json()
    assert progress | {"text": None} == {
        "id": progress["id"], "kind": "import", "state": "done", "done": 2, "total": 2,
        "finished": True, "text": None,
    }  # fmt: skip
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.target_type == "job")).all()
    assert actions == ["job.start", "job.finish"]
    # Another archivist never learns of it.
    client.post("/logout")
    login(client, users["archivist2"])
    assert client.get(response.headers["Location"]).status_code == 404


@pytest.mark.committed
def test_a_zip_of_a_csv_and_its_vtt_imports_and_one_with_a_path_leading_out_is_refused(app, client, users):
    login(client, users["archivist"])
    good = io.BytesIO()
    with zipfile.ZipFile(good, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "batch/list.csv", "title,narrator_name,transcript_file\nA fictional quince,Nigar F.,vtt/one.vtt\n"
        )
        z.writestr("batch/vtt/one.vtt", VTT)
    bad = io.BytesIO()
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("list.csv", "title,narrator_name\nA fictional mill,Tofiq F.\n")
        z.writestr("../x.vtt", VTT)

    refused = upload(client, "escape.zip", bad.getvalue())
    assert refused.status_code == 422
    assert "“../x.vtt” in the zip leads outside it; nothing was imported." in refused.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Job)) == 0
    assert not list((Path(app.config["INSTANCE_PATH"]) / "imports").glob("*/*"))

    page = finished_job_page(client, upload(client, "batch.zip", good.getvalue()))
    assert "1 of 1 records imported, 0 refused." in page
    added = db.session.scalars(select(catalogue.Testimony)).one()
    assert [s.text for s in added.segments] == ["We carried the quince seedlings in a basket of wet cloth."]


def test_a_job_left_running_by_a_killed_process_is_shown_failed(app, client, users):
    from archive.jobs import service as jobs
    from archive.jobs.models import JobKind
    from archive.timeutil import utcnow
    from archive.unit_of_work import unit_of_work

    # What a worker killed mid-import leaves: a running job whose heartbeat stopped two minutes ago.
    with unit_of_work():
        job = jobs.create_job(
            users["archivist"],
            JobKind.IMPORT,
            {"filename": "orchard.csv", "dry_run": False, "publish": False},
        )
    with unit_of_work():
        jobs.begin(job.id)
        job.done, job.total = 40, 240
        job.heartbeat_at = utcnow() - dt.timedelta(seconds=app.config["JOB_STALE_SECONDS"] * 2)
    login(client, users["archivist"])

    page = client.get(f"/jobs/{job.id}").get_data(as_text=True)

    assert re.search(r"<dd data-job-state><span [^>]*>Failed</span></dd>", page)
    assert "The server process running this job stopped before it finished; start it again." in page
    assert client.get(f"/jobs/{job.id}/progress").get_json()["state"] == "failed"
    assert db.session.scalar(select(AuditEvent.action).where(AuditEvent.action == "job.interrupted"))


@pytest.mark.browser
def test_an_archivist_checks_a_csv_in_a_dry_run_and_reads_the_report_on_the_job_page(
    page, live_server, users, tmp_path
):
    from playwright.sync_api import expect

    from tests.conftest import browser_login

    sheet = tmp_path / "orchard.csv"
    sheet.write_text(CSV_TEXT, encoding="utf-8")
    browser_login(page, live_server, users["archivist"])
    page.get_by_role("link", name="Import", exact=True).click()
    page.get_by_label("File to import").set_input_files(str(sheet))
    expect(page.get_by_label("Only check the file")).to_be_checked()
    page.get_by_role("button", name="Start").click()

    expect(page).to_have_url(re.compile(r"/jobs/\d+$"))
    summary = page.locator(".job-summary")
    expect(summary).to_contain_text("Dry run: 1 of 2 records would be imported, 1 refused.")
    refused = page.get_by_role("table").first.get_by_role("row", name=re.compile(r"line 3 \(row 2\)"))
    expect(refused).to_contain_text("narrator_birth_year: Must be a whole number.")
    expect(page.locator("progress")).to_have_attribute("value", "2")
    assert count_testimonies() == 0
