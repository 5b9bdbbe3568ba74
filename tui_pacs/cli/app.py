"""``tui-pacs`` (or ``tui-pacs app``): the Textual app, with the node listening inside it."""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from tui_pacs.cli.context import CliError, loading_without_collection, setup_logging
from tui_pacs.cli.serve import add_node_options, node_settings
from tui_pacs.config import IMAGES, Settings

if TYPE_CHECKING:
    from tui_pacs.imaging.terminal import Protocol

LOG_FILE = "tui-pacs.log"


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = commands.add_parser(
        "app", parents=[common], help="open the app with the node listening (the default)",
        description="Open the app: browse the archive, inspect and preview instances, "
                    "echo, query and retrieve from other nodes, with this node's DICOM "
                    "server running inside it. The same as tui-pacs with no command.")
    add_node_options(p)
    add_app_options(p)
    p.set_defaults(func=run_app)


def add_app_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-listen", action="store_true", default=argparse.SUPPRESS,
                        help="open the archive without the DICOM server (to browse an "
                             "archive that tui-pacs serve already serves)")
    parser.add_argument("--images", choices=IMAGES, default=argparse.SUPPRESS,
                        help="how the preview draws pictures: kitty and sixel need a terminal "
                             "that has them (default: [ui] images, else auto: detected)")


def run_app(args: argparse.Namespace, settings: Settings) -> int:
    settings = node_settings(args, settings)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise CliError("the app needs a terminal; for a node without one, run tui-pacs serve")
    # The terminal is the app's: logs go to a file in the data directory
    # (and to the activity screen).
    setup_logging(debug=getattr(args, "debug", False),
                  json_format=settings.node.log_format == "json",
                  file=settings.node.data / LOG_FILE)
    with loading_without_collection():
        from tui_pacs.ui.app import PacsApp

    app = PacsApp(settings, listen=not getattr(args, "no_listen", False),
                  image_protocol=_image_protocol(getattr(args, "images", settings.ui.images)))
    app.run()
    return app.return_code or 0


def _image_protocol(choice: str) -> Protocol:
    """The protocol the preview draws with; auto asks the terminal now, before Textual
    would read its answers as keys."""
    from tui_pacs.imaging.terminal import Protocol, detect_protocol

    protocol = Protocol(choice)
    if protocol is Protocol.AUTO:
        protocol = detect_protocol(os.environ, sys.stdin, sys.stdout)
    return protocol
