"""Remote modalities: the configured nodes, echoed one by one or all at once.

Added, edited and deleted here, they are written back to the config file
(comments kept) and used at once by the client and the node's access rules.
The doctor runs the whole query/retrieve checklist against one of them; the
probe shows which SOP classes it accepts in which transfer syntaxes.
"""

from __future__ import annotations

from contextlib import aclosing
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.widgets import Static

from tui_pacs import config_writer
from tui_pacs.config import ConfigError, Modality, Settings
from tui_pacs.core.capabilities import ProbeReport, matrix_lines, summary_lines
from tui_pacs.core.readable import plural
from tui_pacs.core.remote import Check, CheckState, EchoReport
from tui_pacs.core.target import Target
from tui_pacs.core.text import printable
from tui_pacs.ui.dialogs.confirm import ConfirmDialog
from tui_pacs.ui.dialogs.modality_form import ModalityForm
from tui_pacs.ui.dialogs.report import ReportDialog
from tui_pacs.ui.rows import ListSource, Row
from tui_pacs.ui.screens.base import PacsScreen
from tui_pacs.ui.widgets.footer import PacsFooter
from tui_pacs.ui.widgets.status_bar import StatusBar
from tui_pacs.ui.widgets.transfers_view import TransfersView
from tui_pacs.ui.widgets.virtual_table import Column, VirtualTable


@dataclass(frozen=True)
class EchoOutcome:
    """The last echo of a modality, as the list shows it."""

    report: EchoReport | None
    when: datetime

    @property
    def running(self) -> bool:
        return self.report is None

    @property
    def text(self) -> str:
        report = self.report
        if report is None:
            return "echoing…"
        if report.ok:
            return f"ok {_ms(min(e.seconds for e in report.echoes))}"
        if report.diagnosis is not None:
            return report.diagnosis.failure.label
        return "failed"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _when(row: Row) -> str:
    outcome: EchoOutcome | None = row["outcome"]
    return outcome.when.strftime("%H:%M:%S") if outcome and not outcome.running else ""


def _echo(row: Row) -> str:
    outcome: EchoOutcome | None = row["outcome"]
    return outcome.text if outcome else "—"


def _row_class(row: Row) -> str | None:
    outcome: EchoOutcome | None = row["outcome"]
    if outcome is None or outcome.running:
        return "muted" if outcome else None
    return "success" if outcome.report and outcome.report.ok else "error"


REMOTE_COLUMNS = [
    Column("name", 12, label="Name", flex=1),
    Column("aet", 16, label="AE title"),
    Column("host", 15, label="Host", flex=1),
    Column("port", 5, label="Port", justify="right"),
    Column("tls", 3, label="TLS", drop=2),
    Column("echo", 20, label="Last echo", format=_echo),
    Column("when", 8, label="At", drop=1, format=_when),
]


class RemotesScreen(PacsScreen):
    SECTION = "remotes"
    HELP_TITLE = "remote modalities"

    BINDINGS: ClassVar = [
        Binding("e", "echo", "Echo"),
        Binding("E", "echo_all", "Echo all"),
        Binding("c", "doctor", "Checkup"),
        Binding("p", "probe", "Probe"),
        Binding("q", "query", "Query"),
        Binding("n", "add", "New"),
        Binding("m", "edit", "Modify", show=False),
        Binding("d,delete", "delete", "Delete", show=False),
    ]
    FOOTER: ClassVar[tuple[str, ...]] = ("echo", "query", "doctor", "probe", "add")

    def __init__(self) -> None:
        super().__init__()
        self.outcomes: dict[str, EchoOutcome] = {}
        self.rows = ListSource()

    def compose(self) -> ComposeResult:
        yield StatusBar(self.SECTION)
        yield Static("", id="title", classes="title", markup=False)
        yield VirtualTable(REMOTE_COLUMNS, self.rows, key=lambda row: row["name"],
                           row_class=_row_class,
                           empty_text="No remote modalities. Press n to add one.",
                           id="table")
        yield TransfersView()
        yield PacsFooter()

    @property
    def settings(self) -> Settings:
        return self.pacs.settings

    def on_mount(self) -> None:
        self.watch(self.pacs, "settings_generation", self.show_rows, init=False)
        self.table.focus()
        self.show_rows()

    def show_rows(self) -> None:
        self.rows.clear()
        self.rows.extend({"name": m.name, "aet": m.aet, "host": m.host, "port": m.port,
                          "tls": "yes" if m.tls else "", "outcome": self.outcomes.get(m.name),
                          "modality": m}
                         for m in self.settings.modalities)
        self.table.reload(keep_cursor=True)
        count = len(self.settings.modalities)
        self.query_one("#title", Static).update(
            f"{plural(count, 'remote modality', 'remote modalities')}  ·  calling as "
            f"{self.settings.node.aet}")

    def target(self, modality: Modality) -> Target:
        """The modality as the client calls it."""
        return self.backend.client.target(modality.name)

    def selected(self) -> Modality | None:
        row = self.table.cursor_value
        return row["modality"] if row else None

    # --- echo --------------------------------------------------------------------

    def action_echo(self) -> None:
        modality = self.selected()
        if modality is not None:
            self.echo(modality)

    def action_echo_all(self) -> None:
        for modality in self.settings.modalities:
            self.echo(modality)

    def echo(self, modality: Modality) -> None:
        self.outcomes[modality.name] = EchoOutcome(None, self.pacs.clock())
        self.show_rows()
        self.run_worker(partial(self._echo, modality), group=f"echo-{modality.name}",  # type: ignore[arg-type]  # textual infers no result type from a coroutine function
                        exclusive=True, exit_on_error=False)

    async def _echo(self, modality: Modality) -> None:
        started = self.pacs.clock()
        report = await self.backend.client.echo(self.target(modality))
        self.outcomes[modality.name] = EchoOutcome(report, self.pacs.clock())
        self.show_rows()
        seconds = min((e.seconds for e in report.echoes), default=None)
        self._record(started, "C-ECHO", modality, report.ok, seconds, echo_lines(report))
        if not report.ok:
            self.notify(f"Echo {modality.name}: {self.outcomes[modality.name].text}. "
                        "Enter shows why.", severity="error", timeout=5)

    @on(VirtualTable.Selected)
    def _details(self, event: VirtualTable.Selected) -> None:
        outcome: EchoOutcome | None = event.row["outcome"]
        modality: Modality = event.row["modality"]
        if outcome is None or outcome.report is None:
            self.notify(f"Press e to echo {modality.name}.", timeout=3)
            return
        self.app.push_screen(ReportDialog(f"Echo {self.target(modality)}",
                                          echo_lines(outcome.report)))

    # --- doctor -------------------------------------------------------------------

    def action_doctor(self) -> None:
        modality = self.selected()
        if modality is None:
            return
        dialog = ReportDialog(f"Checkup of {self.target(modality)}, calling as "
                              f"{self.settings.node.aet}")
        self.app.push_screen(dialog)
        dialog.run_worker(partial(self._doctor, modality, dialog), group="doctor", exclusive=True,  # type: ignore[arg-type]  # textual infers no result type from a coroutine function
                          exit_on_error=False)

    async def _doctor(self, modality: Modality, dialog: ReportDialog) -> None:
        started = self.pacs.clock()
        failed = False
        try:
            async with aclosing(self.backend.client.doctor(self.target(modality))) as checks:
                async for check in checks:
                    failed = failed or check.state is CheckState.FAIL
                    for line in check_lines(check):
                        dialog.add(line)
        finally:
            # Also a checkup cut short by closing its dialog: what it found so far.
            self._record(started, "checkup", modality, not failed, None, dialog.lines)

    # --- probe ---------------------------------------------------------------------

    def action_probe(self) -> None:
        modality = self.selected()
        if modality is None:
            return
        dialog = ReportDialog(f"Probe of {self.target(modality)}, calling as "
                              f"{self.settings.node.aet}", [Content("probing…")], wide=True)
        self.app.push_screen(dialog)
        dialog.run_worker(partial(self._probe, modality, dialog), group="probe", exclusive=True,  # type: ignore[arg-type]  # textual infers no result type from a coroutine function
                          exit_on_error=False)

    async def _probe(self, modality: Modality, dialog: ReportDialog) -> None:
        started = self.pacs.clock()
        report = await self.backend.client.probe(self.target(modality))
        # The dialog's border and padding take four columns, its scroll bar two.
        dialog.set_lines(probe_lines(report, self.app.size.width - 6))
        self._record(started, "probe", modality, report.diagnosis is None, report.seconds,
                     dialog.lines)

    def _record(self, started: datetime, service: str, modality: Modality, ok: bool,
                seconds: float | None, lines: list[Content]) -> None:
        """An echo or a checkup, kept in Activity with its whole report."""
        self.pacs.activity.add_transfer(
            started, service, modality.name, "", "ok" if ok else "fail", seconds,
            "\n".join(line.plain for line in lines), "success" if ok else "error")
        self.pacs.activity_changed()

    # --- elsewhere -------------------------------------------------------------------

    def action_query(self) -> None:
        modality = self.selected()
        if modality is not None:
            self.app.call_later(self.pacs.query_modality, modality.name)

    # --- add, edit, delete ---------------------------------------------------------------

    def action_add(self) -> None:
        taken = {m.name for m in self.settings.modalities}
        self.app.push_screen(ModalityForm(taken=taken), self._added)

    def _added(self, modality: Modality | None) -> None:
        if modality is not None:
            self._write(partial(config_writer.add_modality, self.settings.path, modality),
                        f"Added {modality.name} to {self.settings.path}.")

    def action_edit(self) -> None:
        modality = self.selected()
        if modality is None:
            return
        taken = {m.name for m in self.settings.modalities} - {modality.name}
        self.app.push_screen(ModalityForm(modality, taken),
                             partial(self._edited, modality.name))

    def _edited(self, old_name: str, modality: Modality | None) -> None:
        if modality is not None and modality != self.settings.modality(old_name):
            self.outcomes.pop(old_name, None)
            self._write(partial(config_writer.update_modality, self.settings.path, old_name,
                                modality), f"Saved {modality.name} in {self.settings.path}.")

    def action_delete(self) -> None:
        modality = self.selected()
        if modality is None:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.outcomes.pop(modality.name, None)
                self._write(partial(config_writer.remove_modality, self.settings.path,
                                    modality.name),
                            f"Deleted {modality.name} from {self.settings.path}.")

        self.app.push_screen(ConfirmDialog(
            f"Delete {modality.name}?",
            f"{self.target(modality)} is removed from {self.settings.path}.", yes="Delete",
            danger=True), answered)

    @work(thread=True, group="config", exclusive=True, exit_on_error=False)
    def _write(self, change, done: str) -> None:
        try:
            settings = change()
        except ConfigError as exc:
            self.app.call_from_thread(self.notify, f"Not saved: {exc}", severity="error")
            return
        self.app.call_from_thread(self._written, settings, done)

    def _written(self, settings: Settings, done: str) -> None:
        self.pacs.apply_settings(settings)
        self.show_rows()
        self.notify(done, timeout=3)


def echo_lines(report: EchoReport) -> list[Content]:
    """An echo report as the details dialog shows it."""
    lines = [Content(printable(f"C-ECHO {report.calling_aet} → {report.target}"))]
    connection = report.connection
    if connection is not None:
        # The implementation name is whatever the remote chose to send.
        lines.append(Content(printable(
            f"connected to {connection.address} in {_ms(connection.connect_seconds)}, "
            f"association accepted in {_ms(connection.associate_seconds)} "
            f"({connection.remote_implementation or 'unnamed'}, max PDU "
            f"{connection.remote_max_pdu or 'unlimited'})")))
    for number, echo in enumerate(report.echoes, start=1):
        outcome = "success" if echo.ok else (
            f"status 0x{echo.status:04X}" if echo.status is not None else "no response")
        lines.append(Content(f"echo {number}: {outcome} in {_ms(echo.seconds)}"))
    if report.diagnosis is not None:
        lines.append(Content.from_markup("[$text-error]✗ $summary[/]",
                                         summary=printable(report.diagnosis.summary)))
        lines.extend(Content(printable(f"  {advice}")) for advice in report.diagnosis.advice)
    return lines


_STATE_MARKUP = {
    CheckState.OK: "[$text-success]OK  [/]",
    CheckState.FAIL: "[$text-error]FAIL[/]",
    CheckState.SKIPPED: "[$text-muted]SKIP[/]",
}


def check_lines(check: Check) -> list[Content]:
    """One doctor check: its state, name and detail, then its advice."""
    head = Content.from_markup(f"{_STATE_MARKUP[check.state]} [b]$name[/b]  $detail",
                               name=check.name, detail=printable(check.detail))
    return [head, *(Content(printable(f"      {line}")) for line in (*check.facts,
                                                                      *check.advice))]


def probe_lines(report: ProbeReport, width: int) -> list[Content]:
    """A probe report as its dialog shows it: the remote's TLS, what it said of
    itself, the matrix, or why the probe stopped."""
    lines = [Content(printable(line)) for line in (
        *(report.tls.lines(datetime.now(UTC)) if report.tls else ()),
        *((*summary_lines(report), "", *matrix_lines(report, width=width))
          if report.classes else ()))]
    if report.diagnosis is not None:
        lines.append(Content.from_markup("[$text-error]✗ $summary[/]",
                                         summary=printable(report.diagnosis.summary)))
        lines.extend(Content(printable(f"  {advice}")) for advice in report.diagnosis.advice)
    return lines

