"""The certificate a TLS remote presents, as doctor and probe show it: a trusted
chain, a self-signed certificate, an expired one, another host's, an unknown
CA's. The remote is DCMTK's storescp with TLS (+tls)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from tests.conftest import run_cli
from tests.peers.certificates import Authority, self_signed
from tui_pacs.config import TLSConfig
from tui_pacs.core.remote import CheckState, Failure
from tui_pacs.core.target import Target
from tui_pacs.services.client import RemoteClient


@pytest.fixture
def authority(tmp_path) -> Authority:
    return Authority(tmp_path / "ca")


@pytest.fixture
def trusting_client(settings, archive, authority) -> RemoteClient:
    """A client whose [tls] ca is the test CA."""
    tls = TLSConfig(ca=authority.certificate)
    return RemoteClient(dataclasses.replace(settings, tls=tls), archive)


@pytest.fixture
def tls_storescp(storescp_factory):
    """``tls_storescp(issued)``: storescp presenting that certificate; its Target."""

    def start(issued) -> Target:
        # -ic: no client certificate asked for.
        scp = storescp_factory(aet="SECURE", options=("+tls", str(issued.key),
                                                      str(issued.certificate), "-ic"))
        return Target(scp.aet, "127.0.0.1", scp.port, tls=True)

    return start


async def checklist(client, target):
    return {check.name: check async for check in client.doctor(target)}


@pytest.mark.interop
async def test_a_trusted_chain(trusting_client, authority, tls_storescp):
    target = tls_storescp(authority.issue("server", days=30))
    report = await trusting_client.probe(target)
    assert report.diagnosis is None
    tls = report.tls
    assert tls.trusted and not tls.problems
    assert tls.version in ("TLSv1.2", "TLSv1.3") and tls.cipher and tls.bits >= 128
    assert tls.certificate.subject == "CN=127.0.0.1"
    assert tls.certificate.issuer == "CN=tui-pacs test CA"
    assert tls.certificate.names == ("IP:127.0.0.1",)
    assert tls.certificate.days_left(datetime.now(UTC)) in (29, 30)
    assert f"checked against tls.ca {authority.certificate}" in tls.lines(datetime.now(UTC))[-1]
    # The probe went on over TLS.
    assert any(result.name == "CT Image Storage" for result in report.accepted_classes)

    checks = await checklist(trusting_client, target)
    assert list(checks)[:4] == ["name resolution", "TCP connection", "TLS", "association"]
    assert checks["TLS"].state is CheckState.OK
    assert "issued by CN=tui-pacs test CA" in "\n".join(checks["TLS"].facts)
    assert checks["C-ECHO"].state is CheckState.OK


@pytest.mark.interop
async def test_a_self_signed_certificate(trusting_client, tmp_path, tls_storescp):
    target = tls_storescp(self_signed(tmp_path, "self"))
    report = await trusting_client.probe(target)
    assert report.tls.problems == ("self-signed",)
    assert report.tls.certificate.issuer == report.tls.certificate.subject
    assert report.diagnosis.failure is Failure.TLS_FAILED
    assert not report.classes
    checks = await checklist(trusting_client, target)
    assert checks["TLS"].state is CheckState.FAIL
    assert "self-signed" in checks["TLS"].detail
    assert any("add the CA that issued it" in line for line in checks["TLS"].advice)
    assert checks["association"].state is CheckState.SKIPPED


@pytest.mark.interop
async def test_an_expired_certificate(trusting_client, authority, tls_storescp):
    target = tls_storescp(authority.issue("old", expired=True))
    report = await trusting_client.probe(target)
    assert report.tls.problems == ("expired",)
    assert report.tls.certificate.days_left(datetime.now(UTC)) < 0
    assert any("expired 3 days ago" in line for line in report.tls.lines(datetime.now(UTC)))
    checks = await checklist(trusting_client, target)
    assert checks["TLS"].state is CheckState.FAIL
    assert checks["TLS"].failure is Failure.TLS_FAILED
    assert any("renew" in line for line in checks["TLS"].advice)


@pytest.mark.interop
async def test_another_hosts_certificate_and_an_unknown_ca(trusting_client, authority,
                                                         tmp_path, tls_storescp):
    elsewhere = await trusting_client.probe(
        tls_storescp(authority.issue("other", host="pacs.example.org")))
    assert elsewhere.tls.problems == ("hostname mismatch",)
    assert elsewhere.tls.certificate.names == ("DNS:pacs.example.org",)

    stranger = Authority(tmp_path / "other-ca", name="another CA")
    unknown = await trusting_client.probe(tls_storescp(stranger.issue("server")))
    assert unknown.tls.problems == ("unknown CA",)


@pytest.mark.interop
def test_probe_shows_the_certificate_on_the_command_line(authority, tmp_path, tls_storescp,
                                                         settings):
    target = tls_storescp(self_signed(tmp_path, "self"))
    config = tmp_path / "tls.toml"
    config.write_text(f'[node]\naet = "TUIPACS"\ndata = "{settings.node.data}"\n\n'
                      f'[tls]\nca = "{authority.certificate}"\n\n'
                      f'[[modalities]]\nname = "secure"\naet = "SECURE"\nhost = "127.0.0.1"\n'
                      f'port = {target.port}\ntls = true\n', encoding="utf-8")
    result = run_cli("probe", "secure", "--config", config)
    assert result.returncode == 11, result.stderr
    assert "certificate subject CN=127.0.0.1" in result.stdout
    assert "NOT trusted: self-signed" in result.stdout
    assert "presents a certificate we do not trust: self-signed" in result.stderr
    assert "Traceback" not in result.stderr
