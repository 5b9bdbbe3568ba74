"""Transfer syntaxes the SCU side proposes, grouped the way it negotiates them.

The one place that decides which presentation contexts a C-STORE requestor
proposes (``send``, C-MOVE sub-operations), and which a C-GET requestor
offers to receive.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pynetdicom import build_context
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
        fallback = [syntax for syntax in UNCOMPRESSED if syntax not in syntaxes]
        if fallback:
            contexts.append(build_context(sop_class, fallback))
    return contexts
