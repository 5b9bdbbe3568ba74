"""The status socket's protocol and the report's sections, on an in-process node."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from dataclasses import replace

from tests.server.node_fixtures import settings_for, started
from tui_pacs.core.node_report import Section, StatusReport
from tui_pacs.services.status_socket import MAX_REQUEST, SOCKET_NAME, ask


def exchange(path, *lines: bytes) -> list[dict]:
    """Send each line on one connection, read an answer after each."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        answers = sock.makefile("rb")
        replies = []
        for line in lines:
            sock.sendall(line)
            replies.append(json.loads(answers.readline()))
        return replies


async def test_requests_on_one_connection_and_bad_ones_answered(tmp_path):
    node = await started(settings_for(tmp_path / "data"))
    path = tmp_path / "data" / SOCKET_NAME
    try:
        status, unknown, broken, again = await asyncio.to_thread(
            exchange, path, b'{"request": "status"}\n', b'{"request": "shutdown"}\n',
            b"status please\n", b'{"request": "status"}\n')
        assert StatusReport.from_json(status["result"]).aet == "TUIPACS"
        assert unknown == {"error": "unknown request (known: status)"}
        assert broken == {"error": "not a JSON line"}
        assert again["result"]["node"]["pid"] == status["result"]["node"]["pid"]
        [too_long] = await asyncio.to_thread(exchange, path, b"x" * (MAX_REQUEST + 10) + b"\n")
        assert too_long == {"error": "request too long"}
    finally:
        await node.stop()


async def test_a_second_node_on_the_same_data_leaves_the_first_ones_socket(tmp_path, caplog):
    first = await started(settings_for(tmp_path / "data"))
    second = await started(settings_for(tmp_path / "data"))
    try:
        assert any(r.levelno == logging.WARNING and "another node on this data directory "
                   "answers there" in r.getMessage() for r in caplog.records)
        await second.stop()
        answer = await asyncio.to_thread(ask, tmp_path / "data", "status")
        assert answer["node"]["listening"][0]["port"] == first.settings.node.port
    finally:
        await first.stop()
    assert not (tmp_path / "data" / SOCKET_NAME).exists()


async def test_a_file_at_the_sockets_place_is_left_and_the_node_runs(tmp_path, caplog):
    data = tmp_path / "data"
    data.mkdir()
    (data / SOCKET_NAME).write_text("notes", encoding="utf-8")
    node = await started(settings_for(data))
    await node.stop()
    assert (data / SOCKET_NAME).read_text(encoding="utf-8") == "notes"
    assert any(r.getMessage() == f"no status socket at {data / SOCKET_NAME}: "
               f"{data / SOCKET_NAME} exists and is not a socket (move it away)"
               for r in caplog.records)


async def test_services_add_sections_and_what_needs_attention(tmp_path):
    settings = settings_for(tmp_path / "data")
    # One process: no ingest section beside the node's own retention one.
    node = await started(replace(settings, node=replace(settings.node, workers=1)))

    async def forwarding() -> Section:
        return Section({"pacs": {"queued": 3, "failed": 1}}, ("forwarding: 1 failed to pacs",))

    async def broken() -> Section:
        raise OSError("the queue is unreadable")

    node.health.contribute("forwarding", forwarding)
    node.health.contribute("replication", broken)
    try:
        answer = await asyncio.to_thread(ask, tmp_path / "data", "status")
    finally:
        await node.stop()
    # The node's own retention section (no limits set) comes first.
    assert answer["sections"] == {"retention": {},
                                  "forwarding": {"pacs": {"queued": 3, "failed": 1}},
                                  "replication": {}}
    assert answer["healthy"] is False
    assert answer["attention"] == [
        "1 error logged in the last 15 minutes",  # the section that failed
        "forwarding: 1 failed to pacs",
        "replication: no figures (the queue is unreadable)",
    ]
