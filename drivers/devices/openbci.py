"""OpenBCI Cyton (8-channel ADS1299) on its USB dongle as an ECG front end: 250 Hz, µV.

URI: ``serial:///dev/serial/by-id/usb-FTDI_FT231X_USB_UART_XXXX-if00-port0?codec=openbci
&baud=115200`` with optional ``gain=24`` (one PGA gain for all channels; when given, the
driver also sends the matching channel-settings commands) and ``channels=I,II,V1,...``
(eight lead names; default ch1..ch8).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Final

import numpy as np
from numpy.typing import NDArray

from drivers.codecs.openbci import (
    BAUD,
    CMD_START,
    CMD_STOP,
    DEFAULT_GAIN,
    FS_HZ,
    GAINS,
    N_CHANNELS,
    CytonDecoder,
    CytonSamples,
    channel_settings,
)
from drivers.devices.base import DropLog, LinkCounters
from drivers.errors import DriverError, UriError
from drivers.model import DeviceEvent, DeviceInfo, QualityFlag, Quantity, ReceiveTime, SampleBlock
from drivers.transports.serial import SerialTransport
from drivers.transports.uri import DeviceUri

logger = logging.getLogger(__name__)

BLOCK_SAMPLES: Final = 25  # 100 ms at 250 Hz
DEFAULT_CHANNELS: Final = tuple(f"ch{i}" for i in range(1, N_CHANNELS + 1))


def _parse_options(uri: DeviceUri) -> tuple[int, bool, tuple[str, ...]]:
    text = uri.params.get("gain")
    gain = DEFAULT_GAIN
    if text is not None:
        if not text.isdigit() or int(text) not in GAINS:
            raise UriError(
                f"{uri}: gain {text!r} is not an ADS1299 gain (one of {', '.join(map(str, GAINS))})"
            )
        gain = int(text)
    names = DEFAULT_CHANNELS
    if "channels" in uri.params:
        names = tuple(n.strip() for n in uri.params["channels"].split(","))
        if len(names) != N_CHANNELS or not all(names) or len(set(names)) != N_CHANNELS:
            raise UriError(f"{uri}: channels must be 8 distinct comma-separated names")
    return gain, text is not None, names


class OpenbciCyton:
    """OpenBCI Cyton board (8 channels) streaming over its RFduino dongle."""

    kind = "openbci-cyton"
    streams = True  # data flows continuously: silence means a dead link

    def __init__(self, device_id: str, uri: DeviceUri) -> None:
        self.device_id = device_id
        self.uri = uri
        self.counters = LinkCounters()
        self.info = DeviceInfo(manufacturer="OpenBCI", model_number="Cyton")
        gain, self._send_gain, self.channels = _parse_options(uri)
        self.gains = (gain,) * N_CHANNELS
        self._index = 0  # samples since the gateway started this device
        self._streams = 0
        # Samples waiting for a full block: chunks joined once per block, not once per read.
        self._pend_uv: list[NDArray[np.float64]] = []
        self._pend_sat: list[NDArray[np.bool_]] = []
        self._pend_n = 0
        self._pend_gap = False
        self._drops = DropLog(device_id)

    async def stream(self) -> AsyncIterator[DeviceEvent]:
        """Open the port, send start ('b'), yield 25-sample ECG blocks; send stop on exit."""
        decoder = CytonDecoder()
        self._pend_uv, self._pend_sat, self._pend_n = [], [], 0
        # Samples were lost while the link was down; how many is unknown.
        self._pend_gap = self._streams > 0
        self._streams += 1
        async with SerialTransport(
            self.uri.target, int(self.uri.params.get("baud", BAUD)), self.uri.parity
        ) as port:
            if self._send_gain:
                for ch in range(1, N_CHANNELS + 1):
                    await port.write(channel_settings(ch, gain=self.gains[ch - 1]))
            await port.write(CMD_START)
            seen = (0, 0, 0)
            try:
                while True:
                    data = await port.read()
                    self.counters.last_rx_monotonic_s = time.monotonic()
                    samples = decoder.feed(data)
                    seen = self.counters.follow(decoder, seen)
                    self._drops.update(self.counters)
                    for block in self._blocks(samples, ReceiveTime.now()):
                        yield block
            except DriverError:
                rest = self._emit(self._pend_n, ReceiveTime.now())
                if rest is not None:
                    yield rest
                raise
            finally:
                with contextlib.suppress(DriverError):  # the port may be gone already
                    await port.write(CMD_STOP)

    def _blocks(self, samples: CytonSamples, received: ReceiveTime) -> list[SampleBlock]:
        out: list[SampleBlock] = []
        if samples.n == 0:
            return out
        uv = samples.uv(self.gains)
        sat: NDArray[np.bool_] = np.asarray(samples.saturated().any(axis=1))
        lost_at = np.flatnonzero(samples.lost_before) if samples.lost_before.any() else ()
        starts = [0, *[int(c) for c in lost_at if c > 0]]
        for a, b in zip(starts, [*starts[1:], samples.n], strict=True):
            lost = int(samples.lost_before[a])
            if lost:
                block = self._emit(self._pend_n, received)
                if block is not None:
                    out.append(block)
                self._index += lost
                self._pend_gap = True
            self._pend_uv.append(uv[a:b])
            self._pend_sat.append(sat[a:b])
            self._pend_n += b - a
            while self._pend_n >= BLOCK_SAMPLES:
                block = self._emit(BLOCK_SAMPLES, received)
                if block is not None:
                    out.append(block)
        return out

    def _emit(self, n: int, received: ReceiveTime) -> SampleBlock | None:
        if n == 0:
            return None
        all_uv = self._pend_uv[0] if len(self._pend_uv) == 1 else np.concatenate(self._pend_uv)
        all_sat = self._pend_sat[0] if len(self._pend_sat) == 1 else np.concatenate(self._pend_sat)
        values: NDArray[np.float64] = all_uv[:n].copy()
        quality = QualityFlag.NONE
        if bool(all_sat[:n].any()):
            quality |= QualityFlag.RAIL_SATURATION
        if self._pend_gap:
            quality |= QualityFlag.GAP_BEFORE
            self._pend_gap = False
        block = SampleBlock(
            Quantity.ECG,
            self.device_id,
            self.channels,
            FS_HZ,
            self._index,
            values,
            Quantity.ECG.spec.ucum,
            received,
            quality,
        )
        self._index += n
        self._pend_n -= n
        self._pend_uv = [all_uv[n:]] if self._pend_n else []
        self._pend_sat = [all_sat[n:]] if self._pend_n else []
        return block
