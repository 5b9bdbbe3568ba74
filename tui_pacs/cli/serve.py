"""``tui-pacs serve``: the node without the app, for systemd, tmux or a spare box."""

from __future__ import annotations

import argparse
import logging
import signal
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from tui_pacs.cli.context import (
    EXIT_USAGE,
    CliError,
    loading_without_collection,
    run_async,
    setup_logging,
    with_data_option,
)
from tui_pacs.config import ConfigError, Settings, load_settings
from tui_pacs.core.aetitle import ae_title_problem

if TYPE_CHECKING:
    import asyncio

    from tui_pacs.services.node import Node
    from tui_pacs.services.reload import Reloader

log = logging.getLogger("tui_pacs.serve")


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = commands.add_parser(
        "serve", parents=[common], help="run the DICOM node without the app",
        description="Run the DICOM node (C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET) in the "
                    "foreground, logging one line per association and per operation on "
                    "stderr. Ctrl-C or SIGTERM stops it cleanly: no new associations, "
                    "operations in progress finish, the index is closed (a second "
                    "Ctrl-C aborts busy associations at once). SIGHUP reloads access "
                    "rules and modalities from the config file. Under systemd "
                    "(Type=notify) it reports ready once it listens.")
    add_node_options(p)
    p.set_defaults(func=run_serve)


def add_node_options(parser: argparse.ArgumentParser) -> None:
    """--aet, --port, --bind, --log-format (for `serve` and for `tui-pacs` alone).

    SUPPRESS: a value given before the command is not reset by its parser.
    """
    group = parser.add_argument_group("node options")
    group.add_argument("--aet", metavar="AET", default=argparse.SUPPRESS,
                       help="our AE title (overrides [node] aet)")
    group.add_argument("--port", type=_port, metavar="N", default=argparse.SUPPRESS,
                       help="port to listen on (overrides [node] port)")
    group.add_argument("--bind", metavar="ADDR", default=argparse.SUPPRESS,
                       help="address to listen on, 0.0.0.0 for every IPv4 address "
                            "(overrides [node] bind)")
    group.add_argument("--log-format", choices=("text", "json"), default=argparse.SUPPRESS,
                       help="log lines for people (text) or machines (JSON lines)")


def node_settings(args: argparse.Namespace, settings: Settings) -> Settings:
    """The settings with the node options given on the command line."""
    aet = getattr(args, "aet", None)
    if aet is not None and (problem := ae_title_problem(aet)):
        raise CliError(f"--aet {aet!r}: the AE title {problem}", EXIT_USAGE)
    return settings.with_node(aet=aet.strip() if aet else None,
                              port=getattr(args, "port", None),
                              bind=getattr(args, "bind", None),
                              log_format=getattr(args, "log_format", None))


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    settings = node_settings(args, settings)
    setup_logging(debug=getattr(args, "debug", False),
                  json_format=settings.node.log_format == "json")
    return run_async(lambda: serve(settings, partial(_reread, args, settings.path)))


def _reread(args: argparse.Namespace, path: Path) -> Settings:
    """The config file again, with the command line's options on top (for a reload)."""
    if not path.exists():
        raise ConfigError(f"{path}: no such file")
    return node_settings(args, with_data_option(args, load_settings(path)))


async def serve(settings: Settings, reread: Callable[[], Settings]) -> int:
    import asyncio

    with loading_without_collection():
        from tui_pacs.services import systemd
        from tui_pacs.services.node import Node
        from tui_pacs.services.reload import Reloader
        from tui_pacs.store.archive import ArchiveError

    loop = asyncio.get_running_loop()
    hangups = _HangUps(loop, settings.path)
    node = Node(settings)
    # Watched before the node starts: a signal as soon as it listens stops it
    # cleanly too (the index closed, its worker processes ended).
    signals = _SignalWatch(loop)
    try:
        try:
            await node.start()
        except ArchiveError as exc:
            raise CliError(str(exc)) from None
        if node.status.listen_error:
            await node.stop()
            raise CliError(node.status.listen_error)
        assert node.archive is not None  # start() opened it or raised
        totals = await node.archive.index.totals()
        log.info("archive %s: %d studies, %d instances", settings.node.data,
                 totals["studies"], totals["instances"])
        systemd.ready(node.status.summary)
        hangups.reloader = Reloader(node, reread)

        await signals.first.wait()
        hangups.reloader = None
        log.info("stopping (%s): no new associations; finishing operations in progress",
                 signals.name)
        systemd.stopping("stopping: finishing operations in progress")
        hurry = asyncio.create_task(_hurry_on_second_signal(signals, node))
        try:
            await hangups.finished()
            await node.stop()
        finally:
            hurry.cancel()
    finally:
        signals.close()
        hangups.close()
    log.info("stopped; the index is closed")
    return 0


class _HangUps:
    """SIGHUP on the loop: a reload while the node runs, a line saying it is ignored
    while it starts or stops; never the default action, which ends the process."""

    def __init__(self, loop: asyncio.AbstractEventLoop, config: Path) -> None:
        self.loop = loop
        self.config = config
        # Set while the node runs.
        self.reloader: Reloader | None = None
        self._running: set[asyncio.Task[bool]] = set()
        loop.add_signal_handler(signal.SIGHUP, self._received)

    def _received(self) -> None:
        if self.reloader is None:
            log.warning("SIGHUP ignored: the node is starting or stopping")
            return
        log.info("SIGHUP: reloading %s", self.config)
        task = self.loop.create_task(self.reloader.reload())
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def finished(self) -> None:
        """Wait for the reloads under way."""
        import asyncio

        if self._running:
            await asyncio.wait(self._running)

    def close(self) -> None:
        self.loop.remove_signal_handler(signal.SIGHUP)


async def _hurry_on_second_signal(signals: _SignalWatch, node: Node) -> None:
    await signals.second.wait()
    log.warning("second %s: aborting busy associations", signals.name)
    node.hurry_stop()


class _SignalWatch:
    """SIGINT and SIGTERM as events on the loop: the first, then a second one."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        import asyncio

        self.loop = loop
        self.first = asyncio.Event()
        self.second = asyncio.Event()
        self.name = ""
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._received, sig)

    def _received(self, sig: signal.Signals) -> None:
        if self.first.is_set():
            self.second.set()
            return
        self.name = sig.name
        self.first.set()

    def close(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self.loop.remove_signal_handler(sig)


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (1-65535)")
    return value
