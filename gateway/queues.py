"""Bounded queues that never block the producer: when full, the oldest item goes and is counted."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, TypeVar

T = TypeVar("T")


class DropOldestQueue(Generic[T]):
    """A bounded single-consumer queue for live data: newest wins, drops are counted."""

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self.dropped = 0
        self._items: deque[T] = deque()
        self._ready = asyncio.Event()

    def __len__(self) -> int:
        return len(self._items)

    def put_nowait(self, item: T) -> None:
        """Add an item; if full, drop the oldest first."""
        if len(self._items) >= self.maxsize:
            self._items.popleft()
            self.dropped += 1
        self._items.append(item)
        self._ready.set()

    async def get_batch(self, max_items: int) -> list[T]:
        """Wait for at least one item, then take up to ``max_items``."""
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self.drain_nowait(max_items)

    def drain_nowait(self, max_items: int | None = None) -> list[T]:
        """Take what is there now (up to ``max_items``), without waiting."""
        n = len(self._items) if max_items is None else min(max_items, len(self._items))
        return [self._items.popleft() for _ in range(n)]
