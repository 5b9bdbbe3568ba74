"""A large archive's index without its files, written straight into SQLite.

C-FIND answers from the index alone, so a test or a benchmark of big answers
needs only the rows: 100,000 studies take seconds to insert, where storing
them over C-STORE takes many minutes. The rows are what the writer keeps
(the counts, ModalitiesInStudy and SOPClassesInStudy filled in).
"""

from __future__ import annotations

from pathlib import Path

from tests.dicom_factory import uid
from tui_pacs.core.matching import fold
from tui_pacs.store import db
from tui_pacs.store.layout import INDEX_FILE, STORAGE_DIR

SURNAMES = ["SMITH", "SMIRNOV", "JONES", "GARCIA", "MULLER", "ROSSI", "DUBOIS", "NOWAK",
            "SILVA", "KIM", "TANAKA", "OKAFOR", "COHEN", "HANSEN", "BROWN", "WILSON",
            "MARTIN", "LEE", "WALKER", "ALLEN"]
CT_IMAGE, BASIC_TEXT_SR = "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.88.11"
EXPLICIT_LITTLE = "1.2.840.10008.1.2.1"
# Each study: a CT series of four images and an SR.
INSTANCES_PER_STUDY = 5


def study_date(study: int) -> str:
    """Dates over ten years (2015-2024): a one-year range matches a tenth of the studies."""
    return f"{2015 + study % 10}{1 + study % 12:02d}{1 + study % 28:02d}"


def patient_of(study: int, patients: int) -> tuple[str, str]:
    """(PatientID, PatientName) of a study's patient."""
    patient = study % patients
    return f"P{patient:06d}", f"{SURNAMES[patient % len(SURNAMES)]}^P{patient}"


def make_index(data_dir: Path, studies: int) -> None:
    """A fresh archive in ``data_dir`` whose index holds ``studies`` studies
    (UIDs ``uid(n)``) of ``studies // 5`` patients; no files."""
    (data_dir / STORAGE_DIR).mkdir(parents=True)
    conn = db.connect_writer(data_dir / INDEX_FILE)
    conn.execute("PRAGMA synchronous = OFF")
    patients = max(1, studies // 5)

    def patient_row(patient: int) -> tuple:
        patient_id, name = patient_of(patient, patients)
        count = len(range(patient, studies, patients))
        return patient + 1, patient_id, name, fold(name), count, 2 * count, 5 * count

    now = "2026-01-01T00:00:00"
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO patients (id, patient_id, patient_name, patient_name_fold, birth_date, "
        "sex, num_studies, num_series, num_instances) VALUES (?, ?, ?, ?, '19700101', 'F', "
        "?, ?, ?)", map(patient_row, range(patients)))
    conn.executemany(
        "INSERT INTO studies (id, patient_ref, study_uid, study_date, study_time, "
        "accession_number, study_id, description, referring, referring_fold, modalities, "
        "sop_classes, num_series, num_instances, received_at) VALUES (?, ?, ?, ?, '101500', "
        "?, ?, 'bench', 'WHO^DR', 'who^dr', 'CT\\SR', ?, 2, 5, ?)",
        ((s + 1, s % patients + 1, uid(s), study_date(s), f"A{s:06d}", str(s),
          f"{CT_IMAGE}\\{BASIC_TEXT_SR}", now) for s in range(studies)))
    conn.executemany(
        "INSERT INTO series (id, study_ref, series_uid, modality, series_number, "
        "description, num_instances) VALUES (?, ?, ?, ?, ?, '', ?)",
        ((2 * s + n, s + 1, uid(s, n), "CT" if n == 1 else "SR", n, 4 if n == 1 else 1)
         for s in range(studies) for n in (1, 2)))
    conn.executemany(
        "INSERT INTO instances (series_ref, sop_uid, sop_class_uid, instance_number, "
        "transfer_syntax, path, file_size, received_at) VALUES (?, ?, ?, ?, ?, ?, 1000, ?)",
        ((2 * s + (1 if i < 4 else 2), uid(s, 1 if i < 4 else 2, i + 1),
          CT_IMAGE if i < 4 else BASIC_TEXT_SR, i + 1, EXPLICIT_LITTLE,
          f"{STORAGE_DIR}/{s}/{i}.dcm", now)
         for s in range(studies) for i in range(INSTANCES_PER_STUDY)))
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()
