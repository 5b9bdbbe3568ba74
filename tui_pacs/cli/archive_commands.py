"""Commands on the local archive: import, ls, dump, rm, protect, export."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from tui_pacs.cli.context import (
    EXIT_FAILED,
    EXIT_USAGE,
    CliError,
    print_json,
    run_async,
    say,
    stderr_is_terminal,
)
from tui_pacs.config import Settings
from tui_pacs.core.model import DEFAULT_COLUMNS, Level
from tui_pacs.store.layout import INDEX_FILE


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = commands.add_parser("import", parents=[common], help="import DICOM files into the archive",
                            description="Import files and directories (recursively). Files "
                                        "that are not DICOM are skipped and counted.")
    p.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    p.set_defaults(func=run_import)

    p = commands.add_parser("ls", parents=[common], help="list the archive",
                            description="List the archive at one level, matching keys the "
                                        "way C-FIND does: wildcards * and ?, date ranges "
                                        "A-B, A-, -B, and backslash-separated UID lists.")
    add_level_option(p, default=Level.STUDY)
    add_key_option(p)
    p.add_argument("--json", action="store_true", help="JSON array of objects keyed by keyword")
    p.add_argument("--limit", type=int, metavar="N", help="show at most N entries")
    p.set_defaults(func=run_ls)

    p = commands.add_parser("dump", parents=[common], help="show every attribute of an instance",
                            description="Show a file's or an archived instance's dataset.")
    p.add_argument("target", metavar="FILE|SOPInstanceUID")
    p.add_argument("--json", action="store_true", help="the DICOM JSON model (PS3.18 Annex F)")
    p.set_defaults(func=run_dump)

    p = commands.add_parser("rm", parents=[common], help="remove from the archive",
                            description="Remove a patient, study, series or instance: its "
                                        "files and its index entries. --older-than removes "
                                        "every study whose last instance arrived longer ago, "
                                        "except protected studies and those being received.")
    which = add_target_options(p, instance=True)
    which.add_argument("--older-than", type=_duration, metavar="AGE",
                       help="studies that arrived longer ago than AGE: 24h, 90d, 12w")
    p.add_argument("--dry-run", action="store_true",
                   help="with --older-than: list the studies it would remove, remove none")
    p.set_defaults(func=run_rm)

    p = commands.add_parser("protect", parents=[common],
                            help="keep a study from retention and rm --older-than",
                            description="Protect a study: retention ([retention] in the "
                                        "config file) and rm --older-than never delete it. "
                                        "rm --study still does.")
    p.add_argument("--study", metavar="UID", required=True)
    p.add_argument("--unprotect", action="store_true", help="end the study's protection")
    p.set_defaults(func=run_protect)

    p = commands.add_parser("export", parents=[common], help="copy studies out of the archive",
                            description="Write a patient's, a study's or a series' files to "
                                        "DEST, a new or empty directory (or, with --zip, a "
                                        "new zip file), as stored, named "
                                        "PT000000/ST000000/SE000000/IM000000.dcm.")
    add_target_options(p, instance=False)
    p.add_argument("destination", type=Path, metavar="DEST")
    p.add_argument("--zip", action="store_true", help="write one zip file, DEST")
    p.add_argument("--dicomdir", action="store_true",
                   help="media file IDs (PT000000/ST000000/SE000000/IM000000) and a DICOMDIR")
    p.add_argument("--anonymize", action="store_true",
                   help="de-identify (DICOM PS3.15 basic profile), UIDs remapped consistently")
    p.set_defaults(func=run_export)


def add_target_options(parser: argparse.ArgumentParser, *, instance: bool
                       ) -> argparse._MutuallyExclusiveGroup:
    """--patient, --study, --series (and --instance): what a command acts on, one of
    them required; returns the group, for more ways to choose."""
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--patient", metavar="ID", help="every patient with this PatientID")
    which.add_argument("--study", metavar="UID")
    which.add_argument("--series", metavar="UID")
    if instance:
        which.add_argument("--instance", metavar="UID")
    return which


def chosen_target(args: argparse.Namespace) -> tuple[Level, str]:
    """The level and identifier given by :func:`add_target_options`' options."""
    return next((level, value) for level, value in (
        (Level.PATIENT, args.patient), (Level.STUDY, args.study),
        (Level.SERIES, args.series), (Level.IMAGE, getattr(args, "instance", None)))
        if value is not None)


def add_level_option(parser: argparse.ArgumentParser, default: Level) -> None:
    parser.add_argument("-l", "--level", type=_level, default=default,
                        metavar="patient|study|series|instance",
                        help=f"query level (default: {default.label})")


def add_key_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-k", "--key", action="append", dest="keys", metavar="KEY=VALUE",
                        help="match on an attribute, e.g. PatientName=SMITH* or "
                             "StudyDate=20240101-20241231 (repeatable)")


def _level(text: str) -> Level:
    try:
        return Level.parse(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a level (patient, study, series, instance)") from None


@asynccontextmanager
async def open_archive(settings: Settings, *, must_exist: bool = False) -> AsyncIterator:
    from tui_pacs.store.archive import Archive, ArchiveError

    data = settings.node.data
    if must_exist and not (data / INDEX_FILE).exists():
        raise CliError(f"no archive in {data} (nothing imported or received yet)")
    try:
        archive = await Archive.open(data, settings.storage, settings.limits.max_dataset_mb)
    except ArchiveError as exc:
        raise CliError(str(exc)) from None
    try:
        yield archive
    finally:
        await archive.close()


# --- import -------------------------------------------------------------------


def run_import(args: argparse.Namespace, settings: Settings) -> int:
    from tui_pacs.cli.output import ProgressBar, say_on_stderr
    from tui_pacs.store.importer import import_files, iter_files

    progress = ProgressBar("importing", eta=True) if stderr_is_terminal() else None
    failures_shown = 0

    def on_progress(path: Path, outcome: str) -> None:
        nonlocal failures_shown
        if outcome not in ("imported", "duplicate", "skipped"):
            failures_shown += 1
            line = f"failed: {path}: {outcome}"
            say_on_stderr(line, progress)
        if progress:
            progress.advance()

    async def go():
        files = list(iter_files(args.paths))
        async with open_archive(settings) as archive:
            if progress:
                progress.start(len(files))
            try:
                return await import_files(archive, files, on_progress)
            finally:
                if progress:
                    progress.stop()

    report = run_async(go)
    say(report.summary())
    return EXIT_FAILED if report.failures else 0


# --- ls -----------------------------------------------------------------------


def run_ls(args: argparse.Namespace, settings: Settings) -> int:
    from tui_pacs.core.keys import BadKey, parse_keys
    from tui_pacs.store.index import UnknownKey, matchers_from_keys
    from tui_pacs.store.queries import keywords_at

    level: Level = args.level
    try:
        matchers = matchers_from_keys(parse_keys(args.keys))
    except BadKey as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    except UnknownKey as exc:
        raise CliError(f"{exc}: the archive does not index this key", EXIT_USAGE) from None

    async def go():
        async with open_archive(settings, must_exist=True) as archive:
            return await archive.index.query(level, matchers, limit=args.limit)

    try:
        rows = run_async(go)
    except UnknownKey as exc:
        usable = ", ".join(keywords_at(level))
        raise CliError(f"{exc} cannot be matched at {level.label} level; keys there: "
                       f"{usable}", EXIT_USAGE) from None
    if args.json:
        print_json(rows)
    else:
        from tui_pacs.cli.output import print_rows

        print_rows(rows, DEFAULT_COLUMNS[level])
        if sys.stdout.isatty():
            say(level.counted(len(rows)))
    return 0


# --- dump ---------------------------------------------------------------------


def run_dump(args: argparse.Namespace, settings: Settings) -> int:
    from tui_pacs.core.dump import dump_lines, format_lines, to_json_model

    path = Path(args.target)
    if not path.is_file():
        path = run_async(lambda: _archived_path(settings, args.target))
    try:
        ds = _read_for_dump(path)
    except Exception as exc:
        raise CliError(f"{path}: not readable as DICOM: {exc}") from None
    if ds is None:
        raise CliError(f"{path}: not a DICOM file (no DICM marker, and it does not begin "
                       "like a dataset)")
    if args.json:
        print_json(to_json_model(ds, path.resolve().as_uri()))
    else:
        for line in format_lines(list(dump_lines(ds))):
            say(line)
    return 0


# Groups a dataset stored without the Part 10 preamble begins with: file
# meta, directory records, or the identifying attributes.
_FIRST_GROUPS = (0x0002, 0x0004, 0x0008)


def _read_for_dump(path: Path):
    """The dataset in ``path``, with or without its preamble; None when the file
    does not hold one (pydicom's forced reading finds "elements" in any bytes)."""
    from pydicom import dcmread
    from pydicom.errors import InvalidDicomError

    try:
        return dcmread(path, defer_size=4096)
    except InvalidDicomError:
        ds = dcmread(path, force=True, defer_size=4096)
    first = next(iter(ds.keys()), None)
    return ds if first is not None and first.group in _FIRST_GROUPS else None


async def _archived_path(settings: Settings, sop_instance_uid: str) -> Path:
    if not (settings.node.data / INDEX_FILE).exists():
        raise CliError(f"{sop_instance_uid}: no such file, and there is no archive in "
                       f"{settings.node.data}")
    async with open_archive(settings) as archive:
        stored = await archive.index.file_of(sop_instance_uid)
        if stored is None:
            raise CliError(f"{sop_instance_uid}: no such file, and no instance with this "
                           "SOPInstanceUID in the archive")
        return archive.path_of(stored)


# --- rm -----------------------------------------------------------------------

_DURATION = re.compile(r"(\d+)([hdw])")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


def _duration(text: str) -> tuple[timedelta, str]:
    """``90d`` -> (90 days, "90d"): hours, days or weeks."""
    found = _DURATION.fullmatch(text.strip().lower())
    if found is None or int(found[1]) == 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an age: a number and h, d or w (24h, 90d, 12w)")
    return timedelta(**{_UNITS[found[2]]: int(found[1])}), found[0]


def run_rm(args: argparse.Namespace, settings: Settings) -> int:
    if args.older_than is not None:
        return _remove_older(args.older_than, args.dry_run, settings)
    if args.dry_run:
        raise CliError("--dry-run goes with --older-than", EXIT_USAGE)
    level, value = chosen_target(args)

    async def go():
        async with open_archive(settings, must_exist=True) as archive:
            return await archive.delete(level, value)

    result = run_async(go)
    if not result.instances:
        raise CliError(f"nothing removed: no {level.label} with {level.unique_key} {value!r}")
    say(f"removed {result.instances} instance(s), {result.series} series, "
          f"{result.studies} study(ies), {result.patients} patient(s)")
    return 0


def _remove_older(age: tuple[timedelta, str], dry_run: bool, settings: Settings) -> int:
    """Remove (or, dry, list) the unheld studies that arrived more than ``age`` ago."""
    from datetime import datetime

    from tui_pacs.store.retention import Limits, delete_expired, describe, plan

    limits = Limits.older_than(age[0], datetime.now().astimezone(), age[1])

    async def go() -> tuple[int, int]:
        async with open_archive(settings, must_exist=True) as archive:
            found = await plan(archive.index, limits, archive.receiving_studies())
            removed = instances = 0
            for expired in found.expired:
                if dry_run:
                    say(f"would remove {describe(expired.study)}")
                    continue
                result = await delete_expired(archive, expired)
                if result is not None:
                    say(f"removed {describe(expired.study)}: {result.instances} instance(s)",
                        flush=True)
                    removed += 1
                    instances += result.instances
            return (len(found.expired) if dry_run else removed), instances

    studies, instances = run_async(go)
    if dry_run:
        say(f"{studies} study(ies) would be removed (dry run: nothing removed)")
    else:
        say(f"removed {studies} study(ies), {instances} instance(s)")
    return 0


# --- protect ------------------------------------------------------------------


def run_protect(args: argparse.Namespace, settings: Settings) -> int:
    protect = not args.unprotect

    async def go() -> bool:
        async with open_archive(settings, must_exist=True) as archive:
            return await archive.set_protected(args.study, protect)

    if not run_async(go):
        raise CliError(f"no study with StudyInstanceUID {args.study!r}")
    say(f"study {args.study} {'protected' if protect else 'no longer protected'}")
    return 0


# --- export -------------------------------------------------------------------


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    from tui_pacs.cli.output import ProgressBar
    from tui_pacs.core.readable import byte_size
    from tui_pacs.services.export import (
        ExportError,
        ExportOptions,
        ExportProgress,
        Selection,
        export,
    )

    level, value = chosen_target(args)
    options = ExportOptions(zipped=args.zip, dicomdir=args.dicomdir, anonymize=args.anonymize)
    progress = ProgressBar("exporting", eta=True) if stderr_is_terminal() else None

    def on_progress(value: ExportProgress) -> None:
        if progress:
            progress.update(value.done, value.total)

    async def go():
        async with open_archive(settings, must_exist=True) as archive:
            if progress:
                progress.start()
            try:
                return await export(archive, [Selection(level, {level.unique_key: value})],
                                    args.destination.expanduser(), options, on_progress)
            finally:
                if progress:
                    progress.stop()

    try:
        report = run_async(go)
    except ExportError as exc:
        raise CliError(str(exc)) from None
    say(f"exported {report.instances} instance(s), {byte_size(report.bytes)}, to "
        f"{report.destination} in {report.seconds:.1f} s")
    return 0
