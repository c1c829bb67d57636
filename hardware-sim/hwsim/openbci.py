"""OpenBCI Cyton board behind its USB dongle, encoded from the OpenBCI documentation.

hwsim is an independent oracle: written from "Cyton Data Format" and "Cyton SDK"
(docs.openbci.com, OpenBCI/Documentation repo), never from the gateway's decoder.

Packet, 33 bytes, one per sample at 250 Hz, 115200 baud 8N1::

    byte 1      0xA0 header
    byte 2      sample number (0..255, wraps)
    bytes 3-26  8 channels, 24-bit signed, MSB first
    bytes 27-32 aux: with footer 0xC0, accelerometer X, Y, Z as 16-bit signed (25 Hz; zeros
                between updates)
    byte 33     footer 0xC0 (0xC1..0xC6 are other aux layouts)

Counts per µV: ADS1299 scale = 4.5 V / gain / (2^23 - 1); the firmware default gain is 24.
Commands the board obeys here: 'b' start streaming, 's' stop, 'v' soft reset (stops, prints
its banner ending in "$$$"), 'd' default channel settings, 'x CH POWER GAIN INPUT BIAS SRB2
SRB1 X' channel settings (only POWER and GAIN change what is sent).

Faults on command, counted: drop_samples(n) (radio loss: the counter jumps by n), lead_off
(channel pinned at the positive rail, as the ADS1299 input floats to the rail with bias on),
saturate (a DC offset beyond the input range: clipped at the rail), inject_garbage(n) (bytes
never 0xA0, so a resynchronising framer drops exactly n), unplug/replug (the dongle: the
board keeps its state and counter).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from hwsim.errors import CommandError, EncodeError
from hwsim.patient_api import PatientSource
from hwsim.pty import SimPtyDevice, SimSerialPort

logger = logging.getLogger(__name__)

KIND: Final = "openbci-cyton"
BAUD: Final = 115200
FS_HZ: Final = 250
PACKET_BYTES: Final = 33
N_CH: Final = 8
START_BYTE: Final = 0xA0
STOP_BYTE: Final = 0xC0
ADS_GAINS: Final = (1, 2, 4, 6, 8, 12, 24)  # channel-settings gain codes '0'..'6'
POSITIVE_RAIL: Final = (1 << 23) - 1
NEGATIVE_RAIL: Final = -(1 << 23)
ACCEL_EVERY: Final = 10  # accelerometer at 25 Hz: one packet in 10 carries it
ACCEL_1G_COUNTS: Final = 8000  # 0.002 / 16 g per count
WRITE_INTERVAL_S: Final = 0.020
MAX_CATCH_UP_S: Final = 0.5
BANNER: Final = (
    b"OpenBCI V3 8-16 channel\nOn Board ADS1299 Device ID: 0x3E\n"
    b"LIS3DH Device ID: 0x33\nFirmware: v3.1.2\n$$$"
)
DEFAULT_LEADS: Final = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")  # the 8 independent leads
# Built-in ECG: Gaussian waves per beat (amplitude µV, centre s from R, width s), lead II.
_WAVES: Final = (
    (150.0, -0.20, 0.025),  # P
    (-120.0, -0.035, 0.010),  # Q
    (1200.0, 0.0, 0.011),  # R
    (-300.0, 0.035, 0.011),  # S
    (300.0, 0.26, 0.045),  # T
)
_LEAD_GAIN: Final = {"I": 0.6, "II": 1.0, "III": 0.4, "V1": -0.5, "V2": -0.2, "V3": 0.5}
_LEAD_GAIN_DEFAULT: Final = 0.9


def counts_per_uv(gain: int) -> float:
    """ADS1299 counts per µV at a PGA gain."""
    return ((1 << 23) - 1) / (4.5 / gain) / 1e6


def encode_packet(sample_number: int, counts: Sequence[int], aux: bytes = bytes(6)) -> bytes:
    """One 33-byte packet with footer 0xC0 (accelerometer aux)."""
    if not 0 <= sample_number <= 255:
        raise EncodeError(f"sample number {sample_number} is not a byte")
    if len(counts) != N_CH or len(aux) != 6:
        raise EncodeError("a packet carries 8 channels and 6 aux bytes")
    out = bytearray([START_BYTE, sample_number])
    for c in counts:
        if not NEGATIVE_RAIL <= c <= POSITIVE_RAIL:
            raise EncodeError(f"count {c} does not fit 24 bits")
        out += (c % (1 << 24)).to_bytes(3, "big")
    out += aux
    out.append(STOP_BYTE)
    return bytes(out)


def encode_packets(
    sample_numbers: NDArray[np.int64], counts: NDArray[np.int64], aux: NDArray[np.uint8]
) -> bytes:
    """Many packets at once (numpy): counts (n, 8) already clipped to 24 bits."""
    n = len(sample_numbers)
    out = np.empty((n, PACKET_BYTES), np.uint8)
    out[:, 0] = START_BYTE
    out[:, 1] = sample_numbers % 256
    u = counts % (1 << 24)
    out[:, 2:26:3] = (u >> 16) & 0xFF
    out[:, 3:26:3] = (u >> 8) & 0xFF
    out[:, 4:26:3] = u & 0xFF
    out[:, 26:32] = aux
    out[:, 32] = STOP_BYTE
    return out.tobytes()


def builtin_ecg_uv(
    t_s: NDArray[np.float64], hr_bpm: float, leads: Sequence[str]
) -> NDArray[np.float64]:
    """A few Gaussian waves per beat, fixed heart rate: (n, len(leads)) in µV."""
    rr_s = 60.0 / hr_bpm
    beat = np.round(t_s / rr_s)
    lead_ii = np.zeros_like(t_s)
    for k in (-1.0, 0.0, 1.0):
        dt = t_s - (beat + k) * rr_s
        for amp, centre, width in _WAVES:
            lead_ii += amp * np.exp(-0.5 * ((dt - centre) / width) ** 2)
    gains = np.array([_LEAD_GAIN.get(lead, _LEAD_GAIN_DEFAULT) for lead in leads])
    out: NDArray[np.float64] = lead_ii[:, None] * gains[None, :]
    return out


@dataclass(frozen=True, slots=True)
class CytonCounters:
    """What the board sent and injected."""

    packets_sent: int
    samples_dropped: int  # radio loss: counter advanced, nothing sent
    samples_unplugged: int  # produced while the dongle was unplugged
    garbage_events: int
    garbage_bytes: int
    unplugs: int
    replugs: int
    commands: int
    bytes_written: int
    bytes_dropped: int
    skipped_samples: int  # the event loop stalled


class SimOpenbciCyton(SimPtyDevice):
    """An OpenBCI Cyton (8 channels) on a simulated FTDI dongle port."""

    kind = KIND

    def __init__(
        self,
        device_id: str,
        link_path: str | os.PathLike[str],
        *,
        seed: int,
        patient: PatientSource | None = None,
        leads: Sequence[str] = DEFAULT_LEADS,
        hr_bpm: float = 72.0,
        noise_uv: float = 3.0,
    ) -> None:
        if len(leads) != N_CH:
            raise CommandError(f"a Cyton has 8 channels, got {len(leads)} leads")
        self.device_id = device_id
        self.port = SimSerialPort(link_path, baud=BAUD, max_backlog_bytes=FS_HZ * PACKET_BYTES)
        self.patient = patient
        self.leads = tuple(leads)
        self.hr_bpm = hr_bpm
        self.noise_uv = noise_uv
        noise_seq, fault_seq = np.random.SeedSequence(seed).spawn(2)
        self._noise_rng = np.random.default_rng(noise_seq)
        self._fault_rng = np.random.default_rng(fault_seq)
        self.gains = [24] * N_CH
        self.powered = [True] * N_CH
        self.streaming = False
        self._counter = 0  # next sample number (mod 256)
        self._clock = 0  # samples since run() started (the board's time)
        self._lead_off: set[int] = set()
        self._saturate_until_s = [0.0] * N_CH
        self._drop_queue = 0
        self._garbage_queue = 0
        self._host_seen = 0
        self._cmd = bytearray()
        self._count: dict[str, int] = dict.fromkeys(
            (f for f in CytonCounters.__dataclass_fields__ if not f.startswith("bytes_")), 0
        )

    def uri_query(self) -> str:
        """The URI's query: codec, baud rate and the codec's options."""
        return f"codec=openbci&baud={BAUD}"

    async def run(self) -> None:
        """Obey commands and stream in real time until cancelled."""
        start = time.monotonic()
        emitted = 0
        while True:
            self._poll_host()
            due = int((time.monotonic() - start) * FS_HZ) - emitted
            if due > MAX_CATCH_UP_S * FS_HZ:
                logger.warning("%s: event loop stalled, skipping %d samples", self.device_id, due)
                self._count["skipped_samples"] += due
                self._clock += due
                emitted += due
                due = 0
            if due > 0:
                data = self._produce(due)
                emitted += due
                if data and self.port.plugged:
                    self.port.write(data)
            wake = start + (emitted + 1) / FS_HZ + WRITE_INTERVAL_S / 2
            await asyncio.sleep(max(0.0, wake - time.monotonic()))

    # --- scenario and faults -----------------------------------------------------------

    def lead_off(self, channel: int, off: bool = True) -> None:
        """Electrode off on a channel (1..8): it reads the positive rail until put back."""
        ch = self._channel(channel)
        if off:
            self._lead_off.add(ch)
        else:
            self._lead_off.discard(ch)

    def saturate(self, channel: int, seconds: float) -> None:
        """A DC offset beyond the input range on a channel for this long: clipped at the rail."""
        if not 0 <= seconds <= 3600:
            raise CommandError(f"seconds={seconds} is outside 0..3600")
        ch = self._channel(channel)
        self._saturate_until_s[ch] = self._clock / FS_HZ + seconds

    def drop_samples(self, n: int) -> None:
        """Radio loss: the next n samples are never sent (the counter jumps)."""
        self._drop_queue += self._whole("n", n)

    def inject_garbage(self, n_bytes: int) -> None:
        """Put n random bytes (never 0xA0) on the line before the next packet."""
        self._garbage_queue += self._whole("n_bytes", n_bytes)

    def unplug(self) -> None:
        """Pull the dongle: the port disappears (the board keeps running)."""
        if self.port.plugged:
            self.port.unplug()
            self._count["unplugs"] += 1

    def replug(self) -> None:
        """Plug the dongle back in: a new port behind the same link."""
        if self.port.plugged:
            self.unplug()
        self.port.plug()
        self._host_seen = self.port.bytes_from_host
        self._count["replugs"] += 1

    def counters(self) -> CytonCounters:
        """A snapshot of what was sent and injected."""
        return CytonCounters(
            bytes_written=self.port.bytes_written,
            bytes_dropped=self.port.bytes_dropped,
            **self._count,
        )

    def status(self) -> dict[str, object]:
        """Everything a control client may want to know, JSON-ready."""
        now_s = self._clock / FS_HZ
        return {
            "id": self.device_id,
            "kind": self.kind,
            "uri": self.uri,
            "link_path": self.link_path,
            "slave": self.port.slave_name,
            "plugged": self.port.plugged,
            "streaming": self.streaming,
            "gains": list(self.gains),
            "powered": list(self.powered),
            "leads": list(self.leads),
            "lead_off": sorted(ch + 1 for ch in self._lead_off),
            "saturated": [ch + 1 for ch in range(N_CH) if self._saturate_until_s[ch] > now_s],
            "source": "patient" if self.patient is not None else "builtin",
            "counters": asdict(self.counters()),
        }

    # --- internals -----------------------------------------------------------------------

    @staticmethod
    def _channel(channel: int) -> int:
        if isinstance(channel, bool) or not isinstance(channel, int) or not 1 <= channel <= N_CH:
            raise CommandError(f"channel must be 1..8, got {channel!r}")
        return channel - 1

    @staticmethod
    def _whole(name: str, value: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100_000:
            raise CommandError(f"{name} must be a whole number in 0..100000, got {value!r}")
        return value

    def _poll_host(self) -> None:
        new = self.port.bytes_from_host - self._host_seen
        if new <= 0:
            return
        self._host_seen = self.port.bytes_from_host
        for byte in bytes(self.port.from_host[-new:]):
            self._command(byte)

    def _command(self, byte: int) -> None:
        if self._cmd:
            self._cmd.append(byte)
            if len(self._cmd) == 9:  # x CH POWER GAIN INPUT BIAS SRB2 SRB1 X
                self._channel_settings(bytes(self._cmd))
                self._cmd.clear()
            return
        char = chr(byte)
        if char == "x":
            self._cmd.append(byte)
            return
        self._count["commands"] += 1
        if char == "b":
            self.streaming = True
        elif char == "s":
            self.streaming = False
        elif char == "v":
            self.streaming = False
            self._counter = 0
            self._defaults()
            if self.port.plugged:
                self.port.write(BANNER)
        elif char == "d":
            self._defaults()
        logger.info("%s: host command %r", self.device_id, char)

    def _defaults(self) -> None:
        self.gains = [24] * N_CH
        self.powered = [True] * N_CH

    def _channel_settings(self, cmd: bytes) -> None:
        self._count["commands"] += 1
        text = cmd.decode("ascii", "replace")
        index = "12345678".find(text[1])
        if text[-1] != "X" or index < 0 or not text[3].isdigit() or int(text[3]) > 6:
            logger.warning("%s: bad channel settings %r ignored", self.device_id, text)
            return
        self.powered[index] = text[2] == "0"
        self.gains[index] = ADS_GAINS[int(text[3])]

    def _signal_uv(self, n: int) -> NDArray[np.float64]:
        t0_s = self._clock / FS_HZ
        if self.patient is not None:
            uv = np.asarray(self.patient.ecg_uv(t0_s, n, float(FS_HZ), self.leads), np.float64)
        else:
            t_s = t0_s + np.arange(n) / FS_HZ
            uv = builtin_ecg_uv(t_s, self.hr_bpm, self.leads)
        return uv + self._noise_rng.normal(0.0, self.noise_uv, size=(n, N_CH))

    def _produce(self, n: int) -> bytes:
        uv = self._signal_uv(n)
        t_s = (self._clock + np.arange(n)) / FS_HZ
        clock0 = self._clock
        self._clock += n
        if not self.streaming:
            return b""
        scale = np.array([counts_per_uv(g) for g in self.gains])
        counts = np.rint(uv * scale).astype(np.int64)
        for ch in range(N_CH):
            if not self.powered[ch]:
                counts[:, ch] = 0
            elif ch in self._lead_off:
                counts[:, ch] = POSITIVE_RAIL
            else:
                counts[t_s < self._saturate_until_s[ch], ch] += 1 << 24  # far beyond the rail
        counts = np.clip(counts, NEGATIVE_RAIL, POSITIVE_RAIL)
        numbers = (self._counter + np.arange(n)) % 256
        self._counter = (self._counter + n) % 256
        keep = np.ones(n, bool)
        if self._drop_queue:
            k = min(self._drop_queue, n)
            keep[:k] = False
            self._drop_queue -= k
            self._count["samples_dropped"] += k
        aux = np.zeros((n, 6), np.uint8)
        accel = (clock0 + np.arange(n)) % ACCEL_EVERY == 0
        aux[accel, 4:6] = np.frombuffer(ACCEL_1G_COUNTS.to_bytes(2, "big"), np.uint8)
        sent = int(keep.sum())
        if not self.port.plugged:
            self._count["samples_unplugged"] += sent
            return b""
        data = encode_packets(numbers[keep], counts[keep], aux[keep])
        self._count["packets_sent"] += sent
        if self._garbage_queue and sent:
            values = self._fault_rng.integers(0, 255, size=self._garbage_queue)
            garbage = (values + (values >= START_BYTE)).astype(np.uint8).tobytes()
            self._count["garbage_events"] += 1
            self._count["garbage_bytes"] += self._garbage_queue
            self._garbage_queue = 0
            data = garbage + data
        return data
