"""TLS for DICOM (PS3.15 B.1): contexts for our server and for our client side.

The server checks client certificates against ``tls.ca`` (when it is set).
As a client (C-MOVE to a modality marked ``tls``) the node checks the
modality's certificate and host name against ``tls.ca``, or the system's
CAs, and offers its own certificate: the same rules as ``tui-pacs send``.
"""

from __future__ import annotations

import ssl

from tui_pacs.config import TLSConfig


class TLSSetupError(Exception):
    """The TLS files cannot be used; the message names the file and why."""


def server_context(tls: TLSConfig) -> ssl.SSLContext:
    """The context that wraps accepted connections."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load(context, tls)
    if tls.require_client_certificate:
        context.verify_mode = ssl.CERT_REQUIRED
    elif tls.ca is not None:
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def client_context(tls: TLSConfig | None) -> ssl.SSLContext:
    """The context for associations we request to modalities marked ``tls``:
    the remote checked against ``tls.ca`` alone when it is set, else against
    the system's CAs."""
    tls = tls or TLSConfig()
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=tls.ca)
    except (OSError, ssl.SSLError) as exc:
        raise TLSSetupError(f"tls.ca {tls.ca}: {_reason(exc)}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load_certificate(context, tls)
    return context


def _load(context: ssl.SSLContext, tls: TLSConfig) -> None:
    _load_certificate(context, tls)
    if tls.ca is not None:
        try:
            context.load_verify_locations(cafile=tls.ca)
        except (OSError, ssl.SSLError) as exc:
            raise TLSSetupError(f"tls.ca {tls.ca}: {_reason(exc)}") from None


def _load_certificate(context: ssl.SSLContext, tls: TLSConfig) -> None:
    if tls.certificate is not None and tls.key is not None:
        try:
            context.load_cert_chain(tls.certificate, tls.key)
        except (OSError, ssl.SSLError) as exc:
            raise TLSSetupError(f"tls.certificate {tls.certificate} / tls.key {tls.key}: "
                                f"{_reason(exc)}") from None


def _reason(exc: OSError | ssl.SSLError) -> str:
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    return exc.strerror or str(exc)
