"""Forwarding: what the node receives goes on to DCMTK's storescp and to Orthanc.

The node runs in-process; DCMTK's storescu sends to it as a modality does,
and the destinations are real programs started on loopback. Every wait is
for an outcome (what the destination holds, what the queue holds) with a
deadline.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path

import pytest
from pydicom.uid import CTImageStorage, SecondaryCaptureImageStorage
from pynetdicom import AE, evt
from pynetdicom.presentation import StoragePresentationContexts

from tests.conftest import free_port
from tests.dicom_factory import make_dataset, write_instance
from tests.peers.storescp import StoreSCP
from tests.server.conftest import dcmtk, run
from tests.server.helpers import indexed, sop_instance_uid
from tests.server.node_fixtures import settings_for, started, wait_until
from tui_pacs.config import ForwardingConfig, ForwardRule, Modality
from tui_pacs.services.node import Node

pytestmark = pytest.mark.interop

DEADLINE = 60.0
# Retries quick enough for a test; the same doubling as the defaults.
QUICK = ForwardingConfig(max_attempts=100, first_retry=0.2, max_retry=1.0)


def instances(folder: Path, count: int, *, study: int = 1, modality: str = "CT") -> list[Path]:
    return [write_instance(folder / f"{modality}{study}-{n}.dcm",
                           make_dataset(study=study, instance=n, modality=modality, rows=16,
                                        columns=16))
            for n in range(1, count + 1)]


def uids(files: list[Path]) -> set[str]:
    return {sop_instance_uid(f) for f in files}


async def storescu(node: Node, files: list[Path], aet: str = "MODALITY") -> None:
    """Send ``files`` to the node as DCMTK's storescu, calling as ``aet``."""
    result = await asyncio.to_thread(run, dcmtk("storescu"), "-aet", aet, "-aec",
                                     node.settings.node.aet, "127.0.0.1",
                                     node.settings.node.port, *files)
    assert result.returncode == 0, result.stderr


def queued(node: Node) -> list[tuple]:
    return indexed(node.settings.node.data,
                   "SELECT destination, sop_uid, state, attempts, last_error FROM forward_queue")


def modality_of(peer, name: str) -> Modality:
    port = getattr(peer, "dicom_port", None) or peer.port
    return Modality(name, peer.aet, "127.0.0.1", port)


async def forwarding_node(data: Path, modalities: tuple[Modality, ...],
                          *rules: ForwardRule, policy: ForwardingConfig = QUICK) -> Node:
    return await started(settings_for(data, modalities=modalities, forward=rules,
                                      forwarding=policy))


async def test_received_instances_reach_storescp_and_orthanc(tmp_path, storescp, orthanc):
    node = await forwarding_node(tmp_path / "data",
                                 (modality_of(storescp, "scp"), modality_of(orthanc, "pacs")),
                                 ForwardRule(to=("scp", "pacs")))
    try:
        files = instances(tmp_path / "in", 5)
        expected = uids(files)
        await storescu(node, files)
        # An entry leaves the queue once its destination acknowledged the instance.
        await wait_until(lambda: not queued(node), DEADLINE)
        assert storescp.received_instances().keys() == expected
        assert orthanc.sop_instance_uids() == expected
    finally:
        await node.stop()


async def test_filters_choose_by_calling_aet_modality_and_sop_class(tmp_path, storescp, orthanc):
    rules = (ForwardRule(to=("scp",), modality=("CT",)),
             ForwardRule(to=("pacs",), calling=("CT1",), sop_class=(SecondaryCaptureImageStorage,)))
    node = await forwarding_node(tmp_path / "data",
                                 (modality_of(storescp, "scp"), modality_of(orthanc, "pacs")),
                                 *rules)
    try:
        ct_from_ct1 = instances(tmp_path / "a", 2, study=1, modality="CT")
        sc_from_ct1 = instances(tmp_path / "b", 2, study=2, modality="OT")
        sc_from_other = instances(tmp_path / "c", 2, study=3, modality="OT")
        await storescu(node, ct_from_ct1 + sc_from_ct1, aet="CT1")
        await storescu(node, sc_from_other, aet="OTHER")
        await wait_until(lambda: not queued(node), DEADLINE)
        assert storescp.received_instances().keys() == uids(ct_from_ct1)
        assert orthanc.sop_instance_uids() == uids(sc_from_ct1)
        held = {row[0] for row in indexed(node.settings.node.data,
                                          "SELECT sop_uid FROM instances")}
        assert held == uids(ct_from_ct1 + sc_from_ct1 + sc_from_other)
        assert {row[0] for row in indexed(node.settings.node.data,
                                          "SELECT DISTINCT sop_class_uid FROM instances")} == {
            CTImageStorage, SecondaryCaptureImageStorage}
    finally:
        await node.stop()


async def test_an_instance_is_not_sent_back_to_the_ae_title_it_came_from(tmp_path, storescp):
    scp = modality_of(storescp, "scp")
    node = await forwarding_node(tmp_path / "data", (scp,), ForwardRule(to=("scp",)))
    try:
        await storescu(node, instances(tmp_path / "in", 2), aet=scp.aet)
        assert indexed(node.settings.node.data, "SELECT count(*) FROM instances") == [(2,)]
        assert queued(node) == []
    finally:
        await node.stop()


def not_yet_listening(workdir: Path) -> StoreSCP:
    """A storescp whose port is chosen, started later by the test."""
    dcmtk("storescp")
    return StoreSCP(workdir)


async def test_a_destination_that_is_down_is_retried_until_it_comes_up(tmp_path, caplog):
    late = not_yet_listening(tmp_path / "late")
    node = await forwarding_node(tmp_path / "data", (modality_of(late, "late"),),
                                 ForwardRule(to=("late",)))
    try:
        files = instances(tmp_path / "in", 3)
        await storescu(node, files)
        # Refused, retried, refused again: the entries wait with the reason.
        await wait_until(lambda: all(row[3] >= 2 for row in queued(node))
                         and len(queued(node)) == 3, DEADLINE)
        assert all(row[2] == "pending" and "refused" in row[4] for row in queued(node))
        assert "cannot forward to late" in caplog.text
        with late:
            await wait_until(lambda: not queued(node), DEADLINE)
            assert late.received_instances().keys() == uids(files)
    finally:
        await node.stop()


async def test_failed_entries_stay_until_retried(tmp_path):
    late = not_yet_listening(tmp_path / "late")
    policy = ForwardingConfig(max_attempts=2, first_retry=0.1, max_retry=0.1)
    node = await forwarding_node(tmp_path / "data", (modality_of(late, "late"),),
                                 ForwardRule(to=("late",)), policy=policy)
    try:
        files = instances(tmp_path / "in", 2)
        await storescu(node, files)
        await wait_until(lambda: [row[2] for row in queued(node)] == ["failed", "failed"],
                         DEADLINE)
        assert all(row[3] == 2 and "refused" in row[4] for row in queued(node))
        # Failed entries are not tried again by themselves: the node's look at the
        # queue counts them and leaves them as they are.
        node.forwarder.wake()
        report = await node.health.report()
        assert report.sections["forwarding"] == {"late": {"failed": 2}}
        assert "forwarding: 2 failed to late" in report.attention
        assert all(row[2] == "failed" and row[3] == 2 for row in queued(node))

        with late:
            assert await node.archive.forward_queue.retry("late") == 2
            node.forwarder.wake()
            await wait_until(lambda: not queued(node), DEADLINE)
            assert late.received_instances().keys() == uids(files)
    finally:
        await node.stop()


async def test_a_warning_status_counts_as_sent(tmp_path, caplog):
    """pynetdicom as the destination, answering 0xB007 (data set does not match
    SOP class: stored all the same)."""
    caplog.set_level(logging.INFO, "tui_pacs.forward")
    received: set[str] = set()

    def coerced(event) -> int:
        received.add(str(event.request.AffectedSOPInstanceUID))
        return 0xB007

    ae = AE(ae_title="WARNS")
    ae.supported_contexts = StoragePresentationContexts
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False,
                             evt_handlers=[(evt.EVT_C_STORE, coerced)])
    try:
        node = await forwarding_node(tmp_path / "data", (Modality("warns", "WARNS",
                                                                  "127.0.0.1", port),),
                                     ForwardRule(to=("warns",)))
        try:
            files = instances(tmp_path / "in", 2)
            await storescu(node, files)
            await wait_until(lambda: received == uids(files), DEADLINE)
            await wait_until(lambda: not queued(node), DEADLINE)
            await wait_until(lambda: caplog.text.count("with a warning status, counted as "
                                                       "sent (status 0xB007") == 2, DEADLINE)
        finally:
            await node.stop()
    finally:
        server.shutdown()


async def test_settings_applied_live_start_forwarding(tmp_path, storescp):
    node = await forwarding_node(tmp_path / "data", (modality_of(storescp, "scp"),))
    try:
        first = instances(tmp_path / "a", 1, study=1)
        await storescu(node, first)
        assert queued(node) == []
        node.apply_settings(dataclasses.replace(node.settings,
                                                forward=(ForwardRule(to=("scp",)),)))
        second = instances(tmp_path / "b", 1, study=2)
        await storescu(node, second)
        await wait_until(lambda: not queued(node), DEADLINE)
        assert storescp.received_instances().keys() == uids(second)
    finally:
        await node.stop()
