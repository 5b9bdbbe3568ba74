"""Load: 32 storing associations and 8 querying ones at once, for 10 s.

No operation fails, no acknowledged instance is missing, the node's memory
stays bounded, and C-FIND answers while the node ingests. bench/load.py
runs the same for 60 s and reports the figures.
"""

from __future__ import annotations

import pytest

from tests.robust.load import run_load
from tests.server.helpers import indexed, sop_instance_uid
from tui_pacs.store.check import check_archive

pytestmark = pytest.mark.interop

# 40 associations at once, and the queriers may query.
LOAD_CONFIG = """
[limits]
max_associations = 64
[access]
find = ["*"]
"""
# Well above what the node needs (about 100 MB), far below what a leak would reach.
RSS_LIMIT_KIB = 400 * 1024


def test_32_storing_and_8_querying_associations(start_node, tmp_path, record_property):
    node = start_node(LOAD_CONFIG)
    report = run_load(node.port, node.aet, node.process.pid, tmp_path / "load", seconds=10)
    record_property("load", report.summary())
    print(report.summary())
    assert report.store_failures == []
    assert report.query_failures == []
    assert report.storing_associations >= 32 and len(report.query_latencies) >= 8
    stored = {row[0] for row in indexed(node.data, "SELECT sop_uid FROM instances")}
    assert {sop_instance_uid(path) for path in report.acknowledged} <= stored
    assert check_archive(node.data).ok
    assert report.peak_rss < RSS_LIMIT_KIB
    assert max(report.query_latencies) < 30
    assert "Traceback" not in node.log()
