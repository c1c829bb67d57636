"""A fixed-capacity ring buffer of samples: the last N samples of one or more channels.

Writes copy at most two slices (no per-sample Python); ``latest(n)`` returns a contiguous copy in
time order. ``total`` counts every sample ever written, so a caller can map a ring position back to
a stream index (``total - n + k``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


class RingBuffer:
    """The most recent ``capacity`` rows of a ``(samples, channels)`` float64 stream."""

    def __init__(self, capacity: int, channels: int = 1) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be >= 1, got {capacity}")
        if channels < 1:
            raise ValueError(f"channels must be >= 1, got {channels}")
        self.capacity = capacity
        self.channels = channels
        self._data = np.zeros((capacity, channels), dtype=np.float64)
        self._head = 0  # next write position
        self._size = 0  # rows held
        self.total = 0  # samples ever written

    def __len__(self) -> int:
        return self._size

    def clear(self) -> None:
        """Forget the contents (``total`` keeps counting)."""
        self._head = 0
        self._size = 0

    def extend(self, block: NDArray[np.float64]) -> None:
        """Append rows; a 1-D block is one channel."""
        rows = np.asarray(block, dtype=np.float64)
        if rows.ndim == 1:
            rows = rows.reshape(-1, 1)
        if rows.shape[1] != self.channels:
            raise ValueError(f"block has {rows.shape[1]} channels, buffer has {self.channels}")
        n = rows.shape[0]
        self.total += n
        self._size = min(self._size + n, self.capacity)
        if n >= self.capacity:
            self._data[:] = rows[-self.capacity :]
            self._head = 0
            return
        first = min(n, self.capacity - self._head)
        self._data[self._head : self._head + first] = rows[:first]
        rest = n - first
        if rest:
            self._data[:rest] = rows[first:]
        self._head = (self._head + n) % self.capacity

    def latest(self, n: int | None = None) -> NDArray[np.float64]:
        """The last ``n`` rows (all held rows when None), oldest first, as a new array."""
        held = len(self)
        n = held if n is None else min(n, held)
        if n <= 0:
            return np.zeros((0, self.channels), dtype=np.float64)
        start = (self._head - n) % self.capacity
        if start + n <= self.capacity:
            return self._data[start : start + n].copy()
        return np.concatenate((self._data[start:], self._data[: self._head]))
