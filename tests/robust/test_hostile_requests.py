"""Well-formed associations carrying hostile requests: malformed datasets,
identifiers built to escape the data directory, query keys built to attack
the SQL, retrieves to nowhere and callers who are not allowed.

After each the node still answers C-ECHO, wrote nothing outside its data
directory, and its index is intact (the ``unharmed`` fixture).
"""

from __future__ import annotations

import struct

import pytest
from pydicom.dataset import Dataset
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)

from tests.dicom_factory import make_dataset
from tests.robust.clients import scu
from tests.robust.conftest import ESCAPE_TARGET
from tests.robust.hostile import (
    ASSOCIATE_AC,
    CT_IMAGE_STORAGE,
    EXPLICIT_LITTLE,
    Peer,
    associate_rq,
    encode,
    store_request,
)
from tests.server.helpers import indexed
from tui_pacs.core import status
from tui_pacs.store.layout import STORAGE_DIR
from tui_pacs.store.staging import staged_files

pytestmark = pytest.mark.interop


def storing_peer(node) -> Peer:
    peer = Peer(node.port)
    assert peer.associate(associate_rq([(1, CT_IMAGE_STORAGE, [EXPLICIT_LITTLE])])) \
        == ASSOCIATE_AC
    return peer


def instances(node) -> int:
    return indexed(node.data, "SELECT count(*) FROM instances")[0][0]


def nested_sequences(depth: int) -> bytes:
    """ReferencedSeriesSequence items inside each other, undefined lengths, closed."""
    opening = b"\x08\x00\x15\x11SQ\x00\x00\xff\xff\xff\xff" + b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
    closing = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00" + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    return opening * depth + closing * depth


def without(keyword: str) -> bytes:
    ds = make_dataset(instance=2, rows=8, columns=8)
    delattr(ds, keyword)
    return encode(ds)


VALID = encode(make_dataset(instance=1, rows=8, columns=8))
NAME = VALID.index(b"\x10\x00\x10\x00PN")  # PatientName's element header

MALFORMED = {
    "empty": b"",
    "random bytes": bytes(range(256)) * 4,
    "bad VR": VALID[:NAME + 4] + b"\x01\x02" + VALID[NAME + 6:],
    "length past the end": VALID[:-100],
    # A private OB element claiming almost 4 GiB.
    "huge length": VALID + b"\x09\x00\x10\x00OB\x00\x00" + struct.pack("<L", 0xFFFFFFF0) + b"x",
    "deep sequences": nested_sequences(500) + VALID,
    "sequence without end": VALID + b"\x08\x00\x15\x11SQ\x00\x00\xff\xff\xff\xff"
    + b"\xfe\xff\x00\xe0\xff\xff\xff\xff",
    "no SOP Instance UID": without("SOPInstanceUID"),
    "no Study Instance UID": without("StudyInstanceUID"),
    "implicit VR, cut short": encode(make_dataset(instance=3), implicit=True)[:-5],
}


def test_malformed_datasets_are_refused_and_the_association_goes_on(hostile_node, unharmed):
    with storing_peer(hostile_node) as peer:
        for number, (name, data) in enumerate(MALFORMED.items(), start=1):
            peer.send(store_request(data, message_id=number))
            code = peer.status()
            assert code is not None, f"{name}: no answer"
            assert status.category(code) == "failure", f"{name}: 0x{code:04X}"
        # The same association still stores a sound instance.
        peer.send(store_request(VALID, message_id=100))
        assert peer.status() == status.SUCCESS
    assert instances(hostile_node) == 1
    assert staged_files(hostile_node.data / "tmp") == []
    unharmed()


HOSTILE_UIDS = [
    f"../../../../../..{ESCAPE_TARGET}",
    str(ESCAPE_TARGET),
    "..",
    "1.2.3/../../../x",
    "1.2.3\x00/../../x",
    "C:\\Windows\\x",
    "1." + "9" * 200,
    "",
]


def test_identifiers_never_become_paths(hostile_node, unharmed):
    answers = {}
    with storing_peer(hostile_node) as peer:
        for uid in HOSTILE_UIDS:
            for keyword in ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID"):
                # A study of its own, so that only the hostile value matters.
                ds = make_dataset(study=len(answers) + 1, rows=8, columns=8)
                setattr(ds, keyword, uid)
                peer.send(store_request(encode(ds), message_id=len(answers) + 1))
                answers[keyword, uid] = peer.status()
    for (keyword, uid), code in answers.items():
        refused = uid == "" or len(uid) > 64 or "\\" in uid
        assert status.category(code) == ("failure" if refused else "success"), (keyword, uid)
    storage = hostile_node.data / STORAGE_DIR
    stored = [p for p in storage.rglob("*") if p.is_file()]
    assert len(stored) == instances(hostile_node) > 0
    for path in stored:
        parts = path.relative_to(storage).parts
        assert len(parts) == 3 and all(len(part) in (2, 64, 68) for part in parts), path
    unharmed()


def test_a_series_sent_again_under_another_study_is_refused(hostile_node, unharmed):
    """A broken modality (or anonymiser) reuses a SeriesInstanceUID in a new
    study: filed under its study but indexed under the series' one, the
    instance would make index and files disagree, so it is refused."""
    first = make_dataset(study=1, series=1, instance=1, rows=8, columns=8)
    moved = make_dataset(study=2, series=1, instance=2, rows=8, columns=8,
                         series_uid=first.SeriesInstanceUID)
    with storing_peer(hostile_node) as peer:
        peer.send(store_request(encode(first), message_id=1))
        assert peer.status() == status.SUCCESS
        peer.send(store_request(encode(moved), message_id=2))
        assert peer.status() == status.CANNOT_UNDERSTAND
    assert indexed(hostile_node.data, "SELECT count(*) FROM studies") == [(1,)]
    hostile_node.wait_for_log("is archived under another study")
    unharmed()


# --- queries, retrieves, callers ------------------------------------------------


def find_studies(node, aet: str = "FRIEND", **keys: str) -> tuple[list[str], int]:
    """(PatientName of each match, final status) of a STUDY level C-FIND."""
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.PatientName = ""
    for keyword, value in keys.items():
        setattr(identifier, keyword, value)
    assoc = scu(aet, StudyRootQueryRetrieveInformationModelFind).associate(
        "127.0.0.1", node.port, ae_title=node.aet)
    assert assoc.is_established
    names, final = [], None
    try:
        for rsp, found in assoc.send_c_find(identifier,
                                            StudyRootQueryRetrieveInformationModelFind):
            if rsp.Status in (0xFF00, 0xFF01):
                names.append(str(found.PatientName))
            else:
                final = rsp.Status
    finally:
        assoc.release()
    return names, final


@pytest.fixture
def two_patients(hostile_node):
    """DOE^JANE and O'BRIEN^PAT (a quote in a real name), one study each."""
    with storing_peer(hostile_node) as peer:
        for number, name in enumerate(("DOE^JANE", "O'BRIEN^PAT"), start=1):
            ds = make_dataset(study=number, patient_id=f"P{number}", patient_name=name,
                              accession=f"A{number}", rows=8, columns=8)
            peer.send(store_request(encode(ds), message_id=number))
            assert peer.status() == status.SUCCESS
    return hostile_node


@pytest.mark.parametrize("keys, expected", [
    ({"PatientName": "O'BRIEN*"}, ["O'BRIEN^PAT"]),
    ({"PatientName": "*"}, ["DOE^JANE", "O'BRIEN^PAT"]),
    ({"PatientName": "x' OR '1'='1"}, []),
    ({"PatientName": "' OR 1=1 --"}, []),
    ({"PatientName": "'; DROP TABLE studies; --"}, []),
    ({"PatientName": "%"}, []),
    ({"PatientName": "_OE^JANE"}, []),
    ({"PatientName": "D%"}, []),
    ({"AccessionNumber": "A%"}, []),
    ({"AccessionNumber": "A_"}, []),
    ({"StudyInstanceUID": "1' OR '1'='1"}, []),
    ({"StudyInstanceUID": "1.2\\' OR 1=1 --"}, []),
    ({"StudyDescription": "\\\\"}, []),
])
def test_query_keys_built_to_attack_the_sql_match_only_literally(two_patients, unharmed,
                                                                 keys, expected):
    names, final = find_studies(two_patients, **keys)
    assert final == status.SUCCESS
    assert sorted(names) == expected
    assert indexed(two_patients.data, "SELECT count(*) FROM studies") == [(2,)]
    unharmed()


def test_a_query_that_cannot_be_understood_is_answered_with_a_failure(two_patients, unharmed):
    names, final = find_studies(two_patients, StudyDate="2024' OR '1'='1")
    assert names == [] and status.category(final) in ("failure", "success")
    unharmed()


def test_a_move_to_an_unknown_destination_is_refused(two_patients, unharmed):
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = make_dataset(study=1).StudyInstanceUID
    assoc = scu("FRIEND", StudyRootQueryRetrieveInformationModelMove).associate(
        "127.0.0.1", two_patients.port, ae_title=two_patients.aet)
    try:
        responses = list(assoc.send_c_move(identifier, "NOWHERE",
                                           StudyRootQueryRetrieveInformationModelMove))
    finally:
        assoc.release()
    assert responses[-1][0].Status == status.MOVE_DESTINATION_UNKNOWN
    two_patients.wait_for_log("'NOWHERE' is not configured")
    unharmed()


@pytest.mark.parametrize("model", [StudyRootQueryRetrieveInformationModelFind,
                                   StudyRootQueryRetrieveInformationModelMove,
                                   StudyRootQueryRetrieveInformationModelGet])
def test_a_caller_not_allowed_to_query_or_retrieve_is_refused(two_patients, unharmed, model):
    """INTRUDER may echo and store (the defaults) but not query or retrieve."""
    identifier = Dataset()
    identifier.QueryRetrieveLevel = "STUDY"
    identifier.StudyInstanceUID = make_dataset(study=1).StudyInstanceUID
    assoc = scu("INTRUDER", model).associate("127.0.0.1", two_patients.port,
                                             ae_title=two_patients.aet)
    try:
        if model is StudyRootQueryRetrieveInformationModelFind:
            responses = list(assoc.send_c_find(identifier, model))
        elif model is StudyRootQueryRetrieveInformationModelMove:
            responses = list(assoc.send_c_move(identifier, "FRIEND", model))
        else:
            responses = list(assoc.send_c_get(identifier, model))
    finally:
        assoc.release()
    assert [rsp.Status for rsp, _ in responses] == [status.NOT_AUTHORIZED]
    unharmed()
