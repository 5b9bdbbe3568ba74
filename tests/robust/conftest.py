"""Fixtures for the robustness tests: the node as a subprocess, DCMTK senders."""

from __future__ import annotations

# `tui-pacs serve` on a free loopback port, stopped by the fixture.
from tests.server.conftest import start_node  # noqa: F401
