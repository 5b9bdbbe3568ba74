"""The capability probe against real remotes: what each accepts, cell by cell."""

from __future__ import annotations

import json

import pytest
from pydicom.uid import (
    JPEG2000,
    CTImageStorage,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    HTJ2KLossless,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    MRImageStorage,
)
from pynetdicom.sop_class import (
    ModalityWorklistInformationFind,
    StorageCommitmentPushModel,
    StudyRootQueryRetrieveInformationModelFind,
    Verification,
)

from tests.conftest import run_cli
from tests.peers.ports import free_port
from tui_pacs.core.capabilities import ACCEPTED, NOT_ASKED, REFUSED, matrix_lines
from tui_pacs.core.remote import Failure
from tui_pacs.core.target import Target


def cells(report) -> dict[tuple[str, str], str]:
    """(SOP class, transfer syntax) -> + . or blank, for every pair."""
    return {(result.uid, syntax): result.cell(syntax) for result in report.classes
            for syntax in (ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian,
                           JPEGBaseline8Bit, JPEG2000, HTJ2KLossless)}


@pytest.mark.interop
async def test_orthanc(client, orthanc):
    report = await client.probe(client.target(orthanc.target))
    assert report.diagnosis is None
    found = cells(report)
    assert found[Verification, ImplicitVRLittleEndian] == ACCEPTED
    assert found[StudyRootQueryRetrieveInformationModelFind, ExplicitVRLittleEndian] == ACCEPTED
    assert found[StorageCommitmentPushModel, ImplicitVRLittleEndian] == ACCEPTED
    # Without its worklist plugin, Orthanc has no worklist.
    assert found[ModalityWorklistInformationFind, ImplicitVRLittleEndian] == REFUSED
    for syntax in (ImplicitVRLittleEndian, ExplicitVRLittleEndian, JPEGBaseline8Bit, JPEG2000):
        assert found[CTImageStorage, syntax] == ACCEPTED
    # Orthanc 1.10 predates HTJ2K; compressed syntaxes are not asked for Verification.
    assert found[CTImageStorage, HTJ2KLossless] == REFUSED
    assert found[Verification, JPEGBaseline8Bit] == NOT_ASKED
    assert report.max_pdu == 16384
    assert report.implementation_class_uid.startswith("1.2.")
    # Two associations find the classes, then each holds at most 128 pairs.
    pairs = sum(len(result.asked) - 1 for result in report.accepted_classes)
    assert report.associations == 2 + -(-pairs // 128)
    assert all(len(line) <= 80 for line in matrix_lines(report))


@pytest.mark.interop
async def test_storescp_accepts_what_its_options_say(client, storescp_factory):
    default = await client.probe(client.target(storescp_factory().target))
    found = cells(default)
    assert found[CTImageStorage, ExplicitVRLittleEndian] == ACCEPTED
    assert found[CTImageStorage, ExplicitVRBigEndian] == ACCEPTED
    assert found[CTImageStorage, JPEGBaseline8Bit] == REFUSED
    assert found[Verification, ImplicitVRLittleEndian] == ACCEPTED
    assert found[StudyRootQueryRetrieveInformationModelFind, ImplicitVRLittleEndian] == REFUSED

    implicit_only = await client.probe(client.target(storescp_factory(options=("+xi",)).target))
    found = cells(implicit_only)
    assert found[MRImageStorage, ImplicitVRLittleEndian] == ACCEPTED
    assert found[MRImageStorage, ExplicitVRLittleEndian] == REFUSED

    everything = await client.probe(client.target(storescp_factory(options=("+xa",)).target))
    found = cells(everything)
    assert found[CTImageStorage, JPEGBaseline8Bit] == ACCEPTED
    assert found[CTImageStorage, JPEG2000] == ACCEPTED
    assert everything.implementation_version_name.startswith("OFFIS_DCMTK")


@pytest.mark.interop
async def test_a_worklist_server(client, wlmscpfs_factory):
    report = await client.probe(client.target(wlmscpfs_factory().target))
    found = cells(report)
    assert found[ModalityWorklistInformationFind, ExplicitVRLittleEndian] == ACCEPTED
    assert found[CTImageStorage, ImplicitVRLittleEndian] == REFUSED
    assert not [result for result in report.accepted_classes if result.group == "Storage"]


async def test_nothing_listening_is_diagnosed(client):
    report = await client.probe(Target("PACS", "127.0.0.1", free_port()))
    assert report.diagnosis.failure is Failure.CONNECTION_REFUSED
    assert not report.classes


@pytest.mark.interop
def test_probe_on_the_command_line(storescp, write_config):
    result = run_cli("probe", storescp.target, "--config", write_config())
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"probe: TUIPACS -> {storescp.target}"
    assert all(len(line) <= 80 for line in lines)
    ct = next(line for line in lines if line.strip().startswith("CT Image"))
    assert ct.split()[2:] == ["+", "+", "+", ".", ".", ".", ".", ".", ".", ".", ".", ".",
                              ".", "."]

    as_json = run_cli("probe", storescp.target, "--json", "--config", write_config())
    assert as_json.returncode == 0, as_json.stderr
    report = json.loads(as_json.stdout)
    [ct] = [entry for entry in report["classes"] if entry["uid"] == CTImageStorage]
    assert set(ct["accepted"]) == {ImplicitVRLittleEndian, ExplicitVRLittleEndian,
                                   ExplicitVRBigEndian}
    assert report["transfer_syntaxes"]["JB"] == JPEGBaseline8Bit

    refused = run_cli("probe", f"PACS@127.0.0.1:{free_port()}", "--config", write_config())
    assert refused.returncode == 4
    assert "connection refused" in refused.stderr and "Traceback" not in refused.stderr
