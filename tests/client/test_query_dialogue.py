"""C-CANCEL only while responses are pending, Message IDs that increase within
an association, and diagnoses that follow what the wire showed.

pixelmed answers a C-FIND with every response at once and aborts the
association on a C-CANCEL for a finished request; pynetdicom's qrscp honours
cancels. A relay between us and each peer (tests/peers/wiretap.py) records
the commands we send and who aborted.
"""

from __future__ import annotations

import json
import threading

import pytest
from pydicom.dataset import Dataset
from pynetdicom import AE, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind, Verification

from tests.client.conftest import NODE_AET
from tests.conftest import run_cli
from tests.dicom_factory import write_study
from tests.peers.ports import free_port
from tests.peers.seed import store
from tests.peers.wiretap import C_CANCEL
from tui_pacs.core.remote import CheckState, Failure
from tui_pacs.core.target import Target
from tui_pacs.net.client.doctor import STUDIES_SAMPLED

C_ECHO_RQ, C_FIND_RQ = 0x0030, 0x0020


def seed_studies(peer, tmp_path, count: int) -> None:
    """``count`` studies of one instance each, the first with a second series."""
    paths = []
    for study in range(1, count + 1):
        paths += write_study(tmp_path / "seed", study=study, instances=1,
                             series=2 if study == 1 else 1)
    store(peer.port, peer.aet, paths)


def request_ids(tap) -> dict[int, list[tuple[int, int]]]:
    """(command field, message ID) of each request we sent, by association."""
    sent: dict[int, list[tuple[int, int]]] = {}
    for seen in tap.commands("request"):
        sent.setdefault(seen.association, []).append((seen.command_field, seen.message_id))
    return sent


def find_with_limit(tap, aet: str, limit: int, config) -> list[dict]:
    result = run_cli("find", f"{aet}@127.0.0.1:{tap.port}", "--config", config,
                     "--limit", str(limit), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def doctor_through(client, tap, aet: str) -> dict:
    return {c.name: c async for c in client.doctor(Target(aet, "127.0.0.1", tap.port))}


def assert_doctor_dialogue(checks: dict, tap) -> None:
    """Every check passed, on associations the remote never aborted, with
    Message IDs 1, 2, 3... on the one that echoes and queries."""
    assert [c.state for c in checks.values()] == [CheckState.OK] * 7, checks
    assert tap.aborts() == []
    [checked] = [sent for sent in request_ids(tap).values() if sent[0][0] == C_ECHO_RQ]
    assert [field for field, _ in checked] == [C_ECHO_RQ] + [C_FIND_RQ] * (len(checked) - 1)
    assert len(checked) == 4  # the echo, then studies, series and instances
    assert [message_id for _, message_id in checked] == [1, 2, 3, 4]


@pytest.mark.interop
async def test_pixelmed_find_with_a_limit_and_doctor_end_without_abort(
        client, pixelmed_factory, wiretap, node_port, write_config, tmp_path):
    pacs = pixelmed_factory(remotes={"tuipacs": (NODE_AET, "127.0.0.1", node_port)})
    seed_studies(pacs, tmp_path, STUDIES_SAMPLED + 1)
    tap = wiretap(pacs.port)
    config = write_config()

    # Exactly as many matches as the limit: nothing is left to cancel.
    rows = find_with_limit(tap, pacs.aet, STUDIES_SAMPLED + 1, config)
    assert len(rows) == STUDIES_SAMPLED + 1
    rows = find_with_limit(tap, pacs.aet, 1, config)
    assert len(rows) == 1
    # pixelmed had sent every response before the first was read.
    assert not [s for s in tap.commands("request") if s.command_field == C_CANCEL]
    assert tap.aborts() == []

    checks = await doctor_through(client, tap, pacs.aet)
    assert "1 instance(s) arrived" in checks["C-MOVE to TUIPACS"].detail
    assert_doctor_dialogue(checks, tap)


@pytest.mark.interop
async def test_qrscp_find_with_a_limit_and_doctor_end_without_abort(
        client, qrscp_factory, wiretap, node_port, write_config, tmp_path):
    pacs = qrscp_factory(destinations={NODE_AET: ("127.0.0.1", node_port)})
    seed_studies(pacs, tmp_path, STUDIES_SAMPLED + 1)
    tap = wiretap(pacs.port)
    config = write_config()

    assert len(find_with_limit(tap, pacs.aet, 2, config)) == 2
    checks = await doctor_through(client, tap, pacs.aet)
    assert "1 instance(s) arrived" in checks["C-MOVE to TUIPACS"].detail
    assert_doctor_dialogue(checks, tap)


class AbortsOnSecondFind:
    """A Study Root SCP that answers one C-FIND, then aborts on the next."""

    def __init__(self) -> None:
        self.finds = 0
        self.aborted = threading.Event()

    def handle_find(self, event):
        self.finds += 1
        if self.finds > 1:
            self.aborted.set()
            event.assoc.abort()
            return
        match = Dataset()
        match.QueryRetrieveLevel = "STUDY"
        match.StudyInstanceUID = "1.2.3.4"
        match.NumberOfStudyRelatedInstances = "1"
        yield 0xFF00, match
        yield 0x0000, None


@pytest.fixture
def aborting_scp():
    scp = AbortsOnSecondFind()
    ae = AE(ae_title="ABORTER")
    ae.add_supported_context(Verification)
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False,
                             evt_handlers=[(evt.EVT_C_FIND, scp.handle_find)])
    yield scp, Target("ABORTER", "127.0.0.1", port)
    server.shutdown()


async def test_an_abort_after_an_answered_find_does_not_blame_our_ae_title(client,
                                                                           aborting_scp):
    scp, target = aborting_scp
    checks = {c.name: c async for c in client.doctor(target)}
    assert scp.aborted.is_set()
    find = checks["C-FIND (study level)"]
    assert find.state is CheckState.FAIL
    assert find.failure is Failure.ASSOCIATION_ABORTED
    assert "after answering an earlier C-FIND" in find.detail
    assert not any(NODE_AET in line for line in find.advice)
