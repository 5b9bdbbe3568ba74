"""Certificates for TLS peers: a test CA and what it (or nobody) signs, written as PEM.

Made with ``cryptography``: a certificate authority, server certificates
it signs (valid, expired, for another host name), a self-signed one, and
one signed by a CA the client does not know.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class Issued:
    """A certificate and its key, as PEM files."""

    certificate: Path
    key: Path


class Authority:
    """A CA that writes into ``folder``; ``certificate`` is what clients trust."""

    def __init__(self, folder: Path, name: str = "tui-pacs test CA") -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        cert = (_builder(self.name, self.name, self.key, now - timedelta(days=1),
                         now + timedelta(days=365))
                .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                             False, False), critical=True)
                .sign(self.key, hashes.SHA256()))
        self.certificate = folder / f"{name.replace(' ', '-')}.pem"
        self.certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, stem: str, *, host: str = "127.0.0.1", days: int = 30,
              expired: bool = False) -> Issued:
        """A server certificate for ``host`` (an IP address or a DNS name)."""
        now = datetime.now(UTC)
        start, end = ((now - timedelta(days=60), now - timedelta(days=3)) if expired
                      else (now - timedelta(days=1), now + timedelta(days=days)))
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _server(_builder(_name(host), self.name, key, start, end), host).sign(
            self.key, hashes.SHA256())
        return _write(self.folder, stem, cert, key)


def self_signed(folder: Path, stem: str, host: str = "127.0.0.1") -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    cert = _server(_builder(_name(host), _name(host), key, now - timedelta(days=1),
                            now + timedelta(days=30)), host).sign(key, hashes.SHA256())
    return _write(folder, stem, cert, key)


def _name(host: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])


def _builder(subject: x509.Name, issuer: x509.Name, key: ec.EllipticCurvePrivateKey,
             start: datetime, end: datetime) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(start).not_valid_after(end))


def _server(builder: x509.CertificateBuilder, host: str) -> x509.CertificateBuilder:
    try:
        name: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        name = x509.DNSName(host)
    return builder.add_extension(x509.SubjectAlternativeName([name]), critical=False)


def _write(folder: Path, stem: str, cert: x509.Certificate,
           key: ec.EllipticCurvePrivateKey) -> Issued:
    issued = Issued(folder / f"{stem}.pem", folder / f"{stem}.key")
    issued.certificate.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    issued.key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.TraditionalOpenSSL,
                                             serialization.NoEncryption()))
    return issued
