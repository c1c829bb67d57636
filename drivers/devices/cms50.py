"""Contec CMS50D+ class pulse oximeter on a (USB) serial port: pleth at 60 Hz, SpO2, pulse.

The firmware speaks one of two live protocols (``drivers.codecs.cms50``). Legacy firmware
streams unasked; v7 firmware sends nothing until asked and stops unless the host says it is
still there. So the driver listens first; if no legacy stream shows up within
`DETECT_WAIT_S` it sends the start-live command, repeats it every `RESTART_S` until live
packets come, then sends the keep-alive every 5 s, and sends start-live again if the stream
stalls. URI: ``serial:///dev/serial/by-id/…?codec=cms50&baud=115200`` (v7) or ``baud=19200``
(legacy); ``&protocol=legacy|v7`` skips detection.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator

import numpy as np

from drivers.codecs.cms50 import (
    KEEP_ALIVE,
    KEEPALIVE_INTERVAL_S,
    SAMPLES_PER_S,
    START_LIVE,
    Cms50Decoder,
    Cms50Sample,
    Protocol,
)
from drivers.devices.base import DropLog, LinkCounters
from drivers.errors import UriError
from drivers.model import (
    DeviceEvent,
    DeviceInfo,
    Measurement,
    QualityFlag,
    Quantity,
    ReceiveTime,
    SampleBlock,
)
from drivers.transports.serial import SerialTransport
from drivers.transports.uri import DeviceUri

logger = logging.getLogger(__name__)

PLETH_FS_HZ = float(SAMPLES_PER_S)
DETECT_WAIT_S = 1.0  # a legacy device streams at once; silence means "ask" (v7)
RESTART_S = 2.0  # no live packet for this long: send start-live again
MANUFACTURER = "Contec Medical Systems"


class Cms50Oximeter:
    """Contec CMS50D+ (and alike: CMS50E/F, CMS60) live data, either firmware protocol."""

    kind = "cms50-oximeter"
    streams = True  # data flows continuously: silence means a dead link

    def __init__(self, device_id: str, uri: DeviceUri) -> None:
        self.device_id = device_id
        self.uri = uri
        self.counters = LinkCounters()
        self.info = DeviceInfo(manufacturer=MANUFACTURER)
        forced = uri.params.get("protocol")
        if forced is not None and forced not in {p.value for p in Protocol}:
            raise UriError(
                f"{uri}: protocol {forced!r} is not one of legacy, v7 (or leave it out to detect)"
            )
        self.forced_protocol = None if forced is None else Protocol(forced)
        # Legacy firmware talks 19200 baud with odd parity (atbrask's cms50dplus notes); a
        # pty ignores parity, real USB bridges do not. ?parity= overrides.
        legacy = self.forced_protocol is Protocol.LEGACY
        self.parity = uri.params.get("parity", "odd" if legacy else "none")
        self.protocol: Protocol | None = self.forced_protocol
        self.commands_sent = 0
        self._drops = DropLog(device_id)
        self._sample_index = 0
        self._since_numeric = 0  # samples since the last SpO2 / pulse event
        self._second_quality = QualityFlag.NONE

    async def stream(self) -> AsyncIterator[DeviceEvent]:
        """Open the port, start the live stream if needed, yield events until the port goes."""
        decoder = Cms50Decoder(self.forced_protocol)
        async with SerialTransport(self.uri.target, self.uri.baudrate, self.parity) as port:
            opened = time.monotonic()
            last_live = -math.inf
            next_command = opened if self.forced_protocol is Protocol.V7 else opened + DETECT_WAIT_S
            seen = (0, 0, 0)
            while True:
                data = b""
                wait = None
                if decoder.protocol is not Protocol.LEGACY:
                    wait = max(0.0, next_command - time.monotonic())
                try:
                    async with asyncio.timeout(wait):
                        data = await port.read()
                except TimeoutError:
                    pass
                now = time.monotonic()
                if data:
                    self.counters.last_rx_monotonic_s = now
                    samples = decoder.feed(data)
                    self.protocol = decoder.protocol
                    seen = self.counters.follow(decoder, seen)
                    self._drops.update(self.counters)
                    if samples:
                        last_live = now
                        for event in self._events(samples, ReceiveTime.now()):
                            yield event
                if decoder.protocol is not Protocol.LEGACY and now >= next_command:
                    if now - last_live > RESTART_S:
                        await port.write(START_LIVE)
                        next_command = now + RESTART_S
                    else:
                        await port.write(KEEP_ALIVE)
                        next_command = now + KEEPALIVE_INTERVAL_S
                    self.commands_sent += 1

    def _events(self, samples: list[Cms50Sample], received: ReceiveTime) -> list[DeviceEvent]:
        events: list[DeviceEvent] = []
        run: list[Cms50Sample] = []
        for sample in samples:
            if sample.samples_lost_before and run:
                events.append(self._block(run, received))
                run = []
            run.append(sample)
            self._second_quality |= sample.status_quality()
            self._since_numeric += 1
            if self._since_numeric >= SAMPLES_PER_S:
                events.extend(self._numerics(sample, received))
        if run:
            events.append(self._block(run, received))
        return events

    def _block(self, run: list[Cms50Sample], received: ReceiveTime) -> SampleBlock:
        gap = run[0].samples_lost_before
        self._sample_index += gap
        quality = QualityFlag.NONE
        for sample in run:
            quality |= sample.status_quality()
        block = SampleBlock(
            Quantity.PLETH,
            self.device_id,
            ("pleth",),
            PLETH_FS_HZ,
            self._sample_index,
            np.asarray([s.pleth for s in run], dtype=np.float64).reshape(-1, 1),
            Quantity.PLETH.spec.ucum,
            received,
            quality | (QualityFlag.GAP_BEFORE if gap else QualityFlag.NONE),
        )
        self._sample_index += len(run)
        return block

    def _numerics(self, sample: Cms50Sample, received: ReceiveTime) -> list[DeviceEvent]:
        quality = self._second_quality
        self._second_quality = QualityFlag.NONE
        self._since_numeric = 0
        out: list[DeviceEvent] = []
        for quantity, value in (
            (Quantity.SPO2, sample.spo2_pct),
            (Quantity.PULSE_RATE, sample.pulse_bpm),
        ):
            flags = quality | (QualityFlag.MISSING if math.isnan(value) else QualityFlag.NONE)
            out.append(
                Measurement(
                    quantity, value, quantity.spec.ucum, self.device_id, received, quality=flags
                )
            )
        return out
