"""Who may do what on the node: the ``[access]`` section of the config.

Each service (echo, store, find, move, get, commit) lists the calling AE titles it
serves: AE titles, ``"*"`` (anyone) or ``"@modalities"`` (every AE title of
a configured ``[[modalities]]`` entry, looked up when the request arrives).

Two kinds of answers:

* per association (A-ASSOCIATE-RJ, decided before any DIMSE message): the
  called AE title is not ours while ``check_called_aet`` is on, or the
  calling AE title may use no service at all;
* per operation (DIMSE status 0x0124 "Refused: not authorized"): the calling
  AE title may use some services but not this one. This covers C-ECHO and
  C-STORE too: a status tells the peer's operator exactly what is refused,
  where a rejected association would only say "calling AE title not
  recognised".
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from tui_pacs.config import ANYONE, CONFIGURED_MODALITIES, SERVICES, Settings


class Refusal(enum.Enum):
    """Why an association is rejected (PS3.8 A-ASSOCIATE-RJ reasons)."""

    CALLED_AE_TITLE = "called AE title not recognised"
    CALLING_AE_TITLE = "calling AE title not recognised"
    TOO_MANY_ASSOCIATIONS = "local limit exceeded"


@dataclass(frozen=True)
class AccessPolicy:
    settings: Settings

    @property
    def our_aet(self) -> str:
        return self.settings.node.aet

    def allows(self, service: str, calling_aet: str) -> bool:
        """Whether ``calling_aet`` may use ``service`` ("echo", "store", ...)."""
        if service not in SERVICES:
            raise ValueError(f"unknown service {service!r}")
        calling = calling_aet.strip()
        entries = getattr(self.settings.access, service)
        for entry in entries:
            if entry == ANYONE or entry == calling:
                return True
            if entry == CONFIGURED_MODALITIES and self.settings.modality_by_aet(calling):
                return True
        return False

    def services_for(self, calling_aet: str) -> list[str]:
        """The services ``calling_aet`` may use, in the order of SERVICES."""
        return [service for service in SERVICES if self.allows(service, calling_aet)]

    def association_refusal(self, calling_aet: str, called_aet: str,
                            active: int) -> Refusal | None:
        """Why an association request must be rejected, or None to go on.

        ``active`` counts the running associations, this new one included.
        """
        if self.settings.access.check_called_aet and called_aet.strip() != self.our_aet:
            return Refusal.CALLED_AE_TITLE
        if not self.services_for(calling_aet):
            return Refusal.CALLING_AE_TITLE
        if active > self.settings.limits.max_associations:
            return Refusal.TOO_MANY_ASSOCIATIONS
        return None
