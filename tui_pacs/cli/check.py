"""``tui-pacs check [--repair]``: do the index and the files agree?"""

from __future__ import annotations

import argparse
import time

from tui_pacs.cli.context import EXIT_FAILED, CliError, run_async, say, stderr_is_terminal
from tui_pacs.config import Settings

# Findings listed per kind unless --all.
SHOWN = 20


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = commands.add_parser(
        "check", parents=[common], help="check that the index and the files agree",
        description="Compare the archive's index with the files under storage/: index rows "
                    "whose file is gone, files the index does not know (orphans), files "
                    "whose identifiers or size disagree with the index, and files that "
                    "cannot be read (truncated, malformed); SQLite's quick_check covers the "
                    "index itself. Safe while the node runs. Exit status 0 when everything "
                    "agrees, 1 when problems remain.")
    p.add_argument("--repair", action="store_true",
                   help="re-index sound orphan files and drop index rows whose file is gone, "
                        "after saying so (the node must be stopped); other problems are "
                        "listed and left for you to decide")
    p.add_argument("--quick", action="store_true",
                   help="compare existence and size only, without reading every file")
    p.add_argument("--all", action="store_true",
                   help=f"list every problem (default: the first {SHOWN} of each kind)")
    p.set_defaults(func=run_check)


def run_check(args: argparse.Namespace, settings: Settings) -> int:
    return run_async(lambda: _check(args, settings))


async def _check(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from tui_pacs.cli.archive_commands import open_archive
    from tui_pacs.store.check import RepairPlan, check_archive, count_rows
    from tui_pacs.store.layout import INDEX_FILE, STORAGE_DIR

    data = settings.node.data
    # Files without an index are an archive too: --repair rebuilds its index.
    if not (data / INDEX_FILE).exists() and not (data / STORAGE_DIR).is_dir():
        raise CliError(f"no archive in {data} (nothing imported or received yet)")
    async with open_archive(settings) as archive:
        if args.repair and archive.in_use_elsewhere():
            raise CliError(f"{archive.data_dir} is open in another process (a running node, "
                           "an import?): stop it before repairing; `tui-pacs check` without "
                           "--repair works while it runs")
        started = time.monotonic()
        progress = _progress(await asyncio.to_thread(count_rows, archive.data_dir))
        try:
            report = await asyncio.to_thread(
                check_archive, archive.data_dir, read_files=not args.quick,
                on_progress=progress.update if progress else None)
        finally:
            if progress:
                progress.stop()
        _print_report(report, time.monotonic() - started, args.all)
        plan = RepairPlan.of(report)
        if not args.repair:
            if report.ok:
                say("the index and the files agree")
                return 0
            if not plan.empty:
                say(f"`tui-pacs check --repair` would {_plan_summary(plan)}")
            return EXIT_FAILED
        return await _repair(archive, report, plan)


async def _repair(archive, report, plan) -> int:
    from tui_pacs.store.check import repair

    if plan.empty:
        say("nothing to repair" + ("" if report.ok else
                                     "; the problems above are left for you to decide"))
        return 0 if report.ok else EXIT_FAILED
    say(f"repairing: will {_plan_summary(plan)}")
    result = await repair(archive, plan, on_step=lambda finding, outcome: say(
        f"  {finding.path}: {outcome}"))
    remaining = len(plan.leave) + len(result.failed) + len(report.index_errors)
    say(f"repaired: {result.reindexed} re-indexed, {result.dropped} dropped; "
          f"{remaining} problem(s) left")
    return 0 if not remaining else EXIT_FAILED


def _plan_summary(plan) -> str:
    return (f"re-index {_count(len(plan.reindex), 'orphan file')} and drop "
            f"{_count(len(plan.drop), 'index row')} whose file is gone"
            + (f"; {_count(len(plan.leave), 'other problem')} would stay as they are"
               if plan.leave else ""))


def _print_report(report, seconds: float, show_all: bool) -> None:
    from tui_pacs.store.check import Kind

    index = "ok" if not report.index_errors else "DAMAGED"
    say(f"checked {_count(report.instances, 'index row')} and "
          f"{_count(report.files, 'file')} in {seconds:.1f} s; SQLite quick_check: {index}")
    for line in report.index_errors[:SHOWN if not show_all else None]:
        say(f"  {line}")
    if report.index_errors:
        say("  the index file is damaged: restore index.sqlite from a backup, or move it "
              "aside and run `tui-pacs check --repair` to rebuild it from the files")
    if report.unsettled or report.temporary:
        say(f"not checked: {_count(report.unsettled, 'row')} of stores or deletes in "
              f"progress, {_count(report.temporary, 'file')} being received in tmp/")
    for kind in Kind:
        findings = report.of(kind)
        if not findings:
            continue
        say(f"{kind.title} ({len(findings)}):")
        for finding in findings[:None if show_all else SHOWN]:
            uid = f" ({finding.sop_uid})" if finding.sop_uid else ""
            detail = f": {finding.detail}" if finding.detail else ""
            say(f"  {finding.path}{uid}{detail}")
        if len(findings) > SHOWN and not show_all:
            say(f"  ... and {len(findings) - SHOWN} more (--all lists every one)")
    if report.of(Kind.MISMATCH) or report.of(Kind.UNREADABLE):
        say("files that disagree with the index or cannot be read are left as they are: "
              "send the instance again, or remove it with `tui-pacs rm --instance UID`")


def _progress(total: int):
    if not stderr_is_terminal():
        return None
    from tui_pacs.cli.output import ProgressBar

    progress = ProgressBar("checking", eta=True)
    progress.start(total)
    return progress


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"
