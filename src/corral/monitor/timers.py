"""Timers for the monitor's poll loop: health checks, their timeouts, and restart back-offs.

The loop sleeps in poll() until an fd is ready or the earliest timer is due, never longer and never
shorter: with no timer it waits without a timeout, so a store whose containers have neither a health
check nor a pending restart costs no wake-up at all. A heap, because a store may run many containers
with checks; cancelling marks an entry and leaves it for the heap to drop when it comes up.
"""
from __future__ import annotations

import heapq
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable


class Timer:
    __slots__ = ("when", "action", "cancelled")

    def __init__(self, when: float, action: Callable[[], None]) -> None:
        self.when, self.action, self.cancelled = when, action, False

    def cancel(self) -> None:
        self.cancelled = True

    def __lt__(self, other: "Timer") -> bool:
        return self.when < other.when


class Timers:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.heap: list[Timer] = []

    def after(self, seconds: float, action: Callable[[], None]) -> Timer:
        """Run `action` (from the loop) once `seconds` have passed."""
        timer = Timer(self.clock() + max(0.0, seconds), action)
        heapq.heappush(self.heap, timer)
        return timer

    def _drop_cancelled(self) -> None:
        while self.heap and self.heap[0].cancelled:
            heapq.heappop(self.heap)

    def __bool__(self) -> bool:
        """Whether any timer is pending (one keeps the monitor from exiting idle)."""
        self._drop_cancelled()
        return bool(self.heap)

    def timeout_ms(self) -> int | None:
        """poll()'s timeout: until the earliest timer is due (rounded up: a wake-up just before it would
        only poll again), or None when there is no timer."""
        self._drop_cancelled()
        if not self.heap:
            return None
        return max(0, int((self.heap[0].when - self.clock()) * 1000 + 0.999))

    def run_due(self) -> None:
        now = self.clock()
        while self.heap and (self.heap[0].cancelled or self.heap[0].when <= now):
            timer = heapq.heappop(self.heap)
            if not timer.cancelled:
                timer.cancelled = True  # it has run: a later cancel() is harmless
                timer.action()
