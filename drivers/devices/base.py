"""What every device kind offers the gateway."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Protocol, TypeVar

from drivers.model import DeviceEvent, DeviceInfo, ReceiveTime
from drivers.transports.uri import DeviceUri

logger = logging.getLogger("drivers.devices")

DROP_LOG_INTERVAL_S = 1.0
Mark = tuple[int, int, int]  # a decoder's (frames_ok, frames_dropped, bytes_dropped) seen so far


class DecoderCounts(Protocol):
    """What every stream decoder counts (cumulative over its life)."""

    frames_ok: int
    frames_dropped: int
    bytes_dropped: int


@dataclass(slots=True)
class LinkCounters:
    """Link health, cumulative over reconnects. Mutable: owned by the device object."""

    frames_ok: int = 0
    frames_dropped: int = 0
    bytes_dropped: int = 0
    last_rx_monotonic_s: float = math.nan  # when bytes last arrived
    battery_pct: float = math.nan  # as the device last reported it (BLE Battery Service)

    def follow(self, decoder: DecoderCounts, seen: Mark = (0, 0, 0)) -> Mark:
        """Add what ``decoder`` counted since ``seen`` (its last mark); return the new mark.

        A decoder lives for one connection; these counters live across reconnects.
        """
        mark = (decoder.frames_ok, decoder.frames_dropped, decoder.bytes_dropped)
        self.frames_ok += mark[0] - seen[0]
        self.frames_dropped += mark[1] - seen[1]
        self.bytes_dropped += mark[2] - seen[2]
        return mark


class DropLog:
    """Warns about skipped bytes and lost frames once per burst, not once per byte: at most
    one line per DROP_LOG_INTERVAL_S, with the totals so far."""

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        self._reported = (0, 0)
        self._logged_s = -math.inf

    def update(self, counters: LinkCounters) -> None:
        """Log if something new was dropped and the last line is old enough."""
        dropped = (counters.bytes_dropped, counters.frames_dropped)
        now = time.monotonic()
        if dropped != self._reported and now - self._logged_s >= DROP_LOG_INTERVAL_S:
            logger.warning(
                "%s: %d bytes of garbage or broken frames skipped, %d frames lost (totals)",
                self.device_id,
                dropped[0],
                dropped[1],
            )
            self._reported = dropped
            self._logged_s = now


class Device(Protocol):
    """A device: ``stream()`` opens the transport and yields events until the link drops."""

    device_id: str
    uri: DeviceUri
    kind: str
    streams: bool  # continuous data (silence = link down); False: sends only when measuring
    counters: LinkCounters
    info: DeviceInfo

    def stream(self) -> AsyncIterator[DeviceEvent]:
        """Open, read and decode; raise TransportError when the link is lost."""
        ...


T = TypeVar("T")


class StreamDecoder(DecoderCounts, Protocol[T]):
    """A sans-IO stream decoder: bytes in, decoded units (frames, packets, records) out."""

    def feed(self, data: bytes) -> list[T]: ...


class ByteSource(Protocol):
    """An open transport to read from (drivers.transports.serial.SerialTransport)."""

    async def read(self) -> bytes: ...


async def decoded(
    port: ByteSource, decoder: StreamDecoder[T], counters: LinkCounters, drops: DropLog
) -> AsyncGenerator[tuple[list[T], ReceiveTime], None]:
    """Read and decode until the port goes (PortGoneError): each read's units, with the time
    they arrived; the decoder's drops go into ``counters`` and the drop log on the way."""
    seen: Mark = (0, 0, 0)
    while True:
        data = await port.read()
        counters.last_rx_monotonic_s = time.monotonic()
        units = decoder.feed(data)
        seen = counters.follow(decoder, seen)
        drops.update(counters)
        yield units, ReceiveTime.now()
