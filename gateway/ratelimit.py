"""Per-client token buckets: join codes and PIN tries may not be guessed at speed.

``TokenBucketLimiter`` is pure (a clock is passed in); ``RateLimitMiddleware`` applies one to
every HTTP request whose path starts with one of its prefixes (``/join``, ``/api/v1/join``):
each *failed* request (status >= 400: unknown, expired, used code) takes a token, and a client
whose bucket is empty gets 429 with ``Retry-After`` before the request is looked at. Guessing
fails almost always, so it is slowed; a clinician whose link works is never limited.
Loopback clients (the kiosk and tools on the box itself) are not limited.
"""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_CLIENTS = 10_000  # buckets kept; the least recently seen client is forgotten first


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated_s: float


class TokenBucketLimiter:
    """``rate_per_min`` tokens a minute per key, at most ``burst`` saved up."""

    def __init__(
        self,
        rate_per_min: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_CLIENTS,
    ) -> None:
        if rate_per_min <= 0 or burst < 1:
            raise ValueError("rate_per_min > 0 and burst >= 1")
        self.rate_per_s = rate_per_min / 60.0
        self.burst = burst
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str) -> float:
        """Take one token for ``key``: 0.0 if allowed, else seconds until the next token."""
        now = self._clock()
        bucket = self._buckets.pop(key, None) or _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated_s) * self.rate_per_s)
        bucket.updated_s = now
        self._buckets[key] = bucket
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self.rate_per_s

    def peek(self, key: str) -> float:
        """Like ``take`` without taking: 0.0 if a token is there, else seconds to wait."""
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            return 0.0
        tokens = min(self.burst, bucket.tokens + (now - bucket.updated_s) * self.rate_per_s)
        return 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.rate_per_s

    def reset(self, key: str) -> None:
        """Forget ``key``'s bucket (a full one next time)."""
        self._buckets.pop(key, None)


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RateLimitMiddleware:
    """ASGI middleware: 429 + Retry-After for a client over its budget on ``prefixes``."""

    def __init__(self, app: ASGIApp, limiter: TokenBucketLimiter, prefixes: Sequence[str]) -> None:
        self.app = app
        self.limiter = limiter
        self.prefixes = tuple(prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        key = client[0] if client else "unknown"
        if _is_loopback(key):
            await self.app(scope, receive, send)
            return
        wait_s = self.limiter.peek(key)
        if wait_s == 0.0:
            status = 500

            async def watch(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await self.app(scope, receive, watch)
            finally:
                if status >= 400:
                    self.limiter.take(key)
            return
        body = b'{"detail":"too many attempts; try again later"}'
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"retry-after", str(math.ceil(wait_s)).encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
