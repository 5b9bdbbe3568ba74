"""What a remote accepts: SOP classes by transfer syntax, as a probe found them.

The probe (:mod:`tui_pacs.net.client.probe`) only negotiates; this module
holds what it found as plain values, and the two ways of showing them: a
matrix that fits 80 columns (classes as rows, grouped; syntaxes as columns
of two letters, with a legend) for the terminal and the app, and a dict for
``--json``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from pydicom.uid import (
    JPEG2000,
    BasicTextSRStorage,
    ComprehensiveSRStorage,
    ComputedRadiographyImageStorage,
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    DigitalMammographyXRayImageStorageForPresentation,
    DigitalXRayImageStorageForPresentation,
    EncapsulatedPDFStorage,
    EnhancedCTImageStorage,
    EnhancedMRImageStorage,
    EnhancedSRStorage,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    GrayscaleSoftcopyPresentationStateStorage,
    HTJ2KLossless,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    KeyObjectSelectionDocumentStorage,
    MRImageStorage,
    NuclearMedicineImageStorage,
    PositronEmissionTomographyImageStorage,
    RLELossless,
    RTDoseStorage,
    RTImageStorage,
    RTPlanStorage,
    RTStructureSetStorage,
    SecondaryCaptureImageStorage,
    SegmentationStorage,
    UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage,
    XRayAngiographicImageStorage,
    XRayRadiationDoseSRStorage,
    XRayRadiofluoroscopicImageStorage,
)

from tui_pacs.core.certificates import TLSReport
from tui_pacs.core.remote import Diagnosis
from tui_pacs.core.target import Target

# The transfer syntaxes probed, as the matrix's columns: (abbreviation, UID, legend).
SYNTAXES: tuple[tuple[str, str, str], ...] = (
    ("IL", ImplicitVRLittleEndian, "Implicit VR LE"),
    ("EL", ExplicitVRLittleEndian, "Explicit VR LE"),
    ("EB", ExplicitVRBigEndian, "Explicit VR BE"),
    ("DF", DeflatedExplicitVRLittleEndian, "Deflated"),
    ("JB", JPEGBaseline8Bit, "JPEG Baseline"),
    ("JE", JPEGExtended12Bit, "JPEG Extended"),
    ("JL", JPEGLossless, "JPEG Lossless"),
    ("J1", JPEGLosslessSV1, "JPEG Lossless SV1"),
    ("LL", JPEGLSLossless, "JPEG-LS Lossless"),
    ("LN", JPEGLSNearLossless, "JPEG-LS Near-lossless"),
    ("2L", JPEG2000Lossless, "JPEG 2000 Lossless"),
    ("2K", JPEG2000, "JPEG 2000"),
    ("RL", RLELossless, "RLE Lossless"),
    ("HL", HTJ2KLossless, "HTJ2K Lossless"),
)
# Services that carry no pixel data are asked in the uncompressed syntaxes only.
NON_IMAGE_SYNTAXES = (ImplicitVRLittleEndian, ExplicitVRLittleEndian, ExplicitVRBigEndian,
                      DeflatedExplicitVRLittleEndian)

# Storage classes the matrix always shows on a line of their own (when accepted).
COMMON_STORAGE = frozenset({
    CTImageStorage, EnhancedCTImageStorage, MRImageStorage, EnhancedMRImageStorage,
    ComputedRadiographyImageStorage, DigitalXRayImageStorageForPresentation,
    DigitalMammographyXRayImageStorageForPresentation, UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage, SecondaryCaptureImageStorage,
    XRayAngiographicImageStorage, XRayRadiofluoroscopicImageStorage,
    NuclearMedicineImageStorage, PositronEmissionTomographyImageStorage, RTImageStorage,
    RTDoseStorage, RTStructureSetStorage, RTPlanStorage, EncapsulatedPDFStorage,
    BasicTextSRStorage, EnhancedSRStorage, ComprehensiveSRStorage,
    KeyObjectSelectionDocumentStorage, XRayRadiationDoseSRStorage,
    GrayscaleSoftcopyPresentationStateStorage, SegmentationStorage,
})

VERIFICATION = "Verification"
QUERY_RETRIEVE = "Query/retrieve"
WORKLIST = "Worklist"
COMMITMENT = "Storage commitment"
STORAGE = "Storage"

WIDTH = 80
CELL = 3
ACCEPTED, REFUSED, NOT_ASKED = "+", ".", " "


@dataclass(frozen=True)
class ClassResult:
    """One SOP class: which of the syntaxes asked the remote accepted."""

    uid: str
    name: str
    group: str
    asked: tuple[str, ...]
    accepted: frozenset[str] = frozenset()

    def cell(self, syntax: str) -> str:
        if syntax not in self.asked:
            return NOT_ASKED
        return ACCEPTED if syntax in self.accepted else REFUSED


@dataclass(frozen=True)
class ProbeReport:
    target: Target
    calling_aet: str
    classes: tuple[ClassResult, ...] = ()
    implementation_class_uid: str = ""
    implementation_version_name: str = ""
    # The largest PDU the remote accepts (0: no limit).
    max_pdu: int = 0
    associations: int = 0
    seconds: float = 0.0
    tls: TLSReport | None = None
    # Why the probe stopped before the end (the remote could not be reached).
    diagnosis: Diagnosis | None = None

    @property
    def accepted_classes(self) -> list[ClassResult]:
        return [result for result in self.classes if result.accepted]


def short_name(name: str) -> str:
    """A SOP class's name without the words every row of its group repeats."""
    for long, short in ((" Query/Retrieve Information Model - ", " "),
                        (" Information Model - ", " ")):
        name = name.replace(long, short)
    return name.removesuffix(" SOP Class").removesuffix(" Storage").replace(" Storage - ",
                                                                            " - ")


def matrix_lines(report: ProbeReport, *, every_class: bool = False,
                 width: int = WIDTH) -> list[str]:
    """The matrix in ``width`` columns (the class names get what the cells leave):
    a header of abbreviations, a line per class, then the legend.

    Storage classes the remote refused in every syntax are only counted. Of
    the accepted ones, unless ``every_class``, the common classes get a line
    each, and the rest share one line when they are accepted alike (most
    archives accept every class the same way); those that differ keep theirs.
    """
    name_width = max(12, width - CELL * len(SYNTAXES) - 2)

    def row(name: str, result: ClassResult, accepted: frozenset[str] | None = None) -> str:
        shown = result if accepted is None else ClassResult(result.uid, name, result.group,
                                                            result.asked, accepted)
        cells = "".join(f"{shown.cell(uid):<{CELL}}" for _, uid, _ in SYNTAXES)
        return f"{_fit(name, name_width):<{name_width + 2}}{cells}".rstrip()

    lines = [f"{'':<{name_width + 2}}" + "".join(f"{abbr:<{CELL}}"
                                                 for abbr, _, _ in SYNTAXES).rstrip()]
    for group in (VERIFICATION, QUERY_RETRIEVE, WORKLIST, COMMITMENT, STORAGE):
        members = [result for result in report.classes if result.group == group]
        if not members:
            continue
        if group == STORAGE:
            accepted = [result for result in members if result.accepted]
            lines.append(f"{group} ({len(accepted)} of {len(members)} classes accepted)")
            if every_class:
                lines += [row(f"  {short_name(result.name)}", result) for result in accepted]
                continue
            common = [result for result in accepted if result.uid in COMMON_STORAGE]
            rest = [result for result in accepted if result.uid not in COMMON_STORAGE]
            alike, count = (Counter(result.accepted for result in rest).most_common(1)[0]
                            if rest else (frozenset(), 0))
            lines += [row(f"  {short_name(result.name)}", result) for result in common]
            if count > 1:
                lines.append(row(f"  {count} other classes, alike", rest[0], alike))
            lines += [row(f"  {short_name(result.name)}", result) for result in rest
                      if count <= 1 or result.accepted != alike]
        elif len(members) > 1:
            lines.append(group)
            lines += [row(f"  {short_name(result.name)}", result) for result in members]
        else:
            lines += [row(short_name(result.name), result) for result in members]
    return lines + legend_lines(width)


def legend_lines(width: int = WIDTH) -> list[str]:
    lines = [f"{ACCEPTED} accepted  {REFUSED} refused  (blank) not asked"]
    line = ""
    for abbr, _, label in SYNTAXES:
        item = f"{abbr} {label}"
        if line and len(line) + 2 + len(item) > width:
            lines.append(line)
            line = ""
        line = f"{line}  {item}" if line else item
    return lines + [line]


def summary_lines(report: ProbeReport) -> list[str]:
    """What the remote said of itself, and what the probe cost."""
    implementation = report.implementation_class_uid or "unknown"
    if report.implementation_version_name:
        implementation += f" ({report.implementation_version_name})"
    return [
        f"implementation {implementation}",
        f"max PDU {report.max_pdu or 'unlimited'} · {len(report.accepted_classes)} of "
        f"{len(report.classes)} SOP classes accepted · {report.associations} associations, "
        f"{report.seconds:.2f} s",
    ]


def report_json(report: ProbeReport) -> dict[str, Any]:
    """Everything the probe found, keyed for scripts (UIDs, not abbreviations)."""
    return {
        "target": report.target.address,
        "calling_aet": report.calling_aet,
        "implementation_class_uid": report.implementation_class_uid,
        "implementation_version_name": report.implementation_version_name,
        "max_pdu": report.max_pdu,
        "associations": report.associations,
        "seconds": round(report.seconds, 3),
        "tls": report.tls.as_dict() if report.tls is not None else None,
        "transfer_syntaxes": {abbr: uid for abbr, uid, _ in SYNTAXES},
        "classes": [{"uid": result.uid, "name": result.name, "group": result.group,
                     "accepted": [uid for uid in result.asked if uid in result.accepted],
                     "refused": [uid for uid in result.asked if uid not in result.accepted]}
                    for result in report.classes],
    }


def _fit(name: str, width: int) -> str:
    """``name`` cut in the middle to ``width``: both ends tell classes apart
    ("Intravascular ... For Presentation" and "... For Processing")."""
    if len(name) <= width:
        return name
    tail = (width - 1) // 2
    return name[:width - 1 - tail] + "…" + name[-tail:]
