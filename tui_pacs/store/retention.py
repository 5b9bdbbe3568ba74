"""Which studies go when the archive keeps too much: the oldest arrivals first.

A study's arrival is when its last instance arrived (the index's
``received_at``): a study that just received more instances is not the
oldest, whatever its first instance's date. The plan walks the studies
under no hold (holds.py) in that order and takes each one for as long as a
limit is exceeded: it is older than the cut-off, or the archive would still
hold too many studies or too many bytes without it. Held studies count
towards the limits but are never taken, so a plan may leave the archive over
a limit; :attr:`Plan.still_over` says so.

The node runs plans for ``[retention]`` (services/retention.py) and
``tui-pacs rm --older-than`` runs one for its cut-off; both delete through
the archive with the holds checked again by the writer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from tui_pacs.config import RetentionConfig
from tui_pacs.core.model import Level, display_value
from tui_pacs.core.readable import byte_size
from tui_pacs.store.archive import Archive, DeleteResult
from tui_pacs.store.holds import hold_names
from tui_pacs.store.index import ArrivedStudy, Index
from tui_pacs.store.schema import received_at

GB = 1 << 30


@dataclass(frozen=True)
class Limits:
    # Studies whose last instance arrived before this go (and why, in words).
    cutoff: datetime | None = None
    cutoff_reason: str = ""
    max_studies: int | None = None
    max_bytes: int | None = None
    # How the limits are named in reasons ("max_studies (3)").
    studies_reason: str = ""
    bytes_reason: str = ""

    @classmethod
    def from_config(cls, config: RetentionConfig, now: datetime) -> Limits:
        """The ``[retention]`` limits as they stand at ``now``."""
        return cls(
            cutoff=now - timedelta(days=config.keep_days) if config.keep_days else None,
            cutoff_reason=f"older than keep_days ({config.keep_days})",
            max_studies=config.max_studies,
            max_bytes=round(config.max_size_gb * GB) if config.max_size_gb else None,
            studies_reason=f"more than max_studies ({config.max_studies})",
            bytes_reason=f"more than max_size_gb ({config.max_size_gb:g})"
            if config.max_size_gb else "",
        )

    @classmethod
    def older_than(cls, age: timedelta, now: datetime, said: str) -> Limits:
        """Every study whose last instance arrived more than ``age`` ago (``said``:
        the age as the user gave it)."""
        return cls(cutoff=now - age, cutoff_reason=f"older than {said}")


@dataclass(frozen=True)
class Expired:
    study: ArrivedStudy
    # Which limit it goes for, in words ("more than max_studies (3)").
    reason: str


@dataclass(frozen=True)
class Plan:
    expired: list[Expired]
    # Why the archive is still over a limit once they are gone ("" when it is not).
    still_over: str = ""


async def plan(index: Index, limits: Limits, receiving: list[str]) -> Plan:
    """The studies to delete to keep within ``limits``, oldest arrival first;
    ``receiving`` are the studies being received (held)."""
    totals = await index.totals()
    studies, size = totals["studies"], totals["bytes"]
    cutoff = received_at(limits.cutoff) if limits.cutoff else None
    if not _over_count(limits, studies, size) and cutoff is None:
        return Plan([])
    expired: list[Expired] = []
    async for study in index.unheld_by_arrival(receiving):
        if cutoff is not None and study.received_at < cutoff:
            reason = limits.cutoff_reason
        elif limits.max_studies is not None and studies > limits.max_studies:
            reason = limits.studies_reason
        elif limits.max_bytes is not None and size > limits.max_bytes:
            reason = limits.bytes_reason
        else:
            break
        expired.append(Expired(study, reason))
        studies -= 1
        size -= study.size
    still_over = ""
    if limits.max_studies is not None and studies > limits.max_studies:
        still_over = f"{studies} studies left, {limits.studies_reason}"
    elif limits.max_bytes is not None and size > limits.max_bytes:
        still_over = f"{size / GB:.3f} GB left, {limits.bytes_reason}"
    if still_over:
        still_over += f": the others are held ({hold_names()})"
    return Plan(expired, still_over)


def _over_count(limits: Limits, studies: int, size: int) -> bool:
    return ((limits.max_studies is not None and studies > limits.max_studies)
            or (limits.max_bytes is not None and size > limits.max_bytes))


async def delete_expired(archive: Archive, expired: Expired) -> DeleteResult | None:
    """Delete a study a plan chose, unless it came under a hold since (None then)."""
    result = await archive.delete_matching(
        Level.STUDY, {"StudyInstanceUID": expired.study.study_uid}, spare_held=True)
    return result if result.instances else None


def describe(study: ArrivedStudy) -> str:
    """``study 1.2.3 of DOE^JANE (PAT1), 2024-01-15 CT HEAD, 12.5 KB``, for logs and lists."""
    what = " ".join(part for part in (display_value("StudyDate", study.study_date),
                                      study.description) if part)
    return (f"study {study.study_uid} of {study.patient_name or '(no name)'} "
            f"({study.patient_id or 'no ID'}), {what + ', ' if what else ''}"
            f"{byte_size(study.size)}")
