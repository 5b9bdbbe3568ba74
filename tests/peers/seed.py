"""Seeding a peer with instances over C-STORE (pynetdicom, in process)."""

from __future__ import annotations

from pathlib import Path

from pydicom import dcmread
from pynetdicom import AE

CALLING_AET = "SEEDER"


def store(port: int, aet: str, paths: list[Path]) -> None:
    """C-STORE every file to ``aet`` on 127.0.0.1:``port``; AssertionError
    unless each is stored with success."""
    datasets = [dcmread(path) for path in paths]
    ae = AE(ae_title=CALLING_AET)
    for sop_class, syntax in {(str(ds.SOPClassUID), str(ds.file_meta.TransferSyntaxUID))
                              for ds in datasets}:
        ae.add_requested_context(sop_class, syntax)
    assoc = ae.associate("127.0.0.1", port, ae_title=aet)
    assert assoc.is_established, f"{aet} refused the association"
    try:
        for ds in datasets:
            answer = assoc.send_c_store(ds)
            assert answer.get("Status") == 0x0000, f"{aet} did not store {ds.SOPInstanceUID}"
    finally:
        assoc.release()
