"""The index schema, as a list of migrations applied in order.

``PRAGMA user_version`` records how many have run. A new version appends a
migration here; existing ones are never edited once released.
"""

from __future__ import annotations

from datetime import UTC, datetime

MIGRATIONS: tuple[str, ...] = (
    # 1: the four levels, with derived counts kept up to date by the writer.
    """
    CREATE TABLE patients (
        id               INTEGER PRIMARY KEY,
        patient_id       TEXT NOT NULL,
        issuer           TEXT NOT NULL DEFAULT '',
        patient_name     TEXT NOT NULL DEFAULT '',
        patient_name_fold TEXT NOT NULL DEFAULT '',
        birth_date       TEXT NOT NULL DEFAULT '',
        sex              TEXT NOT NULL DEFAULT '',
        num_studies      INTEGER NOT NULL DEFAULT 0,
        num_series       INTEGER NOT NULL DEFAULT 0,
        num_instances    INTEGER NOT NULL DEFAULT 0,
        UNIQUE (patient_id, issuer, patient_name, birth_date)
    );
    CREATE INDEX patients_name ON patients (patient_name_fold);

    CREATE TABLE studies (
        id               INTEGER PRIMARY KEY,
        patient_ref      INTEGER NOT NULL REFERENCES patients (id),
        study_uid        TEXT NOT NULL UNIQUE,
        study_date       TEXT NOT NULL DEFAULT '',
        study_time       TEXT NOT NULL DEFAULT '',
        accession_number TEXT NOT NULL DEFAULT '',
        study_id         TEXT NOT NULL DEFAULT '',
        description      TEXT NOT NULL DEFAULT '',
        referring        TEXT NOT NULL DEFAULT '',
        referring_fold   TEXT NOT NULL DEFAULT '',
        modalities       TEXT NOT NULL DEFAULT '',
        num_series       INTEGER NOT NULL DEFAULT 0,
        num_instances    INTEGER NOT NULL DEFAULT 0,
        received_at      TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX studies_patient ON studies (patient_ref);
    CREATE INDEX studies_date ON studies (study_date);
    CREATE INDEX studies_accession ON studies (accession_number);
    CREATE INDEX studies_received ON studies (received_at);

    CREATE TABLE series (
        id               INTEGER PRIMARY KEY,
        study_ref        INTEGER NOT NULL REFERENCES studies (id),
        series_uid       TEXT NOT NULL UNIQUE,
        modality         TEXT NOT NULL DEFAULT '',
        series_number    INTEGER,
        description      TEXT NOT NULL DEFAULT '',
        body_part        TEXT NOT NULL DEFAULT '',
        series_date      TEXT NOT NULL DEFAULT '',
        series_time      TEXT NOT NULL DEFAULT '',
        num_instances    INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX series_study ON series (study_ref);

    CREATE TABLE instances (
        id               INTEGER PRIMARY KEY,
        series_ref       INTEGER NOT NULL REFERENCES series (id),
        sop_uid          TEXT NOT NULL UNIQUE,
        sop_class_uid    TEXT NOT NULL,
        instance_number  INTEGER,
        transfer_syntax  TEXT NOT NULL,
        rows             INTEGER,
        columns          INTEGER,
        frames           INTEGER,
        image_position   TEXT NOT NULL DEFAULT '',
        image_orientation TEXT NOT NULL DEFAULT '',
        path             TEXT NOT NULL UNIQUE,
        file_size        INTEGER NOT NULL,
        received_at      TEXT NOT NULL,
        source_aet       TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX instances_series ON instances (series_ref, instance_number);
    """,
    # 2: rows are committed before their file is renamed into place; `pending`
    # names the temporary file until the rename is known to be done.
    """
    ALTER TABLE instances ADD COLUMN pending TEXT NOT NULL DEFAULT '';
    CREATE INDEX instances_pending ON instances (pending) WHERE pending != '';
    """,
    # 3: SOPClassesInStudy (PS3.4 C.6.2.1.2), kept up to date by the writer
    # like ModalitiesInStudy: distinct, sorted, backslash-separated.
    """
    ALTER TABLE studies ADD COLUMN sop_classes TEXT NOT NULL DEFAULT '';
    UPDATE studies SET sop_classes =
        (SELECT coalesce(group_concat(sop_class_uid, '\\'), '') FROM
         (SELECT DISTINCT i.sop_class_uid FROM instances i
          JOIN series se ON se.id = i.series_ref
          WHERE se.study_ref = studies.id ORDER BY i.sop_class_uid));
    """,
    # 4: protected studies (`tui-pacs protect`): retention and `rm --older-than`
    # never delete them.
    """
    ALTER TABLE studies ADD COLUMN protected INTEGER NOT NULL DEFAULT 0;
    """,
    # 5: the forwarding queue: one row per instance and destination (a
    # [[modalities]] name), written in the transaction that indexes the
    # instance and deleted once the destination has acknowledged it.
    # AUTOINCREMENT: an id is never reused, so a row re-queued while a send
    # was under way is not taken for the one that was sent. Times are UTC,
    # as received_at; next_attempt '' means now.
    """
    CREATE TABLE forward_queue (
        id               INTEGER PRIMARY KEY AUTOINCREMENT,
        destination      TEXT NOT NULL,
        sop_uid          TEXT NOT NULL,
        state            TEXT NOT NULL DEFAULT 'pending',
        attempts         INTEGER NOT NULL DEFAULT 0,
        queued_at        TEXT NOT NULL,
        next_attempt     TEXT NOT NULL DEFAULT '',
        last_error       TEXT NOT NULL DEFAULT '',
        last_attempt     TEXT NOT NULL DEFAULT '',
        UNIQUE (destination, sop_uid)
    );
    CREATE INDEX forward_queue_due ON forward_queue (destination, state, next_attempt);
    CREATE INDEX forward_queue_instance ON forward_queue (sop_uid);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)


# How the index writes times (received_at, the forwarding queue's): UTC, to
# the microsecond, so that the strings sort and compare as the times do.
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def received_at(moment: datetime) -> str:
    """A time as ``received_at`` holds it: UTC, to the microsecond, so that the
    strings sort and compare as the times do."""
    return moment.astimezone(UTC).strftime(TIME_FORMAT)
