"""How much of a remote's study or series the local archive already holds.

Query results show ``35/100`` rather than a tick: a cancelled or partial
retrieve leaves part of a study here, and a tick would call it complete.
The count is of the instances the index holds under each UID, looked up in
chunks so one query of thousands of studies stays a few statements.
"""

from __future__ import annotations

from collections.abc import Iterable

from tui_pacs.core.matching import Single, ValueList
from tui_pacs.core.model import Level
from tui_pacs.store.archive import Archive

# UIDs looked up per statement (SQLite binds at most 32,766 parameters).
CHUNK = 500

# The count of instances the index keeps for an entity of each level.
INSTANCE_COUNTS = {Level.STUDY: "NumberOfStudyRelatedInstances",
                   Level.SERIES: "NumberOfSeriesRelatedInstances"}


async def held_instances(archive: Archive, level: Level, uids: Iterable[str]
                         ) -> dict[str, int]:
    """Instances held here for each study (or series) UID; UIDs not held are left out."""
    key, count = level.unique_key, INSTANCE_COUNTS[level]
    wanted = sorted(set(uids))
    held: dict[str, int] = {}
    for start in range(0, len(wanted), CHUNK):
        chunk = tuple(wanted[start:start + CHUNK])
        matcher = ValueList(chunk) if len(chunk) > 1 else Single(chunk[0])
        for row in await archive.index.query(level, {key: matcher}):
            held[row[key]] = int(row[count] or 0)
    return held
