"""What quitting would interrupt, and the question the app asks before it does.

Quitting the app stops the node inside it. With associations or transfers
running, ctrl+q first says what is running and asks, with the safe answer
focused (a ctrl+q while a peer sent 2,000 files cut its association at
file 415). After a confirmed quit the node stops the way SIGTERM stops
``tui-pacs serve``: no new associations, each operation in progress
finishes and is acknowledged, then the app exits.
"""

from __future__ import annotations

from tui_pacs.ui.backend import Backend
from tui_pacs.ui.dialogs.confirm import ConfirmDialog
from tui_pacs.ui.transfers import Transfers

# At most this many running things are named; the rest are counted.
SHOWN = 5


def running_work(backend: Backend, transfers: Transfers) -> list[str]:
    """One line per association with a peer and per transfer of the app."""
    lines = [f"association with {peer}"
             for peer in (backend.node.active_peers() if backend.node else [])]
    lines += [f"{transfer.title} ({transfer.counts})" for transfer in transfers.running.values()]
    return lines


class QuitDialog(ConfirmDialog):
    """Quit or stay, with "Stay" focused; True means quit."""

    def __init__(self, running: list[str]) -> None:
        shown = [f"• {line}" for line in running[:SHOWN]]
        if len(running) > SHOWN:
            shown.append(f"• and {len(running) - SHOWN} more")
        question = "\n".join([
            "Running now:", *shown, "",
            "Quitting stops the DICOM node: operations in progress finish, then these "
            "associations end and transfers are cancelled."])
        super().__init__("Quit tui-pacs?", question, yes="Quit", no="Stay", danger=True)
