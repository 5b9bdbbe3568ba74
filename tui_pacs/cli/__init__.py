"""The ``tui-pacs`` command line.

Each command lives in a module of this package that registers its parser and
imports its heavy dependencies (pynetdicom, Textual, numpy) only when run,
so ``tui-pacs ls`` starts quickly and ``tui-pacs serve`` never loads Textual.
"""

from __future__ import annotations

import argparse
import sys

from tui_pacs import __version__
from tui_pacs.cli import (
    app,
    archive_commands,
    check,
    client_commands,
    queue,
    serve,
    show,
    status,
)
from tui_pacs.cli.context import (
    EXIT_INTERNAL,
    CliError,
    common_options,
    load_settings_or_exit,
    say,
)

COMMAND_MODULES = [archive_commands, show, client_commands, serve, queue, status, check, app]


def build_parser() -> argparse.ArgumentParser:
    common = common_options()
    parser = argparse.ArgumentParser(
        prog="tui-pacs",
        description="A DICOM node in the terminal. Without a command, opens the app "
                    "with the node listening.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"tui-pacs {__version__}")
    serve.add_node_options(parser)
    app.add_app_options(parser)
    commands = parser.add_subparsers(title="commands", dest="command", metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(commands, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        args.func = app.run_app
    settings = load_settings_or_exit(args)
    try:
        return int(args.func(args, settings) or 0)
    except CliError as exc:
        say(f"tui-pacs: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        say("tui-pacs: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `tui-pacs ls | head`: the reader left; that is not an error.
        sys.stderr.close()
        return 0
    except Exception as exc:
        if getattr(args, "debug", False):
            raise
        say(f"tui-pacs: internal error: {type(exc).__name__}: {exc} "
              "(run again with --debug for details)", file=sys.stderr)
        return EXIT_INTERNAL
