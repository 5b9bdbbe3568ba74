"""Commands that talk to remote nodes: echo, find, worklist, move, get, send, commit,
doctor, probe.

A failure to reach the remote prints what failed and what to change on which
side, and exits with the status of its class (see README, "Exit statuses").
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import AsyncExitStack, aclosing, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui_pacs.cli.archive_commands import add_key_option, add_level_option, open_archive
from tui_pacs.cli.context import (
    EXIT_FAILED,
    EXIT_USAGE,
    CliError,
    loading_without_collection,
    print_json,
    run_async,
    say,
    say_columns,
    stderr_is_terminal,
    without_pixel_libraries,
)
from tui_pacs.config import Settings
from tui_pacs.core.aetitle import ae_title_problem
from tui_pacs.core.model import DEFAULT_COLUMNS, LABELS, Level, display_value

if TYPE_CHECKING:
    from tui_pacs.core.commitment import CommitReport, Reference
    from tui_pacs.core.remote import Diagnosis, RetrieveReport
    from tui_pacs.core.target import Target
    from tui_pacs.services.client import RemoteClient

# What send and commit can take from the archive instead of files: option,
# metavar, help.
ARCHIVED_OPTIONS = {
    Level.PATIENT: ("--patient", "ID", "the archived patient(s) with this ID"),
    Level.STUDY: ("--study", "UID", "an archived study"),
    Level.SERIES: ("--series", "UID", "an archived series"),
}
SEND_LEVELS = (Level.PATIENT, Level.STUDY, Level.SERIES)
COMMIT_LEVELS = (Level.STUDY, Level.SERIES)


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    remote = argparse.ArgumentParser(add_help=False)
    remote.add_argument("target", metavar="TARGET",
                        help="a configured modality's name, or AET@host:port")
    remote.add_argument("--aet", type=_ae_title, metavar="AET",
                        help="calling AE title (default: the node's, [node] aet)")
    remote.add_argument("--timeout", type=_seconds, metavar="S",
                        help="seconds to wait for the connection and each response "
                             "(default: [limits] in the config)")

    p = commands.add_parser("echo", parents=[common, remote], help="check that a node answers",
                            description="Send C-ECHO requests and time each round trip. On "
                                        "failure, say which step failed (name resolution, "
                                        "TCP, association, service) and what to check.")
    p.add_argument("-c", "--count", type=_positive, default=1, metavar="N",
                   help="C-ECHOs to send over the association (default: 1)")
    p.set_defaults(func=run_echo)

    p = commands.add_parser("find", parents=[common, remote], help="query a node (C-FIND)",
                            description="Query a remote node. Keys match as in `ls`: "
                                        "wildcards * and ?, date ranges A-B, UID lists; "
                                        "-k Keyword alone asks for that attribute back.")
    add_level_option(p, default=Level.STUDY)
    _add_model_option(p)
    add_key_option(p)
    _add_match_options(p, "matches")
    p.set_defaults(func=run_find)

    p = commands.add_parser("worklist", parents=[common, remote],
                            help="scheduled procedure steps (modality worklist C-FIND)",
                            description="Ask a worklist server (a RIS) for its scheduled "
                                        "procedure steps, as a modality does. Keys match as "
                                        "in find; those of the step (Modality, "
                                        "ScheduledStationAETitle, ...) are matched inside its "
                                        "sequence item.")
    add_key_option(p)
    p.add_argument("--station", metavar="AET",
                   help="the scheduled station's AE title")
    p.add_argument("--modality", metavar="CODE", help="the scheduled modality, e.g. CT")
    p.add_argument("--date", metavar="today|RANGE",
                   help="the step's start date: today, yesterday, 7d, 20240115, "
                        "2024-01-01..2024-01-31 or 20240101-")
    _add_match_options(p, "steps")
    p.set_defaults(func=run_worklist)

    p = commands.add_parser("move", parents=[common, remote],
                            help="retrieve with C-MOVE (into the archive by default)",
                            description="Ask a remote node to send instances to a destination: "
                                        "this node by default, into its archive. When no node "
                                        "is listening on our port, this command listens there "
                                        "for the duration of the move.")
    _add_retrieve_options(p)
    p.add_argument("--dest", type=_ae_title, metavar="AET",
                   help="move destination AE title (default: this node's)")
    p.set_defaults(func=run_move)

    p = commands.add_parser("get", parents=[common, remote],
                            help="retrieve with C-GET into the archive",
                            description="Retrieve instances over the same association "
                                        "(C-GET) and store them in the archive.")
    _add_retrieve_options(p)
    p.set_defaults(func=run_get)

    p = commands.add_parser("send", parents=[common, remote], help="send instances (C-STORE)",
                            description="Send files (directories recursively) or archived "
                                        "instances to a remote node.")
    _add_files_or_archived(p, SEND_LEVELS)
    p.set_defaults(func=run_send)

    p = commands.add_parser("commit", parents=[common, remote],
                            help="ask a node to commit instances (storage commitment)",
                            description="Ask a remote node to vouch that it safely holds "
                                        "instances (Storage Commitment Push Model): those of "
                                        "files (directories recursively) or of an archived "
                                        "study or series. The remote reports on the same "
                                        "association or on one it opens to us; when no node "
                                        "is listening on our port, this command listens "
                                        "there until the report arrives.")
    _add_files_or_archived(p, COMMIT_LEVELS)
    p.add_argument("--wait", type=_seconds, metavar="S",
                   help="seconds to wait for the remote's report (default: [limits] "
                        "dimse_timeout)")
    p.add_argument("--json", action="store_true", help="the outcome as a JSON object")
    p.set_defaults(func=run_commit)

    p = commands.add_parser("doctor", parents=[common, remote],
                            help="check everything a query/retrieve needs",
                            description="Check, in order: name resolution, TCP, the "
                                        "association, C-ECHO, C-FIND, and the reverse path of "
                                        "C-MOVE (one small instance moved here). Each failure "
                                        "says what to change on which side. A modality "
                                        "with tls = true gets a TLS step showing its "
                                        "certificate.")
    p.add_argument("--worklist", action="store_true",
                   help="also query the modality worklist for today's steps")
    p.add_argument("--commit", action="store_true",
                   help="also check storage commitment: that the remote takes it (with "
                        "--commit-instance, a whole commitment)")
    p.add_argument("--commit-instance", metavar="UID",
                   help="the SOP Instance UID of an archived instance the remote holds, "
                        "for a whole storage commitment of it in the --commit step")
    p.set_defaults(func=run_doctor)

    p = commands.add_parser("probe", parents=[common, remote],
                            help="which SOP classes a node accepts in which transfer syntaxes",
                            description="Negotiate every storage SOP class pynetdicom knows, "
                                        "the Q/R models, verification, worklist and storage "
                                        "commitment in each transfer syntax, and print what "
                                        "the remote accepts (no request is sent), with its "
                                        "implementation and maximum PDU; for a modality with "
                                        "tls = true, its certificate.")
    p.add_argument("--json", action="store_true", help="everything found, as JSON")
    p.add_argument("--all", action="store_true", dest="every_class",
                   help="a line for every accepted storage class (default: the common "
                        "ones, the others on one line when they are accepted alike)")
    p.set_defaults(func=run_probe)


def _add_files_or_archived(parser: argparse.ArgumentParser, levels: tuple[Level, ...]) -> None:
    """Files and directories, or one of the archive's patients, studies or series."""
    parser.add_argument("paths", nargs="*", type=Path, metavar="PATH")
    which = parser.add_mutually_exclusive_group()
    for level in levels:
        option, metavar, text = ARCHIVED_OPTIONS[level]
        which.add_argument(option, metavar=metavar, help=text)


def _files_or_archived(args: argparse.Namespace, verb: str, levels: tuple[Level, ...]
                       ) -> list[tuple[Level, str]]:
    """The archived (level, identifier) chosen by :func:`_add_files_or_archived`'s
    options, or none when files were given; a usage error for both or neither."""
    archived = [(level, value) for level in levels
                if (value := getattr(args, ARCHIVED_OPTIONS[level][0][2:])) is not None]
    if bool(archived) == bool(args.paths):
        options = ", ".join(ARCHIVED_OPTIONS[level][0] for level in levels)
        raise CliError(f"say what to {verb}: files and directories, or one of {options}",
                       EXIT_USAGE)
    return archived


def _add_model_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-m", "--model", choices=("patient", "study"),
                        help="Q/R information model (default: patient root for PATIENT "
                             "level, else study root)")


def _add_match_options(parser: argparse.ArgumentParser, noun: str) -> None:
    """How a query's matches are printed (see show_matches), and how many."""
    parser.add_argument("--json", action="store_true",
                        help="JSON array of objects keyed by keyword")
    parser.add_argument("--limit", type=_positive, metavar="N",
                        help=f"stop after N {noun} (the rest is cancelled)")


def _add_retrieve_options(parser: argparse.ArgumentParser) -> None:
    add_key_option(parser)
    parser.add_argument("-l", "--level", type=Level.parse, metavar="patient|study|series|instance",
                        help="retrieve level (default: that of the deepest unique key given)")
    _add_model_option(parser)


def _ae_title(text: str) -> str:
    problem = ae_title_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(f"AE title {text!r} {problem}")
    return text.strip()


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds above 0")
    return value


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number above 0")
    return int(text)


# --- shared ------------------------------------------------------------------------


def _client(settings: Settings, args: argparse.Namespace, archive: Any = None) -> RemoteClient:
    with loading_without_collection():
        from tui_pacs.services.client import RemoteClient

    if not getattr(args, "debug", False):
        # pynetdicom logs each failure as it meets it; the diagnosis says it better.
        logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    return RemoteClient(settings, archive, calling_aet=args.aet)


def _target(client: RemoteClient, text: str) -> Target:
    from tui_pacs.core.target import BadTarget

    try:
        return client.target(text)
    except BadTarget as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def _keys(args: argparse.Namespace) -> dict[str, str]:
    from tui_pacs.core.keys import BadKey, parse_keys

    try:
        return parse_keys(args.keys)
    except BadKey as exc:
        raise CliError(str(exc), EXIT_USAGE) from None


def report_failure(what: str, problem: Diagnosis) -> int:
    """Print what failed and the advice; return the exit status of its class."""
    say(f"tui-pacs: {what}: {problem.summary}", file=sys.stderr)
    for line in problem.advice:
        say(f"  {line}", file=sys.stderr)
    return problem.failure.exit_code


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


# --- echo --------------------------------------------------------------------------


def run_echo(args: argparse.Namespace, settings: Settings) -> int:
    without_pixel_libraries()  # a C-ECHO starts in half the time without them
    client = _client(settings, args)
    target = _target(client, args.target)
    report = run_async(lambda: client.echo(target, args.count, timeout=args.timeout))
    say(f"C-ECHO {report.calling_aet} -> {target}")
    if report.connection is not None:
        c = report.connection
        resolved = f"{c.address}, " if c.address != target.host else ""
        say(f"  {resolved}connected in {_ms(c.connect_seconds)}, association accepted in "
              f"{_ms(c.associate_seconds)} ({c.remote_implementation or 'unnamed'}, "
              f"max PDU {c.remote_max_pdu or 'unlimited'})")
    for number, echo in enumerate(report.echoes, start=1):
        outcome = "success" if echo.ok else (
            f"status 0x{echo.status:04X}" if echo.status is not None else "no response")
        say(f"  echo {number}: {outcome} in {_ms(echo.seconds)}")
    if report.diagnosis is not None:
        return report_failure(f"echo {target.address} failed", report.diagnosis)
    times = [e.seconds for e in report.echoes]
    say(f"{len(times)} of {args.count} succeeded; round trip min/avg/max "
          f"{_ms(min(times))} / {_ms(sum(times) / len(times))} / {_ms(max(times))}")
    return 0


# --- find --------------------------------------------------------------------------


def run_find(args: argparse.Namespace, settings: Settings) -> int:
    from tui_pacs.core.keys import BadKey

    client = _client(settings, args)
    target = _target(client, args.target)
    level: Level = args.level
    keys = _keys(args)
    columns = list(DEFAULT_COLUMNS[level]) + [k for k in keys if k not in DEFAULT_COLUMNS[level]]
    try:
        rows = client.find(target, level, keys, model=args.model, return_keys=tuple(columns),
                           limit=args.limit, timeout=args.timeout)
    except BadKey as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    return show_matches(rows, columns, args, target, "find", level.counted)


def run_worklist(args: argparse.Namespace, settings: Settings) -> int:
    from tui_pacs.core.filters import BadFilter
    from tui_pacs.core.keys import BadKey
    from tui_pacs.core.worklist import WORKLIST_COLUMNS, worklist_keys

    client = _client(settings, args)
    target = _target(client, args.target)
    try:
        keys = worklist_keys(_keys(args), station=args.station, modality=args.modality,
                             when=args.date)
        rows = client.worklist(target, keys, limit=args.limit, timeout=args.timeout)
    except (BadKey, BadFilter) as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    columns = list(WORKLIST_COLUMNS) + [k for k in keys if k not in WORKLIST_COLUMNS]

    def counted(count: int) -> str:
        return f"{count} scheduled procedure step{'' if count == 1 else 's'}"

    return show_matches(rows, columns, args, target, "worklist", counted)


def show_matches(rows_iterator: AsyncGenerator[dict[str, Any], None], columns: list[str],
                 args: argparse.Namespace, target: Target, service: str,
                 counted: Callable[[int], str]) -> int:
    """The matches of a query: streamed tab-separated when piped, a table at the end on
    a terminal, or JSON (``--json``); the count on stderr. Returns the exit status."""
    from tui_pacs.cli.output import ProgressBar, print_rows
    from tui_pacs.core.remote import RemoteFailure

    streaming = not args.json and not sys.stdout.isatty()
    counter = ProgressBar(f"matches from {target.aet}") if stderr_is_terminal() else None
    rows: list[dict[str, Any]] = []
    count = 0

    def header() -> None:
        say_columns((LABELS.get(c, c) for c in columns), flush=True)

    async def collect() -> None:
        nonlocal count
        async with aclosing(rows_iterator) as matches:
            async for row in matches:
                if streaming:
                    if not count:
                        header()
                    say_columns((display_value(c, row.get(c)) for c in columns), flush=True)
                else:
                    rows.append(row)
                count += 1
                if counter:
                    counter.advance()

    started = time.perf_counter()
    failure = None
    try:
        with counter or nullcontext():
            run_async(collect)
    except RemoteFailure as exc:
        failure = exc.diagnosis
    # The matches that came before a failure are still the remote's answers.
    if args.json:
        print_json(rows)
    elif not streaming:
        if rows or failure is None:
            print_rows(rows, columns)
    elif not count and failure is None:
        header()
    if failure is not None:
        return report_failure(f"{service} on {target.address} failed after {count} "
                              "match(es)", failure)
    limited = " (--limit reached)" if args.limit and count >= args.limit else ""
    say(f"{counted(count)} on {target.aet}{limited} in "
        f"{time.perf_counter() - started:.2f} s", file=sys.stderr)
    return 0


# --- move and get ------------------------------------------------------------------


def run_move(args: argparse.Namespace, settings: Settings) -> int:
    return _retrieve(args, settings, "move")


def run_get(args: argparse.Namespace, settings: Settings) -> int:
    return _retrieve(args, settings, "get")


def _retrieve(args: argparse.Namespace, settings: Settings, service: str) -> int:
    from tui_pacs.core.keys import BadKey
    from tui_pacs.core.remote import RemoteFailure, RetrieveProgress

    keys = _keys(args)
    into_archive = service == "get" or (args.dest or settings.node.aet) == settings.node.aet
    from tui_pacs.cli.output import ProgressBar

    bar = ProgressBar("retrieving") if stderr_is_terminal() else None

    def on_progress(progress: RetrieveProgress) -> None:
        done = progress.completed + progress.failed + progress.warning
        note = f"{progress.failed} failed" if progress.failed else ""
        if bar:
            bar.update(done, progress.total, note)

    async def go() -> RetrieveReport:
        async with AsyncExitStack() as stack:
            archive = None
            if into_archive:
                archive = await stack.enter_async_context(open_archive(settings))
            client = _client(settings, args, archive)
            target = _target(client, args.target)
            if service == "move":
                return await client.move(target, keys, level=args.level, model=args.model,
                                         destination=args.dest, timeout=args.timeout,
                                         on_progress=on_progress)
            return await client.get(target, keys, level=args.level, model=args.model,
                                    timeout=args.timeout, on_progress=on_progress)

    try:
        with bar or nullcontext():
            report = run_async(go)
    except BadKey as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    except RemoteFailure as exc:
        return report_failure(f"{service} from {args.target} failed", exc.diagnosis)
    say(retrieve_summary(report))
    for uid in report.failed_instances[:10]:
        say(f"  failed: {uid}", file=sys.stderr)
    if len(report.failed_instances) > 10:
        say(f"  ... and {len(report.failed_instances) - 10} more", file=sys.stderr)
    if report.diagnosis is not None:
        return report_failure(f"{report.service} from {report.target.address}",
                              report.diagnosis)
    return 0 if report.ok else EXIT_FAILED


def retrieve_summary(report: RetrieveReport) -> str:
    counts = (f"{report.completed} completed, {report.failed} failed, "
              f"{report.warning} warning")
    if report.cancelled:
        counts += ", then cancelled"
    if report.received is None:
        arrived = f"received by {report.receiver}"
    else:
        arrived = (f"{report.received} stored here ({report.new} new, {report.duplicates} "
                   f"already held) by {report.receiver}")
        if report.store_failures:
            arrived += f", {report.store_failures} could not be stored"
    return (f"{report.service} from {report.target.aet} to {report.destination}: {counts}; "
            f"{arrived}; {report.seconds:.2f} s")


# --- send --------------------------------------------------------------------------


def run_send(args: argparse.Namespace, settings: Settings) -> int:
    from tui_pacs.core.remote import RemoteFailure, SendProgress, SendReport
    from tui_pacs.services.client import NotInArchive

    archived = _files_or_archived(args, "send", SEND_LEVELS)
    from tui_pacs.cli.output import ProgressBar, say_on_stderr

    bar = ProgressBar("sending", eta=True) if stderr_is_terminal() else None

    def on_progress(progress: SendProgress) -> None:
        if not progress.ok:
            line = f"failed: {progress.source}: {progress.detail}"
            say_on_stderr(line, bar)
        if bar:
            bar.update(progress.done, progress.total)

    async def go() -> SendReport:
        async with AsyncExitStack() as stack:
            archive = None
            if archived:
                archive = await stack.enter_async_context(open_archive(settings,
                                                                       must_exist=True))
            client = _client(settings, args, archive)
            target = _target(client, args.target)
            if archived:
                level, value = archived[0]
                return await client.send_archived(target, level, {level.unique_key: value},
                                                  timeout=args.timeout, on_progress=on_progress)
            return await client.send_files(target, args.paths, timeout=args.timeout,
                                           on_progress=on_progress)

    try:
        with bar or nullcontext():
            report = run_async(go)
    except NotInArchive as exc:
        raise CliError(f"nothing to send: {exc}") from None
    except RemoteFailure as exc:
        return report_failure(f"send to {args.target} failed", exc.diagnosis)
    rate = f" ({report.sent / report.seconds:.0f}/s)" if report.seconds and report.sent else ""
    line = (f"sent {report.sent} of {report.total} instance(s) to {report.target.aet} in "
            f"{report.seconds:.2f} s{rate}; {len(report.failures)} failed")
    if report.warnings:
        line += f", {report.warnings} stored with a warning"
    if report.associations > 1:
        line += f"; {report.associations} associations (more than 128 presentation contexts)"
    say(line)
    if report.decompressed:
        say(f"{report.decompressed} instance(s) were decompressed before sending: the "
              "remote accepts only uncompressed data for them")
    if report.cancelled:
        say("cancelled before the end", file=sys.stderr)
    return 0 if report.ok else EXIT_FAILED


# --- probe -------------------------------------------------------------------------


def run_probe(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime

    from tui_pacs.core.capabilities import matrix_lines, report_json, summary_lines

    client = _client(settings, args)
    target = _target(client, args.target)
    report = run_async(lambda: client.probe(target, timeout=args.timeout))
    if args.json:
        print_json(report_json(report))
    else:
        say(f"probe: {report.calling_aet} -> {target}")
        if report.tls is not None:
            for line in report.tls.lines(datetime.now(UTC)):
                say(f"  {line}")
        if report.classes:
            for line in [*summary_lines(report), "", *matrix_lines(report,
                                                                  every_class=args.every_class)]:
                say(line)
    if report.diagnosis is not None:
        return report_failure(f"probe {target.address} failed", report.diagnosis)
    return 0


# --- commit ------------------------------------------------------------------------


def run_commit(args: argparse.Namespace, settings: Settings) -> int:
    from tui_pacs.cli.commit_output import commit_json, commit_lines
    from tui_pacs.core.remote import RemoteFailure
    from tui_pacs.services.client import NothingToCommit, NotInArchive

    archived = _files_or_archived(args, "commit", COMMIT_LEVELS)

    async def go() -> CommitReport:
        async with open_archive(settings, must_exist=bool(archived)) as archive:
            client = _client(settings, args, archive)
            target = _target(client, args.target)
            if archived:
                level, value = archived[0]
                return await client.commit_archived(target, level, {level.unique_key: value},
                                                    wait=args.wait, timeout=args.timeout)
            return await client.commit_files(target, args.paths, wait=args.wait,
                                             timeout=args.timeout)

    try:
        report = run_async(go)
    except (NotInArchive, NothingToCommit) as exc:
        raise CliError(f"nothing to commit: {exc}") from None
    except RemoteFailure as exc:
        return report_failure(f"commit on {args.target} failed", exc.diagnosis)
    if args.json:
        print_json(commit_json(report))
    else:
        for line in commit_lines(report):
            say(line)
    for failure in report.unreadable:
        say(f"not asked: {failure.source}: {failure.reason}", file=sys.stderr)
    if report.diagnosis is not None:
        return report_failure(f"commit on {report.target.address}", report.diagnosis)
    if report.cancelled:
        say("cancelled before the report came", file=sys.stderr)
    return 0 if report.ok else EXIT_FAILED


# --- doctor ------------------------------------------------------------------------


def run_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from tui_pacs.core.remote import Check, CheckState

    first_failure: list[Check] = []

    async def go() -> None:
        async with open_archive(settings) as archive:
            client = _client(settings, args, archive)
            target = _target(client, args.target)
            commit = await _commit_references(client, args)
            say(f"doctor: {client.calling_aet} -> {target}")
            async with aclosing(client.doctor(target, timeout=args.timeout,
                                              worklist=args.worklist,
                                              commit=commit)) as checks:
                async for check in checks:
                    say(f"  {check.state.value:<8} {check.name:<22} {check.detail}",
                          flush=True)
                    for line in (*check.facts, *check.advice):
                        say(f"  {'':<8} {'':<22} {line}", flush=True)
                    if check.state is CheckState.FAIL and not first_failure:
                        first_failure.append(check)

    run_async(go)
    if not first_failure:
        return 0
    failure = first_failure[0].failure
    return failure.exit_code if failure else EXIT_FAILED


async def _commit_references(client: RemoteClient,
                             args: argparse.Namespace) -> tuple[Reference, ...] | None:
    """What doctor's commitment step asks about: None without --commit, else the
    archived instance --commit-instance names, or nothing (negotiation only)."""
    from tui_pacs.services.client import NotInArchive

    if not args.commit and not args.commit_instance:
        return None
    if not args.commit_instance:
        return ()
    try:
        return await client.archived_references(Level.IMAGE,
                                                 {"SOPInstanceUID": args.commit_instance})
    except NotInArchive as exc:
        raise CliError(f"--commit-instance: {exc}", EXIT_USAGE) from None
