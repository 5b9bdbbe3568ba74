"""Which installed package decodes which transfer syntax, and one-line reasons when none can.

pydicom picks the decoder (pylibjpeg with its libjpeg, openjpeg and rle
plugins, pyjpegls, Pillow, or python-gdcm); this module turns its multi-line
failures into a sentence naming the transfer syntax and what would help.
"""

from __future__ import annotations

import logging
import re

from pydicom.pixels import get_decoder
from pydicom.pixels.decoders import base as decoders_base
from pydicom.pixels.decoders.base import Decoder
from pydicom.uid import UID, MPEGTransferSyntaxes

from tui_pacs.imaging.errors import UnsupportedImage

# Import names in pydicom's dependency lists -> the names to pip install.
_PYPI_NAMES = {"gdcm": "python-gdcm", "pillow": "Pillow"}
_REQUIREMENT = re.compile(r"[A-Za-z0-9_.\-]+")
_MAX_DETAIL = 120
_LIBJPEG_NOISE = re.compile(r" error code '[^']*' returned from \w+\(\)")


class _QuietPluginFailures(logging.Filter):
    """pydicom logs each decoder plugin that fails, with a traceback, before it
    raises; ``decode_failure`` says the same in one line, so drop those records."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.exc_info


logging.getLogger(decoders_base.__name__).addFilter(_QuietPluginFailures())


def decoder_for(transfer_syntax: UID) -> Decoder:
    """pydicom's decoder for ``transfer_syntax``, or UnsupportedImage saying what is missing."""
    if transfer_syntax in MPEGTransferSyntaxes or "MPEG" in transfer_syntax.name:
        raise UnsupportedImage(f"{transfer_syntax.name}: video is not decoded; export the "
                               "file and open it in a video player")
    try:
        decoder = get_decoder(transfer_syntax)
    except NotImplementedError:
        raise UnsupportedImage(f"{transfer_syntax.name}: no decoder exists for this transfer "
                               "syntax") from None
    if not decoder.is_available:
        raise UnsupportedImage(f"{transfer_syntax.name}: no decoder installed; "
                               f"{_would_decode(decoder)}")
    return decoder


def decode_failure(transfer_syntax: UID, decoder: Decoder, exc: Exception) -> UnsupportedImage:
    """The reason a decoder that is installed failed on this data, as one line."""
    detail = _first_plugin_error(str(exc))
    missing = _missing_packages(decoder)
    hint = f"; {_would_decode(decoder)}" if missing else ""
    return UnsupportedImage(f"{transfer_syntax.name}: the pixel data could not be decoded "
                            f"({detail}){hint}")


def _would_decode(decoder: Decoder) -> str:
    packages = _missing_packages(decoder)
    if not packages:
        return "no other decoder is known for it"
    return f"{' or '.join(packages)} might decode it"


def _missing_packages(decoder: Decoder) -> list[str]:
    """PyPI names of the decoders pydicom knows but cannot use here."""
    packages: list[str] = []
    for line in decoder.missing_dependencies:
        _, _, requirements = line.partition(" - requires ")
        for requirement in re.split(r",\s*|\s+and\s+", requirements):
            match = _REQUIREMENT.match(requirement.strip())
            if match and match.group() != "numpy":
                name = _PYPI_NAMES.get(match.group(), match.group())
                if name not in packages:
                    packages.append(name)
    return packages


def _first_plugin_error(message: str) -> str:
    """pydicom lists one failure per plugin on its own line; keep the first."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if len(lines) > 1 and lines[0].endswith(":"):
        lines = lines[1:]
    detail = _LIBJPEG_NOISE.sub("", lines[0]) if lines else "no details"
    return detail if len(detail) <= _MAX_DETAIL else detail[:_MAX_DETAIL - 1] + "…"
