"""``tui-pacs status``: is the node on this data directory healthy? Asked, not guessed.

The running node answers on its status socket
(:mod:`tui_pacs.services.status_socket`) with the report the app's top line
shows too; this command prints it for a person (80 columns) or as JSON, and
sums it up in its exit status, for monitoring scripts.
"""

from __future__ import annotations

import argparse
import textwrap
from datetime import datetime
from typing import Any

from tui_pacs.cli.context import EXIT_FAILED, CliError, print_json, say
from tui_pacs.config import Settings
from tui_pacs.core.node_report import LoggedProblem, StatusReport
from tui_pacs.core.readable import byte_size, plural
from tui_pacs.core.text import printable

EXIT_NO_NODE = 3
WIDTH = 80
LABEL = 14
# Problems logged that the human output shows (the JSON has them all).
SHOWN_ERRORS = 5


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = commands.add_parser(
        "status", parents=[common], help="ask the running node how it is",
        description="Ask the node running on the data directory (tui-pacs serve, or the "
                    "app) for its state: where it listens, uptime, associations, what "
                    "arrived today, the archive, disk space against the reserve, the "
                    "last problems logged and each service's figures. Exit status 0 "
                    "when healthy, 1 when something needs attention (listed), 3 when no "
                    "node runs on that data directory.")
    p.add_argument("--json", action="store_true",
                   help="the report as JSON (its keys are described in the README)")
    p.set_defaults(func=run_status)


def run_status(args: argparse.Namespace, settings: Settings) -> int:
    from tui_pacs.services.status_socket import NoNode, StatusSocketError, ask

    try:
        answer = ask(settings.node.data, "status")
    except NoNode as exc:
        raise CliError(str(exc), EXIT_NO_NODE) from None
    except StatusSocketError as exc:
        raise CliError(str(exc)) from None
    try:
        report = StatusReport.from_json(answer)
    except (KeyError, TypeError, ValueError) as exc:
        raise CliError(f"the node's answer is not a status report this version reads "
                       f"({type(exc).__name__}: {exc})") from None
    if args.json:
        print_json(answer)
    else:
        for line in report_lines(report):
            say(line)
    return 0 if report.healthy else EXIT_FAILED


def report_lines(report: StatusReport) -> list[str]:
    """The report for a person, each line at most 80 columns."""
    lines = [_fit(f"{report.aet}: {'healthy' if report.healthy else 'needs attention'}")]

    def row(label: str, value: str) -> None:
        lines.append(_fit(f"{label:<{LABEL}}{value}"))

    row("data", _middle(report.data_dir, WIDTH - LABEL))

    if report.listening:
        row("listening", ", ".join(str(address) for address in report.listening))
    elif report.dicom_server:
        row("listening", f"no: {report.listen_error}" if report.listen_error else "no")
    since = f" (since {report.started:%Y-%m-%d %H:%M})" if report.started else ""
    row("up", f"{_uptime(report.uptime)}{since}, pid {report.pid}")
    row("associations", f"{report.associations_now:,} now, "
                        f"{report.associations_since_start:,} since start")
    if report.today is not None:
        row("today", f"{plural(report.today.instances, 'instance')}, "
                     f"{byte_size(report.today.bytes)} received")
    if report.archive is not None:
        archive = report.archive
        row("archive", f"{plural(archive.studies, 'study', 'studies')}, "
                       f"{plural(archive.instances, 'instance')}, {byte_size(archive.bytes)}")
    if report.disk is not None:
        disk = report.disk
        row("disk", f"{byte_size(disk.free)} free, {byte_size(disk.used)} used of "
                    f"{byte_size(disk.total)}, reserve {byte_size(disk.reserve)}")
    for name, data in report.sections.items():
        values = _section_values(data)
        if not values:
            continue  # nothing set up (no retention limits, no forwarding)
        row(name, values[0])
        lines.extend(_fit(" " * LABEL + value) for value in values[1:])
    errors = report.last_errors[-SHOWN_ERRORS:]
    row("last problems", "none" if not errors else _problem(errors[-1], report.time))
    lines.extend(_fit(" " * LABEL + _problem(p, report.time)) for p in reversed(errors[:-1]))
    if report.attention:
        lines.append("needs attention:")
        for line in report.attention:
            lines += textwrap.wrap(printable(line), WIDTH, initial_indent="  - ",
                                   subsequent_indent="    ", break_on_hyphens=False)
    return lines


def _problem(problem: LoggedProblem, now: datetime) -> str:
    when = (f"{problem.time:%H:%M:%S}" if problem.time.date() == now.date()
            else f"{problem.time:%Y-%m-%d %H:%M}")
    return f"{when} {problem.level} {problem.message}"


def _section_values(data: dict[str, Any]) -> list[str]:
    """A service's figures, one line per key: ``key value`` (a table: ``key: k v, ...``)."""
    lines = []
    for key, value in data.items():
        if isinstance(value, dict):
            inner = ", ".join(f"{k} {_scalar(v)}" for k, v in value.items())
            lines.append(f"{key}: {inner}" if inner else f"{key}: none")
        else:
            lines.append(f"{key} {_scalar(value)}")
    return lines


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list):
        return ", ".join(_scalar(item) for item in value) or "none"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} {_scalar(v)}" for k, v in value.items()) + "}"
    return str(value)


def _uptime(seconds: float) -> str:
    minutes = int(seconds // 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min"
    return f"{seconds:.0f} s"


def _middle(text: str, width: int) -> str:
    """A path that fits ``width``, its middle left out: both ends say the most."""
    text = printable(text)
    if len(text) <= width:
        return text
    half = (width - 1) // 2
    return text[:half] + "…" + text[len(text) - (width - 1 - half):]


def _fit(text: str) -> str:
    """One line of at most WIDTH columns: what a peer or a file put in a value
    shows its control characters, and a long line ends in an ellipsis."""
    text = printable(text)
    return text if len(text) <= WIDTH else text[:WIDTH - 1] + "…"
