"""Associations we request run on the tuned reactor (the adapter's request_association).

The peer is a stock pynetdicom SCP in-process; what it saw of our request is
read from its side of the association.
"""

from __future__ import annotations

import threading

import pytest
from pynetdicom import AE, build_context, evt
from pynetdicom.sop_class import Verification

from tests.peers.ports import free_port
from tui_pacs.config import LimitsConfig
from tui_pacs.core.target import Target
from tui_pacs.net.client.association import Session, open_association
from tui_pacs.net.client.scu import release
from tui_pacs.net.wire.pynetdicom_adapter import TunedAssociation, request_association


@pytest.fixture
def echo_scp():
    """A Verification SCP; ``seen`` holds the requestor details of each association."""
    seen: list[dict] = []

    def on_requested(event: evt.Event) -> None:
        request = event.assoc.requestor.primitive
        seen.append({"aet": request.calling_ae_title, "max_pdu": request.maximum_length_received})

    ae = AE(ae_title="VERIFY")
    ae.add_supported_context(Verification)
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False,
                             evt_handlers=[(evt.EVT_REQUESTED, on_requested)])
    yield Target("VERIFY", "127.0.0.1", port), seen
    server.shutdown()


def session_for(target: Target, **limits) -> Session:
    return Session(target, "TUIPACS", LimitsConfig(**limits))


def test_an_scu_association_runs_on_the_tuned_reactor(echo_scp):
    target, seen = echo_scp
    limits = {"max_pdu": 123_456, "network_timeout": 17.0}
    assoc, connection = open_association(session_for(target, **limits),
                                         [build_context(Verification)])
    try:
        assert isinstance(assoc, TunedAssociation)
        # Several requests in a row: each pauses the reactor, which counts as
        # paused while it waits, and resumes it.
        assert [int(assoc.send_c_echo(msg_id=n).Status) for n in (1, 2, 3)] == [0, 0, 0]
        # A peer that stops mid-PDU cannot pin the reactor's thread for ever.
        assert assoc.dul.socket.socket.gettimeout() == 17.0
    finally:
        release(assoc)
    assert assoc.is_released
    assoc.join(5)
    assert not assoc.is_alive() and not assoc.dul.is_alive()
    # Our maximum PDU size is proposed, not pynetdicom's 16 KiB default.
    assert seen == [{"aet": "TUIPACS", "max_pdu": 123_456}]
    assert connection.remote_max_pdu > 0


def test_a_release_from_the_peer_ends_the_association(echo_scp):
    target, _ = echo_scp
    assoc, _ = open_association(session_for(target), [build_context(Verification)])
    ended = threading.Event()
    assoc.bind(evt.EVT_RELEASED, lambda event: ended.set())
    peer = next(a for a in _server_associations() if a.is_established)
    peer.release()
    assert ended.wait(5)
    assoc.join(5)
    assert assoc.is_released and not assoc.is_alive()


def test_no_contexts_or_too_many_are_refused(echo_scp):
    target, _ = echo_scp
    ae = AE(ae_title="TUIPACS")
    with pytest.raises(ValueError, match="1 to 128"):
        request_association(ae, target.host, target.port, [], ae_title=target.aet)
    too_many = [build_context(Verification) for _ in range(129)]
    with pytest.raises(ValueError, match="not 129"):
        request_association(ae, target.host, target.port, too_many, ae_title=target.aet)


def _server_associations() -> list:
    """The acceptor side of our associations, found through pynetdicom's threads."""
    from pynetdicom.association import Association

    return [t for t in threading.enumerate()
            if isinstance(t, Association) and t.is_acceptor and t.is_alive()]
