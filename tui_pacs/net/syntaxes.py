"""Transfer syntaxes the SCU side proposes, grouped the way it negotiates them."""

from __future__ import annotations

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
