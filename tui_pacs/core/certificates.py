"""What a remote's TLS handshake showed: its certificate, whether we trust it, and why not.

Gathered by :mod:`tui_pacs.net.client.tls_check`; shown the same way by
``doctor``, ``probe`` and the app. A certificate the node does not trust
is described all the same, so a person can see what the remote presents
(the name, who issued it, until when) and what to change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

SELF_SIGNED = "self-signed"
EXPIRED = "expired"
NOT_YET_VALID = "not yet valid"
HOSTNAME_MISMATCH = "hostname mismatch"
UNKNOWN_CA = "unknown CA"


@dataclass(frozen=True)
class CertificateFacts:
    subject: str
    issuer: str
    # Subject alternative names, as DNS:name and IP:address.
    names: tuple[str, ...]
    not_before: datetime
    not_after: datetime

    @property
    def self_signed(self) -> bool:
        return self.subject == self.issuer

    def days_left(self, now: datetime) -> int:
        """Whole days until it expires (negative: whole days since it expired)."""
        if self.not_after >= now:
            return (self.not_after - now).days
        return -(now - self.not_after).days


@dataclass(frozen=True)
class TLSReport:
    """One TLS handshake with the remote, as an association makes it."""

    version: str
    cipher: str
    bits: int
    certificate: CertificateFacts | None
    trusted: bool
    # Why the chain is not trusted (empty when it is): self-signed, expired, ...
    problems: tuple[str, ...]
    # What the certificate was checked against: "tls.ca /etc/ca.pem" or "the system's CAs".
    checked_against: str

    def lines(self, now: datetime) -> list[str]:
        """The report for a person, one fact a line."""
        lines = [f"{self.version}, cipher {self.cipher} ({self.bits} bits)"]
        cert = self.certificate
        if cert is not None:
            days = cert.days_left(now)
            left = (f"expires in {days} day{'' if days == 1 else 's'}" if days >= 0
                    else f"expired {-days} day{'' if days == -1 else 's'} ago")
            lines += [
                f"certificate subject {cert.subject}",
                f"  issued by {cert.issuer}",
                f"  names {', '.join(cert.names) or '(none)'}",
                f"  valid {cert.not_before:%Y-%m-%d} to {cert.not_after:%Y-%m-%d} ({left})",
            ]
        if self.trusted:
            lines.append(f"  trusted (checked against {self.checked_against})")
        else:
            lines.append(f"  NOT trusted: {', '.join(self.problems)} (checked against "
                         f"{self.checked_against})")
        return lines

    def as_dict(self) -> dict[str, Any]:
        cert = self.certificate
        return {
            "version": self.version, "cipher": self.cipher, "bits": self.bits,
            "trusted": self.trusted, "problems": list(self.problems),
            "checked_against": self.checked_against,
            "certificate": None if cert is None else {
                "subject": cert.subject, "issuer": cert.issuer, "names": list(cert.names),
                "not_before": cert.not_before.isoformat(),
                "not_after": cert.not_after.isoformat(),
            },
        }
