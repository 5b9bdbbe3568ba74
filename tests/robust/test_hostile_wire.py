"""Broken DICOM on the wire: garbage, lying PDUs, and peers that never finish.

After each attack the node still answers C-ECHO, wrote nothing outside its
data directory, and its index is intact (the ``unharmed`` fixture).
"""

from __future__ import annotations

import random
import struct
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.robust.hostile import (
    ABORT,
    ASSOCIATE_AC,
    ASSOCIATE_RQ,
    CT_IMAGE_STORAGE,
    EXPLICIT_LITTLE,
    P_DATA,
    Peer,
    associate_rq,
    item,
    p_data,
    pdu,
    store_request,
)
from tests.server.conftest import dcmtk, run
from tui_pacs.store.staging import staged_files

pytestmark = pytest.mark.interop

# The node's limits.acse_timeout and network_timeout (tests/robust/conftest.py), plus slack.
ACSE_TIMEOUT = 2
NETWORK_TIMEOUT = 3
SLACK = 4


def rss_kib(node) -> int:
    status = open(f"/proc/{node.process.pid}/status").read()
    return int(next(line.split()[1] for line in status.splitlines()
                    if line.startswith("VmRSS:")))


def test_random_bytes_are_refused(hostile_node, unharmed):
    rng = random.Random(7)
    blobs = [rng.randbytes(rng.randrange(1, 6000)) for _ in range(24)]
    # Valid PDU types with random bodies too: they get further into the decoder.
    blobs += [bytes([kind, 0]) + struct.pack(">L", len(body)) + body
              for kind in range(1, 8) for body in [rng.randbytes(rng.randrange(1, 600))]]
    peers = [Peer(hostile_node.port) for _ in blobs]
    for peer, blob in zip(peers, blobs):
        peer.send(blob)
    with ThreadPoolExecutor(len(peers)) as pool:
        closed = list(pool.map(lambda p: p.closed_within(NETWORK_TIMEOUT + SLACK), peers))
    assert all(closed)
    for peer in peers:
        peer.close()
    unharmed()


def test_truncated_pdus_are_given_up(hostile_node, unharmed):
    request = associate_rq()
    with Peer(hostile_node.port) as gone, Peer(hostile_node.port) as stalled:
        gone.send(request[:len(request) // 2])
        gone.close()
        stalled.send(request[:len(request) // 2])
        started = time.monotonic()
        assert stalled.closed_within(NETWORK_TIMEOUT + SLACK)
        assert time.monotonic() - started >= NETWORK_TIMEOUT - 0.5
    unharmed()


def test_oversized_pdus_are_refused_without_reading_them(hostile_node, unharmed):
    before = rss_kib(hostile_node)
    with Peer(hostile_node.port) as peer:
        # An association request announcing 4 GiB.
        peer.send(pdu(ASSOCIATE_RQ, b"\x00" * 64, length=0xFFFFFFFF))
        assert peer.closed_within(ACSE_TIMEOUT + SLACK)
    with Peer(hostile_node.port) as peer:
        assert peer.associate() == ASSOCIATE_AC
        # A P-DATA-TF announcing 1 GiB, far above limits.max_pdu.
        peer.send(pdu(P_DATA, b"\x00" * 1024, length=1 << 30))
        received = peer.receive()
        assert received is None or received[0] == ABORT
        assert peer.closed_within(ACSE_TIMEOUT + SLACK)
    assert rss_kib(hostile_node) - before < 64 * 1024
    unharmed()


@pytest.mark.parametrize("lie", ["pdu shorter", "pdu longer", "item longer", "pdv longer",
                                 "pdv shorter"])
def test_lying_lengths_end_the_association(hostile_node, unharmed, lie):
    request = associate_rq()
    with Peer(hostile_node.port) as peer:
        if lie == "pdu shorter":
            # The rest of the request then reads as the header of another PDU.
            peer.send(request[:2] + struct.pack(">L", len(request) - 40) + request[6:])
        elif lie == "pdu longer":
            peer.send(request[:2] + struct.pack(">L", len(request) + 100) + request[6:]
                      + b"\xff" * 100)
        elif lie == "item longer":
            body = request[6:]
            context = body.index(bytes([0x20, 0]))
            body = body[:context + 2] + struct.pack(">H", 4000) + body[context + 4:]
            peer.send(pdu(ASSOCIATE_RQ, body))
        else:
            assert peer.associate(request) == ASSOCIATE_AC
            command = b"\x00" * 40
            data = p_data(1, 0x03, command)
            pdv_length = len(command) + 2 + (500 if lie == "pdv longer" else -30)
            peer.send(data[:6] + struct.pack(">L", pdv_length) + data[10:])
        assert peer.closed_within(NETWORK_TIMEOUT + SLACK)
    unharmed()


def test_a_pdu_of_unknown_type_and_a_bad_item_are_refused(hostile_node, unharmed):
    with Peer(hostile_node.port) as peer:
        peer.send(pdu(0x42, b"\x00" * 16))
        assert peer.closed_within(ACSE_TIMEOUT + SLACK)
    with Peer(hostile_node.port) as peer:
        body = associate_rq()[6:] + item(0x99, b"what is this")
        answer = peer.associate(pdu(ASSOCIATE_RQ, body))
        assert answer in (None, ASSOCIATE_AC, ABORT)
    unharmed()


def test_associations_that_never_finish_are_closed(hostile_node, unharmed):
    silent = Peer(hostile_node.port)  # connects, never asks for an association
    idle = Peer(hostile_node.port)
    assert idle.associate() == ASSOCIATE_AC  # then never says anything again
    half_sent = Peer(hostile_node.port)
    storage = associate_rq([(1, CT_IMAGE_STORAGE, [EXPLICIT_LITTLE])])
    assert half_sent.associate(storage) == ASSOCIATE_AC
    half_sent.send(store_request(b"")[0])  # the command; its dataset never comes
    started = time.monotonic()
    # Meanwhile the node serves everyone else.
    assert run(dcmtk("echoscu"), "-aec", hostile_node.aet, "127.0.0.1",
               hostile_node.port).returncode == 0
    peers = (silent, idle, half_sent)
    assert [peer.closed_within(NETWORK_TIMEOUT + SLACK) for peer in peers] == [True] * 3
    assert time.monotonic() - started >= NETWORK_TIMEOUT - 0.5
    for peer in peers:
        peer.close()
    hostile_node.wait_for_log("sent nothing for 3.0 s (limits.network_timeout)")
    unharmed()


def test_a_flood_of_half_open_connections_locks_no_one_out(hostile_node, unharmed):
    """Port scanners and stalled peers hold connections without ever asking
    for an association: far more of them than limits.max_associations (32).
    The node keeps at most 4 x 32 of them waiting, closing the oldest.

    "Oldest" is by when the node accepted a connection. It comes in bursts
    of 30, as a port scan does: a burst that overflowed the listen queue
    would have the kernel retry some connections later than their
    neighbours, and they would count as newer."""
    flood = []
    for _ in range(10):
        flood += [Peer(hostile_node.port) for _ in range(30)]
        time.sleep(0.05)  # a burst the size of a port scan's, not one SYN flood
    try:
        time.sleep(0.5)
        echo = run(dcmtk("echoscu"), "-v", "-aec", hostile_node.aet, "127.0.0.1",
                   hostile_node.port)
        assert echo.returncode == 0, echo.stderr
        still_open = [peer for peer in flood if not peer.closed_within(0.01)]
        assert 100 <= len(still_open) <= 4 * 32
        assert still_open == flood[-len(still_open):]  # the newest are kept
    finally:
        for peer in flood:
            peer.close()
    unharmed()


def _partial_store(sent: int) -> list[bytes]:
    """The command of a C-STORE-RQ, then ``sent`` bytes of its dataset in
    fragments of 16 KiB, none of them the last."""
    command = store_request(b"")[0]
    fragment = bytes(16384)
    return [command, *(p_data(1, 0x00, fragment) for _ in range(sent // len(fragment)))]


def test_a_peer_that_leaves_in_the_middle_of_a_dataset_leaves_nothing_behind(
        hostile_node, unharmed):
    """The dataset was being written to a staging file as it came: the file
    goes when the association does, and nothing is archived."""
    tmp = hostile_node.data / "tmp"
    with Peer(hostile_node.port) as peer:
        assert peer.associate() == ASSOCIATE_AC
        assert peer.send(_partial_store(4 << 20))
        deadline = time.monotonic() + 10
        while not staged_files(tmp) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert staged_files(tmp), "the dataset was not streamed to disk"
        peer.send(pdu(ABORT, bytes(4)))
    deadline = time.monotonic() + 10
    while staged_files(tmp) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not staged_files(tmp)
    assert not any((hostile_node.data / "storage").rglob("*.dcm"))
    unharmed()
