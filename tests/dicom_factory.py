"""Synthetic DICOM instances with fixed, readable UIDs, for tests and benchmarks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, SecondaryCaptureImageStorage

ROOT = "1.2.826.0.1.3680043.10.1234"


def uid(*parts: int | str) -> str:
    return ".".join([ROOT, *(str(p) for p in parts)])


def make_dataset(
    *,
    patient_id: str = "PAT1",
    patient_name: str = "DOE^JANE",
    birth_date: str = "19700101",
    study: int = 1,
    series: int = 1,
    instance: int = 1,
    study_date: str = "20240115",
    modality: str = "CT",
    rows: int = 64,
    columns: int = 64,
    accession: str = "",
    description: str = "",
    study_uid: str | None = None,
    series_uid: str | None = None,
    sop_uid: str | None = None,
    charset: str | None = None,
    seed: int = 0,
) -> Dataset:
    """A small CT (or SC) image with pixel data; UIDs derive from the numbers given."""
    ds = Dataset()
    if charset:
        ds.SpecificCharacterSet = charset
    ds.SOPClassUID = CTImageStorage if modality == "CT" else SecondaryCaptureImageStorage
    ds.SOPInstanceUID = sop_uid or uid(study, series, instance)
    ds.StudyInstanceUID = study_uid or uid(study)
    ds.SeriesInstanceUID = series_uid or uid(study, series)
    ds.PatientID = patient_id
    ds.PatientName = patient_name
    ds.PatientBirthDate = birth_date
    ds.PatientSex = "F"
    ds.StudyDate = study_date
    ds.StudyTime = "101500"
    ds.AccessionNumber = accession
    ds.StudyID = str(study)
    ds.StudyDescription = description
    ds.ReferringPhysicianName = "WHO^DR"
    ds.Modality = modality
    ds.SeriesNumber = series
    ds.SeriesDescription = f"series {series}"
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = [0, 0, float(instance)]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PixelSpacing = [0.5, 0.5]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = columns
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.WindowCenter = 40
    ds.WindowWidth = 400
    rng = np.random.default_rng(seed + instance)
    pixels = rng.integers(0, 4096, size=(rows, columns), dtype=np.uint16)
    ds.PixelData = pixels.tobytes()
    return ds


def file_meta_for(ds: Dataset, transfer_syntax: str = ExplicitVRLittleEndian) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = transfer_syntax
    return meta


def write_instance(path: Path, ds: Dataset) -> Path:
    """Write ``ds`` as a Part 10 file in Explicit VR Little Endian."""
    ds.file_meta = file_meta_for(ds)
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def write_study(directory: Path, *, study: int = 1, series: int = 1, instances: int = 3,
                **attributes) -> list[Path]:
    """Files of one study: ``series`` series of ``instances`` instances each."""
    paths = []
    for se in range(1, series + 1):
        for number in range(1, instances + 1):
            ds = make_dataset(study=study, series=se, instance=number, **attributes)
            paths.append(write_instance(directory / f"st{study}_se{se}_{number}.dcm", ds))
    return paths
