"""A small archive of known patients, studies and series for query/retrieve tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.conftest import run_cli
from tests.dicom_factory import make_dataset, uid, write_instance


@dataclass(frozen=True)
class Study:
    number: int
    patient_id: str
    patient_name: str
    date: str
    modality: str
    series: int
    instances: int


STUDIES = (
    Study(1, "P1", "SMITH^JOHN", "20240115", "CT", series=2, instances=2),
    Study(2, "P1", "SMITH^JOHN", "20230601", "MR", series=1, instances=3),
    Study(3, "P2", "smithers^anna", "20240301", "CT", series=1, instances=1),
    Study(4, "P3", "DOE^JANE", "20220101", "OT", series=1, instances=2),
)


def write_studies(directory: Path) -> list[Path]:
    paths = []
    for study in STUDIES:
        for series in range(1, study.series + 1):
            for instance in range(1, study.instances + 1):
                ds = make_dataset(patient_id=study.patient_id, patient_name=study.patient_name,
                                  study=study.number, series=series, instance=instance,
                                  study_date=study.date, modality=study.modality,
                                  accession=f"ACC{study.number}")
                paths.append(write_instance(
                    directory / f"st{study.number}-se{series}-{instance}.dcm", ds))
    return paths


def seed_archive(data_dir: Path, files_dir: Path) -> list[Path]:
    """Import STUDIES into the archive at ``data_dir`` with `tui-pacs import`."""
    paths = write_studies(files_dir)
    result = run_cli("import", files_dir, "--data", data_dir)
    assert result.returncode == 0, result.stderr
    return paths


def study_uid(number: int) -> str:
    return uid(number)


def series_uid(study: int, series: int) -> str:
    return uid(study, series)


def instance_uid(study: int, series: int, instance: int) -> str:
    return uid(study, series, instance)
