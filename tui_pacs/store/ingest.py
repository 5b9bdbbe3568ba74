"""From DICOM bytes to what the archive stores: a Part 10 file and an index record.

The dataset bytes are kept as received, never decoded and re-encoded. One
structural pass (integrity.scan_dataset, or inflate.scan_deflated as a deflated
dataset inflates) checks them and picks out the raw
values of the indexed attributes, which :class:`Header` decodes with the
dataset's character set. pydicom's reader is only used to recognise files
without a usable file meta header.
"""

from __future__ import annotations

import functools
import io
import mmap
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from pydicom import config as pydicom_config
from pydicom.charset import convert_encodings, decode_bytes
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.filereader import read_partial
from pydicom.tag import BaseTag
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MediaStorageDirectoryStorage,
)
from pydicom.valuerep import PN_DELIMS, TEXT_VR_DELIMS

from tui_pacs import __version__
from tui_pacs.core.matching import normalize_date
from tui_pacs.core.model import InstanceRecord
from tui_pacs.store.inflate import scan_deflated
from tui_pacs.store.integrity import (
    ENCAPSULATED,
    PIXEL_DATA,
    MalformedDataset,
    RawElements,
    scan_dataset,
    scan_file_meta,
)

IMPLEMENTATION_CLASS_UID = "2.25.136048614514864443276279383414494404193"
IMPLEMENTATION_VERSION_NAME = f"TUIPACS_{__version__}"[:16]
PREAMBLE = b"\x00" * 128 + b"DICM"
UID_MAX_LENGTH = 64
# Files up to this size are read into memory, larger ones memory-mapped.
MAP_ABOVE = 4 * 1_048_576
# Enough of a bare dataset for pydicom to guess its encoding and find its UIDs.
GUESS_BYTES = 65_536

# Files that are not DICOM are skipped without a warning from pydicom.
pydicom_config.settings.reading_validation_mode = pydicom_config.IGNORE


class NotDicom(Exception):
    """Not a DICOM instance (skipped by import, not a failure)."""


class InvalidInstance(Exception):
    """A DICOM dataset that cannot be archived; the message says why."""


@dataclass(frozen=True)
class ParsedFile:
    """A DICOM file ready to be copied into the archive."""

    header: Header
    transfer_syntax: UID
    # Bytes to write before the rest of the source file (b"" when copied as is).
    new_prefix: bytes
    # Where the copied part of the source file starts.
    copy_from: int
    # Where the dataset (after any file meta group) starts in the source file.
    dataset_offset: int


def parse_dataset_bytes(data: bytes | memoryview, transfer_syntax: str,
                        max_inflated: int | None = None) -> Header:
    """Check a dataset encoded in ``transfer_syntax`` and read its indexed values.

    A deflated dataset is checked as it inflates, never inflated whole
    (see :mod:`~tui_pacs.store.inflate`). Raises InvalidInstance when the
    bytes are malformed or truncated, and TooLarge when they inflate to more
    than ``max_inflated`` bytes (None: no limit).
    """
    ts = UID(transfer_syntax)
    try:
        implicit, little = ts.is_implicit_VR, ts.is_little_endian
    except ValueError:
        raise InvalidInstance(f"unknown transfer syntax {transfer_syntax}") from None
    try:
        if ts.is_deflated:
            elements = scan_deflated(data, _SCANNED_TAGS, max_inflated)
        else:
            elements = scan_dataset(data, implicit, little, _SCANNED_TAGS)
    except MalformedDataset as exc:
        raise InvalidInstance(f"malformed dataset: {exc}") from None
    pixels = elements.pop(PIXEL_DATA, None)
    if pixels is not None:
        _check_pixel_encoding(ts, pixels[1] == ENCAPSULATED)
    return Header(elements, little)


def _check_pixel_encoding(ts: UID, encapsulated: bool) -> None:
    """Refuse pixel data whose encoding contradicts the transfer syntax: such an
    instance looks sound until someone tries to show it (PS3.5 A.4: compressed
    syntaxes encapsulate Pixel Data, the others do not). The message fits an
    Error Comment (64 characters)."""
    if ts.is_encapsulated and not encapsulated:
        raise InvalidInstance(f"pixel data not encapsulated, as {ts.keyword} requires")
    if encapsulated and not ts.is_encapsulated:
        raise InvalidInstance(f"pixel data encapsulated, but {ts.keyword} is not")


def parse_file(data: bytes | mmap.mmap, max_inflated: int | None = None) -> ParsedFile:
    """Check a file and decide how to store it.

    ``data`` is the whole file in memory or memory-mapped (see :func:`load`):
    reading it makes no system calls, which matters when many threads share
    the GIL (each call lets another thread take it for up to 5 ms). Part 10 files with
    a usable file meta header are copied byte for byte. Others (bare
    datasets, a meta header without transfer syntax) get a new file meta
    header in front of their unchanged dataset bytes. ``max_inflated`` is as
    for :func:`parse_dataset_bytes`.
    """
    meta: RawElements = {}
    offset = 0
    if len(data) >= 132 and data[128:132] == b"DICM":
        try:
            meta, offset = scan_file_meta(data, 132)
        except MalformedDataset as exc:
            raise InvalidInstance(f"malformed file meta header: {exc}") from None
        if _ascii(meta, 0x00020002) == MediaStorageDirectoryStorage:
            raise NotDicom("a DICOMDIR (media directory), not an instance")
    transfer_syntax = _ascii(meta, 0x00020010) or _guess_transfer_syntax(data, offset)
    with memoryview(data) as whole, whole[offset:] as dataset:
        header = parse_dataset_bytes(dataset, transfer_syntax, max_inflated)
    if _ascii(meta, 0x00020010) and _ascii(meta, 0x00020002) and _ascii(meta, 0x00020003):
        return ParsedFile(header, UID(transfer_syntax), b"", 0, offset)
    study, series, sop, sop_class = header.identifiers()
    prefix = part10_prefix(sop_class, sop, transfer_syntax, "")
    return ParsedFile(header, UID(transfer_syntax), prefix, offset, offset)


def part10_prefix(sop_class_uid: str, sop_instance_uid: str, transfer_syntax: str,
                  source_aet: str) -> bytes:
    """Preamble, 'DICM' and a file meta group for a dataset we store.

    Encoded here rather than by pydicom's writer, which took a tenth of the
    time an association thread spends on each received instance; the bytes
    are the same (tests compare them with pydicom's).
    """
    elements = [
        _meta_element(0x0001, b"OB", b"\x00\x01"),
        _meta_element(0x0002, b"UI", _padded(sop_class_uid, b"\x00")),
        _meta_element(0x0003, b"UI", _padded(sop_instance_uid, b"\x00")),
        _meta_element(0x0010, b"UI", _padded(transfer_syntax, b"\x00")),
        _meta_element(0x0012, b"UI", _padded(IMPLEMENTATION_CLASS_UID, b"\x00")),
        _meta_element(0x0013, b"SH", _padded(IMPLEMENTATION_VERSION_NAME, b" ")),
    ]
    if source_aet:
        elements.append(_meta_element(0x0016, b"AE", _padded(source_aet, b" ")))
    body = b"".join(elements)
    group_length = _meta_element(0x0000, b"UL", len(body).to_bytes(4, "little"))
    return PREAMBLE + group_length + body


def _meta_element(element: int, vr: bytes, value: bytes) -> bytes:
    """One explicit VR little endian element of group 0002."""
    header = (0x0002).to_bytes(2, "little") + element.to_bytes(2, "little") + vr
    if vr in (b"OB", b"UN"):
        return header + b"\x00\x00" + len(value).to_bytes(4, "little") + value
    return header + len(value).to_bytes(2, "little") + value


def _padded(text: str, pad: bytes) -> bytes:
    value = text.encode("ascii")
    return value + pad if len(value) % 2 else value


def record_from_header(header: Header, transfer_syntax: str, file_size: int,
                       source_aet: str) -> InstanceRecord:
    """The index record of an instance, from its parsed header."""
    study_uid, series_uid, sop_uid, sop_class_uid = header.identifiers()
    text, integer = header.text, header.integer
    return InstanceRecord(
        patient_id=text("PatientID"),
        issuer_of_patient_id=text("IssuerOfPatientID"),
        patient_name=text("PatientName"),
        patient_birth_date=normalize_date(text("PatientBirthDate")),
        patient_sex=text("PatientSex"),
        study_uid=study_uid,
        study_date=normalize_date(text("StudyDate")),
        study_time=text("StudyTime"),
        accession_number=text("AccessionNumber"),
        study_id=text("StudyID"),
        study_description=text("StudyDescription"),
        referring_physician_name=text("ReferringPhysicianName"),
        series_uid=series_uid,
        modality=text("Modality"),
        series_number=integer("SeriesNumber"),
        series_description=text("SeriesDescription"),
        body_part_examined=text("BodyPartExamined"),
        series_date=normalize_date(text("SeriesDate")),
        series_time=text("SeriesTime"),
        sop_uid=sop_uid,
        sop_class_uid=sop_class_uid,
        instance_number=integer("InstanceNumber"),
        transfer_syntax_uid=str(transfer_syntax),
        rows=integer("Rows"),
        columns=integer("Columns"),
        number_of_frames=integer("NumberOfFrames"),
        image_position=text("ImagePositionPatient"),
        image_orientation=text("ImageOrientationPatient"),
        file_size=file_size,
        source_aet=source_aet.strip(),
    )


def read_record(path: Path, source_aet: str = "") -> InstanceRecord:
    """Parse a stored file's header into its index record (used by check/repair)."""
    with open(path, "rb") as fp:
        data = load(fp)
        try:
            parsed = parse_file(data)
        finally:
            if isinstance(data, mmap.mmap):
                data.close()
    return record_from_header(parsed.header, parsed.transfer_syntax, path.stat().st_size,
                              source_aet)


def load(fp: BinaryIO) -> bytes | mmap.mmap:
    """The whole file: read when small, memory-mapped when large (pixel data of
    a multi-frame study is not copied into memory). NotDicom when empty."""
    size = os.fstat(fp.fileno()).st_size
    if size == 0:
        raise NotDicom("empty file")
    if size <= MAP_ABOVE:
        return fp.read()
    return mmap.mmap(fp.fileno(), 0, access=mmap.ACCESS_READ)


class Header:
    """The indexed attributes of a dataset, decoded from their raw bytes.

    Plain text, numbers and person names, decoded with the dataset's
    character set the way pydicom would, without building a Dataset.
    """

    def __init__(self, elements: RawElements, little_endian: bool) -> None:
        self._elements = elements
        self._byteorder: Literal["little", "big"] = "little" if little_endian else "big"
        charset = self._raw(0x00080005).decode("ascii", "replace").strip(" \x00")
        self._encodings = convert_encodings(charset.split("\\") if charset else None)

    def text(self, keyword: str) -> str:
        tag = _TAGS[keyword]
        vr, value = self._elements.get(tag, (None, b""))
        if not value:
            return ""
        vr = vr or _dictionary_vr(tag)
        try:
            if vr == "PN":
                groups = [decode_bytes(part, self._encodings, PN_DELIMS).strip(" \x00")
                          for part in value.split(b"=")]
                text = "=".join(groups).rstrip("=")
            elif vr in ("US", "UL"):
                text = str(int.from_bytes(value[:2 if vr == "US" else 4], self._byteorder))
            elif vr in _CHARSET_VRS:
                text = decode_bytes(value, self._encodings, TEXT_VR_DELIMS)
            else:
                text = value.decode("ascii", "replace")
        except Exception:  # an undecodable value is shown as empty, never fatal
            return ""
        return text.replace("\x00", "").strip()

    def integer(self, keyword: str) -> int | None:
        text = self.text(keyword).split("\\")[0]
        try:
            return int(float(text)) if text else None
        except (ValueError, OverflowError):
            return None

    def identifiers(self) -> tuple[str, str, str, str]:
        """(StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID, SOPClassUID), validated."""
        values = []
        for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID",
                        "SOPClassUID"):
            value = self.text(keyword)
            if not value:
                raise InvalidInstance(f"{keyword} is missing")
            if len(value) > UID_MAX_LENGTH:
                raise InvalidInstance(
                    f"{keyword} is {len(value)} characters long (the limit is {UID_MAX_LENGTH})"
                )
            if not value.isprintable() or "\\" in value:
                raise InvalidInstance(f"{keyword} {value!r} is not a valid UID")
            values.append(value)
        return values[0], values[1], values[2], values[3]

    def _raw(self, tag: int) -> bytes:
        return self._elements.get(tag, (None, b""))[1]


_CHARSET_VRS = frozenset({"SH", "LO", "ST", "LT", "UC", "UT"})


def _tag(keyword: str) -> int:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(f"not a DICOM keyword: {keyword}")
    return tag


_TAGS = {keyword: _tag(keyword) for keyword in (
    "SpecificCharacterSet", "PatientID", "IssuerOfPatientID", "PatientName",
    "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate", "StudyTime",
    "AccessionNumber", "StudyID", "StudyDescription", "ReferringPhysicianName",
    "SeriesInstanceUID", "Modality", "SeriesNumber", "SeriesDescription", "BodyPartExamined",
    "SeriesDate", "SeriesTime", "SOPInstanceUID", "SOPClassUID", "InstanceNumber", "Rows",
    "Columns", "NumberOfFrames", "ImagePositionPatient", "ImageOrientationPatient")}
INDEXED_TAGS = frozenset(_TAGS.values())
# Pixel Data is scanned too, for how it is encoded (its value is not copied).
_SCANNED_TAGS = INDEXED_TAGS | {PIXEL_DATA}


@functools.lru_cache(maxsize=256)
def _dictionary_vr(tag: int) -> str:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return "UN"


def _ascii(elements: RawElements, tag: int) -> str:
    return elements.get(tag, (None, b""))[1].decode("ascii", "replace").strip(" \x00")


def _guess_transfer_syntax(data: bytes | mmap.mmap, offset: int) -> str:
    """The encoding of a dataset without a file meta header, as pydicom guesses it.

    Raises NotDicom when pydicom does not see a dataset with SOP identifiers.
    """
    try:
        ds = read_partial(io.BytesIO(data[offset:offset + GUESS_BYTES]),
                          stop_when=_after_sop_identifiers, force=True)
        found = all(keyword in ds for keyword in ("SOPClassUID", "SOPInstanceUID"))
    except Exception:
        found = False
    if not found:
        raise NotDicom()
    implicit, little = ds.original_encoding
    if little:
        return ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    return ExplicitVRBigEndian


def _after_sop_identifiers(tag: BaseTag, vr: str | None, length: int) -> bool:
    return tag > 0x00080018


def _brief(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]
