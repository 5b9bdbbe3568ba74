"""SIGKILL while forwarding: after a restart, every acknowledged instance reaches the
destination.

``tui-pacs serve`` forwards everything to DCMTK's storescp. DCMTK's storescu
sends it a few hundred instances while storescp is not listening yet, so
that they queue up; then storescp starts, and the node is killed once
storescp has begun to receive, with most of the queue still to send. The
restarted node (no manual step) sends what was still queued: storescp ends
up with every instance storescu was told was stored (at least once),
compared by SOP Instance UID, and the queue is empty.
"""

from __future__ import annotations

import signal

import pytest

from tests.peers.storescp import StoreSCP
from tests.robust.clients import acknowledged, start_storescu, write_batches
from tests.server.conftest import dcmtk, modalities_config, wait_for
from tests.server.helpers import indexed, sop_instance_uid

pytestmark = pytest.mark.interop

INSTANCES = 400
# Files the destination has begun to receive when the node is killed.
KILL_AFTER = 20
DEADLINE = 120.0


# Everything to storescp, retried quickly while it is not listening yet.
FORWARD_EVERYTHING = """
[[forward]]
to = ["storescp"]

[forwarding]
first_retry = 0.5
max_retry = 2
"""


def test_sigkill_mid_forward_loses_nothing(start_node, tmp_path):
    dcmtk("storescp")
    destination = StoreSCP(tmp_path / "destination")
    config = modalities_config((destination.aet, destination.port)) + FORWARD_EVERYTHING
    [files] = write_batches(tmp_path / "in", 1, INSTANCES)
    node = start_node(config)
    sender = start_storescu(node.port, files)
    output = sender.communicate(timeout=DEADLINE)[1]
    assert sender.returncode == 0, output
    safe = {sop_instance_uid(path) for path in acknowledged(output)}
    assert len(safe) == INSTANCES

    with destination:
        wait_for(lambda: len(destination.arriving()) >= KILL_AFTER, "forwarding began",
                 DEADLINE, poll=0.002)
        assert node.stop(signal.SIGKILL) == -signal.SIGKILL
        assert len(destination.arriving()) < INSTANCES, "the kill came after the last batch"

        restarted = start_node(config, data=node.data)
        assert "did not shut down cleanly" in restarted.log()
        wait_for(lambda: not indexed(node.data, "SELECT 1 FROM forward_queue LIMIT 1"),
                 "the queue emptied", DEADLINE)
        assert destination.received_instances().keys() == safe
        assert "forwarded" in restarted.log()
