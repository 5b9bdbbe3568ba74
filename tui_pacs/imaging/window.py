"""Windows: what part of the pixel values a grayscale frame shows, and where each came from.

Plain values the UI can show and cycle through: the file's own windows (with
their explanations) and VOI LUTs, the CT presets, the automatic window, and a
manual window the user adjusts. ``WindowState`` holds them all for one frame.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from tui_pacs.imaging.presets import CT_PRESETS


class VoiFunction(StrEnum):
    """VOI LUT Function (0028,1056): how the window maps values, PS3.3 C.11.2.1.2."""

    LINEAR = "LINEAR"
    LINEAR_EXACT = "LINEAR_EXACT"
    SIGMOID = "SIGMOID"


@dataclass(frozen=True)
class Window:
    """Window center and width, in the units after the modality LUT (HU for CT)."""

    center: float
    width: float
    function: VoiFunction = VoiFunction.LINEAR

    def __str__(self) -> str:
        text = f"C {_number(self.center)} W {_number(self.width)}"
        return text if self.function is VoiFunction.LINEAR else f"{text} {self.function.value}"

    @property
    def smallest_width(self) -> float:
        # LINEAR divides by (width - 1); the others only need a width above 0.
        return 1.0 if self.function is VoiFunction.LINEAR else 1e-6


def _number(value: float) -> str:
    """40, -600, 0.5, 1024240: no exponent, at most two decimals."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


class WindowSource(StrEnum):
    FILE = "file"          # Window Center/Width in the dataset
    VOI_LUT = "voi-lut"    # an item of the VOI LUT Sequence
    PRESET = "preset"
    AUTO = "auto"          # from the frame's pixel values
    MANUAL = "manual"      # typed or adjusted by the user


@dataclass(frozen=True)
class WindowChoice:
    """One way to show a grayscale frame: a window, or one of the file's VOI LUTs."""

    source: WindowSource
    label: str
    explanation: str = ""
    window: Window | None = None
    lut_index: int | None = None

    def describe(self) -> str:
        """E.g. ``C 40 W 400 (file: ABDOMEN)`` or ``C -600 W 1500 (preset: lung)``."""
        what = str(self.window) if self.window else "VOI LUT"
        origin = f"{self.source.value}: {self.label}" if self.label else self.source.value
        return f"{what} ({origin})"


def manual_window(center: float, width: float) -> WindowChoice:
    return WindowChoice(WindowSource.MANUAL, "", window=Window(center, width))


PRESET_CHOICES = tuple(
    WindowChoice(WindowSource.PRESET, preset.name, preset.description,
                 window=Window(preset.center, preset.width))
    for preset in CT_PRESETS
)


@dataclass(frozen=True)
class WindowState:
    """The windows available for one grayscale frame, and the one in use.

    ``current`` is None for colour images: windows do not apply to them.
    """

    current: WindowChoice | None
    file_choices: tuple[WindowChoice, ...] = ()
    auto: WindowChoice | None = None
    presets: tuple[WindowChoice, ...] = ()

    @property
    def applies(self) -> bool:
        return self.current is not None

    def choices(self) -> tuple[WindowChoice, ...]:
        """Everything worth cycling through, file windows first."""
        extra = (self.auto,) if self.auto else ()
        return (*self.file_choices, *extra, *self.presets)

    def select(self, choice: WindowChoice) -> WindowState:
        return replace(self, current=choice)

    def adjusted(self, center_step: float = 0.0, width_step: float = 0.0) -> WindowState:
        """The current window moved by the given steps, as a manual window.

        A VOI LUT has no center or width: adjusting starts from the automatic window.
        """
        if self.current is None:
            return self
        start = self.current.window or (self.auto.window if self.auto else None)
        if start is None:
            return self
        width = max(start.width + width_step, start.smallest_width)
        moved = Window(start.center + center_step, width, start.function)
        return self.select(WindowChoice(WindowSource.MANUAL, "", window=moved))


def default_choice(file_choices: tuple[WindowChoice, ...],
                   auto: WindowChoice) -> WindowChoice:
    """What a viewer shows first: the file's first window or VOI LUT, else the automatic one."""
    return file_choices[0] if file_choices else auto
