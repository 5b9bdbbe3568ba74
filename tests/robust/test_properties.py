"""Property-based tests of the parsing paths the node owns.

tests/store/test_integrity.py fuzzes the structural scan of datasets and
tests/store/test_query_matching.py the SQL of the matching rules; these go
further along the same paths: PDU streams against a running node (its own
upper layer reads and decodes every PDU), received headers all the way to an
index record, any C-FIND identifier to an encoded response, and C-FIND
matching over the wire, character sets included.
"""

from __future__ import annotations

import io
import socket
import string
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.filereader import read_dataset
from pynetdicom.dimse_primitives import C_ECHO
from pynetdicom.dsutils import decode
from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

from tests.dicom_factory import make_dataset
from tests.robust.clients import scu
from tests.robust.hostile import (
    ASSOCIATE_AC,
    CT_IMAGE_STORAGE,
    EXPLICIT_LITTLE,
    IMPLICIT_LITTLE,
    P_DATA,
    RELEASE_RQ,
    VERIFICATION,
    Peer,
    associate_rq,
    dimse_request,
    encode,
    pdu,
    store_request,
)
from tests.server.conftest import dcmtk, run
from tui_pacs.core import status
from tui_pacs.core.matching import matches, parse_match
from tui_pacs.core.model import ATTRIBUTES_BY_KEYWORD
from tui_pacs.net.server.qr_model import (
    PATIENT_ROOT,
    STUDY_ROOT,
    FindResponses,
    QueryError,
    parse_find,
)
from tui_pacs.store.ingest import InvalidInstance, parse_dataset_bytes, record_from_header

# --- PDU streams against a running node --------------------------------------

REQUEST = associate_rq([(1, VERIFICATION, [IMPLICIT_LITTLE]),
                        (3, CT_IMAGE_STORAGE, [EXPLICIT_LITTLE])])
ECHO = C_ECHO()
ECHO.MessageID = 1
ECHO.AffectedSOPClassUID = VERIFICATION
TRAFFIC = b"".join(dimse_request(ECHO)) + b"".join(store_request(
    encode(make_dataset(rows=4, columns=4)), context_id=3)) + pdu(RELEASE_RQ, bytes(4))


@st.composite
def mutated(draw, data: bytes) -> bytes:
    """``data`` with a few bytes flipped, cut out or slipped in."""
    buffer = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert"]))
        position = draw(st.integers(0, max(0, len(buffer) - 1)))
        if kind == "flip" and buffer:
            buffer[position] = draw(st.integers(0, 255))
        elif kind == "cut":
            del buffer[position:position + draw(st.integers(1, 32))]
        else:
            buffer[position:position] = draw(st.binary(min_size=1, max_size=8))
    return bytes(buffer)


pdv = st.tuples(st.integers(0, 0xFFFFFFFF) | st.none(), st.sampled_from([0, 1, 3, 255]),
                st.integers(0, 255), st.binary(max_size=48))


def pdata_of(pdvs: list) -> bytes:
    """A P-DATA-TF of PDVs whose lengths may lie (None: the true length)."""
    body = b"".join((len(data) + 2 if length is None else length).to_bytes(4, "big")
                    + bytes([context, control]) + data
                    for length, context, control, data in pdvs)
    return pdu(P_DATA, body)


streams = st.one_of(
    mutated(REQUEST),
    mutated(REQUEST + TRAFFIC).filter(lambda s: not s.startswith(REQUEST + TRAFFIC)),
    st.lists(pdv, min_size=1, max_size=4).map(lambda pdvs: REQUEST + pdata_of(pdvs)),
    mutated(TRAFFIC).map(lambda s: REQUEST + s),
)


@pytest.mark.interop
def test_pdu_streams_never_hurt_the_node(start_node):
    node = start_node("[limits]\nacse_timeout = 2\nnetwork_timeout = 3\n")

    @settings(max_examples=150, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(stream=streams)
    def send(stream):
        with Peer(node.port) as peer:
            peer.send(stream)
            peer.sock.shutdown(socket.SHUT_WR)  # the node reads to the end, then answers
            assert peer.closed_within(8), "the node kept the connection open"

    send()
    echo = run(dcmtk("echoscu"), "-aec", node.aet, "127.0.0.1", node.port)
    assert echo.returncode == 0, echo.stderr
    log = node.log()
    for sign in ("Traceback", "Exception in the DUL reactor", "error serving", "internal error"):
        assert sign not in log, log
    assert node.process.poll() is None


def test_a_clean_request_and_traffic_are_what_the_mutations_start_from(start_node):
    """The unmutated stream is a real, successful exchange: the fuzzing starts
    from something the node accepts."""
    node = start_node()
    with Peer(node.port) as peer:
        assert peer.associate(REQUEST) == ASSOCIATE_AC
        peer.send(TRAFFIC)
        assert [peer.status(), peer.status()] == [status.SUCCESS, status.SUCCESS]


# --- received headers to index records ---------------------------------------

CHARSETS = ["", "ISO_IR 100", "ISO_IR 192", "ISO 2022 IR 87", "ISO 2022 IR 6\\ISO 2022 IR 87",
            "GB18030", "ISO_IR 13", "nonsense", "ISO_IR 192\\ISO_IR 100"]


def with_raw_values(ds: Dataset, raw: dict[int, tuple[bytes, bytes]]) -> bytes:
    """``ds`` encoded in explicit VR little endian, with the elements in ``raw``
    (tag -> (VR, value)) written as given, whatever their bytes."""
    encoded = b""
    start = 0
    for tag in sorted(raw):
        vr, value = raw[tag]
        encoded += encode(ds[start:tag]) + struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr \
            + struct.pack("<H", len(value)) + value
        start = tag + 1
    return encoded + encode(ds[start:0xFFFFFFFF])


@settings(max_examples=300, deadline=None)
@given(charset=st.sampled_from(CHARSETS), name=st.binary(max_size=40),
       description=st.binary(max_size=40), number=st.binary(max_size=12))
def test_any_header_bytes_become_a_record_or_a_clear_refusal(charset, name, description,
                                                             number):
    """Values a modality sends are decoded with its character set, whatever
    bytes they hold: a record comes out, or InvalidInstance says why."""
    ds = make_dataset(rows=2, columns=2, charset=charset or None)
    data = with_raw_values(ds, {0x00081030: (b"LO", description), 0x00100010: (b"PN", name),
                                0x00200013: (b"IS", number)})
    try:
        header = parse_dataset_bytes(data, EXPLICIT_LITTLE)
        record = record_from_header(header, EXPLICIT_LITTLE, len(data), "X")
    except InvalidInstance:
        return
    assert record.sop_uid == ds.SOPInstanceUID
    assert isinstance(record.patient_name, str) and "\x00" not in record.patient_name


# --- any C-FIND identifier to an encoded response --------------------------------

KEYWORDS = [*ATTRIBUTES_BY_KEYWORD, "PatientAge", "ReferencedSeriesSequence",
            "RetrieveAETitle", "InstanceAvailability", "SpecificCharacterSet"]
VRS = ["AE", "CS", "DA", "DS", "IS", "LO", "PN", "SH", "TM", "UI", "UN", "US", "LT", "OB"]
text_values = st.text(alphabet=string.printable + "äß€\\*?%_'", max_size=30)


@st.composite
def identifiers(draw) -> Dataset:
    ds = Dataset()
    ds.QueryRetrieveLevel = draw(st.sampled_from(
        ["PATIENT", "STUDY", "SERIES", "IMAGE", "study", "", "FOO"]))
    for keyword in draw(st.lists(st.sampled_from(KEYWORDS), max_size=6, unique=True)):
        if keyword == "ReferencedSeriesSequence":
            ds.ReferencedSeriesSequence = [Dataset()]
            continue
        vr = draw(st.sampled_from(VRS))
        value: object = draw(text_values)
        if vr == "US":
            value = draw(st.integers(0, 65535))
        elif vr in ("OB", "UN"):
            value = draw(st.binary(max_size=20))
        try:
            ds.add(DataElement(tag_for_keyword(keyword), vr, value))
        except (UnicodeDecodeError, ValueError, TypeError, OverflowError):
            pass  # pydicom will not build this element; a peer could, but not via pydicom
    if draw(st.booleans()):  # a private block, echoed back as sent
        ds.add(DataElement(0x00090010, "LO", draw(text_values)))
        ds.add(DataElement(0x00091001, "LO", draw(text_values)))
    return ds


ROW = {keyword: ("20240101" if attribute.vr == "DA" else
                 7 if attribute.vr in ("IS", "US") else "1.2.3" if attribute.vr == "UI" else
                 "MÜLLER^ANNA" if attribute.vr == "PN" else "CT\\MR" if keyword ==
                 "ModalitiesInStudy" else "value")
       for keyword, attribute in ATTRIBUTES_BY_KEYWORD.items()}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(identifier=identifiers(), implicit=st.booleans(),
       model=st.sampled_from([PATIENT_ROOT, STUDY_ROOT]))
def test_any_find_identifier_gets_a_response_or_a_status(identifier, implicit, model):
    """What a C-FIND SCU sends is decoded as the node decodes it, then either
    refused with a status or answered with a response pydicom reads back."""
    try:
        raw = encode(identifier, implicit=implicit)
    except Exception:  # pydicom itself cannot write this value in this VR
        return
    transfer_syntax = IMPLICIT_LITTLE if implicit else EXPLICIT_LITTLE
    try:
        decoded = decode(io.BytesIO(raw), implicit, True, False)
        query = parse_find(decoded, model)
    except QueryError as exc:
        assert status.category(exc.code) == "failure"
        return
    responses = FindResponses(query, transfer_syntax, "TUIPACS")
    response = read_dataset(io.BytesIO(responses.identifier([ROW[k] for k in responses.keywords])),
                            is_implicit_VR=implicit, is_little_endian=True)
    assert response.QueryRetrieveLevel == query.level.value
    assert query.level.unique_key in response


def test_a_key_whose_value_cannot_be_converted_is_matched_as_sent():
    """Found by the test above: SeriesNumber sent as "INFINITY" (implicit VR makes
    it IS) stays raw in pydicom; it is matched as sent, so it matches nothing."""
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "PATIENT"
    identifier.add(DataElement(tag_for_keyword("SeriesNumber"), "AE", "INFINITY"))
    decoded = decode(io.BytesIO(encode(identifier, implicit=True)), True, True, False)
    query = parse_find(decoded, PATIENT_ROOT)
    assert query.level.value == "PATIENT"
    returned = [key.tag for key in query.returns]
    assert tag_for_keyword("SeriesNumber") in returned


# --- C-FIND matching over the wire -------------------------------------------------

NAMES = ["DOE^JANE", "doe^john", "Doe^Jane^^Dr", "MÜLLER^JÜRGEN", "müller^anna",
         "O'BRIEN^PAT", "SMITH", "50%_OFF^SALE", "Strauß^Jo", "Ærø^Åse"]
name_queries = st.text(alphabet="dDoOeEjJaAnNmMüÜßsS*?%_'^ 0", max_size=8)


@pytest.mark.interop
def test_find_over_the_wire_matches_like_the_reference(start_node):
    node = start_node("[access]\nfind = [\"*\"]\n")
    with Peer(node.port) as peer:
        assert peer.associate(associate_rq([(1, CT_IMAGE_STORAGE, [EXPLICIT_LITTLE])])) \
            == ASSOCIATE_AC
        for number, name in enumerate(NAMES, start=1):
            ds = make_dataset(study=number, patient_id=f"P{number}", patient_name=name,
                              charset="ISO_IR 192", rows=2, columns=2)
            peer.send(store_request(encode(ds), message_id=number))
            assert peer.status() == status.SUCCESS
    assoc = scu("FINDER", StudyRootQueryRetrieveInformationModelFind).associate(
        "127.0.0.1", node.port, ae_title=node.aet)
    assert assoc.is_established

    @settings(max_examples=150, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(value=name_queries)
    def find(value):
        identifier = Dataset()
        identifier.SpecificCharacterSet = "ISO_IR 192"
        identifier.QueryRetrieveLevel = "STUDY"
        identifier.PatientName = value
        found, final = [], None
        for rsp, ds in assoc.send_c_find(identifier, StudyRootQueryRetrieveInformationModelFind):
            if rsp.Status == status.PENDING:
                found.append(str(ds.PatientName))
            else:
                final = rsp.Status
        assert final == status.SUCCESS
        matcher = parse_match(value, "PN")
        assert sorted(found) == sorted(n for n in NAMES if matches(matcher, n, "PN"))

    try:
        find()
    finally:
        assoc.release()


def test_a_key_sent_with_the_wrong_vr_is_answered_in_its_own():
    """Found by the property above: RetrieveAETitle requested as US made the
    response unencodable, and the association was aborted."""
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "PATIENT"
    identifier.add(DataElement(0x00080054, "US", 0))
    query = parse_find(decode(io.BytesIO(encode(identifier)), False, True, False), PATIENT_ROOT)
    responses = FindResponses(query, EXPLICIT_LITTLE, "TUIPACS")
    response = read_dataset(io.BytesIO(responses.identifier([ROW[k] for k in responses.keywords])),
                            is_implicit_VR=False, is_little_endian=True)
    assert response.RetrieveAETitle == "TUIPACS"
