"""Transfer syntaxes the SCU side proposes, grouped the way it negotiates them.

The one place that decides which presentation contexts a C-STORE requestor
proposes (``send``, C-MOVE sub-operations), and which a C-GET requestor
offers to receive.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pydicom.uid import (
    JPEG2000,
    ComputedRadiographyImageStorage,
    CTImageStorage,
    DeflatedExplicitVRLittleEndian,
    DigitalMammographyXRayImageStorageForPresentation,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    MRImageStorage,
    RLELossless,
    SecondaryCaptureImageStorage,
    UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage,
    XRayAngiographicImageStorage,
    XRayRadiofluoroscopicImageStorage,
)
from pynetdicom import StoragePresentationContexts, build_context
from pynetdicom.presentation import PresentationContext

# Every node must accept Implicit VR Little Endian; explicit first, as it keeps VRs.
UNCOMPRESSED = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)
# Encodings found in archives, each proposed in a context of its own so that
# the sender can pick the one its copy is in and send it unchanged.
STORED_ENCODINGS = (
    JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLosslessSV1, JPEGLSLossless, JPEGLSNearLossless,
    JPEG2000Lossless, JPEG2000, RLELossless, DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
)
# The most presentation contexts one association may propose (PS3.8: odd IDs 1-255).
MAX_CONTEXTS = 128


def storage_contexts(stored: Iterable[tuple[str, str]]) -> list[PresentationContext]:
    """Contexts to C-STORE instances held as ``stored`` (SOP class UID, transfer
    syntax UID) pairs, in the order first seen.

    Each encoding held gets a context of its own, so an instance goes out as
    it is stored when the receiver takes it. Each SOP class also gets one
    context with the uncompressed little endian syntaxes not already
    proposed: Implicit VR Little Endian is the default every node accepts
    (PS3.5 10.1), and the one thing an implicit-only receiver takes, so
    anything else can still be converted to one of them and sent.
    """
    by_class: dict[str, list[str]] = {}
    for sop_class, syntax in stored:
        syntaxes = by_class.setdefault(sop_class, [])
        if syntax not in syntaxes:
            syntaxes.append(syntax)
    contexts = []
    for sop_class, syntaxes in by_class.items():
        contexts += [build_context(sop_class, [syntax]) for syntax in syntaxes]
        fallback: list[str] = [syntax for syntax in UNCOMPRESSED if syntax not in syntaxes]
        if fallback:
            contexts.append(build_context(sop_class, fallback))
    return contexts


# Image SOP classes most often held compressed: when a C-GET's remote does not
# say what it will send, these are offered in the common compressed encodings.
COMMON_IMAGE_CLASSES = (
    CTImageStorage, MRImageStorage, ComputedRadiographyImageStorage,
    DigitalXRayImageStorageForPresentation, DigitalMammographyXRayImageStorageForPresentation,
    UltrasoundImageStorage, UltrasoundMultiFrameImageStorage, SecondaryCaptureImageStorage,
    XRayAngiographicImageStorage, XRayRadiofluoroscopicImageStorage,
)
# The compressed encodings offered for them, each in a context of its own: a
# remote that cannot transcode sends an instance only in the encoding it holds.
COMMON_COMPRESSED = (
    JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLosslessSV1, JPEGLSLossless, JPEG2000Lossless,
    JPEG2000, RLELossless,
)
COMMON_COMPRESSED_TEXT = "JPEG (baseline, extended, lossless), JPEG-LS lossless, JPEG 2000, RLE"


@dataclass(frozen=True)
class Offer:
    """The storage contexts a C-GET proposes, and what they are in words (for
    the diagnosis when the remote cannot send in them)."""

    contexts: list[PresentationContext]
    description: str
    # The SOP classes came from the remote (a C-FIND), not from a guess.
    listed: bool


def get_storage_offer(sop_classes: list[str]) -> Offer:
    """Storage contexts for a C-GET, within the 127 left beside the C-GET's own.

    For the SOP classes the remote listed, one context per encoding an
    archive may hold, so each instance can come back unchanged. For none
    known, or too many, the common image classes in the uncompressed and
    common compressed encodings, then as many other storage classes as fit,
    uncompressed.
    """
    room = MAX_CONTEXTS - 1
    per_class = 1 + len(STORED_ENCODINGS)
    if sop_classes and len(sop_classes) * per_class <= room:
        contexts = []
        for uid in sop_classes:
            contexts.append(build_context(uid, list(UNCOMPRESSED)))
            contexts += [build_context(uid, [syntax]) for syntax in STORED_ENCODINGS]
        return Offer(contexts, f"the {len(sop_classes)} SOP class(es) the remote listed, "
                     "uncompressed and in every common encoding", listed=True)
    common = [uid for uid in COMMON_IMAGE_CLASSES if not sop_classes or uid in sop_classes]
    contexts = []
    for uid in common:
        contexts.append(build_context(uid, list(UNCOMPRESSED)))
        contexts += [build_context(uid, [syntax]) for syntax in COMMON_COMPRESSED]
    candidates = sop_classes or [cx.abstract_syntax for cx in StoragePresentationContexts
                                 if cx.abstract_syntax]
    others = [uid for uid in candidates if uid not in common][:room - len(contexts)]
    contexts += [build_context(uid, list(UNCOMPRESSED)) for uid in others]
    return Offer(contexts, f"{len(common)} common image SOP classes uncompressed and in "
                 f"{COMMON_COMPRESSED_TEXT}, and {len(others)} other storage classes "
                 "uncompressed only", listed=bool(sop_classes))
