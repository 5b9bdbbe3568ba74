"""Window presets for CT, in Hounsfield units.

Values from the usual radiology tables (Radiopaedia, "Windowing (CT)"):
where a range is given there, the middle of it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    name: str
    center: float
    width: float
    description: str


CT_PRESETS = (
    Preset("brain", 40, 80, "brain parenchyma"),
    Preset("subdural", 75, 215, "blood against skull and brain"),
    Preset("stroke", 40, 40, "early ischaemia, grey-white contrast"),
    Preset("temporal-bone", 600, 2800, "inner ear and ossicles"),
    Preset("soft-tissue", 50, 350, "neck and body soft tissue"),
    Preset("mediastinum", 50, 350, "heart, vessels, lymph nodes"),
    Preset("lung", -600, 1500, "lung parenchyma and airways"),
    Preset("abdomen", 50, 400, "abdominal organs"),
    Preset("liver", 30, 150, "liver lesions"),
    Preset("spine", 50, 250, "spinal soft tissue"),
    Preset("bone", 400, 1800, "cortical and trabecular bone"),
)

PRESET_NAMES = tuple(preset.name for preset in CT_PRESETS)


def find_preset(name: str) -> Preset | None:
    wanted = name.strip().lower().replace("_", "-").replace(" ", "-")
    return next((preset for preset in CT_PRESETS if preset.name == wanted), None)
