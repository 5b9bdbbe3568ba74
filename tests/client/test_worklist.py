"""Modality worklist queries against real worklist servers: DCMTK's wlmscpfs and
Orthanc's worklist plugin, serving worklist files the tests write."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from tests.client.conftest import our_entry
from tests.conftest import run_cli
from tests.peers.orthanc import WORKLIST_PLUGIN
from tests.peers.worklist import Step, write_worklist
from tui_pacs.core.remote import Failure, RemoteFailure


def day(offset: int) -> str:
    """Today (at the time of asking: a run may cross midnight) plus ``offset`` days."""
    return (date.today() + timedelta(days=offset)).strftime("%Y%m%d")


def steps() -> list[Step]:
    """Two steps today, one tomorrow, one yesterday."""
    return [
        Step("DOE^JANE", "P1", "ACC1", "CT1", "CT", day(0), "081500", "CT HEAD", "RP1", "S1"),
        Step("ROE^RICHARD", "P2", "ACC2", "MR1", "MR", day(0), "100000", "MR KNEE", "RP2", "S2"),
        Step("POE^EDGAR", "P3", "ACC3", "CT1", "CT", day(1), "090000", "CT CHEST", "RP3", "S3"),
        Step("LOE^LINDA", "P4", "ACC4", "CT2", "CT", day(-1), "143000", "CT ABDOMEN", "RP4",
             "S4"),
    ]


@pytest.fixture(params=["wlmscpfs", "orthanc"])
def worklist_server(request, tmp_path, node_port):
    """A worklist server holding steps(): its target text (AET@127.0.0.1:port)."""
    if request.param == "wlmscpfs":
        server = request.getfixturevalue("wlmscpfs_factory")(aet="RIS")
        server.write(steps())
        return server.target
    if not WORKLIST_PLUGIN.exists():
        pytest.skip(f"{WORKLIST_PLUGIN} is not installed (Debian: orthanc)")
    folder = tmp_path / "worklists"
    write_worklist(folder, steps())
    # Orthanc answers worklist queries only from the modalities it knows.
    orthanc = request.getfixturevalue("orthanc_factory")(modalities=our_entry(node_port),
                                                         worklists=folder)
    return orthanc.target


async def accessions(client, target_text: str, **filters: str) -> list[str]:
    from tui_pacs.core.worklist import worklist_keys

    target = client.target(target_text)
    rows = [row async for row in client.worklist(target, worklist_keys({}, **filters))]
    return sorted(row["AccessionNumber"] for row in rows)


@pytest.mark.interop
async def test_filters_give_the_right_steps(client, worklist_server):
    assert await accessions(client, worklist_server) == ["ACC1", "ACC2", "ACC3", "ACC4"]
    assert await accessions(client, worklist_server, station="CT1") == ["ACC1", "ACC3"]
    assert await accessions(client, worklist_server, modality="mr") == ["ACC2"]
    assert await accessions(client, worklist_server, when="today") == ["ACC1", "ACC2"]
    assert await accessions(client, worklist_server, when=f"{day(-1)}-{day(0)}") == [
        "ACC1", "ACC2", "ACC4"]
    assert await accessions(client, worklist_server, station="CT1", modality="CT",
                            when="today") == ["ACC1"]


@pytest.mark.interop
async def test_a_step_comes_back_with_its_patient_procedure_and_schedule(client,
                                                                         worklist_server):
    target = client.target(worklist_server)
    [row] = [row async for row in client.worklist(target, {"PatientID": "P2"})]
    assert row["PatientName"] == "ROE^RICHARD"
    assert row["AccessionNumber"] == "ACC2"
    assert row["RequestedProcedureDescription"] == "MR KNEE"
    assert row["RequestedProcedureID"] == "RP2"
    assert row["ScheduledStationAETitle"] == "MR1"
    assert row["Modality"] == "MR"
    assert row["ScheduledProcedureStepStartDate"] == day(0)
    assert row["ScheduledProcedureStepStartTime"].startswith("1000")
    assert row["ScheduledProcedureStepID"] == "S2"


@pytest.mark.interop
def test_worklist_on_the_command_line(worklist_server, write_config):
    result = run_cli("worklist", worklist_server, "--modality", "CT", "--date", "today",
                     "--json", "--config", write_config())
    assert result.returncode == 0, result.stderr
    [row] = json.loads(result.stdout)
    assert (row["PatientName"], row["ScheduledStationAETitle"]) == ("DOE^JANE", "CT1")
    assert "1 scheduled procedure step on" in result.stderr

    piped = run_cli("worklist", worklist_server, "--station", "CT1", "-k", "PatientName=P*",
                    "--config", write_config())
    assert piped.returncode == 0, piped.stderr
    header, *lines = piped.stdout.splitlines()
    assert header.split("\t") == ["Patient name", "Patient ID", "Accession", "Procedure",
                                  "Proc ID", "Station", "Modality", "Date", "Time"]
    assert lines == [f"POE^EDGAR\tP3\tACC3\tCT CHEST\tRP3\tCT1\tCT\t"
                     f"{day(1)[:4]}-{day(1)[4:6]}-{day(1)[6:]}\t09:00:00"]


def test_a_bad_date_is_a_usage_error(write_config):
    result = run_cli("worklist", "RIS@127.0.0.1:104", "--date", "someday",
                     "--config", write_config())
    assert result.returncode == 2
    assert result.stderr.startswith("tui-pacs: date 'someday'")
    assert "Traceback" not in result.stderr


@pytest.mark.interop
async def test_a_remote_without_a_worklist_says_so(client, storescp):
    with pytest.raises(RemoteFailure) as caught:
        [row async for row in client.worklist(client.target(storescp.target), {})]
    assert caught.value.diagnosis.failure is Failure.SERVICE_NOT_ACCEPTED
    assert "Modality Worklist" in caught.value.diagnosis.summary
