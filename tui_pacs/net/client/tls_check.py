"""The TLS handshake with a remote, looked at: the certificate, the version, the cipher.

Blocking, for a worker thread. The handshake is made as an association
makes it (our CA or the system's, the host name checked, our certificate
offered). When the remote's chain is not trusted, OpenSSL says why; a
second handshake that checks nothing then fetches the certificate, so the
report can still show what the remote presents.
"""

from __future__ import annotations

import ssl
from datetime import UTC, datetime

from cryptography import x509

from tui_pacs.core import diagnosis
from tui_pacs.core.certificates import (
    EXPIRED,
    HOSTNAME_MISMATCH,
    NOT_YET_VALID,
    SELF_SIGNED,
    UNKNOWN_CA,
    CertificateFacts,
    TLSReport,
)
from tui_pacs.core.remote import RemoteFailure
from tui_pacs.net.client.association import Session, connect_tcp, resolve
from tui_pacs.net.wire.tls import TLSSetupError, client_context

# OpenSSL's verification errors (X509_V_ERR_*), by what a person should hear.
_VERIFY_PROBLEMS = {
    9: NOT_YET_VALID,
    10: EXPIRED,
    18: SELF_SIGNED,
    19: SELF_SIGNED,
    2: UNKNOWN_CA,
    20: UNKNOWN_CA,
    21: UNKNOWN_CA,
    62: HOSTNAME_MISMATCH,
    64: HOSTNAME_MISMATCH,
}


def inspect_tls(session: Session) -> TLSReport:
    """The remote's TLS as it stands; RemoteFailure when no handshake can be made."""
    target = session.target
    try:
        context = client_context(session.tls)
    except TLSSetupError as exc:
        raise RemoteFailure(diagnosis.tls_failed(
            target, f"our certificates cannot be loaded: {exc}")) from None
    address, _ = resolve(target)
    problems: tuple[str, ...] = ()
    try:
        facts = _handshake(session, address, context)
    except ssl.SSLCertVerificationError as exc:
        problems = (_VERIFY_PROBLEMS.get(exc.verify_code, exc.verify_message),)
        looking = client_context(session.tls)
        looking.check_hostname = False
        looking.verify_mode = ssl.CERT_NONE
        facts = _handshake(session, address, looking)
    version, cipher, bits, certificate = facts
    if problems and certificate is not None:
        problems = _all_problems(problems, certificate)
    tls = session.tls
    checked_against = f"tls.ca {tls.ca}" if tls is not None and tls.ca else "the system's CAs"
    return TLSReport(version, cipher, bits, certificate, not problems, problems,
                     checked_against)


def _handshake(session: Session, address: str, context: ssl.SSLContext,
               ) -> tuple[str, str, int, CertificateFacts | None]:
    sock = connect_tcp(session.target, address, session.connect_timeout)
    try:
        with context.wrap_socket(sock, server_hostname=session.target.host) as tls:
            name, _, bits = tls.cipher() or ("unknown", "", 0)
            der = tls.getpeercert(binary_form=True)
            return (tls.version() or "unknown", name, bits or 0,
                    certificate_facts(der) if der else None)
    except ssl.SSLCertVerificationError:
        raise
    except (ssl.SSLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
        raise RemoteFailure(diagnosis.tls_failed(session.target, str(reason))) from None
    finally:
        sock.close()


def certificate_facts(der: bytes) -> CertificateFacts:
    cert = x509.load_der_x509_certificate(der)
    try:
        alternative = cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value
        names = ([f"DNS:{name}" for name in alternative.get_values_for_type(x509.DNSName)]
                 + [f"IP:{ip}" for ip in alternative.get_values_for_type(x509.IPAddress)])
    except x509.ExtensionNotFound:
        names = []
    return CertificateFacts(cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(),
                            tuple(names), cert.not_valid_before_utc, cert.not_valid_after_utc)


def _all_problems(found: tuple[str, ...], certificate: CertificateFacts) -> tuple[str, ...]:
    """OpenSSL stops at the first problem; the dates and the issuer tell of more."""
    now = datetime.now(UTC)
    more = [SELF_SIGNED if certificate.self_signed else "",
            EXPIRED if certificate.not_after < now else "",
            NOT_YET_VALID if certificate.not_before > now else ""]
    return tuple(dict.fromkeys([*found, *filter(None, more)]))
