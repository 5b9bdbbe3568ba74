"""0xA801, move destination unknown: what pynetdicom answers when its C-MOVE
handler does not know where the destination is (Orthanc 1.10 says 0xC000)."""

from __future__ import annotations

from pynetdicom import AE, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelMove

from tests.peers.ports import free_port
from tui_pacs.core.remote import Failure
from tui_pacs.core.target import Target


def handle_move(event):
    yield None, None  # "I do not know this destination"


async def test_destination_unknown_shows_the_entry_the_remote_needs(client, node_port):
    ae = AE(ae_title="MOVER")
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelMove)
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False,
                             evt_handlers=[(evt.EVT_C_MOVE, handle_move)])
    try:
        report = await client.move(Target("MOVER", "127.0.0.1", port),
                                   {"StudyInstanceUID": "1.2.3"})
    finally:
        server.shutdown()
    assert report.status == 0xA801
    problem = report.diagnosis
    assert problem.failure is Failure.DESTINATION_UNKNOWN
    assert "does not know the move destination TUIPACS (0xA801)" in problem.summary
    assert f"AE title TUIPACS, host 127.0.0.1, port {node_port}" in problem.advice[0]
