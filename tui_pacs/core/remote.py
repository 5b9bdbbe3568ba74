"""What talking to a remote node produced, as plain values for the CLI and the app.

No pynetdicom object crosses this line: the net layer turns associations,
statuses and identifiers into these dataclasses.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from tui_pacs.core.target import Target


class Failure(enum.Enum):
    """The step at which talking to a remote node failed, with the exit status of
    the command that reports it (documented in README.md)."""

    OPERATION_FAILED = ("the remote answered with a failure", 1)
    NAME_RESOLUTION = ("name resolution failed", 3)
    CONNECTION_REFUSED = ("connection refused", 4)
    CONNECTION_TIMEOUT = ("connection timed out", 5)
    NETWORK_UNREACHABLE = ("network unreachable", 5)
    TLS_FAILED = ("TLS handshake failed", 11)
    ASSOCIATION_REJECTED = ("association rejected", 6)
    ASSOCIATION_ABORTED = ("association aborted", 7)
    NO_ASSOCIATION_ANSWER = ("no answer to the association request", 7)
    SERVICE_NOT_ACCEPTED = ("service not accepted", 8)
    NO_RESPONSE = ("no response in time", 9)
    DESTINATION_UNKNOWN = ("move destination unknown to the remote", 10)
    NOTHING_ARRIVED = ("nothing arrived", 10)
    CANNOT_LISTEN = ("cannot listen for the retrieved instances", 10)

    def __init__(self, label: str, exit_code: int) -> None:
        self.label = label
        self.exit_code = exit_code


@dataclass(frozen=True)
class Diagnosis:
    """Which step failed, what happened, and what to check or change."""

    failure: Failure
    summary: str
    # One line each, saying on which side to act: "on the remote: ...", "here: ...".
    advice: tuple[str, ...] = ()
    # The remote refused for now (a transient rejection: at its association
    # limit, congested); the same request may succeed a moment later.
    busy: bool = False


class RemoteFailure(Exception):
    """An operation could not be carried out; ``diagnosis`` says why."""

    def __init__(self, diagnosis: Diagnosis) -> None:
        super().__init__(diagnosis.summary)
        self.diagnosis = diagnosis


@dataclass(frozen=True)
class Connection:
    """Facts about an association that was accepted."""

    # The address the target's host name resolved to.
    address: str
    # Our address as the remote sees it: where it would reach us for C-MOVE.
    local_address: str
    resolve_seconds: float
    connect_seconds: float
    associate_seconds: float
    # The largest PDU the remote accepts (0: no limit).
    remote_max_pdu: int
    remote_implementation: str


@dataclass(frozen=True)
class EchoResult:
    status: int | None
    seconds: float

    @property
    def ok(self) -> bool:
        return self.status == 0x0000


@dataclass(frozen=True)
class EchoReport:
    target: Target
    calling_aet: str
    connection: Connection | None
    echoes: tuple[EchoResult, ...]
    diagnosis: Diagnosis | None

    @property
    def ok(self) -> bool:
        return self.diagnosis is None and bool(self.echoes) and all(e.ok for e in self.echoes)


@dataclass(frozen=True)
class RetrieveProgress:
    """Sub-operation counts from the remote's pending responses (C-MOVE, C-GET),
    and what arrived here so far."""

    completed: int = 0
    remaining: int | None = None
    failed: int = 0
    warning: int = 0
    received: int = 0

    @property
    def total(self) -> int | None:
        if self.remaining is None:
            return None
        return self.completed + self.failed + self.warning + self.remaining


@dataclass(frozen=True)
class RetrieveReport:
    target: Target
    # "C-MOVE" or "C-GET".
    service: str
    destination: str
    # The final DIMSE status, None when no final response came.
    status: int | None
    completed: int
    failed: int
    warning: int
    # Instances that arrived here and were stored (new or already held),
    # None when another process received them (a node already listening).
    received: int | None
    new: int
    duplicates: int
    # Instances that arrived but could not be stored here.
    store_failures: int
    failed_instances: tuple[str, ...]
    # Who received the instances: a temporary listener, a running node, the association.
    receiver: str
    seconds: float
    cancelled: bool = False
    diagnosis: Diagnosis | None = None

    @property
    def ok(self) -> bool:
        return (self.diagnosis is None and not self.cancelled and self.failed == 0
                and self.store_failures == 0 and self.status in (0x0000, None))


@dataclass(frozen=True)
class SendProgress:
    """One instance done (sent or not) out of ``total``."""

    done: int
    total: int
    source: str
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class SendFailure:
    source: str
    reason: str


@dataclass(frozen=True)
class SendReport:
    target: Target
    total: int
    sent: int
    # Stored by the remote with a warning status (coercion, ...).
    warnings: int
    # Sent after decompression because the remote accepted only uncompressed data.
    decompressed: int
    failures: tuple[SendFailure, ...]
    associations: int
    seconds: float
    cancelled: bool = False

    @property
    def ok(self) -> bool:
        return not self.failures and not self.cancelled and self.sent == self.total


class CheckState(enum.Enum):
    OK = "OK"
    FAIL = "FAIL"
    SKIPPED = "SKIPPED"


@dataclass(frozen=True)
class Check:
    """One line of the doctor's checklist."""

    name: str
    state: CheckState
    detail: str
    # What to change, one line each, saying on which side ("on the remote: ...").
    advice: tuple[str, ...] = ()
    failure: Failure | None = None
    # Facts found on the way, one line each (the certificate a TLS remote presents).
    facts: tuple[str, ...] = ()

    @classmethod
    def ok(cls, name: str, detail: str, facts: tuple[str, ...] = ()) -> Check:
        return cls(name, CheckState.OK, detail, facts=facts)

    @classmethod
    def failed(cls, name: str, problem: Diagnosis, facts: tuple[str, ...] = ()) -> Check:
        return cls(name, CheckState.FAIL, problem.summary, problem.advice, problem.failure,
                   facts)

    @classmethod
    def skipped(cls, name: str, reason: str) -> Check:
        return cls(name, CheckState.SKIPPED, reason)
