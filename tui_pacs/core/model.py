"""The DICOM model of the real world as the archive indexes it.

Patient -> Study -> Series -> Instance. The study is the unit: PatientID is not
globally unique, so a patient is identified by (PatientID, IssuerOfPatientID,
PatientName, PatientBirthDate) and two hospitals' "12345" stay two people.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from tui_pacs.core.text import printable


class Level(enum.Enum):
    """Query/Retrieve levels (PS3.4 C.6). IMAGE is the instance level."""

    PATIENT = "PATIENT"
    STUDY = "STUDY"
    SERIES = "SERIES"
    IMAGE = "IMAGE"

    @classmethod
    def parse(cls, text: str) -> Level:
        """Accept the DICOM names and the friendlier 'instance'."""
        name = text.strip().upper()
        if name == "INSTANCE":
            return cls.IMAGE
        return cls(name)

    @property
    def depth(self) -> int:
        return list(Level).index(self)

    @property
    def unique_key(self) -> str:
        return _UNIQUE_KEYS[self]

    @property
    def label(self) -> str:
        return "instance" if self is Level.IMAGE else self.value.lower()

    def counted(self, count: int) -> str:
        """``1 study``, ``2 studies``, ``3 series``."""
        plural = {"study": "studies", "series": "series"}.get(self.label, self.label + "s")
        return f"{count} {self.label if count == 1 else plural}"


_UNIQUE_KEYS = {
    Level.PATIENT: "PatientID",
    Level.STUDY: "StudyInstanceUID",
    Level.SERIES: "SeriesInstanceUID",
    Level.IMAGE: "SOPInstanceUID",
}


@dataclass(frozen=True)
class Attribute:
    """An attribute the index can match on and return."""

    keyword: str
    vr: str
    level: Level
    # Computed by the index (counts, ModalitiesInStudy, SOPClassesInStudy), not
    # read from files.
    derived: bool = False


def _attrs(level: Level, *specs: tuple[str, str] | tuple[str, str, bool]) -> list[Attribute]:
    return [Attribute(s[0], s[1], level, *s[2:]) for s in specs]


ATTRIBUTES: tuple[Attribute, ...] = tuple(
    _attrs(Level.PATIENT,
           ("PatientID", "LO"), ("IssuerOfPatientID", "LO"), ("PatientName", "PN"),
           ("PatientBirthDate", "DA"), ("PatientSex", "CS"),
           ("NumberOfPatientRelatedStudies", "IS", True),
           ("NumberOfPatientRelatedSeries", "IS", True),
           ("NumberOfPatientRelatedInstances", "IS", True))
    + _attrs(Level.STUDY,
             ("StudyInstanceUID", "UI"), ("StudyDate", "DA"), ("StudyTime", "TM"),
             ("AccessionNumber", "SH"), ("StudyID", "SH"), ("StudyDescription", "LO"),
             ("ReferringPhysicianName", "PN"),
             ("ModalitiesInStudy", "CS", True), ("SOPClassesInStudy", "UI", True),
             ("NumberOfStudyRelatedSeries", "IS", True),
             ("NumberOfStudyRelatedInstances", "IS", True))
    + _attrs(Level.SERIES,
             ("SeriesInstanceUID", "UI"), ("Modality", "CS"), ("SeriesNumber", "IS"),
             ("SeriesDescription", "LO"), ("BodyPartExamined", "CS"),
             ("SeriesDate", "DA"), ("SeriesTime", "TM"),
             ("NumberOfSeriesRelatedInstances", "IS", True))
    + _attrs(Level.IMAGE,
             ("SOPInstanceUID", "UI"), ("SOPClassUID", "UI"), ("InstanceNumber", "IS"),
             ("Rows", "US"), ("Columns", "US"), ("NumberOfFrames", "IS"),
             ("ImagePositionPatient", "DS"), ("ImageOrientationPatient", "DS"),
             ("TransferSyntaxUID", "UI", True))
)

ATTRIBUTES_BY_KEYWORD: dict[str, Attribute] = {a.keyword: a for a in ATTRIBUTES}


def attributes_up_to(level: Level) -> list[Attribute]:
    """Attributes of ``level`` and the levels above it: what a query there can use."""
    return [a for a in ATTRIBUTES if a.level.depth <= level.depth]


# What `ls`, `find` and the browser show by default at each level.
DEFAULT_COLUMNS: dict[Level, tuple[str, ...]] = {
    Level.PATIENT: ("PatientName", "PatientID", "PatientBirthDate", "PatientSex",
                    "NumberOfPatientRelatedStudies", "NumberOfPatientRelatedInstances"),
    Level.STUDY: ("PatientName", "PatientID", "StudyDate", "ModalitiesInStudy",
                  "StudyDescription", "AccessionNumber", "NumberOfStudyRelatedSeries",
                  "NumberOfStudyRelatedInstances", "StudyInstanceUID"),
    Level.SERIES: ("SeriesNumber", "Modality", "SeriesDescription", "BodyPartExamined",
                   "NumberOfSeriesRelatedInstances", "SeriesInstanceUID"),
    Level.IMAGE: ("InstanceNumber", "SOPClassUID", "Rows", "Columns", "NumberOfFrames",
                  "SOPInstanceUID"),
}


@dataclass(frozen=True)
class InstanceRecord:
    """Everything the index keeps about one stored instance."""

    # Patient
    patient_id: str
    issuer_of_patient_id: str
    patient_name: str
    patient_birth_date: str
    patient_sex: str
    # Study
    study_uid: str
    study_date: str
    study_time: str
    accession_number: str
    study_id: str
    study_description: str
    referring_physician_name: str
    # Series
    series_uid: str
    modality: str
    series_number: int | None
    series_description: str
    body_part_examined: str
    series_date: str
    series_time: str
    # Instance
    sop_uid: str
    sop_class_uid: str
    instance_number: int | None
    transfer_syntax_uid: str
    rows: int | None
    columns: int | None
    number_of_frames: int | None
    image_position: str
    image_orientation: str
    # Storage
    file_size: int
    source_aet: str


# Short column titles for tables (the CLI and the browser).
LABELS: dict[str, str] = {
    "PatientName": "Patient name", "PatientID": "Patient ID", "PatientBirthDate": "Born",
    "PatientSex": "Sex", "IssuerOfPatientID": "Issuer",
    "NumberOfPatientRelatedStudies": "Studies", "NumberOfPatientRelatedSeries": "Series",
    "NumberOfPatientRelatedInstances": "Instances",
    "StudyDate": "Date", "StudyTime": "Time", "ModalitiesInStudy": "Modalities",
    "StudyDescription": "Description", "AccessionNumber": "Accession", "StudyID": "Study ID",
    "ReferringPhysicianName": "Referring", "NumberOfStudyRelatedSeries": "Series",
    "NumberOfStudyRelatedInstances": "Instances", "StudyInstanceUID": "Study UID",
    "SeriesNumber": "#", "Modality": "Modality", "SeriesDescription": "Description",
    "BodyPartExamined": "Body part", "SeriesDate": "Date", "SeriesTime": "Time",
    "NumberOfSeriesRelatedInstances": "Instances", "SeriesInstanceUID": "Series UID",
    "InstanceNumber": "#", "SOPClassUID": "SOP class", "Rows": "Rows", "Columns": "Cols",
    "NumberOfFrames": "Frames", "SOPInstanceUID": "SOP Instance UID",
    "TransferSyntaxUID": "Transfer syntax",
    # Modality worklist
    "RequestedProcedureDescription": "Procedure", "RequestedProcedureID": "Proc ID",
    "ScheduledStationAETitle": "Station", "ScheduledProcedureStepStartDate": "Date",
    "ScheduledProcedureStepStartTime": "Time", "ScheduledProcedureStepID": "Step ID",
    "ScheduledProcedureStepDescription": "Step",
}


def vr_of_keyword(keyword: str) -> str:
    """The VR of an attribute the index knows, else the dictionary's ("" if unknown)."""
    attribute = ATTRIBUTES_BY_KEYWORD.get(keyword)
    if attribute is not None:
        return attribute.vr
    from pydicom.datadict import dictionary_VR, tag_for_keyword

    tag = tag_for_keyword(keyword)
    return dictionary_VR(tag) if tag is not None else ""


def display_value(keyword: str, value: object) -> str:
    """A value as a table cell: dates as YYYY-MM-DD, UIDs of SOP classes by name,
    control characters made visible (the value may come from anyone)."""
    if value is None:
        return ""
    text = printable(value)
    vr = vr_of_keyword(keyword)
    if vr == "DA" and len(text) == 8 and text.isdigit():
        return f"{text[:4]}-{text[4:6]}-{text[6:]}"
    if vr == "TM" and len(text) >= 4 and text[:4].isdigit():
        return f"{text[:2]}:{text[2:4]}" + (f":{text[4:6]}" if len(text) >= 6 else "")
    if keyword in ("SOPClassUID", "TransferSyntaxUID"):
        from pydicom.uid import UID

        name = UID(text).name
        return name if name != text else text
    return text
