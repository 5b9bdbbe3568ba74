"""C-ECHO SCP: "can you hear me?", answered for every AE title the policy allows."""

from __future__ import annotations

from typing import Any

from pydicom.dataset import Dataset

from tui_pacs.core import status
from tui_pacs.net.server.context import ServerContext
from tui_pacs.net.storage import failure


def handle_echo(event: Any, context: ServerContext) -> int | Dataset:
    """EVT_C_ECHO handler."""
    operation = context.operation(event.assoc, "C-ECHO")
    calling = operation.peer.calling_aet
    if not context.policy.allows("echo", calling):
        operation.finish(status.NOT_AUTHORIZED, detail=f"{calling} may not echo")
        return failure(status.NOT_AUTHORIZED, f"{calling} may not use C-ECHO here")
    operation.finish(status.SUCCESS)
    return status.SUCCESS
