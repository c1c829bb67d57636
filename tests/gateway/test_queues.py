"""Bounded drop-oldest queue and the live hub."""

from __future__ import annotations

import asyncio

import pytest

from gateway.live import LiveHub
from gateway.queues import DropOldestQueue


async def test_drop_oldest_counts() -> None:
    q: DropOldestQueue[int] = DropOldestQueue(3)
    for i in range(5):
        q.put_nowait(i)
    assert q.dropped == 2
    assert await q.get_batch(10) == [2, 3, 4]


async def test_get_batch_waits_for_an_item() -> None:
    q: DropOldestQueue[int] = DropOldestQueue(3)
    getter = asyncio.ensure_future(q.get_batch(2))
    await asyncio.sleep(0.01)
    assert not getter.done()
    q.put_nowait(7)
    assert await asyncio.wait_for(getter, 1) == [7]


def test_maxsize_must_be_positive() -> None:
    with pytest.raises(ValueError, match="maxsize must be >= 1"):
        DropOldestQueue(0)


async def test_slow_subscriber_loses_oldest_only_its_own() -> None:
    hub = LiveHub(queue_size=2)
    with hub.subscribe() as slow, hub.subscribe() as other:
        for i in range(3):
            hub.publish({"i": i})
        assert slow.dropped == 1
        assert [m["i"] for m in await other.get_batch(5)] == [1, 2]
        assert hub.subscribers == 2
    assert hub.subscribers == 0
