"""An in-process Node on a free loopback port, and pynetdicom peers for it."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset
from pynetdicom import AE, StoragePresentationContexts, evt
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from tests.conftest import free_port
from tui_pacs.config import AccessConfig, Modality, NodeConfig, Settings
from tui_pacs.services.node import Node

OPEN_ACCESS = AccessConfig(echo=("*",), store=("*",), find=("*",), move=("*",), get=("*",))


def settings_for(data: Path, **changes: Any) -> Settings:
    settings = Settings(node=NodeConfig(aet="TUIPACS", port=free_port(), bind="127.0.0.1",
                                        data=data),
                        access=OPEN_ACCESS)
    return dataclasses.replace(settings, **changes)


async def started(settings: Settings) -> Node:
    node = Node(settings)
    await node.start()
    assert node.status.listening, node.status.listen_error
    return node


def client_ae(aet: str = "CLIENT") -> AE:
    ae = AE(ae_title=aet)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 20
    return ae


def associate(node: Node, contexts: list[Any], aet: str = "CLIENT", **kwargs: Any) -> Any:
    """A blocking association to the node (run it with asyncio.to_thread)."""
    ae = client_ae(aet)
    for context in contexts:
        if isinstance(context, tuple):
            ae.add_requested_context(*context)
        else:
            ae.add_requested_context(context)
    assoc = ae.associate("127.0.0.1", node.settings.node.port, ae_title="TUIPACS", **kwargs)
    assert assoc.is_established, "association failed"
    return assoc


def find(node: Node, identifier: Dataset, model: str = StudyRootQueryRetrieveInformationModelFind,
         aet: str = "CLIENT") -> tuple[list[Dataset], int]:
    """C-FIND: (pending identifiers, final status)."""
    assoc = associate(node, [model], aet)
    try:
        found, final = [], None
        for status, ds in assoc.send_c_find(identifier, model):
            if status is None:
                raise AssertionError("no C-FIND response")
            if status.Status in (0xFF00, 0xFF01):
                found.append(ds)
            else:
                final = status.Status
        return found, final
    finally:
        assoc.release()


def query(level: str, **keys: Any) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = level
    for keyword, value in keys.items():
        setattr(ds, keyword, value)
    return ds


class Receiver:
    """A pynetdicom storage SCP that keeps what it receives (a move destination)."""

    def __init__(self, aet: str = "RECEIVER", ssl_context: Any = None) -> None:
        self.aet = aet
        self.port = free_port()
        self.received: dict[str, bytes] = {}
        ae = client_ae(aet)
        for context in StoragePresentationContexts:
            ae.add_supported_context(context.abstract_syntax)
        self._server = ae.start_server(("127.0.0.1", self.port), block=False,
                                       ssl_context=ssl_context,
                                       evt_handlers=[(evt.EVT_C_STORE, self._store)])

    def _store(self, event: Any) -> int:
        self.received[str(event.request.AffectedSOPInstanceUID)] = bytes(
            event.request.DataSet.getvalue())
        return 0x0000

    @property
    def modality(self) -> Modality:
        return Modality(self.aet.lower(), self.aet, "127.0.0.1", self.port)

    def close(self) -> None:
        self._server.shutdown()


async def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)



def move(node: Node, identifier: Dataset, destination: str) -> list[tuple[Dataset, Any]]:
    """C-MOVE (Study Root) to ``destination``: every (status, identifier) response."""
    from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelMove as MOVE

    assoc = associate(node, [MOVE])
    try:
        return list(assoc.send_c_move(identifier, destination, MOVE))
    finally:
        assoc.release()
