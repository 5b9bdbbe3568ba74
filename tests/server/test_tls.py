"""TLS on its own port next to plain DICOM, with certificates made by openssl."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest
from pynetdicom.sop_class import Verification

from tests.conftest import free_port
from tests.server.node_fixtures import client_ae, settings_for, started, wait_until
from tui_pacs.config import TLSConfig
from tui_pacs.core.events import AssociationEvent
from tui_pacs.net.wire.tls import TLSSetupError, server_context

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """A CA, a node certificate and a client certificate signed by it."""
    folder = tmp_path_factory.mktemp("pki")
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=test CA", "-keyout", folder / "ca.key", "-out", folder / "ca.pem")
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name in ("node", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
                "-keyout", folder / f"{name}.key", "-out", folder / f"{name}.csr")
        openssl("x509", "-req", "-in", folder / f"{name}.csr", "-CA", folder / "ca.pem",
                "-CAkey", folder / "ca.key", "-CAcreateserial", "-days", "2",
                "-extfile", folder / "san.ext", "-out", folder / f"{name}.pem")
    return folder


def tls_settings(tmp_path, pki, require_client_certificate=False):
    settings = settings_for(tmp_path / "data")
    tls = TLSConfig(enabled=True, port=free_port(),
                    certificate=pki / "node.pem", key=pki / "node.key", ca=pki / "ca.pem",
                    require_client_certificate=require_client_certificate)
    return dataclasses.replace(settings, tls=tls)


def echo_over_tls(port: int, pki: Path, with_certificate: bool) -> bool:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(pki / "ca.pem"))
    context.check_hostname = False
    if with_certificate:
        context.load_cert_chain(pki / "client.pem", pki / "client.key")
    ae = client_ae()
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title="TUIPACS", tls_args=(context, None))
    if not assoc.is_established:
        return False
    try:
        return assoc.send_c_echo().Status == 0x0000
    finally:
        assoc.release()


def plain_echo(port: int) -> bool:
    ae = client_ae()
    ae.add_requested_context(Verification)
    assoc = ae.associate("127.0.0.1", port, ae_title="TUIPACS")
    if not assoc.is_established:
        return False
    assoc.release()
    return True


async def test_tls_port_beside_the_plain_one(tmp_path, pki):
    settings = tls_settings(tmp_path, pki)
    node = await started(settings)
    events = []
    node.subscribe(events.append)
    try:
        assert node.status.tls_port == settings.tls.port
        assert await asyncio.to_thread(echo_over_tls, settings.tls.port, pki, False)
        assert await asyncio.to_thread(plain_echo, settings.node.port)
        # Plain DICOM on the TLS port fails the handshake, and says so.
        assert not await asyncio.to_thread(plain_echo, settings.tls.port)
        await wait_until(lambda: any(isinstance(e, AssociationEvent) and "TLS handshake" in
                                     e.detail for e in events))
    finally:
        await node.stop()


async def test_client_certificate_required(tmp_path, pki):
    settings = tls_settings(tmp_path, pki, require_client_certificate=True)
    node = await started(settings)
    try:
        assert not await asyncio.to_thread(echo_over_tls, settings.tls.port, pki, False)
        assert await asyncio.to_thread(echo_over_tls, settings.tls.port, pki, True)
    finally:
        await node.stop()


async def test_unreadable_key_is_a_listen_error(tmp_path, pki):
    settings = tls_settings(tmp_path, pki)
    settings = dataclasses.replace(settings, tls=dataclasses.replace(
        settings.tls, key=tmp_path / "missing.key"))
    from tui_pacs.services.node import Node

    node = Node(settings)
    await node.start()
    try:
        assert not node.status.listening
        assert "missing.key" in node.status.listen_error
    finally:
        await node.stop()


def test_server_context_names_the_bad_file(tmp_path):
    bad = tmp_path / "cert.pem"
    bad.write_text("not a certificate")
    with pytest.raises(TLSSetupError, match="tls.certificate .*cert.pem"):
        server_context(TLSConfig(enabled=True, certificate=bad, key=bad))


async def test_move_to_a_tls_modality(tmp_path, pki):
    """C-MOVE connects with TLS to a modality marked tls, checking its certificate."""
    from tests.dicom_factory import make_dataset, write_instance
    from tests.server.node_fixtures import Receiver, move, query

    receiver_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    receiver_context.load_cert_chain(pki / "client.pem", pki / "client.key")
    receiver = Receiver(ssl_context=receiver_context)
    modality = dataclasses.replace(receiver.modality, tls=True)
    settings = dataclasses.replace(tls_settings(tmp_path, pki), modalities=(modality,))
    node = await started(settings)
    source = make_dataset()
    await node.archive.store_file(write_instance(tmp_path / "i.dcm", source))

    try:
        responses = await asyncio.to_thread(
            move, node, query("STUDY", StudyInstanceUID=source.StudyInstanceUID), receiver.aet)
    finally:
        await node.stop()
        receiver.close()
    assert responses[-1][0].Status == 0x0000
    assert set(receiver.received) == {source.SOPInstanceUID}
