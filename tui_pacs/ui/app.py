"""The Textual app: the archive browser and the node's controls in one terminal.

``PacsApp(settings)`` starts its backend (the archive and the services) on
its own event loop when it mounts and stops it when it unmounts, so
``tui-pacs``, the pilot tests and the snapshot tests run the same app.
Screens reach the services through ``app.backend``; app-wide changes reach
screens through reactives they watch (``status``, ``archive_generation``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.reactive import reactive
from textual.screen import Screen
from textual.theme import Theme
from textual.timer import Timer
from textual.worker import Worker

from tui_pacs import config_writer, paths
from tui_pacs.config import ConfigError, Settings, UIConfig
from tui_pacs.core.events import AssociationEvent, NodeEvent, OperationEvent
from tui_pacs.core.model import Level
from tui_pacs.core.node_report import StatusReport
from tui_pacs.core.readable import plural
from tui_pacs.core.target import Target
from tui_pacs.core.text import printable
from tui_pacs.imaging.terminal import Protocol
from tui_pacs.services.export import ExportOptions, Selection
from tui_pacs.store.archive import ArchiveError, StoreResult
from tui_pacs.ui import quitting, transfer_jobs
from tui_pacs.ui.activity import ActivityLog
from tui_pacs.ui.activity_history import FILE_NAME, MB, ActivityHistory
from tui_pacs.ui.backend import Backend
from tui_pacs.ui.commands import PacsCommands, PaletteEntry
from tui_pacs.ui.failures import FaultReports, report_failure
from tui_pacs.ui.fault_guard import GuardedApp
from tui_pacs.ui.graphics import load_graphics
from tui_pacs.ui.log_handler import AppLogHandler
from tui_pacs.ui.messages import (
    InstanceStored,
    LogArrived,
    NodeEventArrived,
    TransferProgressed,
)
from tui_pacs.ui.screens.activity import ActivityScreen
from tui_pacs.ui.screens.base import PacsScreen
from tui_pacs.ui.screens.help import HelpScreen
from tui_pacs.ui.screens.query import QueryScreen
from tui_pacs.ui.screens.remotes import RemotesScreen
from tui_pacs.ui.screens.studies import StudiesScreen
from tui_pacs.ui.themes import DEFAULT_THEME, load_themes
from tui_pacs.ui.transfers import Transfer, Transfers
from tui_pacs.ui.widgets.status_bar import SECTIONS

# New instances are shown at most this often while they pour in.
ARCHIVE_REFRESH_DELAY = 0.5
ACTIVITY_REFRESH_DELAY = 0.25
STATUS_INTERVAL = 1.0
TERMINAL_CHECK_INTERVAL = 5.0


class PacsApp(GuardedApp[int]):
    TITLE = "tui-pacs"
    CSS_PATH: ClassVar = ["styles/app.tcss", "styles/tables.tcss", "styles/tags.tcss",
                          "styles/dialogs.tcss"]
    COMMANDS = App.COMMANDS | {PacsCommands}

    BINDINGS: ClassVar = [
        Binding("ctrl+q", "quit", "Quit", priority=True, show=False),
        Binding("question_mark", "help", "Help"),
        Binding("ctrl+x", "cancel_transfers", "Cancel transfers"),
        Binding("L", "listen_again", "Listen again"),
        *[Binding(key, f"section('{section}')", title, show=False)
          for key, section, title in SECTIONS],
    ]

    MODES: ClassVar = {
        "local": StudiesScreen,
        "query": QueryScreen,
        "remotes": RemotesScreen,
        "activity": ActivityScreen,
    }

    # The same report `tui-pacs status` prints (backend.status), refreshed each second.
    status: reactive[StatusReport | None] = reactive(None)
    # Goes up each time the archive's content changed (debounced).
    archive_generation: reactive[int] = reactive(0)
    # Goes up when rows were added to the activity log (debounced).
    activity_generation: reactive[int] = reactive(0)
    # Go up when a transfer starts or ends, and when one moves on.
    transfers_started: reactive[int] = reactive(0)
    transfers_progress: reactive[int] = reactive(0)
    # Goes up when the settings changed (a modality added, edited or deleted).
    settings_generation: reactive[int] = reactive(0)

    def __init__(self, settings: Settings, *, listen: bool = True,
                 clock: Callable[[], datetime] = datetime.now,
                 image_protocol: Protocol = Protocol.HALFBLOCK) -> None:
        super().__init__()
        self.settings = settings
        # How the preview draws pictures (None: half blocks); the terminal was
        # asked before the app started, as it cannot be once the app runs.
        self.graphics = load_graphics(image_protocol, self)
        self.backend = Backend(settings, listen=listen)
        self.clock = clock
        self.activity = ActivityLog()
        # Activity kept across restarts, beside the archive it describes.
        self.history = ActivityHistory(settings.node.data / FILE_NAME,
                                       settings.activity.keep_days,
                                       settings.activity.max_mb * MB, clock)
        self.transfers = Transfers()
        self._refresh_timer: Timer | None = None
        self._activity_timer: Timer | None = None
        self._log_handler = AppLogHandler(self)
        self.fault_reports = FaultReports()
        # Faults are contained from the end of on_mount to the start of on_unmount.
        self._serving = False
        self._leaving = False
        self._theme_problems = self._register_themes()
        # Config writes run in threads; each reads the file the last one wrote.
        self._config_lock = threading.Lock()

    # --- themes ----------------------------------------------------------------

    def _register_themes(self) -> list[str]:
        loaded = load_themes(paths.user_theme_dir(self.settings.path))
        for theme in loaded.themes.values():
            self.register_theme(theme)
        problems = list(loaded.problems)
        wanted = self.settings.ui.theme
        if wanted in self.available_themes:
            self.theme = wanted
        else:
            problems.append(f"theme {wanted!r} not found; using {DEFAULT_THEME}")
            self.theme = DEFAULT_THEME
        return problems

    def _theme_changed(self, theme: Theme) -> None:
        if theme.name != self.settings.ui.theme:
            self._save_config(partial(config_writer.set_theme, self.settings.path, theme.name),
                              "The theme")

    @work(thread=True, group="config", exit_on_error=False)
    def _save_config(self, change: Callable[[], Settings], what: str) -> None:
        """Write a choice of ``[ui]`` to the config file (in a thread: file I/O), one at
        a time. Only ``[ui]`` is taken from the file: the modalities and the node may
        come from flags and tests, not from the file."""
        try:
            with self._config_lock:
                written = change()
        except ConfigError as exc:
            self.call_from_thread(self.notify, f"{what} was not saved: {exc}",
                                  severity="error")
            return
        self.call_from_thread(self._ui_saved, written.ui)

    def _ui_saved(self, ui: UIConfig) -> None:
        self.apply_settings(dataclasses.replace(self.settings, ui=ui))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_failure(self, event.worker)

    # --- start and stop ------------------------------------------------------------

    async def on_mount(self) -> None:
        self.activity.add_loaded(await asyncio.to_thread(self.history.load))
        self.activity.keep = self.history.add
        logging.getLogger().addHandler(self._log_handler)
        try:
            await self.backend.start(self._node_event)
        except ArchiveError as exc:
            self.exit(return_code=1, message=printable(f"tui-pacs: {exc}"))
            return
        for problem in self._theme_problems:
            self.notify(problem, severity="warning")
        status = self.backend.node_status
        if status is not None and status.listen_error:
            self.notify(f"{status.listen_error}. Press L to listen again.",
                        title="Not listening", severity="error", timeout=10)
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        self.backend.archive.add_listener(self._instance_stored)
        self.refresh_status()
        self.set_interval(STATUS_INTERVAL, self.show_status)
        self._watch_terminal()
        await self.switch_mode("local")
        self._serving = True

    def contain_fault(self, error: BaseException, where: str) -> bool:
        """Log and show every fault; keep running unless still starting or leaving."""
        self.fault_reports.report(self, where, error)
        return self._serving

    async def on_unmount(self) -> None:
        self._serving = False
        await self.backend.stop()
        logging.getLogger().removeHandler(self._log_handler)
        await asyncio.to_thread(self.history.close)

    def _watch_terminal(self) -> None:
        """Leave cleanly on SIGTERM or SIGINT, and when the terminal goes away (a
        dropped SSH session)."""
        if self.is_headless:
            return
        assert self._loop is not None  # set while the app runs
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._loop.add_signal_handler(sig, self.leave)
        self._loop.add_signal_handler(signal.SIGHUP, self._terminal_gone)
        self.set_interval(TERMINAL_CHECK_INTERVAL, self._check_terminal)

    def _check_terminal(self) -> None:
        assert sys.__stdin__ is not None  # the app reads its keys from it
        if not os.isatty(sys.__stdin__.fileno()):
            self._terminal_gone()

    def _terminal_gone(self) -> None:
        self.run_worker(self._leave_without_terminal, group="leave-now", exclusive=True)  # type: ignore[arg-type]  # textual infers no result type from a coroutine function

    async def _leave_without_terminal(self) -> None:
        """Stop the node and close the archive, then end the process at once.

        Textual's own shutdown would write to the vanished terminal, and wait
        for those writes forever.
        """
        try:
            await self.backend.stop()
            await asyncio.to_thread(self.history.close)
        finally:
            logging.shutdown()
            os._exit(0)

    @work(group="listen", exclusive=True, exit_on_error=False)
    async def action_listen_again(self) -> None:
        """L: bind the port again (it was busy at start), without a restart."""
        node = self.backend.node
        if node is None:
            self.notify("The app was started without its DICOM server (--no-listen).",
                        timeout=5)
            return
        if await node.listen_again():
            self.notify(f"Listening on port {node.status.port}.", timeout=5)
        else:
            self.notify(f"{node.status.listen_error}. Press L to try again.",
                        title="Still not listening", severity="error", timeout=10)
        self.show_status()
        self.refresh_bindings()

    # --- quitting ------------------------------------------------------------------------

    async def action_quit(self) -> None:
        """ctrl+q: asks first when associations or transfers are running (quitting.py)."""
        if self._leaving:
            self.leave()
            return
        if isinstance(self.screen, quitting.QuitDialog):
            return
        running = quitting.running_work(self.backend, self.transfers)
        if not running:
            self.leave()
            return
        self.push_screen(quitting.QuitDialog(running),
                         lambda confirmed: self.leave() if confirmed else None)

    def leave(self) -> None:
        """Stop the node as SIGTERM stops ``tui-pacs serve``, then exit; asked again
        while stopping, abort busy associations at once (as a second signal does)."""
        if self._leaving:
            self.backend.hurry_stop()
            self.notify("Aborting the associations still busy.", severity="warning")
            return
        self._leaving = True
        self.run_worker(self._stop_and_exit, group="leave", exit_on_error=False)  # type: ignore[arg-type]  # textual infers no result type from a coroutine function

    async def _stop_and_exit(self) -> None:
        self.workers.cancel_group(self, "transfers")
        busy = len(self.backend.node.active_peers()) if self.backend.node else 0
        if busy:
            self.notify(f"Stopping: {plural(busy, 'association')} finishing the operation in "
                        "progress. ctrl+q again aborts them.", timeout=60)
        try:
            await self.backend.stop()
        finally:
            self.exit()

    # --- sections and screens ---------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "section":
            return parameters[0] in self.MODES
        if action == "cancel_transfers":
            return bool(self.transfers.running)
        if action == "listen_again":
            status = self.backend.node_status
            return status is not None and not status.listening and not self._leaving
        return True

    async def action_section(self, section: str) -> None:
        if section in self.MODES and section != self.current_mode:
            await self.switch_mode(section)

    async def query_modality(self, name: str) -> None:
        """Open the query screen with ``name`` chosen, and ask it what the form says."""
        await self.switch_mode("query")
        query = self.screen_stack[0]
        if isinstance(query, QueryScreen):
            while self.screen is not query:
                await self.pop_screen()
            query.choose(name)
            query.action_search()
            query.table.focus()

    def remember_remote(self, name: str) -> None:
        """The remote last queried is chosen again next time, after a restart too."""
        if name != self.settings.ui.last_remote:
            self._save_config(partial(config_writer.set_last_remote, self.settings.path, name),
                              "The remote modality last used")

    def action_help(self) -> None:
        if isinstance(self.screen, PacsScreen):
            self.push_screen(HelpScreen(self.screen))

    def palette_entries(self) -> Iterator[PaletteEntry]:
        """The commands of every screen, which the README promises: go to a section,
        echo or query a modality, retrieve, send, theme, listen again."""
        for key, section, title in SECTIONS:
            if section in self.MODES:
                yield PaletteEntry(f"Go to {title}", f"key: {key}",
                                   partial(self.run_action, f"section('{section}')"))
        for modality in self.settings.modalities:
            described = f"{modality.aet} at {modality.host}:{modality.port}"
            yield PaletteEntry(f"Echo {modality.name}", described,
                               partial(self.echo_modality, modality.name))
            yield PaletteEntry(f"Query {modality.name}", f"ask {described}",
                               partial(self.query_modality, modality.name))
        yield PaletteEntry("Retrieve from a remote", "on Query: find, then m (C-MOVE) or "
                           "g (C-GET)", partial(self.run_action, "section('query')"))
        yield PaletteEntry("Send to a remote", "on Local: choose, then s",
                           partial(self.run_action, "section('local')"))
        yield PaletteEntry("Theme", "choose the colours (saved in the config file)",
                           self.action_change_theme)
        yield PaletteEntry("Listen again", "bind the DICOM port again (key L when it was "
                           "busy)", self.action_listen_again)

    def get_system_commands(self, screen: Screen) -> Iterator[SystemCommand]:
        """Textual's generic commands, without the one the app has as its own (Theme)."""
        for command in super().get_system_commands(screen):
            if command.title != "Theme":
                yield command

    async def echo_modality(self, name: str) -> None:
        """Open Remotes and echo ``name`` (its outcome shows in the list)."""
        await self.switch_mode("remotes")
        remotes = self.screen_stack[0]
        modality = self.settings.modality(name)
        if isinstance(remotes, RemotesScreen) and modality is not None:
            while self.screen is not remotes:
                await self.pop_screen()
            remotes.echo(modality)

    def today(self) -> date:
        return self.clock().date()

    # --- activity ------------------------------------------------------------------------

    def on_log_arrived(self, message: LogArrived) -> None:
        self.activity.add_log(message.created, message.level, message.logger, message.text,
                              message.association)
        self.activity_changed()

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """Every notification of the app, its whole text also kept in the
        activity log. What it quotes (a patient's name, a peer's error
        comment) shows its control characters, and brackets are text, not markup."""
        message, title = printable(message, keep="\n"), printable(title)
        self.activity.add_notice(self.clock(), title, message, severity)
        self.activity_changed()
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def activity_changed(self) -> None:
        if self._activity_timer is None:
            self._activity_timer = self.set_timer(ACTIVITY_REFRESH_DELAY, self._activity_settled)

    def _activity_settled(self) -> None:
        self._activity_timer = None
        self.activity_generation += 1

    # --- settings --------------------------------------------------------------------------

    def apply_settings(self, settings: Settings) -> None:
        """Settings written to the config file (modalities): used from now on."""
        self.settings = settings
        self.backend.apply_settings(settings)
        self.settings_generation += 1

    # --- transfers -----------------------------------------------------------------------

    def start_retrieve(self, target: Target, service: str, level: Level,
                       keys: dict[str, str], what: str) -> None:
        """C-MOVE or C-GET into the archive, in the background."""
        transfer = self._start_transfer(service, what, target)
        self._run_transfer(transfer, transfer_jobs.retrieve(self, transfer, target, level,
                                                            keys))

    def start_send(self, target: Target, level: Level, keys: dict[str, str],
                   what: str) -> None:
        """C-STORE an archived patient, study or series (named by ``keys``), in
        the background."""
        transfer = self._start_transfer("C-STORE", what, target)
        self._run_transfer(transfer, transfer_jobs.send(self, transfer, target, level, keys))

    def start_export(self, selections: list[Selection], what: str, destination: Path,
                     options: ExportOptions) -> None:
        """Write archived instances to a directory or a zip file, in the background."""
        transfer = self.transfers.start("Export", what, str(destination), self.clock())
        self._run_transfer(transfer, transfer_jobs.export(self, transfer, selections,
                                                          destination, options))

    def _start_transfer(self, service: str, what: str, target: Target) -> Transfer:
        return self.transfers.start(service, what, target.name or target.aet, self.clock())

    def _run_transfer(self, transfer: Transfer, job) -> None:
        self.transfers_started += 1
        self.run_worker(self._transfer(transfer, job), group="transfers",
                        exit_on_error=False)

    async def _transfer(self, transfer: Transfer, job) -> None:
        try:
            await transfer_jobs.run(self, transfer, job)
        finally:
            self.transfers.finish(transfer)
            self.transfers_started += 1

    def on_transfer_progressed(self, message: TransferProgressed) -> None:
        if self.transfers.progress(message.number, message.done, message.total,
                                   message.failed):
            self.transfers_progress += 1

    def action_cancel_transfers(self) -> None:
        self.workers.cancel_group(self, "transfers")

    # --- the archive changed ------------------------------------------------------------

    def _instance_stored(self, result: StoreResult) -> None:
        # Called outside the app's context (see messages.py): a message brings it in.
        self.post_message(InstanceStored())

    def on_instance_stored(self, message: InstanceStored) -> None:
        self.archive_changed()

    def archive_changed(self) -> None:
        """Something was stored or deleted: refresh lists and counts, soon and once."""
        if self._refresh_timer is None:
            self._refresh_timer = self.set_timer(ARCHIVE_REFRESH_DELAY, self._archive_settled)

    def _archive_settled(self) -> None:
        self._refresh_timer = None
        self.archive_generation += 1
        self.refresh_status()

    @work(group="status", exclusive=True, exit_on_error=False)
    async def refresh_status(self) -> None:
        """Count the archive again for the status line (it changed)."""
        await self.backend.status.refresh()
        self.show_status()

    def show_status(self) -> None:
        self.status = self.backend.status.snapshot()

    # --- the node's events --------------------------------------------------------------

    def _node_event(self, event: NodeEvent) -> None:
        """From the node: associations and operations go to the activity log."""
        if isinstance(event, (AssociationEvent, OperationEvent)):
            self.post_message(NodeEventArrived(event))
        # Stored instances reach the lists through the archive's listener.

    def on_node_event_arrived(self, message: NodeEventArrived) -> None:
        notice = self.activity.add_event(message.event)
        if notice is not None:
            self.notify(notice.message, title=notice.title, severity=notice.severity)
        self.activity_changed()
        if isinstance(message.event, AssociationEvent):
            self.show_status()  # the count of associations; bytes wait for the next second
