"""`tui-pacs queue` as a sysadmin runs it, beside a running `tui-pacs serve`: list the
forwarding queue, retry failed entries (the node picks them up by itself), clear
them; exit statuses and one-line errors."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import run_cli
from tests.peers.storescp import StoreSCP
from tests.robust.clients import start_storescu, write_batches
from tests.server.conftest import dcmtk
from tests.server.helpers import indexed, sop_instance_uid

pytestmark = pytest.mark.interop

DEADLINE = 60.0


def config(late: StoreSCP, never_port: int) -> str:
    """Everything goes to ``late`` (listening later) and to ``never`` (never
    listening); one attempt each, then failed."""
    return f"""
[[modalities]]
name = "late"
aet = "{late.aet}"
host = "127.0.0.1"
port = {late.port}

[[modalities]]
name = "never"
aet = "NEVER"
host = "127.0.0.1"
port = {never_port}

[[forward]]
to = ["late", "never"]

[forwarding]
max_attempts = 1
"""


def queue(node, *args: str):
    return run_cli("queue", "--config", node.config, "--data", node.data, *args)


def states(node) -> list[tuple]:
    return indexed(node.data, "SELECT destination, state, count(*) FROM forward_queue "
                              "GROUP BY destination, state ORDER BY destination")


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {DEADLINE} s")
        time.sleep(0.05)


def test_list_retry_and_clear_while_the_node_runs(start_node, tmp_path):
    dcmtk("storescp")
    late, never = StoreSCP(tmp_path / "late"), StoreSCP(tmp_path / "never")
    node = start_node(config(late, never.port))
    [files] = write_batches(tmp_path / "in", 1, 3)
    sender = start_storescu(node.port, files)
    assert sender.wait(DEADLINE) == 0
    wait_for(lambda: states(node) == [("late", "failed", 3), ("never", "failed", 3)],
             "both destinations failed")

    listed = queue(node)
    assert listed.returncode == 1, listed.stderr  # failed entries need someone
    header, *rows = listed.stdout.splitlines()
    assert header.split("\t") == ["Destination", "State", "Entries", "Oldest", "Next try",
                                  "Last error"]
    late_row = rows[0].split("\t")
    assert late_row[:3] == ["late", "failed", "3"] and late_row[4] == "after --retry"
    assert "connection refused" in late_row[5]

    described = json.loads(queue(node, "--json").stdout)
    assert [(d["destination"], d["state"], d["entries"]) for d in described] == [
        ("late", "failed", 3), ("never", "failed", 3)]
    assert all(d["next_attempt"] is None and "refused" in d["last_error"] for d in described)

    late.start()
    try:
        retried = queue(node, "--retry", "late")
        assert retried.returncode == 0, retried.stderr
        assert retried.stdout.strip() == ("3 failed entries queued again for late; waiting "
                                          "entries are due now")
        # The node notices by itself (it looks at the queue every few seconds).
        wait_for(lambda: states(node) == [("never", "failed", 3)], "late got its instances")
        assert late.received_instances().keys() == {sop_instance_uid(f) for f in files}
    finally:
        late.stop()

    cleared = queue(node, "--clear-failed", "never")
    assert cleared.returncode == 0, cleared.stderr
    assert cleared.stdout.strip() == "3 failed entries deleted for never"
    empty = queue(node)
    assert (empty.returncode, empty.stdout.strip()) == (0, "the forwarding queue is empty")
    assert json.loads(queue(node, "--json").stdout) == []
    assert "forwarded 3 instance(s) to late" in node.log()


def test_unknown_destination_and_missing_archive_are_one_line(start_node, tmp_path):
    node = start_node('[[modalities]]\nname = "pacs"\naet = "PACS"\nhost = "127.0.0.1"\n'
                      "port = 104\n")
    unknown = queue(node, "--retry", "nope")
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == "tui-pacs: no destination named 'nope' (known: pacs)"
    nothing = run_cli("queue", "--data", tmp_path / "empty")
    assert nothing.returncode == 1
    assert nothing.stderr.strip().startswith("tui-pacs: no archive in ")
    bad = run_cli("queue", "--retry", "a", "--clear-failed", "b", "--data", node.data)
    assert bad.returncode == 2 and "not allowed with argument" in bad.stderr
