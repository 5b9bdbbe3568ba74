"""The file meta group the archive writes in front of received datasets is
exactly what pydicom's writer produces (it is encoded by hand for speed)."""

from __future__ import annotations

import io

import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.filewriter import write_file_meta_info

from tui_pacs.store.ingest import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    PREAMBLE,
    part10_prefix,
)


def pydicom_prefix(sop_class: str, sop_instance: str, ts: str, aet: str) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_instance
    meta.TransferSyntaxUID = ts
    meta.ImplementationClassUID = IMPLEMENTATION_CLASS_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    if aet:
        meta.SourceApplicationEntityTitle = aet
    buffer = io.BytesIO()
    buffer.write(PREAMBLE)
    write_file_meta_info(buffer, meta, enforce_standard=True)
    return buffer.getvalue()


@pytest.mark.parametrize("sop_class, sop_instance, ts, aet", [
    ("1.2.840.10008.5.1.4.1.1.2", "1.2.3.4", "1.2.840.10008.1.2.1", "STORESCU"),
    ("1.2.840.10008.5.1.4.1.1.4", "1.2.3.45", "1.2.840.10008.1.2", "CT"),
    ("1.2.840.10008.5.1.4.1.1.7", "1.2.826.0.1.3680043.10.1234.1.1.1",
     "1.2.840.10008.1.2.4.90", ""),
    ("1.2.840.10008.5.1.4.1.1.7", "1.2", "1.2.840.10008.1.2.1.99", "A B"),
])
def test_same_bytes_as_pydicom(sop_class, sop_instance, ts, aet):
    assert part10_prefix(sop_class, sop_instance, ts, aet) == \
        pydicom_prefix(sop_class, sop_instance, ts, aet)
