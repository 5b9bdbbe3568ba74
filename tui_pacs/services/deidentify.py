"""De-identifying exported instances: the DICOM PS3.15 Basic Application Level
Confidentiality Profile (Annex E), consistent across one export.

dicognito does the replacing: every UID but class and transfer syntax UIDs,
every person name, the identifiers (Patient ID, accession number, ...),
addresses and institutions; dates and times shifted back by one offset, which
keeps their order (the profile's Retain Longitudinal Temporal Information with
Modified Dates option). Its values derive from a seed and the original value,
so the same original UID becomes the same new UID in every file of the export,
references (Referenced SOP Instance UID, Frame of Reference UID, the file
meta) included, and de-identifying a header twice gives the same result.

What the profile removes or empties and dicognito leaves is done here: private
elements, free text that may name the patient (descriptions, comments,
history), demographic details, overlays, curves and digital signatures. Then
the dataset says it was de-identified, and how (E.1.1).
"""

from __future__ import annotations

import secrets

from dicognito.anonymizer import Anonymizer
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag

# Table E.1-1 attributes with action X (remove) that dicognito keeps.
REMOVED = (
    "AcquisitionComments", "AdditionalPatientHistory", "AdmittingDiagnosesCodeSequence",
    "AdmittingDiagnosesDescription", "Allergies", "ContentSequence",
    "DerivationDescription", "DeviceSerialNumber", "DigitalSignaturesSequence",
    "EthnicGroup", "FrameComments", "IdentifyingComments", "ImageComments",
    "InterpretationText", "MedicalAlerts", "OtherPatientIDsSequence", "OtherPatientNames",
    "PatientAge", "PatientComments", "PatientSize", "PatientState", "PatientWeight",
    "PerformedProcedureStepDescription", "PregnancyStatus", "ProtocolName",
    "ReasonForStudy", "ReferencedPatientSequence", "ReferencedStudySequence",
    "RequestAttributesSequence", "RequestedProcedureDescription", "SeriesDescription",
    "SmokingStatus", "SpecialNeeds", "StudyDescription", "TextComments",
    "TopicKeywords", "TopicSubject", "TopicTitle", "VisitComments",
)
# Table E.1-1 attributes with action Z (kept, emptied) that dicognito would replace.
EMPTIED = ("PatientBirthDate", "PatientSex")
# Repeating groups the profile removes: curves (50xx) and overlay data and
# comments (60xx,3000 and 60xx,4000); and MAC and digital signatures (FFFA).
_OVERLAY_ELEMENTS = (0x3000, 0x4000)

# PS3.16 CID 7050 De-identification Method codes (E.1.1).
BASIC_PROFILE = ("113100", "Basic Application Confidentiality Profile")
MODIFIED_DATES = ("113107", "Retain Longitudinal Temporal Information Modified Dates Option")


class Deidentifier:
    """One export's de-identification: the same mapping for every dataset."""

    def __init__(self, seed: str | None = None) -> None:
        self._anonymizer = Anonymizer(seed=seed or secrets.token_hex(16))

    def __call__(self, dataset: Dataset) -> None:
        """De-identify ``dataset`` (and its file meta) in place."""
        dataset.remove_private_tags()
        dataset.walk(_strip, recursive=True)
        for keyword in EMPTIED:
            if keyword in dataset:
                dataset[keyword].value = ""
        self._anonymizer.anonymize(dataset)
        dataset.PatientIdentityRemoved = "NO" if dataset.get("BurnedInAnnotation") == "YES" \
            else "YES"
        dataset.DeidentificationMethodCodeSequence = [
            _code(value, meaning) for value, meaning in (BASIC_PROFILE, MODIFIED_DATES)]


def _strip(dataset: Dataset, element) -> None:
    """Remove an element the profile removes (called by Dataset.walk for each one)."""
    tag = BaseTag(element.tag)
    if element.keyword in REMOVED or _is_removed_group(tag):
        del dataset[tag]


def _is_removed_group(tag: BaseTag) -> bool:
    group = tag.group
    if 0x5000 <= group <= 0x50FF and group % 2 == 0:
        return True
    if 0x6000 <= group <= 0x60FF and group % 2 == 0:
        return tag.element in _OVERLAY_ELEMENTS
    return group == 0xFFFA or tag == 0x4FFE0001


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item
