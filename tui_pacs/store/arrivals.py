"""When each sender of instances is due to hand over its next one.

A sender is an association storing instances: its peer sends the next
instance only once it has the answer to the last, so while it sends a batch
its instances reach the writer at a steady pace. The writer waits a little
for the senders due soon, so that they share one commit (one fsync of the
index, one round of statements) instead of two or three commits each
paying for their own. A lone sender is never waited for, nor one whose
pace would bring it after the writer's wait, nor one so late that it has
likely stopped.

The writer's thread alone uses an :class:`Arrivals`.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable

# A sender silent for this long has stopped (its association ended, or its
# peer paused); it is forgotten.
FORGET_AFTER = 1.0
# The weight of the last gap in a sender's pace (a moving average).
PACE_WEIGHT = 0.25


class Arrivals:
    def __init__(self) -> None:
        # Per sender: when its last instance came, and the usual gap between two.
        self._last: dict[Hashable, float] = {}
        self._pace: dict[Hashable, float] = {}

    def came(self, sender: Hashable, when: float) -> None:
        """``sender`` handed over an instance at ``when`` (time.monotonic)."""
        last = self._last.get(sender)
        if last is not None:
            gap = when - last
            pace = self._pace.get(sender)
            self._pace[sender] = gap if pace is None else pace + PACE_WEIGHT * (gap - pace)
        self._last[sender] = when

    def wait_until(self, now: float, deadline: float, present: Collection[Hashable]) -> float:
        """Until when to wait for the senders not ``present`` (in the group)
        that are due by ``deadline``: until the last of them is late by its
        usual gap, at most ``deadline``; ``now`` when none is due."""
        until = now
        for sender, last in self._last.items():
            pace = self._pace.get(sender)
            if pace is None or sender in present:
                continue
            due = last + pace
            # Not waited for: due after the deadline, or late by a whole gap
            # (it has likely stopped, or paused).
            if due <= deadline and now < due + pace:
                until = max(until, min(due + pace, deadline))
        return until

    def forget_silent(self, now: float) -> None:
        """Forget the senders that stopped."""
        for sender in [s for s, last in self._last.items() if now - last > FORGET_AFTER]:
            del self._last[sender]
            self._pace.pop(sender, None)
