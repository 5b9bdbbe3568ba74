"""Diagnoses a person can act on: what failed, and what to check on which side.

Each function turns plain facts (codes from an A-ASSOCIATE-RJ, an OSError's
kind, a DIMSE status) into a :class:`Diagnosis`. The net layer gathers the
facts; the wording lives here so the CLI and the app say the same thing.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from tui_pacs.core.certificates import (
    EXPIRED,
    HOSTNAME_MISMATCH,
    NOT_YET_VALID,
    SELF_SIGNED,
    UNKNOWN_CA,
    TLSReport,
)
from tui_pacs.core.remote import Diagnosis, Failure
from tui_pacs.core.target import Target

# A-ASSOCIATE-RJ (PS3.8 9.3.4): reasons by source.
SOURCE_SERVICE_USER = 1
SOURCE_PROVIDER_ACSE = 2
SOURCE_PROVIDER_PRESENTATION = 3

_SOURCES = {
    SOURCE_SERVICE_USER: "the remote application",
    SOURCE_PROVIDER_ACSE: "the remote's DICOM protocol layer (ACSE)",
    SOURCE_PROVIDER_PRESENTATION: "the remote's DICOM protocol layer (presentation)",
}

_REASONS = {
    (SOURCE_SERVICE_USER, 1): "no reason given",
    (SOURCE_SERVICE_USER, 2): "application context name not supported",
    (SOURCE_SERVICE_USER, 3): "calling AE title not recognised",
    (SOURCE_SERVICE_USER, 7): "called AE title not recognised",
    (SOURCE_PROVIDER_ACSE, 1): "no reason given",
    (SOURCE_PROVIDER_ACSE, 2): "protocol version not supported",
    (SOURCE_PROVIDER_PRESENTATION, 1): "temporary congestion",
    (SOURCE_PROVIDER_PRESENTATION, 2): "local limit exceeded",
}

# A-ABORT (PS3.8 9.3.8): reasons when the provider aborts.
_ABORT_REASONS = {
    0: "reason not specified",
    1: "unrecognised PDU",
    2: "unexpected PDU",
    4: "unrecognised PDU parameter",
    5: "unexpected PDU parameter",
    6: "invalid PDU parameter value",
}

# Presentation context results (PS3.8 9.3.3.2).
CONTEXT_REASONS = {
    1: "rejected by the remote application",
    2: "rejected, no reason given",
    3: "not supported by the remote",
    4: "none of the proposed transfer syntaxes is supported",
}


@dataclass(frozen=True)
class Listener:
    """Where this node receives what a C-MOVE sends it: the entry a remote needs."""

    aet: str
    host: str
    port: int

    def entries(self) -> tuple[str, ...]:
        return (
            f"AE title {self.aet}, host {self.host}, port {self.port}",
            f'for Orthanc, in "DicomModalities": "{self.aet}" : [ "{self.aet}", '
            f'"{self.host}", {self.port} ]',
        )


def name_not_resolved(target: Target, reason: str) -> Diagnosis:
    return Diagnosis(
        Failure.NAME_RESOLUTION,
        f"the host name {target.host!r} does not resolve: {reason}",
        (f"here: check the spelling of {target.host!r}, the DNS servers in "
         "/etc/resolv.conf and /etc/hosts, or use the remote's IP address",),
    )


def connection_refused(target: Target, address: str) -> Diagnosis:
    if _is_loopback(address):
        where = (f"on this host: check that the DICOM service is running and listens "
                 f"on port {target.port}")
    else:
        where = ("on the remote: check that its DICOM service is running and listens on "
                 "this address, not only on 127.0.0.1")
    return Diagnosis(
        Failure.CONNECTION_REFUSED,
        f"nothing accepts connections on {address} port {target.port} "
        "(connection refused)",
        (f"here: check the port number {target.port} (ask the remote's admin; "
         "Orthanc uses 4242, many PACS 104 or 11112)", where),
    )


def _is_loopback(address: str) -> bool:
    """127.0.0.1, ::1 or localhost: a remote there is a service on this very host."""
    if address == "localhost":
        return True
    try:
        return ipaddress.ip_address(address.strip("[]")).is_loopback
    except ValueError:
        return False


def connection_timed_out(target: Target, address: str, seconds: float) -> Diagnosis:
    return Diagnosis(
        Failure.CONNECTION_TIMEOUT,
        f"no answer from {address} port {target.port} within {seconds:g} s "
        "(connection timed out)",
        (f"the network: a firewall probably drops DICOM traffic to port {target.port}, "
         "on the remote host or on the way; ask for the port to be opened",
         "here: check the address and the routing (ping, traceroute)"),
    )


def network_unreachable(target: Target, address: str, reason: str) -> Diagnosis:
    return Diagnosis(
        Failure.NETWORK_UNREACHABLE,
        f"{address} cannot be reached: {reason}",
        ("the network: there is no route to the remote; check the address, "
         "this host's network configuration and gateway (ip route)",),
    )


def tls_failed(target: Target, reason: str) -> Diagnosis:
    return Diagnosis(
        Failure.TLS_FAILED,
        f"the TLS handshake with {target.host} port {target.port} failed: {reason}",
        ("here: [tls] ca must name the certificate authority that signed the remote's "
         "certificate, and the host name must be one the certificate names",
         "on the remote: check that this port speaks DICOM over TLS, and whether it "
         "wants a client certificate ([tls] certificate and key here)"),
    )


def certificate_not_trusted(target: Target, report: TLSReport) -> Diagnosis:
    """The remote's TLS works, but the certificate it presents fails our checks."""
    problems = report.problems
    advice = []
    if SELF_SIGNED in problems or UNKNOWN_CA in problems:
        advice.append(f"here: if this certificate is the remote's, add the CA that issued it "
                      f"(for a self-signed one, the certificate itself) to [tls] ca; it was "
                      f"checked against {report.checked_against}")
    if EXPIRED in problems:
        advice.append("on the remote: renew its certificate")
    if NOT_YET_VALID in problems:
        advice.append("on the remote and here: check the clocks; the certificate is not "
                      "valid yet")
    if HOSTNAME_MISMATCH in problems:
        names = ", ".join(report.certificate.names) if report.certificate else ""
        advice.append(f"on the remote: a certificate that names {target.host}; or here: "
                      f"the host name it names ({names or 'none'})")
    return Diagnosis(
        Failure.TLS_FAILED,
        f"{target.host} port {target.port} presents a certificate we do not trust: "
        f"{', '.join(problems)}",
        tuple(advice),
    )


def association_rejected(target: Target, calling_aet: str, result: int, source: int,
                         reason: int) -> Diagnosis:
    permanence = "transient" if result == 2 else "permanent"
    who = _SOURCES.get(source, f"source {source}")
    why = _REASONS.get((source, reason), f"reason {reason}")
    summary = f"association rejected by {who} ({permanence}): {why}"
    advice: tuple[str, ...]
    if (source, reason) == (SOURCE_SERVICE_USER, 3):
        advice = (f"on the remote: add our AE title {calling_aet} to its known "
                  'modalities (Orthanc: "DicomModalities"), with this host\'s address',
                  "here: or call with --aet set to an AE title the remote knows")
    elif (source, reason) == (SOURCE_SERVICE_USER, 7):
        advice = (f"here: the remote is not called {target.aet}; set the right AE title "
                  "in the target (AET@host:port, or aet in [[modalities]])",
                  "on the remote: its AE title is in its configuration (Orthanc: DicomAet)")
    elif source == SOURCE_PROVIDER_PRESENTATION:
        advice = ("on the remote: it has too many associations open; try again later "
                  "or raise its limit",)
    else:
        advice = (f"on the remote: look in its log for {calling_aet}; many nodes refuse "
                  "AE titles or host addresses they do not know without saying why",)
    return Diagnosis(Failure.ASSOCIATION_REJECTED, summary, advice,
                     busy=result == 2 and source == SOURCE_PROVIDER_PRESENTATION)


def association_aborted(target: Target, source: int | None, reason: int | None,
                        service: str | None = None) -> Diagnosis:
    """An A-ABORT from the remote: while asking for the association, or during ``service``."""
    when = f"during the {service}" if service else "in answer to the association request"
    if source == 2:
        why = _ABORT_REASONS.get(reason or 0, f"reason {reason}")
        summary = f"the remote's DICOM protocol layer aborted the association {when}: {why}"
        advice = ("on the remote: its log says what it could not understand; "
                  "a protocol mismatch (TLS on one side only?) is likely",)
    else:
        summary = f"the remote aborted the association {when}"
        advice = ("on the remote: its log says why (unknown AE title or host, licence or "
                  "association limits, a failure storing what we sent)",)
    return Diagnosis(Failure.ASSOCIATION_ABORTED, summary, advice)


def connection_closed(target: Target) -> Diagnosis:
    return Diagnosis(
        Failure.ASSOCIATION_ABORTED,
        f"port {target.port} accepted the connection, then closed it without a DICOM "
        "answer to the association request",
        ("on the remote: this port may not be its DICOM port, may expect TLS, or a proxy "
         "in front of it refused us; check its log",),
    )


def no_association_answer(target: Target, seconds: float) -> Diagnosis:
    return Diagnosis(
        Failure.NO_ASSOCIATION_ANSWER,
        f"port {target.port} accepted the connection but did not answer the association "
        f"request within {seconds:g} s",
        ("on the remote: it may be overloaded, or this port is not a DICOM service "
         "(or expects TLS)",),
    )


def service_not_accepted(target: Target, refusals: list[tuple[str, int]]) -> Diagnosis:
    """``refusals``: (service name, presentation context result) for each one refused."""
    parts = [f"{name}: {CONTEXT_REASONS.get(result, f'result {result}')}"
             for name, result in refusals]
    return Diagnosis(
        Failure.SERVICE_NOT_ACCEPTED,
        "the remote accepted the association but none of the services asked for ("
        + "; ".join(parts) + ")",
        ("on the remote: the service is not offered, or not to our AE title; check its "
         "configuration for this SOP class",),
    )


def no_response(target: Target, service: str, seconds: float | None) -> Diagnosis:
    waited = f" within {seconds:g} s" if seconds else ""
    return Diagnosis(
        Failure.NO_RESPONSE,
        f"no {service} response from the remote{waited}; the association was lost "
        "or aborted",
        ("on the remote: it may be busy or have failed; its log will say. Raise "
         "[limits] dimse_timeout here if it is merely slow",),
    )


def failure_status(service: str, status: int, comment: str = "") -> Diagnosis:
    text = f"{service} failed with status 0x{status:04X}"
    if meaning := status_meaning(status, service):
        text += f" ({meaning})"
    if comment:
        text += f": {comment}"
    advice: tuple[str, ...] = ()
    if status in (0x0124, 0xA700, 0xA701, 0xA702) or 0xC000 <= status <= 0xCFFF:
        advice = ("on the remote: its log says why it refused the request",)
    if status in (0xA900, 0xC000, 0xC001) and service == "C-FIND":
        advice = ("here: a query below STUDY level usually needs the unique keys of "
                  "the levels above (e.g. -k StudyInstanceUID=... for SERIES)",) + advice
    return Diagnosis(Failure.OPERATION_FAILED, text, advice)


def get_not_sent(status: int, comment: str, offered: str, listed: bool) -> Diagnosis:
    """A C-GET the remote could not serve (0xA702): ``offered`` says, in words,
    which storage contexts it proposed; ``listed``: the remote had named the
    SOP classes to expect."""
    base = failure_status("C-GET", status, comment)
    if listed:
        advice: tuple[str, ...] = (
            f"here: the C-GET offered {offered}",
            "on the remote: its log says why it could not send them in those")
    else:
        advice = (
            f"here: the remote did not say which SOP classes to expect, so the C-GET "
            f"offered {offered}; an instance of another class or held in another "
            "encoding comes back only if the remote converts it",
            "on the remote: let this AE title query (C-FIND), so that the classes are "
            "asked first; or retrieve with move, which sends what the destination takes",
            "on the remote: its log says which instance it could not send")
    return Diagnosis(base.failure, base.summary, advice)


def destination_unknown(target: Target, destination: str,
                        listener: Listener | None) -> Diagnosis:
    """0xA801; ``listener`` is where the destination listens, when we know it."""
    if listener is None:
        advice: tuple[str, ...] = (
            f"on the remote: add {destination} to its known modalities, with the host "
            "and port where it listens",)
    else:
        advice = (f"on the remote: add this node as a DICOM modality: {listener.entries()[0]}",
                  f"on the remote: {listener.entries()[1]}")
    return Diagnosis(
        Failure.DESTINATION_UNKNOWN,
        f"the remote does not know the move destination {destination} (0xA801)",
        advice,
    )


def nothing_arrived(target: Target, listener: Listener, completed: int) -> Diagnosis:
    return Diagnosis(
        Failure.NOTHING_ARRIVED,
        f"the remote reports {completed} instance(s) sent to {listener.aet}, "
        f"but nothing arrived here on port {listener.port}",
        (f"on the remote: its entry for {listener.aet} probably points to another host "
         f"or port; it needs {listener.entries()[0]}",
         f"on the remote: {listener.entries()[1]}"),
    )


def not_in_archive(target: Target, listener: Listener, completed: int) -> Diagnosis:
    """The remote moved instances to our port, where another process received them:
    none is in this node's archive."""
    return Diagnosis(
        Failure.NOTHING_ARRIVED,
        f"the remote reports {completed} instance(s) sent to {listener.aet}, but none is in "
        f"this node's archive",
        (f"here: what listens on port {listener.port} is not the node of this archive "
         "(another data directory, or another program): stop it, or retrieve from there",
         f"on the remote: or its entry for {listener.aet} points to another host or port; "
         f"it needs {listener.entries()[0]}"),
    )


def not_delivered(target: Target, listener: Listener, code: int, failed: int) -> Diagnosis:
    """The move failed and nothing was delivered: the remote could not reach us."""
    failures = f", {failed} sub-operation(s) failed" if failed else ""
    return Diagnosis(
        Failure.NOTHING_ARRIVED,
        f"the remote sent nothing to {listener.aet} (status 0x{code:04X}{failures}): it "
        f"probably does not know {listener.aet}, or cannot connect to this node",
        (f"on the remote: add this node as a DICOM modality: {listener.entries()[0]}",
         f"on the remote: {listener.entries()[1]}",
         f"the network: the remote must be able to connect to {listener.host} port "
         f"{listener.port} (firewall on this host?)"),
    )


def aborted_during(target: Target, service: str, calling_aet: str) -> Diagnosis:
    """The remote ended the association instead of answering a request."""
    return Diagnosis(
        Failure.ASSOCIATION_ABORTED,
        f"the remote ended the association instead of answering the {service}",
        (f"on the remote: it probably does not let {calling_aet} use {service}; add "
         f'{calling_aet} to its known modalities (Orthanc: "DicomModalities") or allow '
         "the service, then look in its log",),
    )


def aborted_after_answering(target: Target, service: str) -> Diagnosis:
    """The remote ended the association during a request of a service it had
    already answered on it: what it allows is not the cause."""
    return Diagnosis(
        Failure.ASSOCIATION_ABORTED,
        f"the remote ended the association instead of answering the {service}, after "
        f"answering an earlier {service} on it",
        ("on the remote: it accepts us for this service, so its log holds the reason "
         "(a failure while answering, a limit on requests per association)",),
    )


def aborted_after_cancel(target: Target, service: str) -> Diagnosis:
    """The remote ended the association after a C-CANCEL we sent."""
    return Diagnosis(
        Failure.ASSOCIATION_ABORTED,
        f"the remote ended the association after our C-CANCEL of a {service}",
        ("on the remote: it does not take a C-CANCEL (some implementations abort on one); "
         "its AE configuration is not the cause",),
    )


def cannot_listen(host: str, port: int, reason: str,
                  what: str = "the retrieved instances") -> Diagnosis:
    return Diagnosis(
        Failure.CANNOT_LISTEN,
        f"cannot listen on {host} port {port} for {what}: {reason}",
        ("here: ports below 1024 need privileges; change [node] port, or start the "
         "node (tui-pacs serve) with the rights to use it",),
    )


def no_commitment_report(target: Target, listener: Listener, seconds: float,
                         node_listening: bool) -> Diagnosis:
    """The remote took a storage commitment request but no report came back
    within ``seconds``; ``node_listening``: a node (not this command) held
    our port, so a report on a new association went to it."""
    advice = [
        f"on the remote: it reports on a new association to {listener.aet}; its entry "
        f"for us needs {listener.entries()[0]}",
        f"on the remote: {listener.entries()[1]}",
        f"the network: the remote must be able to connect to {listener.host} port "
        f"{listener.port} (firewall on this host?)",
        "here: a remote that commits slowly (archiving to long-term storage) needs a "
        "longer --wait; its log says whether it is still at it",
    ]
    if node_listening:
        advice.append(f"here: the node listening on port {listener.port} receives the "
                      "report; if it is not the node of this data directory, its log has it")
    return Diagnosis(
        Failure.NOTHING_ARRIVED,
        f"the remote accepted the storage commitment request but no report arrived "
        f"within {seconds:g} s",
        tuple(advice),
    )


STATUS_MEANINGS = {
    0x0000: "success",
    0x0001: "warning: attribute list error",
    0x0107: "warning: attribute list error",
    0x0110: "processing failure",
    0x0111: "duplicate SOP instance",
    0x0112: "no such SOP instance",
    0x0115: "invalid argument value",
    0x0117: "invalid object instance",
    0x0118: "no such SOP class",
    0x0119: "class-instance conflict",
    0x0122: "SOP class not supported",
    0x0123: "no such action",
    0x0124: "refused: not authorised",
    0x0211: "unrecognised operation",
    0x0213: "resource limitation",
    0xA700: "refused: out of resources",
    0xA701: "refused: out of resources (cannot calculate the number of matches)",
    0xA702: "refused: out of resources (cannot perform sub-operations)",
    0xA801: "refused: move destination unknown",
    0xA900: "identifier does not match SOP class",
    0xB000: "warning: sub-operations complete, one or more failures or warnings",
    0xB006: "warning: elements discarded",
    0xB007: "warning: data set does not match SOP class",
    0xFE00: "cancelled",
}
# Where C-STORE gives a code another meaning (PS3.4 Table B.2-1).
C_STORE_MEANINGS = {
    0xA900: "data set does not match SOP class",
    0xB000: "warning: data elements coerced",
    0xC000: "cannot understand",
}


def status_meaning(status: int, service: str = "") -> str | None:
    """What a status code means in a response of ``service`` (C-STORE, C-FIND...)."""
    if service == "C-STORE" and status in C_STORE_MEANINGS:
        return C_STORE_MEANINGS[status]
    return STATUS_MEANINGS.get(status)
