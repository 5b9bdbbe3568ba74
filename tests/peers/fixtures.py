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
from tests.peers.storescp import STORESCP, StoreSCP

_numbers = itertools.count(1)


def _require(program: str) -> None:
    if not os.access(program, os.X_OK):
        pytest.skip(f"{program} is not installed")


@pytest.fixture
def orthanc_factory(tmp_path_factory) -> Iterator[Callable[..., Orthanc]]:
    """Start an Orthanc: ``orthanc_factory(modalities={...}, DicomCheckCalledAet=True)``."""
    _require(ORTHANC)
    started: list[Orthanc] = []

    def start(**options: Any) -> Orthanc:
        workdir = tmp_path_factory.mktemp(f"orthanc{next(_numbers)}")
        server = Orthanc(workdir, **options)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def orthanc(orthanc_factory) -> Orthanc:
    """An empty Orthanc with default options (it does not know our AE title)."""
    return orthanc_factory()


@pytest.fixture
def storescp_factory(tmp_path_factory) -> Iterator[Callable[..., StoreSCP]]:
    """Start DCMTK storescp: ``storescp_factory(options=("+xa",))``."""
    _require(STORESCP)
    started: list[StoreSCP] = []

    def start(**options: Any) -> StoreSCP:
        server = StoreSCP(tmp_path_factory.mktemp(f"storescp{next(_numbers)}"), **options)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def storescp(storescp_factory) -> StoreSCP:
    return storescp_factory()
