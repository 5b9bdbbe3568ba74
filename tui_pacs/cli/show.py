"""``tui-pacs show``: a DICOM image in the terminal, or as a PNG.

The picture fits the terminal (or ``--width`` columns, its height following).
When stdout is not a terminal the picture is still drawn, in half blocks with
colour escapes, so ``tui-pacs show x.dcm | less -R`` works; a caption line
follows the picture. With ``--png`` nothing is drawn: the windowed picture is
written at its full resolution (8-bit grayscale or RGB, like Orthanc's preview).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tui_pacs.cli.context import EXIT_FAILED, EXIT_USAGE, CliError, run_async, say
from tui_pacs.config import Settings
from tui_pacs.imaging.presets import PRESET_NAMES, find_preset

if TYPE_CHECKING:  # the imaging engine (numpy, pydicom) loads only when the command runs
    import numpy as np

    from tui_pacs.imaging.pipeline import PreparedFrame
    from tui_pacs.imaging.source import DicomImage
    from tui_pacs.imaging.window import WindowChoice, WindowState

PROTOCOLS = ("auto", "halfblock", "kitty", "sixel")
# Lines kept free under a picture that fits the terminal: the caption and the prompt.
_LINES_BELOW = 2


@dataclass(frozen=True)
class WindowOption:
    """``--window``: CENTER,WIDTH, the file's window number N, or ``auto``."""

    center: float | None = None
    width: float | None = None
    number: int | None = None
    auto: bool = False


def register(commands: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = commands.add_parser(
        "show", parents=[common], help="show an image in the terminal or write it as PNG",
        description="Show a DICOM image (a file, or an archived instance by its "
                    "SOPInstanceUID) in the terminal, with half blocks, Kitty graphics or "
                    "Sixel. Piped output is drawn in half blocks (use less -R).")
    p.add_argument("target", metavar="FILE|SOPInstanceUID")
    p.add_argument("--frame", type=_positive_int, default=1, metavar="N",
                   help="frame of a multi-frame image, 1 = first (default: 1)")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--window", type=_window_option, metavar="CENTER,WIDTH|N|auto",
                       help="window center and width (--window=-600,1500 for a negative "
                            "center), the file's window number N, or auto (from the pixel "
                            "values); default: the file's first window, else auto")
    which.add_argument("--preset", type=_preset_name, metavar="NAME",
                       help=f"CT window preset: {', '.join(PRESET_NAMES)}")
    p.add_argument("--width", type=_positive_int, metavar="COLS",
                   help="picture width in columns (default: fit the terminal)")
    p.add_argument("--protocol", choices=PROTOCOLS, default="auto",
                   help="how to draw: half blocks work everywhere; kitty and sixel need a "
                        "terminal that has them (default: auto, detected)")
    p.add_argument("--png", metavar="OUT", type=Path,
                   help="write the windowed picture to OUT as PNG (- for stdout) instead of "
                        "drawing it")
    p.set_defaults(func=run_show)


def run_show(args: argparse.Namespace, settings: Settings) -> int:
    from tui_pacs.imaging.errors import UnsupportedImage
    from tui_pacs.imaging.pipeline import picture, prepare
    from tui_pacs.imaging.source import DicomImage

    path = _resolve_target(args.target, settings)
    try:
        image = DicomImage.open(path)
        if args.frame > image.frames:
            raise CliError(f"--frame {args.frame}: {args.target} has {image.frames} "
                           f"frame{'s' if image.frames > 1 else ''}", EXIT_USAGE)
        prepared = prepare(image, args.frame - 1)
    except UnsupportedImage as exc:
        raise CliError(f"{args.target}: {exc}", EXIT_FAILED) from None
    choice = _choose_window(prepared, args)
    pixels = picture(prepared, choice)
    state = prepared.windows.select(choice) if choice else prepared.windows
    if args.png:
        _write_png(pixels, args.png)
        if str(args.png) != "-":
            say(f"wrote {args.png} ({pixels.shape[1]}x{pixels.shape[0]} "
                  f"{'RGB' if pixels.ndim == 3 else 'grayscale'}"
                  f"{', ' + state.current.describe() if state.current else ''})")
        return 0
    _draw(pixels, prepared.attributes.pixel_aspect, args)
    for line in _caption(args.target, image, args.frame, state):
        say(line)
    return 0


# --- target and window ------------------------------------------------------------


def _resolve_target(target: str, settings: Settings) -> Path:
    """A path that exists, else an archived instance's file by SOPInstanceUID."""
    path = Path(target).expanduser()
    if path.exists():
        return path
    from tui_pacs.cli.archive_commands import _archived_path

    return run_async(lambda: _archived_path(settings, target))


def _choose_window(prepared: PreparedFrame, args: argparse.Namespace) -> WindowChoice | None:
    """The WindowChoice the options ask for; None means the frame's default."""
    from tui_pacs.imaging.window import PRESET_CHOICES, manual_window

    state = prepared.windows
    option: WindowOption | None = args.window
    if option is None and args.preset is None:
        return None
    if not state.applies:
        _note(f"{prepared.photometric} is a colour image: windows do not apply")
        return None
    if args.preset is not None:
        if not prepared.attributes.hounsfield:
            rescale_type = prepared.attributes.rescale_type
            _note("presets are CT windows in Hounsfield units; this image's values are not"
                  + (f" (Rescale Type {rescale_type})" if rescale_type else ""))
        return next(choice for choice in PRESET_CHOICES if choice.label == args.preset)
    assert option is not None
    if option.auto:
        return state.auto
    if option.number is not None:
        if not 1 <= option.number <= len(state.file_choices):
            available = (f"1 to {len(state.file_choices)}" if state.file_choices
                         else "none: use CENTER,WIDTH or auto")
            raise CliError(f"--window {option.number}: the file's windows are {available}",
                           EXIT_USAGE)
        return state.file_choices[option.number - 1]
    assert option.center is not None and option.width is not None
    return manual_window(option.center, option.width)


def _window_option(text: str) -> WindowOption:
    value = text.strip().lower()
    if value == "auto":
        return WindowOption(auto=True)
    if "," not in value:
        try:
            return WindowOption(number=int(value))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"{text!r}: expected CENTER,WIDTH (e.g. 40,400), a window number or auto"
            ) from None
    center_text, _, width_text = value.partition(",")
    try:
        center, width = float(center_text), float(width_text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected CENTER,WIDTH as two numbers, e.g. 40,400") from None
    if not width >= 1:
        raise argparse.ArgumentTypeError(f"{text!r}: the window width must be at least 1")
    return WindowOption(center=center, width=width)


def _preset_name(text: str) -> str:
    preset = find_preset(text)
    if preset is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a preset; presets: {', '.join(PRESET_NAMES)}")
    return preset.name


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: must be 1 or more")
    return value


# --- output -----------------------------------------------------------------------


def _write_png(pixels: np.ndarray, out: Path) -> None:
    from PIL import Image

    picture = Image.fromarray(pixels)
    try:
        if str(out) == "-":
            picture.save(sys.stdout.buffer, format="PNG")
            sys.stdout.buffer.flush()
        else:
            picture.save(out, format="PNG")
    except OSError as exc:
        raise CliError(f"cannot write {out}: {exc.strerror or exc}") from None


def _draw(pixels: np.ndarray, pixel_aspect: float, args: argparse.Namespace) -> None:
    from rich.console import Console

    from tui_pacs.imaging.draw import draw
    from tui_pacs.imaging.terminal import Protocol, cell_shape, detect_protocol

    is_terminal = sys.stdout.isatty()
    protocol = Protocol(args.protocol)
    if protocol is Protocol.AUTO:
        protocol = detect_protocol(os.environ, sys.stdin, sys.stdout)
    size = shutil.get_terminal_size()
    if args.width:
        max_cols, max_rows = args.width, None
    elif is_terminal:
        max_cols, max_rows = size.columns, max(size.lines - _LINES_BELOW, 1)
    else:
        max_cols, max_rows = size.columns, None
    # force_terminal: piped output keeps its colours, for less -R.
    console = Console(file=sys.stdout, force_terminal=True, highlight=False,
                      width=max(max_cols, size.columns))
    draw(pixels, pixel_aspect, protocol, console, max_cols, max_rows, cell_shape(sys.stdout))


def _caption(name: str, image: DicomImage, frame: int, state: WindowState) -> list[str]:
    info = image.info
    parts = [Path(name).name, f"{info.modality or '?'} {info.columns}x{info.rows}"]
    if info.frames > 1:
        parts.append(f"frame {frame}/{info.frames}")
    if state.current is not None:
        parts.append(state.current.describe())
    parts += [info.photometric, info.transfer_syntax.name]
    lines = [" · ".join(parts)]
    if len(state.file_choices) > 1:
        choices = ", ".join(f"{number} {choice.label} ({choice.window or 'VOI LUT'})"
                            for number, choice in enumerate(state.file_choices, start=1))
        lines.append(f"windows in the file: {choices}; pick one with --window N")
    return lines


def _note(message: str) -> None:
    say(f"tui-pacs: note: {message}", file=sys.stderr)
