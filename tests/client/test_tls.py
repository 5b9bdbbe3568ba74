"""DICOM over TLS to a remote that has a certificate: echo and send, and a
handshake that fails because we do not trust it."""

from __future__ import annotations

import dataclasses
import ssl
import subprocess

import pytest
from pynetdicom import AE, evt
from pynetdicom.sop_class import Verification

from tests.dicom_factory import make_dataset, write_instance
from tests.peers.ports import free_port
from tui_pacs.config import TLSConfig
from tui_pacs.core.remote import Failure, RemoteFailure
from tui_pacs.core.target import Target
from tui_pacs.net.wire.ae import add_storage_scp_contexts
from tui_pacs.services.client import RemoteClient


@pytest.fixture
def certificate(tmp_path):
    """A self-signed certificate for 127.0.0.1 (openssl, one day)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", key, "-out", cert, "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture
def tls_scp(certificate):
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    ae = AE(ae_title="SECURE")
    ae.add_supported_context(Verification)
    add_storage_scp_contexts(ae)
    stored = []

    def handle_store(event):
        stored.append(event.request.AffectedSOPInstanceUID)
        return 0x0000

    port = free_port()
    server = ae.start_server(("127.0.0.1", port), block=False, ssl_context=context,
                             evt_handlers=[(evt.EVT_C_STORE, handle_store)])
    yield Target("SECURE", "127.0.0.1", port, tls=True), stored
    server.shutdown()


@pytest.fixture
def trusting_client(settings, archive, certificate):
    tls = TLSConfig(ca=certificate[0])
    return RemoteClient(dataclasses.replace(settings, tls=tls), archive)


async def test_echo_over_tls(trusting_client, tls_scp):
    target, _ = tls_scp
    report = await trusting_client.echo(target)
    assert report.ok, report.diagnosis


async def test_send_over_tls(trusting_client, tls_scp, tmp_path):
    target, stored = tls_scp
    paths = [write_instance(tmp_path / f"{n}.dcm", make_dataset(instance=n)) for n in (1, 2)]
    report = await trusting_client.send_files(target, paths)
    assert report.ok and len(stored) == 2


async def test_an_untrusted_certificate_is_diagnosed(client, tls_scp, tmp_path):
    target, _ = tls_scp
    report = await client.echo(target)
    assert report.diagnosis.failure is Failure.TLS_FAILED
    assert "CERTIFICATE_VERIFY_FAILED" in report.diagnosis.summary
    path = write_instance(tmp_path / "one.dcm", make_dataset())
    with pytest.raises(RemoteFailure) as caught:
        await client.send_files(target, [path])
    assert caught.value.diagnosis.failure is Failure.TLS_FAILED
