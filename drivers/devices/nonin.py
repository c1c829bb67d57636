"""Nonin pulse oximeter on a serial port, data format #2: SpO2, pulse rate and pleth at 75 Hz."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from contextlib import aclosing

import numpy as np

from drivers.codecs.nonin2 import Nonin2Decoder, Nonin2Packet
from drivers.devices.base import DropLog, LinkCounters, decoded
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

PLETH_FS_HZ = 75.0  # format #2: one pleth sample per frame, 75 frames/s


class NoninOximeter:
    """Nonin serial data format #2 oximeter (Xpod, OEM III, WristOx2 3150 and alike)."""

    kind = "nonin2-oximeter"
    streams = True  # data flows continuously: silence means a dead link

    def __init__(self, device_id: str, uri: DeviceUri) -> None:
        self.device_id = device_id
        self.uri = uri
        self.counters = LinkCounters()
        self.info = DeviceInfo(manufacturer="Nonin Medical")
        self._sample_index = 0  # pleth samples since the gateway started this device
        self._drops = DropLog(device_id)

    async def stream(self) -> AsyncIterator[DeviceEvent]:
        """Open the port and yield events per packet (every 1/3 s) until the port vanishes."""
        decoder = Nonin2Decoder()
        async with SerialTransport(self.uri.target, self.uri.baudrate, self.uri.parity) as port:
            reads = decoded(port, decoder, self.counters, self._drops)
            async with aclosing(reads):  # closed with the stream, not by the GC
                async for packets, received in reads:
                    for packet in packets:
                        for event in self._events(packet, received):
                            yield event

    def _events(self, packet: Nonin2Packet, received: ReceiveTime) -> list[DeviceEvent]:
        quality = packet.quality()
        gap = packet.frames_lost_before
        events: list[DeviceEvent] = []
        if gap:
            self._sample_index += gap
        if packet.pleth:
            block_quality = quality | (QualityFlag.GAP_BEFORE if gap else QualityFlag.NONE)
            values = np.asarray(packet.pleth, dtype=np.float64).reshape(-1, 1)
            events.append(
                SampleBlock(
                    Quantity.PLETH,
                    self.device_id,
                    ("pleth",),
                    PLETH_FS_HZ,
                    self._sample_index,
                    values,
                    Quantity.PLETH.spec.ucum,
                    received,
                    block_quality,
                )
            )
            self._sample_index += len(packet.pleth)
        if packet.complete:
            for quantity, value in (
                (Quantity.SPO2, packet.spo2_pct),
                (Quantity.PULSE_RATE, packet.hr_bpm),
            ):
                flags = quality & ~QualityFlag.MISSING
                if math.isnan(value):
                    flags |= QualityFlag.MISSING
                events.append(
                    Measurement(
                        quantity,
                        value,
                        quantity.spec.ucum,
                        self.device_id,
                        received,
                        quality=flags,
                    )
                )
            if packet.firmware_revision is not None:
                info = DeviceInfo(
                    manufacturer="Nonin Medical",
                    firmware_revision=str(packet.firmware_revision),
                )
                if info != self.info:
                    self.info = info
                    events.append(info)
        return events
