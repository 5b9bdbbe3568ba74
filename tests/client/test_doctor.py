"""The doctor's checklist against real remotes: what works, what fails, what to change."""

from __future__ import annotations

import pytest

from tests.client.conftest import our_entry
from tests.conftest import run_cli
from tests.dicom_factory import write_study
from tests.peers.ports import free_port
from tui_pacs.core.model import Level
from tui_pacs.core.remote import CheckState
from tui_pacs.core.target import Target


def target_of(server) -> Target:
    return Target(server.aet, "127.0.0.1", server.dicom_port)


async def checklist(client, target):
    return {check.name: check async for check in client.doctor(target)}


@pytest.mark.interop
async def test_everything_works_with_a_remote_that_knows_us(client, archive, orthanc_factory,
                                                            node_port, tmp_path):
    pacs = orthanc_factory(modalities=our_entry(node_port))
    pacs.upload(*write_study(tmp_path / "big", study=1, series=1, instances=3))
    pacs.upload(*write_study(tmp_path / "small", study=1, series=2, instances=1))
    checks = await checklist(client, target_of(pacs))
    assert [c.state for c in checks.values()] == [CheckState.OK] * 7, checks
    assert list(checks) == ["name resolution", "TCP connection", "association", "C-ECHO",
                            "C-FIND (study level)", "listening for C-MOVE", "C-MOVE to TUIPACS"]
    assert "1 instance(s) arrived" in checks["C-MOVE to TUIPACS"].detail
    # The smallest series was the one moved.
    [row] = await archive.index.query(Level.IMAGE)
    assert row["SeriesNumber"] == 2


@pytest.mark.interop
async def test_a_remote_that_does_not_know_us(client, orthanc, tmp_path):
    orthanc.upload(*write_study(tmp_path / "seed", instances=1))
    checks = await checklist(client, target_of(orthanc))
    states = {name: check.state for name, check in checks.items()}
    assert states["association"] is CheckState.OK
    assert states["C-ECHO"] is CheckState.OK
    assert states["C-FIND (study level)"] is CheckState.FAIL
    assert states["C-MOVE to TUIPACS"] is CheckState.SKIPPED
    advice = checks["C-FIND (study level)"].advice
    assert any("on the remote" in line and "TUIPACS" in line for line in advice)


@pytest.mark.interop
async def test_a_remote_whose_entry_for_us_points_elsewhere(client, orthanc_factory,
                                                            storescp_factory, tmp_path):
    """Queries work, and the remote even reports the move done: to another node."""
    elsewhere = storescp_factory(aet="TUIPACS")
    misled = orthanc_factory(modalities={"tuipacs": ("TUIPACS", "127.0.0.1", elsewhere.port)})
    misled.upload(*write_study(tmp_path / "seed", instances=1))
    checks = await checklist(client, target_of(misled))
    assert checks["C-FIND (study level)"].state is CheckState.OK
    move = checks["C-MOVE to TUIPACS"]
    assert move.state is CheckState.FAIL
    assert "nothing arrived here" in move.detail
    assert any("its entry for TUIPACS probably points to another host or port" in line
               for line in move.advice)


@pytest.mark.interop
async def test_nothing_to_move_is_said_so(client, orthanc_factory, node_port):
    empty = orthanc_factory(modalities=our_entry(node_port))
    checks = await checklist(client, target_of(empty))
    assert checks["C-FIND (study level)"].state is CheckState.OK
    move = checks["C-MOVE to TUIPACS"]
    assert move.state is CheckState.SKIPPED and "could not be tested" in move.detail


async def test_nothing_listening_skips_the_rest(client):
    checks = await checklist(client, Target("PACS", "127.0.0.1", free_port()))
    assert checks["TCP connection"].state is CheckState.FAIL
    assert "connection refused" in checks["TCP connection"].detail
    later = list(checks.values())[2:]
    assert later and all(c.state is CheckState.SKIPPED for c in later)


@pytest.mark.interop
def test_doctor_on_the_command_line(orthanc, write_config, tmp_path):
    orthanc.upload(*write_study(tmp_path / "seed", instances=1))
    result = run_cli("doctor", orthanc.target, "--config", write_config())
    assert result.returncode == 7, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"doctor: TUIPACS -> {orthanc.target}"
    assert any(line.split()[:2] == ["FAIL", "C-FIND"] for line in lines)
    assert any("on the remote:" in line for line in lines)
    assert "Traceback" not in result.stderr
