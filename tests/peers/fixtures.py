"""Pytest fixtures starting real peers (Orthanc, DCMTK, pixelmed, pynetdicom's apps);
every peer is stopped when its test ends.

Registered for the whole suite in tests/conftest.py (``pytest_plugins``).
Tests using them should be marked ``interop``.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.peers import pynetdicom_apps
from tests.peers.orthanc import ORTHANC, Orthanc
from tests.peers.pixelmed import JAVA, PIXELMED_JAR, Pixelmed
from tests.peers.pynetdicom_apps import QRSCP, PynetdicomStoreSCP
from tests.peers.storescp import STORESCP, StoreSCP
from tests.peers.wiretap import WireTap
from tests.peers.worklist import WLMSCPFS, WorklistSCP

_numbers = itertools.count(1)


def _require(program: str) -> None:
    if not os.access(program, os.X_OK):
        pytest.skip(f"{program} is not installed")


def _factory(peer_class: type, tmp_path_factory) -> Iterator[Callable[..., Any]]:
    """Start peers of one kind, each in a temporary directory; stop them all after."""
    started: list[Any] = []

    def start(**options: Any) -> Any:
        workdir = tmp_path_factory.mktemp(f"{peer_class.__name__.lower()}{next(_numbers)}")
        peer = peer_class(workdir, **options)
        started.append(peer)
        return peer.start()

    yield start
    for peer in started:
        peer.stop()


@pytest.fixture
def orthanc_factory(tmp_path_factory) -> Iterator[Callable[..., Orthanc]]:
    """Start an Orthanc: ``orthanc_factory(modalities={...}, DicomCheckCalledAet=True)``."""
    _require(ORTHANC)
    yield from _factory(Orthanc, tmp_path_factory)


@pytest.fixture
def orthanc(orthanc_factory) -> Orthanc:
    """An empty Orthanc with default options (it does not know our AE title)."""
    return orthanc_factory()


@pytest.fixture
def storescp_factory(tmp_path_factory) -> Iterator[Callable[..., StoreSCP]]:
    """Start DCMTK storescp: ``storescp_factory(options=("+xa",))``."""
    _require(STORESCP)
    yield from _factory(StoreSCP, tmp_path_factory)


@pytest.fixture
def storescp(storescp_factory) -> StoreSCP:
    return storescp_factory()


@pytest.fixture
def wlmscpfs_factory(tmp_path_factory) -> Iterator[Callable[..., WorklistSCP]]:
    """Start DCMTK wlmscpfs: ``wlmscpfs_factory(aet="RIS")``, then ``.write(steps)``."""
    _require(WLMSCPFS)
    yield from _factory(WorklistSCP, tmp_path_factory)


@pytest.fixture
def pixelmed_factory(tmp_path_factory) -> Iterator[Callable[..., Pixelmed]]:
    """Start pixelmed's server: ``pixelmed_factory(remotes={"us": (aet, host, port)})``."""
    _require(JAVA)
    if not PIXELMED_JAR.is_file():
        pytest.skip(f"{PIXELMED_JAR} is not installed (Debian: pixelmed-apps)")
    yield from _factory(Pixelmed, tmp_path_factory)


def _require_pynetdicom_apps() -> None:
    reason = pynetdicom_apps.missing()
    if reason:
        pytest.skip(reason)


@pytest.fixture
def qrscp_factory(tmp_path_factory) -> Iterator[Callable[..., QRSCP]]:
    """Start pynetdicom's qrscp: ``qrscp_factory(destinations={aet: (host, port)})``."""
    _require_pynetdicom_apps()
    yield from _factory(QRSCP, tmp_path_factory)


@pytest.fixture
def pynetdicom_storescp_factory(tmp_path_factory) -> Iterator[Callable[..., PynetdicomStoreSCP]]:
    """Start pynetdicom's storescp: ``pynetdicom_storescp_factory(options=("-xi",))``."""
    yield from _factory(PynetdicomStoreSCP, tmp_path_factory)


@pytest.fixture
def wiretap() -> Iterator[Callable[[int], WireTap]]:
    """``wiretap(port)``: a relay to 127.0.0.1:``port`` noting what passes."""
    taps: list[WireTap] = []

    def tap(port: int) -> WireTap:
        taps.append(WireTap(port))
        return taps[-1]

    yield tap
    for each in taps:
        each.close()
