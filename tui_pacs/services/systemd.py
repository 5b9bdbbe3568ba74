"""Telling systemd how the node is doing (sd_notify), without libsystemd.

When systemd starts ``tui-pacs serve`` as a ``Type=notify`` service, it sets
``NOTIFY_SOCKET`` to a datagram socket (a path, or an abstract name written
with a leading ``@``) and waits for ``READY=1`` before it calls the service
started: the node sends it once it listens, so that units ordered after it
find the port open. A reload is framed by ``RELOADING=1`` (with the
monotonic time, as ``Type=notify-reload`` needs) and ``READY=1``; a stop
starts with ``STOPPING=1``. ``STATUS=`` is the line ``systemctl status``
shows. Without ``NOTIFY_SOCKET`` every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger(__name__)

ENVIRONMENT = "NOTIFY_SOCKET"


def ready(status: str) -> None:
    _notify("READY=1", f"STATUS={status}")


def reloading(status: str) -> None:
    microseconds = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    _notify("RELOADING=1", f"MONOTONIC_USEC={microseconds}", f"STATUS={status}")


def stopping(status: str) -> None:
    _notify("STOPPING=1", f"STATUS={status}")


def _notify(*fields: str) -> None:
    target = os.environ.get(ENVIRONMENT, "")
    if not target:
        return
    if target.startswith("@"):
        address = "\0" + target[1:]  # an abstract socket
    elif target.startswith("/"):
        address = target
    else:
        log.warning("%s=%s: not a socket path, nothing sent to systemd", ENVIRONMENT, target)
        return
    # A newline would start a field of its own.
    message = "\n".join(field.replace("\n", " ") for field in fields).encode()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.sendto(message, address)
    except OSError as exc:
        log.warning("cannot notify systemd at %s: %s", target, exc.strerror or exc)
