"""Nonin pulse oximeters on a serial port in data format #7 (75 Hz, 16-bit pleth) or #8 (1 Hz).

Format #7 yields SpO2 and pulse rate per packet (every 1/3 s) and the pleth at 75 Hz;
format #8 yields SpO2 and pulse rate once a second and no waveform. Neither format carries a
perfusion index. Both mirror `drivers.devices.nonin.NoninOximeter` (format #2).
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from contextlib import aclosing

import numpy as np

from drivers.codecs.nonin7 import FRAMES_PER_S, Nonin7Decoder, Nonin7Packet
from drivers.codecs.nonin8 import Nonin8Decoder, Nonin8Record
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

PLETH_FS_HZ = float(FRAMES_PER_S)  # format #7: one 16-bit pleth sample per frame
MANUFACTURER = "Nonin Medical"


def _numeric(
    quantity: Quantity, value: float, device_id: str, received: ReceiveTime, quality: QualityFlag
) -> Measurement:
    flags = quality & ~QualityFlag.MISSING
    if math.isnan(value):
        flags |= QualityFlag.MISSING
    return Measurement(quantity, value, quantity.spec.ucum, device_id, received, quality=flags)


class Nonin7Oximeter:
    """Nonin serial data format #7 oximeter (OEM III, Xpod, WristOx2 3150 set to #7)."""

    kind = "nonin7-oximeter"
    streams = True  # data flows continuously: silence means a dead link

    def __init__(self, device_id: str, uri: DeviceUri) -> None:
        self.device_id = device_id
        self.uri = uri
        self.counters = LinkCounters()
        self.info = DeviceInfo(manufacturer=MANUFACTURER)
        self._sample_index = 0  # pleth samples since the gateway started this device
        self._drops = DropLog(device_id)

    async def stream(self) -> AsyncIterator[DeviceEvent]:
        """Open the port and yield events per packet (every 1/3 s) until the port vanishes."""
        decoder = Nonin7Decoder()
        async with SerialTransport(self.uri.target, self.uri.baudrate, self.uri.parity) as port:
            reads = decoded(port, decoder, self.counters, self._drops)
            async with aclosing(reads):  # closed with the stream, not by the GC
                async for packets, received in reads:
                    for packet in packets:
                        for event in self._events(packet, received):
                            yield event

    def _events(self, packet: Nonin7Packet, received: ReceiveTime) -> list[DeviceEvent]:
        quality = packet.quality()
        gap = packet.frames_lost_before
        events: list[DeviceEvent] = []
        self._sample_index += gap
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
                quality | (QualityFlag.GAP_BEFORE if gap else QualityFlag.NONE),
            )
        )
        self._sample_index += packet.n_frames
        if packet.complete:
            events.append(
                _numeric(Quantity.SPO2, packet.spo2_pct, self.device_id, received, quality)
            )
            events.append(
                _numeric(Quantity.PULSE_RATE, packet.hr_bpm, self.device_id, received, quality)
            )
            if packet.firmware_revision is not None:
                info = DeviceInfo(
                    manufacturer=MANUFACTURER, firmware_revision=str(packet.firmware_revision)
                )
                if info != self.info:
                    self.info = info
                    events.append(info)
        return events


class Nonin8Oximeter:
    """Nonin serial data format #8 oximeter: SpO2 and pulse rate once a second, no pleth."""

    kind = "nonin8-oximeter"
    streams = True  # data flows continuously: silence means a dead link

    def __init__(self, device_id: str, uri: DeviceUri) -> None:
        self.device_id = device_id
        self.uri = uri
        self.counters = LinkCounters()
        self.info = DeviceInfo(manufacturer=MANUFACTURER)
        self._drops = DropLog(device_id)

    async def stream(self) -> AsyncIterator[DeviceEvent]:
        """Open the port and yield SpO2 and pulse rate per record until the port vanishes."""
        decoder = Nonin8Decoder()
        async with SerialTransport(self.uri.target, self.uri.baudrate, self.uri.parity) as port:
            reads = decoded(port, decoder, self.counters, self._drops)
            async with aclosing(reads):  # closed with the stream, not by the GC
                async for records, received in reads:
                    for record in records:
                        for event in self._events(record, received):
                            yield event

    def _events(self, record: Nonin8Record, received: ReceiveTime) -> list[DeviceEvent]:
        quality = record.status_quality()
        return [
            _numeric(Quantity.SPO2, record.spo2_pct, self.device_id, received, quality),
            _numeric(Quantity.PULSE_RATE, record.hr_bpm, self.device_id, received, quality),
        ]
