"""A web process's garbage collection, paced by the clock rather than by allocations alone.

CPython collects its young objects when allocations outnumber deallocations by a threshold. A server
whose waiting clients are replaced one for one — every long-poll renewed, every stream reopened —
frees about as many old objects as it makes new ones, so that count hardly moves while the young list
grows: in `make bench` P6 (10,000 waiters) a young collection came every 10–40 s, walked a few hundred
thousand objects and held the interpreter 100–140 ms of CPU, every request of the process waiting
behind it (rounds of /health and create with p99 of 100–215 ms against ~17 ms in the others).

So the event loop collects the young generations every `TICK_SECONDS` (what a tick finds is what was
made since the last: a few thousand objects, a millisecond or two, even while 10,000 clients renew),
and the whole heap when it has grown by a quarter since the last full collection, at most once every
`FULL_MIN_SECONDS` (looked at every `FULL_CHECK_SECONDS`): at 10,000 waiters a full collection walks
a million objects, 250–500 ms. Little is left for it: a request's view, request and response are
freed by reference counting once it is answered (jimeng_server/apiview.py `let_go`), where before
20 s of 200 long-polls and 200 streams left 137,000 objects in cycles for a full collection to find.
CPython's own collections of the young generations stay on for bursts between ticks; its full
collections are left to the pacer while one runs.
"""

from __future__ import annotations

import asyncio
import gc
import sys

TICK_SECONDS = 0.1
FULL_CHECK_SECONDS = 30.0
FULL_GROWTH = 1.25  # the heap (allocated blocks) grown this much since the last full collection…
FULL_MIN_SECONDS = 300.0  # …and at least this long since it (or since the pacer started)
_THRESHOLDS = (7000, 20, 100)  # CPython's: a young collection after 7,000 more objects (700 by default)
_FULL_NEVER = 1 << 30  # …and a full one after this many young ones, while a pacer does them


def prepare() -> None:
    """At start-up, after everything the process keeps is loaded: that is frozen out of every later
    collection (with a thousand waiters, walking it stalled requests for ~100 ms)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*_THRESHOLDS)


class Pacer:
    """Collects on `loop`'s clock from now until `stop()` (the web server's worker runs one while it
    serves); `tick()` is one beat."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        tick: float = TICK_SECONDS,
        check: float = FULL_CHECK_SECONDS,
        full_min: float = FULL_MIN_SECONDS,
    ):
        self.loop, self.every, self.check_every, self.full_min = loop, tick, check, full_min
        self.heap_after_full = sys.getallocatedblocks()
        self.full_at = loop.time()
        self.next_check = loop.time() + check
        gc.set_threshold(_THRESHOLDS[0], _THRESHOLDS[1], _FULL_NEVER)
        self.handle: asyncio.TimerHandle | None = loop.call_later(tick, self.tick)

    def tick(self) -> None:
        gc.collect(1)
        now = self.loop.time()
        if now >= self.next_check:
            self.next_check = now + self.check_every
            grown = sys.getallocatedblocks() > self.heap_after_full * FULL_GROWTH
            if grown and now - self.full_at >= self.full_min:
                gc.collect()
                self.heap_after_full, self.full_at = sys.getallocatedblocks(), self.loop.time()
        if self.handle is not None:
            self.handle = self.loop.call_later(self.every, self.tick)

    def stop(self) -> None:
        """CPython's own full collections again."""
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None
            gc.set_threshold(*_THRESHOLDS)
