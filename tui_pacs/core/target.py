"""Naming the remote node an operation talks to.

A target is a configured modality's name (``orthanc``) or an address in the
dcm4che convention, ``AET@host:port`` (``ORTHANC@10.0.0.5:4242``, with IPv6
addresses in brackets: ``PACS@[fd00::5]:104``). A name wins over the address
form, so a modality may be called anything.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from tui_pacs.core.aetitle import ae_title_problem


class BadTarget(ValueError):
    """Text that names no configured modality and is not AET@host:port."""


class ConfiguredModality(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def aet(self) -> str: ...
    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def tls(self) -> bool: ...


@dataclass(frozen=True)
class Target:
    """A remote DICOM node: its AE title and where it listens."""

    aet: str
    host: str
    port: int
    # The configured modality this came from, if any.
    name: str | None = None
    tls: bool = False

    @property
    def address(self) -> str:
        """``AET@host:port``, the form people can paste back on the command line."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.aet}@{host}:{self.port}"

    def __str__(self) -> str:
        return f"{self.name} ({self.address})" if self.name else self.address


def parse_target(text: str, modalities: Iterable[ConfiguredModality] = ()) -> Target:
    """A configured modality by name, else ``AET@host:port``; raises BadTarget."""
    text = text.strip()
    configured = list(modalities)
    for modality in configured:
        if modality.name == text:
            return Target(modality.aet, modality.host, modality.port, modality.name,
                          modality.tls)
    if "@" not in text:
        known = ", ".join(m.name for m in configured)
        hint = f" (configured: {known})" if known else " (none are configured)"
        raise BadTarget(f"{text!r} is neither a configured modality{hint} nor AET@host:port")
    aet, _, location = text.rpartition("@")
    problem = ae_title_problem(aet)
    if problem:
        raise BadTarget(f"{text!r}: the AE title {aet!r} {problem}")
    host, port = _split_host_port(text, location)
    return Target(aet.strip(), host, port)


def _split_host_port(text: str, location: str) -> tuple[str, int]:
    if location.startswith("["):
        host, bracket, rest = location[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            raise BadTarget(f"{text!r}: write an IPv6 address as [address]:port")
        port_text = rest[1:]
    else:
        host, colon, port_text = location.rpartition(":")
        if not colon:
            raise BadTarget(f"{text!r}: the port is missing (AET@host:port)")
    if not host or any(c.isspace() or ord(c) < 0x20 for c in host):
        raise BadTarget(f"{text!r}: {host!r} is not a host name or address")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise BadTarget(f"{text!r}: the port must be a number from 1 to 65535")
    return host, int(port_text)
