"""The timer queue: the instants at which some clock warns or comes due, earliest first.

Theory of operation
===================

Deadlines and warnings are values on the clocks (:mod:`leadsla._core.clocks`); this queue only
remembers *when to look*. Each running clock has at most one timer queued: its next warning,
or its deadline once every warning has fired. A timer is a tuple ordered by time, then kind
(warnings before deadlines at one instant), then lead id and the clock's position on the lead:
a total, deterministic order, the same in every process.

Timers are never removed when a clock changes. Instead every clock carries a version, raised
by each change that makes its queued timer obsolete (it ended, paused, resumed, breached);
a timer whose version is stale is dropped when its time comes (lazy deletion). So a change
costs one push at most, and firing costs in proportion to the timers that are due, not to the
number of running clocks.

Reading what is due does not change the queue (:meth:`TimerQueue.due` walks only the part of
the heap that is due); :meth:`TimerQueue.drop_due` removes it once the engine commits what the
timers did. That is what lets the engine decide first and commit later.
"""

from __future__ import annotations

import heapq
from typing import Final, NamedTuple

__all__ = ["AWAY", "DEADLINE", "Timer", "TimerQueue"]

#: The kind of a deadline timer; a warning's kind is its position among the clock's warnings,
#: so at one instant warnings sort before the deadline.
DEADLINE: Final = 1 << 20
#: The kind of the timer of a clock whose owner's time away starts (when the agreement
#: reassigns their leads): after the warnings at one instant, before the deadline.
AWAY: Final = DEADLINE - 1


class Timer(NamedTuple):
    """When to look at one clock: ``(at_us, kind, lead, clock, version, epoch)``, where
    ``clock`` is the clock's position among its lead's clocks (they are only ever appended)
    and ``epoch`` counts the times the lead was recomputed (a late event rebuilds its clocks:
    timers queued before that are stale, whatever their version)."""

    at_us: int
    kind: int
    lead: str
    clock: int
    version: int
    epoch: int = 0


class TimerQueue:
    """A heap of timers with lazy deletion (see the module's documentation)."""

    __slots__ = ("_heap", "next_at")

    def __init__(self) -> None:
        self._heap: list[Timer] = []
        #: The earliest queued instant (microseconds since the epoch), or None when empty:
        #: read for every input, so kept rather than computed.
        self.next_at: int | None = None

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, timer: Timer) -> None:
        heapq.heappush(self._heap, timer)
        self.next_at = self._heap[0].at_us

    def push_all(self, timers: list[Timer]) -> None:
        """Queue a step's timers (one call per step, not per timer: this runs for most inputs)."""
        if timers:
            heap, push = self._heap, heapq.heappush
            for timer in timers:
                push(heap, timer)
            self.next_at = heap[0].at_us

    def due(self, until_us: int) -> list[Timer]:
        """Every queued timer at or before ``until_us``, in order; the queue is unchanged.

        Walks the heap from its root and stops below any timer later than ``until_us``: the
        cost is in proportion to the timers returned, whatever the size of the queue.
        """
        heap = self._heap
        found: list[Timer] = []
        size = len(heap)
        pending = [0] if heap and heap[0].at_us <= until_us else []
        while pending:
            position = pending.pop()
            found.append(heap[position])
            for child in (2 * position + 1, 2 * position + 2):
                if child < size and heap[child].at_us <= until_us:
                    pending.append(child)
        found.sort()
        return found

    def drop_due(self, until_us: int) -> None:
        """Remove every timer at or before ``until_us``."""
        heap = self._heap
        while heap and heap[0].at_us <= until_us:
            heapq.heappop(heap)
        self.next_at = heap[0].at_us if heap else None
