"""What keeps a study from being deleted automatically: its holds.

Retention and ``tui-pacs rm --older-than`` delete studies without anyone
naming them; a study under a hold is passed by. Two kinds of hold:

* Those the index knows, listed in :data:`STUDY_HOLDS`: each is a name (for
  logs and messages) and an SQL condition on the study's row (alias ``st``)
  that is true while it holds. Every automatic deletion goes through
  :func:`unheld_condition`, so a hold added to the list applies to all of
  them at once.
* A study being received, which only the receiving process knows
  (:class:`Receiving`): an association thread that stored into a study holds
  it until the association ends.

The writer checks both again on its own thread when it runs the delete, so
a study that became held after it was chosen is still passed by.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable

STUDY_HOLDS: tuple[tuple[str, str], ...] = (
    ("protected", "st.protected != 0"),
    # Pending or failed: an instance not yet forwarded is never deleted.
    ("queued for forwarding",
     "EXISTS (SELECT 1 FROM forward_queue q JOIN instances i ON i.sop_uid = q.sop_uid "
     "JOIN series se ON se.id = i.series_ref WHERE se.study_ref = st.id)"),
)

# A study held by an association storing into it (not an SQL condition).
RECEIVING = "being received"


def hold_names() -> str:
    """``protected, being received``: what may keep studies, for messages."""
    return ", ".join([*(name for name, _ in STUDY_HOLDS), RECEIVING])


def unheld_condition(receiving: list[str]) -> tuple[str, list[str]]:
    """SQL (on the study alias ``st``) true for a study under no hold, and its
    parameters: ``receiving`` are the UIDs of the studies being received."""
    held = " OR ".join(f"({condition})" for _, condition in STUDY_HOLDS)
    sql = f"NOT ({held})"
    if receiving:
        sql += f" AND st.study_uid NOT IN ({', '.join('?' * len(receiving))})"
    return sql, list(receiving)


class Receiving:
    """The studies that running associations are storing into.

    An association thread records the study of each instance before the
    instance is committed; the study stays held until every thread that
    stored into it has ended (released, aborted or timed out), so nothing
    deletes a study under a modality that is still sending it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Who holds which studies: an association thread of this process, or
        # another process's association (see hold).
        self._by_holder: dict[Hashable, set[str]] = {}

    def add(self, study_uid: str) -> None:
        """The calling (association) thread stores into ``study_uid``."""
        self.hold(threading.current_thread(), study_uid)

    def hold(self, holder: Hashable, study_uid: str) -> None:
        """``holder`` stores into ``study_uid``: until it is a thread that has
        ended, or is released (an association of an ingest worker process)."""
        with self._lock:
            studies = self._by_holder.get(holder)
            if studies is None:
                self._forget_ended()
                studies = self._by_holder[holder] = set()
            studies.add(study_uid)

    def release(self, holder: Hashable) -> None:
        with self._lock:
            self._by_holder.pop(holder, None)

    def studies(self) -> list[str]:
        """The UIDs of the studies held now, sorted."""
        with self._lock:
            self._forget_ended()
            return sorted(set().union(*self._by_holder.values()))

    def _forget_ended(self) -> None:
        for thread in [t for t in self._by_holder
                       if isinstance(t, threading.Thread) and not t.is_alive()]:
            del self._by_holder[thread]
