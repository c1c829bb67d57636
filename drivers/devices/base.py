"""What every device kind offers the gateway."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from drivers.model import DeviceEvent, DeviceInfo
from drivers.transports.uri import DeviceUri


@dataclass(slots=True)
class LinkCounters:
    """Link health, cumulative over reconnects. Mutable: owned by the device object."""

    frames_ok: int = 0
    frames_dropped: int = 0
    bytes_dropped: int = 0
    last_rx_monotonic_s: float = math.nan  # when bytes last arrived
    battery_pct: float = math.nan  # as the device last reported it (BLE Battery Service)


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
