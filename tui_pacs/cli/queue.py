"""``tui-pacs queue``: the forwarding queue per destination; retry or clear failed entries.

Safe while the node runs: the listing reads the index, and ``--retry`` and
``--clear-failed`` are short transactions that wait for the node's writer
(SQLite's busy timeout) instead of racing it; the node sees retried
entries at its next look at the queue, within seconds.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from tui_pacs.cli.context import EXIT_FAILED, EXIT_USAGE, CliError, print_json, run_async, say
from tui_pacs.config import Settings

if TYPE_CHECKING:
    from tui_pacs.store.forward_queue import QueueState

# --retry or --clear-failed without a destination: every destination.
_EVERY = ""


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = commands.add_parser(
        "queue", parents=[common], help="show the forwarding queue, retry or clear failed entries",
        description="List the forwarding queue ([[forward]] in the config file) per destination "
                    "and state: pending entries wait for their next attempt, failed ones "
                    "failed [forwarding] max_attempts times and wait for --retry. Safe while "
                    "the node runs. Exit status 0, or 1 when failed entries are listed.")
    action = p.add_mutually_exclusive_group()
    action.add_argument("--retry", nargs="?", const=_EVERY, metavar="DEST",
                        help="send failed entries (of DEST, a [[modalities]] name, or of every "
                             "destination) again from their first attempt, and waiting ones now")
    action.add_argument("--clear-failed", nargs="?", const=_EVERY, metavar="DEST",
                        help="delete failed entries (of DEST, or of every destination); the "
                             "instances stay in the archive")
    p.add_argument("--json", action="store_true",
                   help="JSON array: one object per destination and state; times in UTC, "
                        "next_attempt null when due now (or, failed, until --retry)")
    p.set_defaults(func=run_queue)


def run_queue(args: argparse.Namespace, settings: Settings) -> int:
    return run_async(lambda: _queue(args, settings))


async def _queue(args: argparse.Namespace, settings: Settings) -> int:
    from tui_pacs.cli.archive_commands import open_archive

    async with open_archive(settings, must_exist=True) as archive:
        queue = archive.forward_queue
        states = await queue.summary()
        if args.retry is not None or args.clear_failed is not None:
            destination = _destination(args.retry if args.retry is not None
                                       else args.clear_failed, settings,
                                       {s.destination for s in states})
            where = f" for {destination}" if destination else ""
            if args.retry is not None:
                again = await queue.retry(destination)
                say(f"{_entries(again, 'failed')} queued again{where}; waiting entries are due "
                    "now")
            else:
                cleared = await queue.clear_failed(destination)
                say(f"{_entries(cleared, 'failed')} deleted{where}")
            return 0
    if args.json:
        print_json([{"destination": s.destination, "state": s.state, "entries": s.entries,
                     "oldest": s.oldest, "next_attempt": s.next_attempt or None,
                     "last_attempt": s.last_attempt or None, "last_error": s.last_error}
                    for s in states])
    elif not states:
        say("the forwarding queue is empty")
    else:
        _print_table(states)
    return EXIT_FAILED if any(s.state == "failed" for s in states) else 0


def _print_table(states: list[QueueState]) -> None:
    from tui_pacs.cli.output import print_rows
    from tui_pacs.store.forward_queue import PENDING, parse_stamp

    now = datetime.now(UTC)

    def local(stamp: str) -> str:
        moment = parse_stamp(stamp)
        return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else ""

    def next_try(state: QueueState) -> str:
        if state.state != PENDING:
            return "after --retry"
        moment = parse_stamp(state.next_attempt)
        seconds = (moment - now).total_seconds() if moment else 0
        return "now" if seconds < 1 else f"in {seconds:.0f} s"

    print_rows([{"Destination": s.destination, "State": s.state, "Entries": s.entries,
                 "Oldest": local(s.oldest), "Next try": next_try(s), "Last error": s.last_error}
                for s in states],
               ["Destination", "State", "Entries", "Oldest", "Next try", "Last error"])


def _destination(name: str, settings: Settings, queued: set[str]) -> str | None:
    """The destination named on the command line (None: every one); a name that is
    neither configured nor queued is a usage error."""
    if name == _EVERY:
        return None
    if settings.modality(name) is None and name not in queued:
        known = sorted({m.name for m in settings.modalities} | queued)
        listed = f" (known: {', '.join(known)})" if known else ""
        raise CliError(f"no destination named {name!r}{listed}", EXIT_USAGE)
    return name


def _entries(count: int, kind: str) -> str:
    return f"{count} {kind} entr{'y' if count == 1 else 'ies'}"
