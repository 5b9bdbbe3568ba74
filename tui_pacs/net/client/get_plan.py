"""What a C-GET will bring, and how to split it over parallel associations.

Each instance a C-GET brings is acknowledged only once the archive holds it
durably (file fsync, index commit, directory fsync), and the remote sends
the next one only after that acknowledgement: one association spends most
of each instance waiting on the disk. Several associations, each retrieving
part of the study, keep the remote and the disk busy at once, and the
archive commits their instances in groups.

For a retrieve of one study, a STUDY-level C-FIND asks which SOP classes the
study holds (so that storage contexts are proposed for them) and how many
instances. When there are enough to be worth it, an IMAGE-level C-FIND lists
them, and the retrieve is cut into pieces: IMAGE-level C-GETs of lists of
SOP Instance UIDs (PS3.4 C.4.3.1.3: a list of UIDs at the level of the
retrieve), series by series. The list is used only when it holds exactly as
many instances as the study says it has: a remote that caps its answers
must not make a retrieve silently incomplete. Anything else (other levels,
several studies, a remote that does not answer these queries) is one C-GET,
as asked.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from tui_pacs.core.model import Level
from tui_pacs.core.query import PATIENT_ROOT, RetrieveRequest, find_identifier
from tui_pacs.core.remote import Failure, RemoteFailure
from tui_pacs.net.client import scu
from tui_pacs.net.client.association import Cancellation, Session

# How many associations a C-GET of one study uses (measured with bench/retrieve.py).
PARALLEL_ASSOCIATIONS = 4
# A smaller study is one C-GET: listing its instances would cost more than
# the parallel associations save.
SPLIT_MINIMUM = 16
# SOP Instance UIDs in one C-GET identifier: at most 65 bytes each, and an
# explicit VR element holds at most 65,534 bytes.
MAX_UIDS_PER_PIECE = 500
# Answers to these C-FINDs after which the C-GET is still worth trying.
_QUERY_REFUSALS = (Failure.OPERATION_FAILED, Failure.SERVICE_NOT_ACCEPTED,
                   Failure.ASSOCIATION_ABORTED)
_NOT_A_SINGLE_UID = ("\\", "*", "?")


@dataclass(frozen=True)
class Piece:
    """One C-GET of a plan, and how many instances it should bring (None: unknown)."""

    request: RetrieveRequest
    instances: int | None = None


@dataclass(frozen=True)
class GetPlan:
    sop_classes: list[str]
    pieces: list[Piece]

    @property
    def instances(self) -> int | None:
        counts = [piece.instances for piece in self.pieces]
        return None if None in counts else sum(counts)  # type: ignore[arg-type]

    @property
    def split(self) -> bool:
        return len(self.pieces) > 1


def plan_get(session: Session, request: RetrieveRequest, cancellation: Cancellation,
             associations: int = PARALLEL_ASSOCIATIONS) -> GetPlan:
    """The SOP classes to expect and the pieces of the retrieve (one piece, the
    request itself, unless splitting is possible and worth it)."""
    whole = [Piece(request)]
    try:
        count, classes = None, None
        if request.level in (Level.PATIENT, Level.STUDY):
            studies = _rows(session, request, cancellation, Level.STUDY,
                            ("SOPClassesInStudy", "NumberOfStudyRelatedInstances"))
            classes = _values(studies, "SOPClassesInStudy")
            if associations > 1 and _one_study(request):
                count = _single_count(studies)
            if count is not None and count < SPLIT_MINIMUM:
                count = None
            if classes is not None and count is None:
                return GetPlan(classes, whole)
        images = _rows(session, request, cancellation, Level.IMAGE, _image_keys(request))
        classes = _values(images, "SOPClassUID") or classes or []
        pieces = _pieces(request, images, associations) if len(images) == count else []
        return GetPlan(classes, pieces or whole)
    except RemoteFailure as exc:
        if exc.diagnosis.failure in _QUERY_REFUSALS:
            return GetPlan([], whole)
        raise


def expected_sop_classes(session: Session, request: RetrieveRequest,
                         cancellation: Cancellation) -> list[str]:
    """The SOP classes a C-GET will bring, asked with a C-FIND first; [] when the
    remote does not say (it may not answer that query, or not to us)."""
    return plan_get(session, request, cancellation, associations=1).sop_classes


def _rows(session: Session, request: RetrieveRequest, cancellation: Cancellation,
          level: Level, return_keys: tuple[str, ...]) -> list[dict]:
    identifier = find_identifier(level, request.keys,
                                 return_keys=(*return_keys, level.unique_key))
    return list(scu.find(session, request.model, identifier, cancellation))


def _image_keys(request: RetrieveRequest) -> tuple[str, ...]:
    keys = ("SOPClassUID", "StudyInstanceUID", "SeriesInstanceUID")
    return (*keys, "PatientID") if request.model == PATIENT_ROOT else keys


def _values(rows: list[dict], keyword: str) -> list[str] | None:
    """The distinct values of ``keyword`` over the rows; None if a row lacks it."""
    values = [row.get(keyword) for row in rows]
    if not all(values):
        return None
    return list(dict.fromkeys(uid for value in values for uid in str(value).split("\\")))


def _single_count(studies: list[dict]) -> int | None:
    """The number of instances of the one study found, when the remote says."""
    if len(studies) != 1:
        return None
    count = studies[0].get("NumberOfStudyRelatedInstances")
    return count if isinstance(count, int) else None


def _one_study(request: RetrieveRequest) -> bool:
    """A STUDY-level retrieve of one study, named by its UID."""
    uid = request.keys.get("StudyInstanceUID", "").strip()
    return (request.level is Level.STUDY and bool(uid)
            and not any(mark in uid for mark in _NOT_A_SINGLE_UID))


def _pieces(request: RetrieveRequest, images: list[dict], associations: int) -> list[Piece]:
    """IMAGE-level retrieves of the listed instances, series by series, in about
    ``associations`` pieces; [] when the list cannot be used."""
    needed = ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"]
    if request.model == PATIENT_ROOT:
        needed.append("PatientID")
    if not all(row.get(key) for row in images for key in needed):
        return []
    if len({row["SOPInstanceUID"] for row in images}) != len(images):
        return []
    size = min(MAX_UIDS_PER_PIECE, math.ceil(len(images) / associations))
    by_series: dict[tuple[str, ...], list[str]] = {}
    for row in images:
        parents = tuple(str(row[key]) for key in needed if key != "SOPInstanceUID")
        by_series.setdefault(parents, []).append(str(row["SOPInstanceUID"]))
    parent_keys = [key for key in needed if key != "SOPInstanceUID"]
    return [Piece(RetrieveRequest(Level.IMAGE, request.model,
                                  {**dict(zip(parent_keys, parents)),
                                   "SOPInstanceUID": "\\".join(chunk)}), len(chunk))
            for parents, uids in by_series.items() for chunk in _chunks(uids, size)]


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
