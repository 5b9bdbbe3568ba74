"""From DICOM bytes to what the archive stores: a Part 10 file and an index record.

Only the header is parsed (everything before Pixel Data); the dataset bytes
are kept as received, never decoded and re-encoded.
"""

from __future__ import annotations

import io
import mmap
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from pydicom import config as pydicom_config
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.filereader import _read_file_meta_info, dcmread, read_dataset, read_preamble
from pydicom.filewriter import write_file_meta_info
from pydicom.tag import BaseTag
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    MediaStorageDirectoryStorage,
)

from tui_pacs import __version__
from tui_pacs.core.matching import normalize_date
from tui_pacs.core.model import InstanceRecord
from tui_pacs.store.integrity import MalformedDataset, check_dataset

IMPLEMENTATION_CLASS_UID = "2.25.136048614514864443276279383414494404193"
IMPLEMENTATION_VERSION_NAME = f"TUIPACS_{__version__}"[:16]
PREAMBLE = b"\x00" * 128 + b"DICM"
UID_MAX_LENGTH = 64

# Files that are not DICOM are skipped without a warning from pydicom.
pydicom_config.settings.reading_validation_mode = pydicom_config.IGNORE


class NotDicom(Exception):
    """Not a DICOM instance (skipped by import, not a failure)."""


class InvalidInstance(Exception):
    """A DICOM dataset that cannot be archived; the message says why."""


@dataclass(frozen=True)
class ParsedFile:
    """A DICOM file ready to be copied into the archive."""

    header: Dataset
    transfer_syntax: UID
    # Bytes to write before the rest of the source file (b"" when copied as is).
    new_prefix: bytes
    # Where the copied part of the source file starts.
    copy_from: int
    # Where the dataset (after any file meta group) starts in the source file.
    dataset_offset: int


def _stop_at_pixels(tag: BaseTag, vr: str | None, length: int) -> bool:
    return tag >= 0x7FE00000


def parse_dataset_bytes(data: bytes | memoryview, transfer_syntax: str) -> Dataset:
    """The header of a dataset encoded in ``transfer_syntax`` (as a C-STORE carries it)."""
    ts = UID(transfer_syntax)
    buffer: bytes | memoryview = data
    if ts == DeflatedExplicitVRLittleEndian:
        try:
            buffer = zlib.decompressobj(-zlib.MAX_WBITS).decompress(data)
        except zlib.error as exc:
            raise InvalidInstance(f"deflated dataset does not inflate: {exc}") from None
    try:
        implicit, little = ts.is_implicit_VR, ts.is_little_endian
    except ValueError:
        raise InvalidInstance(f"unknown transfer syntax {transfer_syntax}") from None
    try:
        ds = read_dataset(io.BytesIO(buffer), implicit, little, stop_when=_stop_at_pixels)
        ds.set_original_encoding(implicit, little, None)
        return ds
    except Exception as exc:  # pydicom raises many kinds on malformed input
        raise InvalidInstance(f"dataset cannot be parsed: {_brief(exc)}") from None


def parse_file(fp: BinaryIO) -> ParsedFile:
    """Read a file's header and decide how to store it.

    Part 10 files with a usable file meta header are copied byte for byte.
    Others (bare datasets, missing transfer syntax) get a new file meta
    header in front of their unchanged dataset bytes.
    """
    try:
        read_preamble(fp, force=False)
        part10 = True
    except InvalidDicomError:
        part10 = False
    fp.seek(0)
    try:
        ds = dcmread(fp, force=True, stop_before_pixels=True)
    except Exception as exc:
        if part10:
            raise InvalidInstance(f"cannot be parsed: {_brief(exc)}") from None
        raise NotDicom() from None
    if not part10 and not _looks_like_dataset(ds):
        raise NotDicom()

    meta = ds.file_meta if part10 else FileMetaDataset()
    if meta.get("MediaStorageSOPClassUID") == MediaStorageDirectoryStorage:
        raise NotDicom("a DICOMDIR (media directory), not an instance")
    meta_ts = meta.get("TransferSyntaxUID")
    offset = dataset_offset(fp) if part10 else 0
    transfer_syntax = UID(meta_ts) if meta_ts else _guess_transfer_syntax(ds)
    check_file_structure(fp, offset, transfer_syntax)
    if part10 and meta_ts and _meta_complete(meta):
        return ParsedFile(ds, transfer_syntax, b"", 0, offset)

    # Rebuild the meta header; keep the dataset bytes exactly as they are.
    identifiers = require_identifiers(ds)
    prefix = part10_prefix(identifiers[3], identifiers[2], transfer_syntax, "")
    return ParsedFile(ds, transfer_syntax, prefix, offset, offset)


def check_file_structure(fp: BinaryIO, offset: int, transfer_syntax: str) -> None:
    """Raise InvalidInstance when the file is truncated or its elements do not fit."""
    if os.fstat(fp.fileno()).st_size <= offset:
        raise InvalidInstance("the file holds no dataset")
    with mmap.mmap(fp.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        with memoryview(mapped) as whole, whole[offset:] as dataset:
            problem = _structure_problem(dataset, transfer_syntax)
    if problem:
        raise InvalidInstance(problem)


def check_encoded(dataset: bytes | memoryview, transfer_syntax: str) -> None:
    """Raise InvalidInstance unless the dataset bytes are well formed."""
    problem = _structure_problem(dataset, transfer_syntax)
    if problem:
        raise InvalidInstance(problem)


def _structure_problem(dataset: bytes | memoryview, transfer_syntax: str) -> str | None:
    # Returns text, not an exception, so no traceback keeps the buffer exported.
    ts = UID(transfer_syntax)
    if ts.is_deflated:
        return None  # inflated and parsed in full when it is read
    try:
        check_dataset(dataset, ts.is_implicit_VR, ts.is_little_endian)
    except MalformedDataset as exc:
        return f"malformed dataset: {exc}"
    except ValueError:
        return f"unknown transfer syntax {transfer_syntax}"
    return None


def part10_prefix(sop_class_uid: str, sop_instance_uid: str, transfer_syntax: str,
                  source_aet: str) -> bytes:
    """Preamble, 'DICM' and a file meta group for a dataset we store."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class_uid
    meta.MediaStorageSOPInstanceUID = sop_instance_uid
    meta.TransferSyntaxUID = transfer_syntax
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    if source_aet:
        meta.SourceApplicationEntityTitle = source_aet
    buffer = io.BytesIO()
    buffer.write(PREAMBLE)
    write_file_meta_info(buffer, meta, enforce_standard=True)
    return buffer.getvalue()


def require_identifiers(ds: Dataset) -> tuple[str, str, str, str]:
    """(StudyInstanceUID, SeriesInstanceUID, SOPInstanceUID, SOPClassUID), validated."""
    values = []
    for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"):
        value = _text(ds, keyword)
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


def record_from_header(ds: Dataset, transfer_syntax: str, file_size: int,
                       source_aet: str) -> InstanceRecord:
    """The index record of an instance, from its parsed header."""
    study_uid, series_uid, sop_uid, sop_class_uid = require_identifiers(ds)
    return InstanceRecord(
        patient_id=_text(ds, "PatientID"),
        issuer_of_patient_id=_text(ds, "IssuerOfPatientID"),
        patient_name=_text(ds, "PatientName"),
        patient_birth_date=normalize_date(_text(ds, "PatientBirthDate")),
        patient_sex=_text(ds, "PatientSex"),
        study_uid=study_uid,
        study_date=normalize_date(_text(ds, "StudyDate")),
        study_time=_text(ds, "StudyTime"),
        accession_number=_text(ds, "AccessionNumber"),
        study_id=_text(ds, "StudyID"),
        study_description=_text(ds, "StudyDescription"),
        referring_physician_name=_text(ds, "ReferringPhysicianName"),
        series_uid=series_uid,
        modality=_text(ds, "Modality"),
        series_number=_integer(ds, "SeriesNumber"),
        series_description=_text(ds, "SeriesDescription"),
        body_part_examined=_text(ds, "BodyPartExamined"),
        series_date=normalize_date(_text(ds, "SeriesDate")),
        series_time=_text(ds, "SeriesTime"),
        sop_uid=sop_uid,
        sop_class_uid=sop_class_uid,
        instance_number=_integer(ds, "InstanceNumber"),
        transfer_syntax_uid=str(transfer_syntax),
        rows=_integer(ds, "Rows"),
        columns=_integer(ds, "Columns"),
        number_of_frames=_integer(ds, "NumberOfFrames"),
        image_position=_text(ds, "ImagePositionPatient"),
        image_orientation=_text(ds, "ImageOrientationPatient"),
        file_size=file_size,
        source_aet=source_aet.strip(),
    )


def read_record(path: Path, source_aet: str = "") -> InstanceRecord:
    """Parse a stored file's header into its index record (used by check/repair)."""
    with open(path, "rb") as fp:
        parsed = parse_file(fp)
    return record_from_header(parsed.header, parsed.transfer_syntax, path.stat().st_size,
                              source_aet)


def _text(ds: Dataset, keyword: str) -> str:
    """An attribute as display text; empty when absent or unreadable."""
    try:
        value: Any = ds.get(keyword)
    except Exception:
        return ""
    if value is None:
        return ""
    try:
        if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
            text = "\\".join(str(v) for v in value)
        else:
            text = str(value)
    except Exception:
        return ""
    return text.replace("\x00", "").strip()


def _integer(ds: Dataset, keyword: str) -> int | None:
    text = _text(ds, keyword).split("\\")[0]
    try:
        return int(float(text)) if text else None
    except (ValueError, OverflowError):
        return None


def _looks_like_dataset(ds: Dataset) -> bool:
    """A forced read of a non-DICOM file yields junk; a dataset has its identifiers."""
    try:
        return all(keyword in ds for keyword in ("SOPClassUID", "SOPInstanceUID"))
    except Exception:
        return False


def _meta_complete(meta: FileMetaDataset) -> bool:
    return bool(meta.get("MediaStorageSOPClassUID")) and bool(
        meta.get("MediaStorageSOPInstanceUID")
    )


def _guess_transfer_syntax(ds: Dataset) -> UID:
    implicit, little = ds.original_encoding
    if little:
        return ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    return ExplicitVRBigEndian


def dataset_offset(fp: BinaryIO) -> int:
    """Where the dataset starts in a Part 10 file (after the file meta group)."""
    fp.seek(0)
    read_preamble(fp, force=False)
    _read_file_meta_info(fp)
    return fp.tell()


def _brief(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]
