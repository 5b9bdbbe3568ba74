"""What a C-GET offers to receive when the remote does not say which SOP
classes to expect.

The peers send an instance only in the encoding they hold, or not at all:
an Orthanc that neither answers our queries (``AllowFind`` off) nor
transcodes (``TranscodeDicomProtocol`` off), and pynetdicom's own Q/R
service class refusing C-FIND (Orthanc aborts the association when it has
no context for an instance; pynetdicom answers 0xA702, as most do).
"""

from __future__ import annotations

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import JPEG2000Lossless, UltrasoundImageStorage
from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, evt
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
)

from tests.client.conftest import NODE_AET
from tests.conftest import pydicom_file
from tests.peers.ports import free_port
from tui_pacs.core.model import Level
from tui_pacs.core.query import RetrieveRequest
from tui_pacs.core.target import Target
from tui_pacs.net.client.association import Cancellation, Session
from tui_pacs.net.client.get_plan import expected_sop_classes
from tui_pacs.net.wire.syntaxes import COMMON_IMAGE_CLASSES, MAX_CONTEXTS, get_storage_offer

pytestmark = pytest.mark.interop

J2K_FILE = "examples_jpeg2k.dcm"  # ultrasound, JPEG 2000 lossless
# A class outside the common image classes: offered uncompressed only.
OPHTHALMIC_PHOTOGRAPHY = "1.2.840.10008.5.1.4.1.1.77.1.5.1"


def test_the_offer_fits_one_association_with_the_c_get():
    offer = get_storage_offer([])
    assert len(offer.contexts) == MAX_CONTEXTS - 1 and not offer.listed
    compressed = {(str(cx.abstract_syntax), str(cx.transfer_syntax[0]))
                  for cx in offer.contexts if len(cx.transfer_syntax) == 1}
    assert (UltrasoundImageStorage, JPEG2000Lossless) in compressed


@pytest.fixture
def silent_orthanc(orthanc_factory, node_port):
    entry = {"AET": NODE_AET, "Host": "127.0.0.1", "Port": node_port, "AllowFind": False}
    return orthanc_factory(DicomModalities={"tuipacs": entry}, TranscodeDicomProtocol=False)


def target_of(server) -> Target:
    return Target(server.aet, "127.0.0.1", server.dicom_port)


def test_the_remote_does_not_say_which_classes(silent_orthanc, settings):
    silent_orthanc.upload(pydicom_file(J2K_FILE))
    study = str(dcmread(pydicom_file(J2K_FILE), stop_before_pixels=True).StudyInstanceUID)
    session = Session(target_of(silent_orthanc), NODE_AET, settings.limits)
    request = RetrieveRequest(Level.STUDY, "study", {"StudyInstanceUID": study})
    assert expected_sop_classes(session, request, Cancellation()) == []


async def test_a_compressed_image_comes_back_as_the_remote_holds_it(client, archive,
                                                                    silent_orthanc):
    source = pydicom_file(J2K_FILE)
    silent_orthanc.upload(source)
    original = dcmread(source, stop_before_pixels=True)
    report = await client.get(target_of(silent_orthanc),
                              {"StudyInstanceUID": original.StudyInstanceUID})
    assert report.ok, report.diagnosis
    assert (report.completed, report.failed, report.received) == (1, 0, 1)
    [row] = await archive.index.query(Level.IMAGE)
    assert row["SOPInstanceUID"] == original.SOPInstanceUID
    [stored] = await archive.index.files(Level.IMAGE, {})
    assert stored.transfer_syntax_uid == JPEG2000Lossless


@pytest.fixture
def pynetdicom_get_scp():
    """pynetdicom's own C-GET SCP serving one dataset: it refuses C-FIND (so the
    SOP classes are not known beforehand) and sends the dataset only in the
    encoding it holds, as its Q/R service class does."""
    served: list[Dataset] = []

    def refuse_find(event):
        yield 0xC000, None

    def serve_get(event):
        yield len(served)
        for ds in served:
            yield 0xFF00, ds

    ae = AE(ae_title="PYNDQR")
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
    ae.add_supported_context(StudyRootQueryRetrieveInformationModelGet)
    for sop_class in (OPHTHALMIC_PHOTOGRAPHY, *COMMON_IMAGE_CLASSES):
        ae.add_supported_context(sop_class, ALL_TRANSFER_SYNTAXES, scu_role=True, scp_role=True)
    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False, evt_handlers=[
        (evt.EVT_C_FIND, refuse_find), (evt.EVT_C_GET, serve_get)])
    try:
        yield Target("PYNDQR", "127.0.0.1", port), served
    finally:
        server.shutdown()


async def test_the_hint_says_what_was_offered(client, pynetdicom_get_scp):
    target, served = pynetdicom_get_scp
    ds = dcmread(pydicom_file(J2K_FILE))
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = OPHTHALMIC_PHOTOGRAPHY
    served.append(ds)
    report = await client.get(target, {"StudyInstanceUID": ds.StudyInstanceUID})
    assert (report.status, report.failed, report.received) == (0xA702, 1, 0)
    assert report.failed_instances == (ds.SOPInstanceUID,)
    advice = "\n".join(report.diagnosis.advice)
    assert "the remote did not say which SOP classes to expect" in advice
    assert "10 common image SOP classes uncompressed and in JPEG" in advice
    assert "other storage classes uncompressed only" in advice
    assert "let this AE title query (C-FIND)" in advice
