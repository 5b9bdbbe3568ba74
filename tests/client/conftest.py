"""Fixtures for the client tests: this node's settings, its archive, the client,
and configuration files for the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.peers.ports import free_port
from tui_pacs.config import LimitsConfig, Modality, NodeConfig, Settings
from tui_pacs.services.client import RemoteClient
from tui_pacs.store.archive import Archive

NODE_AET = "TUIPACS"


@pytest.fixture
def node_port() -> int:
    return free_port()


@pytest.fixture
def settings(tmp_path, node_port) -> Settings:
    """This node on loopback, with timeouts short enough for tests."""
    return Settings(
        node=NodeConfig(aet=NODE_AET, port=node_port, bind="127.0.0.1", data=tmp_path / "data"),
        limits=LimitsConfig(acse_timeout=10, dimse_timeout=20, network_timeout=30),
    )


@pytest.fixture
async def archive(settings):
    opened = await Archive.open(settings.node.data, settings.storage)
    yield opened
    await opened.close()


@pytest.fixture
def client(settings, archive) -> RemoteClient:
    return RemoteClient(settings, archive)


def our_entry(node_port: int) -> dict[str, tuple[str, str, int]]:
    """Orthanc's DicomModalities entry for this node."""
    return {"tuipacs": (NODE_AET, "127.0.0.1", node_port)}


@pytest.fixture
def write_config(tmp_path, settings):
    """A config file for the command line describing ``settings`` and some modalities."""

    def write(*modalities: Modality) -> Path:
        node = settings.node
        lines = ["[node]", f'aet = "{node.aet}"', f"port = {node.port}",
                 f'bind = "{node.bind}"', f'data = "{node.data}"', "",
                 "[limits]", "acse_timeout = 10", "dimse_timeout = 20", ""]
        for modality in modalities:
            lines += ["[[modalities]]", f'name = "{modality.name}"', f'aet = "{modality.aet}"',
                      f'host = "{modality.host}"', f"port = {modality.port}", ""]
        path = tmp_path / "config.toml"
        path.write_text("\n".join(lines), encoding="utf-8")
        return path

    return write
