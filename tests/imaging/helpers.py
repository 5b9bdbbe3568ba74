"""Helpers for the imaging tests: bundled files with pixel data, and reading renderables back."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from pydicom import dcmread
from rich.console import Console

from tests.conftest import PYDICOM_DATA
from tui_pacs.imaging.halfblock import HalfBlockImage
from tui_pacs.imaging.source import PIXEL_DATA_KEYWORDS


def bundled_pixel_files() -> list[str]:
    """Every file under pydicom's test_files and charset_files that has pixel data,
    as paths relative to pydicom's data directory (found by listing, never downloaded)."""
    found = []
    for folder in ("test_files", "charset_files"):
        for path in sorted((PYDICOM_DATA / folder).rglob("*")):
            if not path.is_file():
                continue
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # odd files on purpose
                    ds = dcmread(path, force=True)
            except Exception:
                continue  # not DICOM at all: nothing to show
            if any(keyword in ds for keyword in PIXEL_DATA_KEYWORDS):
                found.append(str(path.relative_to(PYDICOM_DATA)))
    return found


def bundled(relative: str) -> Path:
    return PYDICOM_DATA / relative


def console(color_system: str | None = "truecolor", width: int = 200, **kwargs) -> Console:
    return Console(file=io.StringIO(), color_system=color_system, width=width,
                   force_terminal=True, legacy_windows=False, **kwargs)


def read_back(image: HalfBlockImage, color_system: str = "truecolor") -> np.ndarray:
    """The (2*rows, cols, 3) picture a half-block renderable draws, from its segments' colours.

    The missing bottom half of an odd-height picture reads as -1.
    """
    con = console(color_system)
    rows: list[list[tuple[int, ...]]] = [[]]
    for segment in image.__rich_console__(con, con.options):
        if segment.text == "\n":
            rows.append([])
            continue
        style = segment.style
        top = style.color.get_truecolor()
        bottom = style.bgcolor.get_truecolor() if style.bgcolor else (-1, -1, -1)
        rows[-1].extend([(*top, *bottom)] * len(segment.text))
    cells = np.array([row for row in rows if row])
    picture = np.empty((cells.shape[0] * 2, cells.shape[1], 3), dtype=np.int64)
    picture[0::2] = cells[..., :3]
    picture[1::2] = cells[..., 3:]
    return picture
