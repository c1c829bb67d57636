"""Identifiers: UUIDv7 (RFC 9562), time-ordered, so ids sort by creation and consumers dedupe."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_seq = 0


def uuid7(now_ms: int | None = None) -> uuid.UUID:
    """A UUIDv7: 48-bit Unix ms, 12-bit counter (monotonic within a ms), 62 random bits."""
    if now_ms is not None:  # a fixed time (tests, replays): no shared counter
        ms, seq = now_ms, 0
    else:
        ms, seq = _next()
    rand = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | seq << 64 | 0b10 << 62 | rand
    return uuid.UUID(int=value)


def _next() -> tuple[int, int]:
    global _last_ms, _seq  # noqa: PLW0603 - one process-wide monotonic clock
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            _seq += 1
            if _seq > 0xFFF:  # counter exhausted: borrow the next millisecond
                _last_ms += 1
                _seq = 0
            ms = _last_ms
        else:
            _last_ms = ms
            _seq = 0
        return ms, _seq


def uuid7_ms(u: uuid.UUID) -> int:
    """The Unix milliseconds a UUIDv7 was made at."""
    return u.int >> 80
