"""`tui-pacs queue` as a sysadmin runs it, beside a running `tui-pacs serve`: list the
forwarding queue, retry failed entries (the node picks them up by itself), clear
them; exit statuses and one-line errors."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli
from tests.peers.storescp import StoreSCP
from tests.robust.clients import start_storescu, write_batches
from tests.server.conftest import dcmtk, modalities_config, wait_for
from tests.server.helpers import indexed, sop_instance_uid

pytestmark = pytest.mark.interop

DEADLINE = 60.0


# Everything goes to storescp (listening later) and to never (never listening);
# one attempt each, then failed.
FORWARD = """
[[forward]]
to = ["storescp", "never"]

[forwarding]
max_attempts = 1
"""


def queue(node, *args: str):
    return run_cli("queue", "--config", node.config, "--data", node.data, *args)


def states(node) -> list[tuple]:
    return indexed(node.data, "SELECT destination, state, count(*) FROM forward_queue "
                              "GROUP BY destination, state ORDER BY destination")


def test_list_retry_and_clear_while_the_node_runs(start_node, tmp_path):
    dcmtk("storescp")
    late, never = StoreSCP(tmp_path / "storescp"), StoreSCP(tmp_path / "never")
    node = start_node(modalities_config((late.aet, late.port), ("NEVER", never.port))
                      + FORWARD)
    [files] = write_batches(tmp_path / "in", 1, 3)
    sender = start_storescu(node.port, files)
    assert sender.wait(DEADLINE) == 0
    wait_for(lambda: states(node) == [("never", "failed", 3), ("storescp", "failed", 3)],
             "both destinations failed")

    listed = queue(node)
    assert listed.returncode == 1, listed.stderr  # failed entries need someone
    header, *rows = listed.stdout.splitlines()
    assert header.split("\t") == ["Destination", "State", "Entries", "Oldest", "Next try",
                                  "Last error"]
    assert [row.split("\t")[:3] for row in rows] == [["never", "failed", "3"],
                                                     ["storescp", "failed", "3"]]
    late_row = rows[1].split("\t")
    assert late_row[4] == "after --retry" and "connection refused" in late_row[5]

    described = json.loads(queue(node, "--json").stdout)
    assert [(d["destination"], d["state"], d["entries"]) for d in described] == [
        ("never", "failed", 3), ("storescp", "failed", 3)]
    assert all(d["next_attempt"] is None and "refused" in d["last_error"] for d in described)

    with late:
        retried = queue(node, "--retry", "storescp")
        assert retried.returncode == 0, retried.stderr
        assert retried.stdout.strip() == ("3 failed entries queued again for storescp; waiting "
                                          "entries are due now")
        # The node notices by itself (it looks at the queue every few seconds).
        wait_for(lambda: states(node) == [("never", "failed", 3)], "late got its instances")
        assert late.received_instances().keys() == {sop_instance_uid(f) for f in files}

    cleared = queue(node, "--clear-failed", "never")
    assert cleared.returncode == 0, cleared.stderr
    assert cleared.stdout.strip() == "3 failed entries deleted for never"
    empty = queue(node)
    assert (empty.returncode, empty.stdout.strip()) == (0, "the forwarding queue is empty")
    assert json.loads(queue(node, "--json").stdout) == []
    assert "forwarded 3 instance(s) to storescp" in node.log()


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
