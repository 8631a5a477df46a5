"""Admission control in front of the engine, counted in generations: a bounded number running, a
bounded queue, then 503.

A trainer burst beyond what the engine can absorb gets `503 Retry-After` at once instead of
waiting out its deadline in an unbounded queue. The unit is the generation (one engine
completion), not the request: one `/retrieve` of 512 queries is 512 of them, one search of
`num=10` two. A request larger than `max_in_flight` runs alone, once everything before it is
done. Waiting requests are served in arrival order, so a large one is not passed over forever.
Built in the lifespan; `Simulator` enters it around each engine call, so cache hits never queue.
"""

from __future__ import annotations

import asyncio
from collections import deque

from ..errors import Overloaded
from ..metrics import Metrics

OVERLOADED = "The simulator is at capacity. Please try again later."


class Admission:
    def __init__(self, max_in_flight: int, max_queue: int, retry_after_s: int = 1, metrics: Metrics | None = None) -> None:
        self.max_in_flight = max_in_flight
        self.max_queue = max_queue
        self.retry_after_s = retry_after_s
        self.metrics = metrics
        self.running = 0  # generations admitted and not yet done
        self.waiting = 0  # generations in the queue
        self._queue: deque[tuple[int, asyncio.Future[None]]] = deque()
        if metrics is not None:
            # Read when /metrics is scraped, not set on every transition: no per-request cost.
            metrics.queue_depth.set_function(lambda: self.waiting)
            metrics.engine_in_flight.set_function(lambda: self.running)

    def slot(self, generations: int = 1) -> _Slot:
        """`async with admission.slot(n)`: run now, wait in the bounded queue, or raise Overloaded
        (503 + Retry-After)."""
        return _Slot(self, min(max(1, generations), self.max_in_flight))

    def _grant(self) -> None:
        """Admit waiting requests, in order, while the next one fits."""
        while self._queue and self.running + self._queue[0][0] <= self.max_in_flight:
            weight, granted = self._queue.popleft()
            self.waiting -= weight
            if granted.done():  # its waiter was cancelled and has not yet left the queue itself
                continue
            self.running += weight
            granted.set_result(None)


class _Slot:
    """One engine call's place; a class rather than `@asynccontextmanager`, which builds a
    generator per request on the hot path."""

    __slots__ = ("admission", "weight")

    def __init__(self, admission: Admission, weight: int) -> None:
        self.admission = admission
        self.weight = weight

    async def __aenter__(self) -> None:
        a, weight = self.admission, self.weight
        if not a._queue and a.running + weight <= a.max_in_flight:
            a.running += weight
            return
        if a.waiting + weight > a.max_queue:
            if a.metrics is not None:
                a.metrics.rejected.labels("overload").inc()
            raise Overloaded(OVERLOADED, headers={"Retry-After": str(a.retry_after_s)})
        granted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (weight, granted)
        a._queue.append(entry)
        a.waiting += weight
        try:
            await granted  # cancelled by the deadline or a disconnect: leaves the queue
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled():
                a.running -= weight  # admitted just as it was cancelled: give the place back
            elif entry in a._queue:  # else `_grant` already dropped it
                a._queue.remove(entry)
                a.waiting -= weight
            a._grant()
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        a = self.admission
        a.running -= self.weight
        a._grant()
