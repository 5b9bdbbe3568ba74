"""Digests of library code we adapt, so that an upgrade is a decision.

Where tui-pacs copies or overrides a library's internals (Textual's message
dispatch in the app's fault guard, pynetdicom's reactors in the wire
layer), the module that does it lists each function it depends on with the
sha256 of its source in the pinned version, and a test compares them with
the installed library: a changed function fails that test by name instead
of misbehaving (or hanging) at run time.
"""

from __future__ import annotations

import hashlib
import inspect
from typing import Any


def source_digest(function: Any) -> str:
    """The sha256 of a function's (or class's) source code."""
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()
