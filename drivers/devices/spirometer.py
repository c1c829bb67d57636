"""SFM3300-class flow sensor behind a USB serial bridge (Helserom spiro protocol): 100 Hz, L/s.

URI: ``serial:///dev/serial/by-id/usb-…-if00?codec=spiro&baud=115200[&bypass=5]``. One
SampleBlock per frame (10 samples, 100 ms). The bridge streams from power-up; nothing is sent to it.

``bypass``: the flow head's ratio of total flow to the flow through the sensor (default 1: the
sensor sees all of it). The SFM3300 measures +/-250 slm (4.2 L/s), less than an adult's peak
flow, so an adult flow head passes a calibrated fraction through it; the gateway scales back.
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Final

import numpy as np

from drivers.codecs.spiro import BAUD, FS_HZ, SpiroDecoder, SpiroFrame, SpiroStatus
from drivers.devices.base import DropLog, LinkCounters, decoded
from drivers.errors import UriError
from drivers.model import DeviceEvent, DeviceInfo, QualityFlag, Quantity, SampleBlock
from drivers.transports.serial import SerialTransport
from drivers.transports.uri import DeviceUri

logger = logging.getLogger(__name__)

MAX_BYPASS: Final = 20.0


def frame_quality(frame: SpiroFrame) -> QualityFlag:
    """What a frame's STATUS, sensor CRCs and range say, as quality flags."""
    flags = QualityFlag.NONE
    if frame.status & SpiroStatus.NOT_READY:
        flags |= QualityFlag.SENSOR_ALARM | QualityFlag.MISSING
    if frame.status & SpiroStatus.READ_ERROR:
        flags |= QualityFlag.SENSOR_DISCONNECTED | QualityFlag.MISSING
    if not all(frame.sample_crc_ok()):
        flags |= QualityFlag.SENSOR_ALARM | QualityFlag.MISSING
    if frame.over_range():
        flags |= QualityFlag.OUT_OF_RANGE
    if frame.samples_lost_before:
        flags |= QualityFlag.GAP_BEFORE
    return flags


def bypass_ratio(uri: DeviceUri) -> float:
    """The ``bypass=`` ratio of a spirometer URI (1 to 20); UriError names the bad value."""
    text = uri.params.get("bypass", "1")
    try:
        ratio = float(text)
    except ValueError:
        ratio = math.nan
    if not 1.0 <= ratio <= MAX_BYPASS:
        raise UriError(f"{uri}: bypass={text!r} must be a number from 1 to {MAX_BYPASS:g}")
    return ratio


class Spirometer:
    """Flow sensor bridge (SFM3300-D) streaming airway flow at 100 Hz."""

    kind = "spiro-sfm3300"
    streams = True  # data flows continuously: silence means a dead link

    def __init__(self, device_id: str, uri: DeviceUri) -> None:
        self.device_id = device_id
        self.uri = uri
        self.counters = LinkCounters()
        self.info = DeviceInfo(model_number="SFM3300-D bridge")
        self.bypass_ratio = bypass_ratio(uri)
        self._index = 0  # samples since the gateway started this device
        self._streams = 0
        self._drops = DropLog(device_id)

    async def stream(self) -> AsyncIterator[DeviceEvent]:
        """Open the port and yield one flow block per frame until the port vanishes."""
        decoder = SpiroDecoder()
        reconnected = self._streams > 0  # samples were lost while the link was down
        self._streams += 1
        async with SerialTransport(
            self.uri.target, int(self.uri.params.get("baud", BAUD)), self.uri.parity
        ) as port:
            reads = decoded(port, decoder, self.counters, self._drops)
            async with aclosing(reads):  # closed with the stream, not by the GC
                async for frames, received in reads:
                    for frame in frames:
                        quality = frame_quality(frame)
                        if reconnected:
                            quality |= QualityFlag.GAP_BEFORE
                            reconnected = False
                        self._index += frame.samples_lost_before
                        flow = np.asarray(frame.flow_lps(), dtype=np.float64) * self.bypass_ratio
                        values = flow.reshape(-1, 1)
                        yield SampleBlock(
                            Quantity.AIRWAY_FLOW,
                            self.device_id,
                            ("flow",),
                            FS_HZ,
                            self._index,
                            values,
                            Quantity.AIRWAY_FLOW.spec.ucum,
                            received,
                            quality,
                        )
                        self._index += frame.n_samples
