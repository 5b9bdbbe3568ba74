"""What every command shares: common options, settings, errors and output."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
import warnings
from collections.abc import Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO, TypeVar

from tui_pacs.config import ConfigError, Settings, load_settings
from tui_pacs.core.text import json_text, printable

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70

T = TypeVar("T")


class CliError(Exception):
    """A failure to report as one line on stderr, with an exit status."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def common_options() -> argparse.ArgumentParser:
    """Options every command takes, before or after the command's name.

    SUPPRESS keeps a value given before the command from being reset to a
    default by the command's own parser.
    """
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("common options")
    group.add_argument("--config", metavar="FILE", type=Path, default=argparse.SUPPRESS,
                       help="configuration file (default: $TUI_PACS_CONFIG or the user "
                            "config directory's tui-pacs/config.toml)")
    group.add_argument("--data", metavar="DIR", type=Path, default=argparse.SUPPRESS,
                       help="data directory holding the archive (overrides [node] data)")
    group.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="show tracebacks and debug logs")
    return common


def load_settings_or_exit(args: argparse.Namespace) -> Settings:
    """Settings from the config file and the command line; exit 2 when the file is bad."""
    setup_logging(debug=getattr(args, "debug", False))
    try:
        settings = load_settings(getattr(args, "config", None))
    except ConfigError as exc:
        say(f"tui-pacs: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    return with_data_option(args, settings)


def with_data_option(args: argparse.Namespace, settings: Settings) -> Settings:
    """The settings with ``--data`` when it was given."""
    data = getattr(args, "data", None)
    return settings.with_node(data=Path(data).expanduser() if data else None)


def setup_logging(debug: bool = False, json_format: bool = False,
                  file: Path | None = None) -> None:
    """Logs go to stderr (or ``file``); stdout belongs to the command's output."""
    from tui_pacs.logs import configure

    configure(debug=debug, json_format=json_format, file=file)
    # pydicom warns about every odd file it reads; those are reported our way.
    warnings.filterwarnings("ignore", module="pydicom")
    logging.captureWarnings(True)


# Optional to pydicom (pixel data) and imported by it whenever installed:
# half the cost of importing pynetdicom, which imports pydicom. pylibjpeg and
# its OpenJPEG plugin read their package metadata as they are imported.
PIXEL_LIBRARIES = ("numpy", "PIL", "pylibjpeg", "openjpeg", "jpeg_ls", "gdcm")


def without_pixel_libraries() -> None:
    """For a command that never touches pixel data (``echo``): pydicom, when
    imported after this, finds numpy and Pillow missing and goes without.

    Only in a process of the command's own, before pydicom is imported;
    pydicom would not decode pixels in this process afterwards.
    """
    if "pydicom" in sys.modules:
        return
    for name in PIXEL_LIBRARIES:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


@contextmanager
def loading_without_collection() -> Iterator[None]:
    """Imports made inside run without Python's cycle collector, and what they
    allocate is left out of its later passes (``gc.freeze``).

    pydicom and pynetdicom allocate some hundred thousand objects as they are
    imported, all kept for the life of the process; the collector walks them
    again and again while they load and frees nothing: 20 ms of the 0.29 s
    that ``tui-pacs echo`` took to start.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if was_enabled:
            gc.enable()


def run_async(make: Callable[[], Awaitable[T]]) -> T:
    import asyncio  # here: a command that runs no loop (--help, ls) does without it

    return asyncio.run(make())  # type: ignore[arg-type]


def say(text: object = "", *, file: TextIO | None = None, flush: bool = False) -> None:
    """Print one line for a person (stdout, or ``file``), with any control
    character a file or a peer slipped into it made visible."""
    print(printable(text), file=file, flush=flush)


def say_columns(cells: Iterable[object], *, flush: bool = False) -> None:
    """One line of tab-separated columns on stdout, for scripts: a tab inside
    a value is shown as ``\\x09``, so it can never make a column of its own."""
    print("\t".join(printable(cell) for cell in cells), flush=flush)


def print_json(value: Any) -> None:
    """JSON on stdout: values exact, escaped so that no terminal acts on them."""
    sys.stdout.write(json_text(value, indent=2) + "\n")


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty()
