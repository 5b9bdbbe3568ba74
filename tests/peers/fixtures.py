"""Pytest fixtures starting real peers; every peer is stopped when its test ends.

Registered for the whole suite in tests/conftest.py (``pytest_plugins``).
Tests using them should be marked ``interop``.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.peers.orthanc import ORTHANC, Orthanc
from tests.peers.pynetdicom_storescp import PynetdicomStoreSCP
from tests.peers.storescp import STORESCP, StoreSCP

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
def pynetdicom_storescp_factory(tmp_path_factory) -> Iterator[Callable[..., PynetdicomStoreSCP]]:
    """Start pynetdicom's storescp app: ``pynetdicom_storescp_factory(options=("-xi",))``."""
    yield from _factory(PynetdicomStoreSCP, tmp_path_factory)
