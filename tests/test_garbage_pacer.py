"""The web process's garbage collection on the clock (jimeng_server/garbage.py): young garbage is
collected at each tick even when CPython's allocation count never asks for it, a full collection comes
when the heap has grown by a quarter and not more often than its minimum interval, and stopping the
pacer gives CPython its own full collections back."""

import asyncio
import gc
import sys
import weakref

import pytest

from jimeng_server import garbage


class Node:
    def __init__(self):
        self.me = self  # a cycle: only the garbage collector frees it


@pytest.fixture
def no_automatic_collection():
    thresholds, enabled = gc.get_threshold(), gc.isenabled()
    gc.disable()  # what CPython does under waiters replaced one for one: its count never moves
    yield
    gc.set_threshold(*thresholds)
    if enabled:
        gc.enable()


def _run(pacer_kwargs: dict, body) -> None:
    async def main():
        pacer = garbage.Pacer(asyncio.get_running_loop(), **pacer_kwargs)
        try:
            await body()
        finally:
            pacer.stop()

    asyncio.run(main())


def test_a_tick_collects_the_young_cycles_the_allocation_count_never_reached(no_automatic_collection):
    seen = {}

    async def body():
        node = Node()
        seen["node"] = weakref.ref(node)
        del node
        assert seen["node"]() is not None  # nothing has collected it yet
        await asyncio.sleep(0.2)

    _run({"tick": 0.02}, body)
    assert seen["node"]() is None


def _old_cycle() -> weakref.ref:
    """A cycle that became garbage after it reached the oldest generation (a request that waited)."""
    node = Node()
    gc.collect()  # still referenced: it survives into the oldest generation
    ref = weakref.ref(node)
    del node
    gc.collect(1)
    assert ref() is not None  # the young collections cannot free it
    return ref


@pytest.mark.parametrize(
    ("grow", "full_min", "freed"),
    [(True, 0.0, True), (False, 0.0, False), (True, 3600.0, False)],
    ids=["grown-and-due", "not-grown", "grown-but-too-soon"],
)
def test_a_full_collection_comes_when_the_heap_has_grown_and_not_too_often(
    no_automatic_collection, grow, full_min, freed
):
    seen, kept = {}, []

    async def body():
        seen["node"] = _old_cycle()
        if grow:
            kept.extend(object() for _ in range(int(sys.getallocatedblocks() * (garbage.FULL_GROWTH - 1) * 1.2)))
        await asyncio.sleep(0.3)

    _run({"tick": 0.02, "check": 0.05, "full_min": full_min}, body)
    assert (seen["node"]() is None) is freed
    kept.clear()
    gc.collect()


def test_cpython_keeps_no_full_collections_of_its_own_while_the_pacer_runs_and_gets_them_back_after():
    thresholds = gc.get_threshold()
    during = {}

    async def body():
        during["thresholds"] = gc.get_threshold()

    try:
        gc.set_threshold(*garbage._THRESHOLDS)  # as garbage.prepare() leaves them at start-up
        _run({}, body)
        assert during["thresholds"][2] > 10**6
        assert gc.get_threshold() == garbage._THRESHOLDS
    finally:
        gc.set_threshold(*thresholds)
