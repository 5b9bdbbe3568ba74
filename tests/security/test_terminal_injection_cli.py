"""Issue 17: no value from a file, a peer or the file system reaches a terminal raw.

Every C0/C1 code point, DEL and bidi control goes, between markers, into
PatientName, StudyDescription, SeriesDescription and a private element (files
and C-FIND answers), into calling AE titles, error comments, an implementation
version name and file names; each command runs as a user would run it, on a
pseudo-terminal (and into a pipe for ls and dump), and no byte it writes holds
one of them raw. Where the value must be shown, its visible form is looked for
too, so that a test cannot pass by losing the value.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import struct
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom import dcmread
from pydicom.dataset import Dataset

from tests.dicom_factory import write_instance
from tests.security.conftest import (
    BIDI,
    C0,
    C1,
    HOSTILE,
    PRIVATE_CREATOR,
    PRIVATE_GROUP,
    PtyReader,
    assert_no_raw,
    chunks,
    describe,
    home_env,
    hostile_dataset,
    hostile_value,
    pty_env,
    raw_hits,
    run_in_pty,
    run_piped,
    shown_visibly,
    spawn_in_pty,
    write_hostile_files,
)
from tui_pacs.core.text import json_text, printable

# NUL may be dropped on the way (pydicom ends a text value at it); every other
# code point must be shown in its visible form wherever the whole value is shown.
SHOWN = [ch for ch in HOSTILE if ch != "\x00"]


def assert_shown(output: bytes | str, where: str, chars=SHOWN) -> None:
    missing = sorted(set(chars) - set(shown_visibly(output, chars)), key=ord)
    assert not missing, f"{where}: the values were not shown (visibly) for {describe(missing)}"


# --- the one function, as a property ----------------------------------------------------

TEXT = st.text(alphabet=st.sampled_from([*HOSTILE, "a", "Z", " ", "^", "é", "字", "\\"]),
               max_size=60)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_printable_leaves_nothing_a_terminal_acts_on(value):
    shown = printable(value)
    assert not any(ch in shown for ch in HOSTILE), repr(shown)
    # Shown, not dropped: every hostile character leaves its visible form.
    for ch in set(value) & set(HOSTILE):
        assert (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}") in shown


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=5), TEXT, max_size=4))
def test_json_text_is_exact_and_safe(data):
    text = json_text(data, indent=2)
    assert json.loads(text) == data
    assert not any(ch in text for ch in HOSTILE if ch != "\n"), repr(text)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(HOSTILE), min_size=1, max_size=8))
def test_dump_lines_of_any_hostile_value(chars):
    """core/dump.py, in process, over hypothesis' choice of code points."""
    from tui_pacs.core.dump import dump_lines, format_lines

    ds = hostile_dataset(chars, 1)
    text = "\n".join(format_lines(list(dump_lines(ds))))
    assert not raw_hits(text, chars), describe(raw_hits(text, chars))


# --- the archive: import, ls, dump, show, check -----------------------------------------


def whole_dataset() -> Dataset:
    """Every code point in one file: all of them in each of the usual values, and
    chunk by chunk in private elements short enough for dump's value column."""
    ds = hostile_dataset(HOSTILE, 99)
    block = ds.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)
    for offset, chunk in enumerate(chunks(HOSTILE)):
        block.add_new(0x20 + offset, "LO", hostile_value(chunk))
    return ds


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> dict:
    """The hostile files imported through a pseudo-terminal; also files named with
    every control character that are not DICOM or are broken."""
    root = tmp_path_factory.mktemp("archive")
    env = pty_env(**home_env(root / "home"))
    incoming = root / "incoming"
    files = write_hostile_files(incoming)
    whole = write_instance(root / "whole" / "all.dcm", whole_dataset())
    named = root / "named"
    named.mkdir()
    names = [hostile_value(chunk) for chunk in chunks([c for c in HOSTILE if c != "\x00"], 8)]
    for index, name in enumerate(names):
        if index % 2:
            (named / name).write_bytes(b"not DICOM at all")
        else:  # a DICOM preamble and a truncated dataset
            (named / name).write_bytes(bytes(128) + b"DICM" + b"\x02\x00\x10\x00UI\x40\x00")
    status, out = run_in_pty("import", "--data", root / "data", incoming, named, env=env)
    return {"root": root, "env": env, "data": root / "data", "files": files, "whole": whole,
            "named": named, "names": names, "import": (status, out)}


def test_import_report(archive):
    status, out = archive["import"]
    assert_no_raw(out, "import")
    assert b"19 imported" in out, out[-500:]


def test_import_report_names_hostile_files(archive, tmp_path):
    """A file whose name is hostile and that fails to import: the report names it."""
    folder = tmp_path / "bad"
    folder.mkdir()
    name = hostile_value([c for c in HOSTILE if c not in "\x00"][:20])
    (folder / name).write_bytes(bytes(128) + b"DICM" + b"\x02\x00\x10\x00UI\x40\x00")
    for run in (run_in_pty, run_piped):
        status, out = run("import", "--data", tmp_path / "data", folder, env=archive["env"])
        assert_no_raw(out, f"import ({run.__name__})")
        assert b"1 failed" in out or b"failed" in out, out[-400:]


@pytest.mark.parametrize("level", ["patient", "study", "series", "instance"])
def test_ls(archive, level):
    for run in (run_in_pty, run_piped):
        status, out = run("ls", "--data", archive["data"], "-l", level, env=archive["env"])
        assert status == 0, out[-400:]
        assert_no_raw(out, f"ls -l {level} ({run.__name__})")
        if level != "instance":
            assert_shown(out, f"ls -l {level} ({run.__name__})")


def test_ls_json_keeps_exact_values(archive):
    status, out = run_in_pty("ls", "--data", archive["data"], "-l", "study", "--json",
                             env=archive["env"])
    assert status == 0, out[-400:]
    assert_no_raw(out, "ls --json")
    rows = json.loads(out.decode("utf-8"))
    names = {str(r.get("PatientName")) for r in rows}
    for chunk in chunks(HOSTILE):
        value = hostile_value(chunk)
        assert value in names or value.replace("\x00", "") in names, repr(value)


def test_dump_text(archive):
    for run in (run_in_pty, run_piped):
        status, out = run("dump", archive["whole"], env=archive["env"])
        assert status == 0, out[-400:]
        assert_no_raw(out, f"dump ({run.__name__})")
        # The newline and CR become spaces in dump's one-line values; the rest visible.
        assert_shown(out, f"dump ({run.__name__})", [c for c in SHOWN if c not in "\n\r"])
        assert b"\x1b[2J" not in out and b"\x1b]" not in out


def test_dump_json_round_trips(archive):
    status, out = run_in_pty("dump", "--json", archive["whole"], env=archive["env"])
    assert status == 0, out[-400:]
    assert_no_raw(out, "dump --json")
    text = out.decode("utf-8")
    # JSON's own escapes: no raw C1, DEL or bidi anywhere (C0 is escaped by JSON itself).
    assert not any(ch in text for ch in [*C1, "\x7f", *BIDI]), "raw C1/DEL/bidi in JSON"
    model = json.loads(text[text.index("{"):])
    original = dcmread(archive["whole"])
    assert model["00081030"]["Value"][0] == original.StudyDescription
    assert model["00100010"]["Value"][0]["Alphabetic"] == str(original.PatientName)
    assert model["00111010"]["Value"][0] == original[0x00111010].value


def test_show_caption(archive):
    status, out = run_in_pty("show", archive["files"][6], "--width", "20",
                             "--protocol", "halfblock", env=archive["env"])
    assert status == 0, out[-400:]
    assert_no_raw(out, "show")


def test_show_caption_of_each_chunk(archive):
    """The caption names the patient or study: the whole hostile set, one file."""
    status, out = run_in_pty("show", archive["whole"], "--width", "20",
                             "--protocol", "halfblock", env=archive["env"])
    assert status == 0, out[-400:]
    assert_no_raw(out, "show (all code points)")


def test_check_report(archive, tmp_path):
    """check names files under storage/ it does not know: a hostile file name."""
    data = tmp_path / "data"
    status, out = run_in_pty("import", "--data", data, archive["files"][0], env=archive["env"])
    assert status == 0, out
    storage = data / "storage"
    for name in archive["names"]:
        (storage / name).write_bytes(b"orphan")
    shutil.copy(archive["files"][1], storage / (archive["names"][0] + ".dcm"))
    status, out = run_in_pty("check", "--data", data, "--all", env=archive["env"])
    assert status == 1, out[-400:]
    assert_no_raw(out, "check")
    assert_shown(out, "check", [c for c in SHOWN if any(c in n for n in archive["names"])])


# --- peers: find, send, echo, doctor --------------------------------------------------

# Error comments travel in the command set, in the default repertoire, as bytes:
# C0, DEL and C1 arrive as those code points (bidi controls cannot be encoded there).
ERROR_COMMENT = hostile_value(C0[1:] + C1).encode("latin-1")
ERROR_CHARS = C0[1:] + C1
# An implementation version name is ASCII on the wire (C1 is dropped by the decoder).
VERSION_NAME = hostile_value(C0[1:])


class HostilePeer:
    """A pynetdicom SCP in this process, on a port it binds itself: C-FIND answers
    with hostile identifiers then fails with a hostile error comment, C-STORE fails
    with one, C-ECHO fails with one for the calling AE ZQECHOFAIL. With
    ``version_name`` the A-ASSOCIATE-AC carries it as its implementation version name."""

    def __init__(self, version_name: str | None = None) -> None:
        from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, evt
        from pynetdicom.presentation import AllStoragePresentationContexts
        from pynetdicom.sop_class import (
            PatientRootQueryRetrieveInformationModelFind,
            StudyRootQueryRetrieveInformationModelFind,
            Verification,
        )

        self.ae = AE(ae_title="ZQPEER")
        if version_name:
            self.ae._implementation_version = version_name  # past pynetdicom's validation
        self.ae.add_supported_context(Verification)
        self.ae.add_supported_context(StudyRootQueryRetrieveInformationModelFind)
        self.ae.add_supported_context(PatientRootQueryRetrieveInformationModelFind)
        for context in AllStoragePresentationContexts:
            self.ae.add_supported_context(context.abstract_syntax, ALL_TRANSFER_SYNTAXES)
        handlers = [(evt.EVT_C_ECHO, self.on_echo), (evt.EVT_C_FIND, self.on_find),
                    (evt.EVT_C_STORE, self.on_store)]
        self.server = self.ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=handlers)
        self.port = self.server.server_address[1]
        self.target = f"ZQPEER@127.0.0.1:{self.port}"
        self.stores = 0

    @staticmethod
    def failure(status: int) -> Dataset:
        ds = Dataset()
        ds.Status = status
        ds.ErrorComment = ERROR_COMMENT
        return ds

    def on_echo(self, event):
        if event.assoc.requestor.ae_title.strip() == "ZQECHOFAIL":
            return self.failure(0x0122)
        return 0x0000

    def on_find(self, event) -> Iterator:
        level = str(event.identifier.get("QueryRetrieveLevel", "STUDY"))
        for number, chunk in enumerate(chunks(HOSTILE), start=1):
            value = hostile_value(chunk)
            ds = Dataset()
            ds.SpecificCharacterSet = "ISO_IR 192"
            ds.QueryRetrieveLevel = level
            ds.PatientName = value
            ds.PatientID = f"ZQPAT{number:02d}"
            ds.StudyDescription = value
            ds.StudyDate = "20240115"
            ds.ModalitiesInStudy = "CT"
            ds.AccessionNumber = f"ZQACC{number:02d}"
            ds.StudyInstanceUID = f"1.2.826.0.1.3680043.10.1234.{900 + number}"
            ds.RetrieveAETitle = "ZQPEER"
            yield 0xFF00, ds
        yield self.failure(0xC000), None

    def on_store(self, event):
        self.stores += 1
        return self.failure(0xC000)

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="module")
def peer() -> Iterator[HostilePeer]:
    peer = HostilePeer()
    yield peer
    peer.stop()


@pytest.fixture(scope="module")
def versioned_peer() -> Iterator[HostilePeer]:
    """pynetdicom checks the version name again as it answers: in this process (the
    peer's; the command under test runs in its own) every AE-like value passes."""
    from pynetdicom import _config

    validators = dict(_config.VALIDATORS)
    _config.VALIDATORS["AE"] = lambda value: (True, "")
    peer = HostilePeer(version_name=VERSION_NAME)
    try:
        yield peer
    finally:
        peer.stop()
        _config.VALIDATORS.clear()
        _config.VALIDATORS.update(validators)


def test_find_answers_and_error_comment(peer, archive):
    for level in ("study", "patient"):
        # StudyInstanceUID last: a row that ends with a value's closing marker
        # followed by one that starts with an opening marker would read as
        # a raw line break between markers.
        status, out = run_in_pty("find", peer.target, "-l", level, "-k", "PatientName",
                                 "-k", "StudyDescription", "-k", "StudyInstanceUID",
                                 env=archive["env"])
        assert_no_raw(out, f"find -l {level}")
        assert_shown(out, f"find -l {level} (answers)")
        assert_shown(out, f"find -l {level} (error comment)", [c for c in ERROR_CHARS
                                                               if c not in "\n\r"])


def test_find_json_keeps_exact_values(peer, archive):
    status, out = run_in_pty("find", peer.target, "--json", "-k", "PatientName",
                             env=archive["env"])
    assert_no_raw(out, "find --json")
    text = out.decode("utf-8", "replace")
    assert not any(ch in text for ch in [*C1, "\x7f", *BIDI]), "raw C1/DEL/bidi in JSON"
    # stdout and stderr share the pty: the array starts where json.dumps
    # (indent=2) opens it, not at the first "[" of a progress bar's escapes.
    start = text.index("[\n  {")
    rows = json.loads(text[start:text.rindex("\n]") + 2])
    names = {str(r.get("PatientName")) for r in rows}
    assert hostile_value(chunks(HOSTILE)[5]) in names


def test_send_report(peer, archive, tmp_path):
    """The remote refuses with a hostile error comment; the files have hostile names."""
    folder = tmp_path / "send"
    folder.mkdir()
    for name, source in zip(archive["names"], archive["files"]):
        shutil.copy(source, folder / name)
    before = peer.stores
    status, out = run_in_pty("send", peer.target, folder, env=archive["env"])
    assert peer.stores > before, out[-400:]
    assert status != 0
    assert_no_raw(out, "send")


def test_echo_error_comment(peer, archive):
    status, out = run_in_pty("echo", peer.target, "--aet", "ZQECHOFAIL", env=archive["env"])
    assert status != 0, out[-400:]
    assert_no_raw(out, "echo (error comment)")


def test_echo_implementation_version_name(versioned_peer, archive):
    status, out = run_in_pty("echo", versioned_peer.target, env=archive["env"])
    assert b"ZQPEER" in out, out[-400:]
    assert_no_raw(out, "echo (implementation version name)")
    assert_shown(out, "echo (implementation version name)", C0[1:])


def test_doctor_error_comments(peer, archive):
    status, out = run_in_pty("doctor", peer.target, "--timeout", "5", env=archive["env"])
    assert status != 0, out[-400:]
    assert_no_raw(out, "doctor (error comments)")
    assert b"C-FIND" in out, out[-600:]


def test_doctor_implementation_version_name(versioned_peer, archive):
    status, out = run_in_pty("doctor", versioned_peer.target, "--timeout", "5",
                             env=archive["env"])
    assert b"association" in out, out[-600:]
    assert_no_raw(out, "doctor (implementation version name)")
    assert_shown(out, "doctor (implementation version name)", C0[1:])


# --- the node's log: AE titles a caller chose ------------------------------------------


def _item(kind: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", kind, 0, len(payload)) + payload


def associate_rq(calling: bytes, called: bytes = b"TUIPACS") -> bytes:
    """An A-ASSOCIATE-RQ for Verification, with AE titles as given (no validation)."""
    context = _item(0x20, bytes([1, 0, 0, 0]) + _item(0x30, b"1.2.840.10008.1.1")
                    + _item(0x40, b"1.2.840.10008.1.2"))
    user = _item(0x50, _item(0x51, struct.pack(">I", 16384)) + _item(0x52, b"1.2.3.4"))
    body = (struct.pack(">HH", 1, 0) + called.ljust(16) + calling.ljust(16) + bytes(32)
            + _item(0x10, b"1.2.840.10008.3.1.1.1") + context + user)
    return struct.pack(">BBI", 1, 0, len(body)) + body


def calling_titles() -> list[bytes]:
    """Every control code point in 16-byte calling AE titles: single bytes for
    C0, DEL and C1, UTF-8 for the bidi controls."""
    single = [hostile_value(chunk).encode("latin-1") for chunk in chunks(C0[1:] + C1, 4)]
    bidi = [hostile_value(chunk).encode("utf-8") for chunk in chunks(BIDI, 2)]
    return single + bidi


def ask(port: int, request: bytes) -> bytes:
    """Send an association request, read the answer (accept, reject or abort), release."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        answer = sock.recv(6)
        if answer[:1] == b"\x02":  # accepted: release politely
            sock.sendall(b"\x05\x00" + struct.pack(">I", 4) + bytes(4))
            try:
                sock.recv(10)
            except OSError:
                pass
        return answer


def test_serve_log_lines(archive, tmp_path):
    from tests.conftest import free_port

    port = free_port()
    data = tmp_path / "data"
    pid, fd = spawn_in_pty(["serve", "--data", str(data), "--port", str(port), "--bind",
                            "127.0.0.1", "--log-format", "text"], archive["env"])
    node = PtyReader(pid, fd)
    try:
        node.until(f"listening on 127.0.0.1:{port}")
        answers = [ask(port, associate_rq(title)) for title in calling_titles()]
        assert all(answers), "the node did not answer an association request"
        # A C-STORE of a hostile file from a caller pynetdicom lets through.
        from pynetdicom import AE

        ae = AE(ae_title="ZQSENDER")
        ds = dcmread(archive["whole"])
        ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
        assoc = ae.associate("127.0.0.1", port, ae_title="TUIPACS")
        assert assoc.is_established
        status = assoc.send_c_store(ds)
        assoc.release()
        assert status.Status == 0x0000
        os.kill(pid, signal.SIGTERM)
        node.wait(60)
    finally:
        node.kill()
    assert_no_raw(node.data, "serve (log lines on the terminal)")
    # The callers' AE titles are named in the log, made visible.
    assert_shown(node.data, "serve (calling AE titles)", C0[1:])  # C1 bytes: shown as hex
    log = data / "tui-pacs.log"
    if log.exists():
        assert_no_raw(log.read_bytes(), "serve (log file)")
