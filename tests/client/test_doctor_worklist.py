"""doctor --worklist: the worklist step against real worklist servers, and against
a remote without a worklist."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from tests.client.conftest import our_entry
from tests.conftest import run_cli
from tests.peers.orthanc import WORKLIST_PLUGIN
from tests.peers.worklist import Step, write_worklist
from tui_pacs.core.remote import CheckState, Failure


def steps() -> list[Step]:
    """Two steps today and one tomorrow, from the date at the time of asking (a run
    may cross midnight)."""
    today = date.today()
    tomorrow = (today + timedelta(days=1)).strftime("%Y%m%d")
    return [Step("DOE^JANE", "P1", "ACC1", "CT1", "CT", today.strftime("%Y%m%d")),
            Step("ROE^RICHARD", "P2", "ACC2", "MR1", "MR", today.strftime("%Y%m%d")),
            Step("POE^EDGAR", "P3", "ACC3", "CT1", "CT", tomorrow)]


async def checklist(client, target_text, **options):
    target = client.target(target_text)
    return {check.name: check async for check in client.doctor(target, **options)}


@pytest.mark.interop
async def test_orthancs_worklist_answers_with_todays_steps(client, orthanc_factory, node_port,
                                                           tmp_path):
    if not WORKLIST_PLUGIN.exists():
        pytest.skip(f"{WORKLIST_PLUGIN} is not installed (Debian: orthanc)")
    write_worklist(tmp_path / "worklists", steps())
    ris = orthanc_factory(modalities=our_entry(node_port), worklists=tmp_path / "worklists")
    checks = await checklist(client, ris.target, worklist=True)
    assert list(checks)[4:7] == ["C-FIND (study level)", "C-FIND (worklist)",
                                 "listening for C-MOVE"]
    worklist = checks["C-FIND (worklist)"]
    assert worklist.state is CheckState.OK
    assert worklist.detail == "answered: 2 steps scheduled today"
    # Without --worklist, no such step.
    assert "C-FIND (worklist)" not in await checklist(client, ris.target)


@pytest.mark.interop
async def test_a_worklist_only_server(client, wlmscpfs_factory):
    ris = wlmscpfs_factory(aet="RIS")
    ris.write(steps())
    checks = await checklist(client, ris.target, worklist=True)
    assert checks["C-ECHO"].state is CheckState.OK
    assert checks["C-FIND (worklist)"].state is CheckState.OK
    assert checks["C-FIND (worklist)"].detail == "answered: 2 steps scheduled today"
    # It is no Q/R archive, and the checklist says so.
    assert checks["C-FIND (study level)"].failure is Failure.SERVICE_NOT_ACCEPTED


@pytest.mark.interop
def test_a_remote_without_a_worklist_on_the_command_line(orthanc_factory, node_port,
                                                        write_config):
    pacs = orthanc_factory(modalities=our_entry(node_port))
    result = run_cli("doctor", pacs.target, "--worklist", "--config", write_config())
    assert result.returncode == 8, result.stdout + result.stderr
    line = next(line for line in result.stdout.splitlines() if "C-FIND (worklist)" in line)
    assert line.split()[0] == "FAIL"
    assert "Modality Worklist C-FIND: not supported by the remote" in line
    assert "Traceback" not in result.stderr
