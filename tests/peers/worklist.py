"""Worklist servers for a test: DCMTK's wlmscpfs, and the worklist files both it
and Orthanc's worklist plugin read.

A worklist file is a DICOM file (``.wl``) holding one scheduled procedure
step with every attribute a worklist server insists on. wlmscpfs serves the
files of the subfolder named after the called AE title, which must also hold
a file named ``lockfile``; Orthanc's plugin reads a folder of ``.wl`` files.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom.sop_class import ModalityWorklistInformationFind

from tests.peers.process import ListeningProgram

WLMSCPFS = shutil.which("wlmscpfs") or "/usr/bin/wlmscpfs"


@dataclass(frozen=True)
class Step:
    """One scheduled procedure step, as a RIS would have booked it."""

    patient_name: str
    patient_id: str
    accession: str
    station: str
    modality: str
    date: str
    time: str = "090000"
    procedure: str = "CT HEAD"
    procedure_id: str = "RP1"
    step_id: str = "SPS1"

    def dataset(self) -> Dataset:
        ds = Dataset()
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.PatientName = self.patient_name
        ds.PatientID = self.patient_id
        ds.PatientBirthDate = "19700101"
        ds.PatientSex = "F"
        ds.AccessionNumber = self.accession
        ds.ReferringPhysicianName = "WELBY^MARCUS"
        ds.RequestingPhysician = "WELBY^MARCUS"
        ds.RequestedProcedureID = self.procedure_id
        ds.RequestedProcedureDescription = self.procedure
        ds.RequestedProcedurePriority = "ROUTINE"
        # Derived from the accession number: the same on every run (snapshots show it).
        ds.StudyInstanceUID = generate_uid(entropy_srcs=[self.accession])
        ds.ReferencedStudySequence = []
        ds.ReferencedPatientSequence = []
        step = Dataset()
        step.ScheduledStationAETitle = self.station
        step.ScheduledProcedureStepStartDate = self.date
        step.ScheduledProcedureStepStartTime = self.time
        step.Modality = self.modality
        step.ScheduledPerformingPhysicianName = "HOUSE^GREGORY"
        step.ScheduledProcedureStepDescription = self.procedure
        step.ScheduledProcedureStepID = self.step_id
        step.ScheduledStationName = self.station
        step.ScheduledProcedureStepLocation = "ROOM 1"
        step.PreMedication = ""
        step.RequestedContrastAgent = ""
        ds.ScheduledProcedureStepSequence = [step]
        return ds


def write_worklist(folder: Path, steps: list[Step]) -> list[Path]:
    """Each step as a ``.wl`` file in ``folder`` (made if missing)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, step in enumerate(steps, start=1):
        ds = step.dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = ModalityWorklistInformationFind
        ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = folder / f"step{number}.wl"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


class WorklistSCP(ListeningProgram):
    """DCMTK's wlmscpfs on a free port, serving the steps written with :meth:`write`."""

    def __init__(self, workdir: Path, *, aet: str = "WLMSCP") -> None:
        super().__init__(workdir, aet=aet, log_name="wlmscpfs.log")
        self.database = workdir / "worklists"
        self.folder = self.database / aet

    def write(self, steps: list[Step]) -> list[Path]:
        paths = write_worklist(self.folder, steps)
        (self.folder / "lockfile").touch()
        return paths

    def start(self) -> WorklistSCP:
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / "lockfile").touch()
        self._start([WLMSCPFS, "--single-process", "-dfp", str(self.database), str(self.port)])
        return self

    def __enter__(self) -> WorklistSCP:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
