"""A flow-sensor spirometer (Sensirion SFM3300-D behind a USB serial bridge), encoded from
``docs/protocols/spiro-sfm3300.md``. Independent of the gateway's decoder.

Frame (10 per second, 10 samples each at 100 Hz, 115200 baud 8N1)::

    A5 5A | N | SEQ hi, lo | STATUS | N x (RAW hi, RAW lo, sensor CRC-8) | CRC-16 hi, lo

SEQ = index of the frame's first sample mod 65536. RAW = flow_slm * 120 + 32768 (SFM3300-D
datasheet, air), clipped to 16 bits. Sensor CRC-8: polynomial 0x31, init 0x00 over the two
RAW bytes (Sensirion mass-flow-meter CRC application note). Frame CRC-16/CCITT-FALSE (0x1021,
init 0xFFFF) over N .. last sample byte. STATUS: 0x01 not ready (the sensor's first readings
after power-up are invalid), 0x02 sensor CRC error seen, 0x04 sensor read error.

Idle, the sensor streams zero flow plus noise; `blow(profile)` plays one forced expiration.
Faults, counted: inject_garbage(n) (bytes never 0xA5), drop_frames(n) (SEQ jumps),
corrupt_sensor_crc(n) (n samples with a wrong CRC-8, STATUS 0x02), unplug/replug (replug is a
power-up: SEQ restarts at 0, the first frame is not ready).
"""

from __future__ import annotations

import asyncio
import collections
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

KIND: Final = "spiro-sfm3300"
BAUD: Final = 115200
FS_HZ: Final = 100
N_PER_FRAME: Final = 10
FRAMES_PER_S: Final = FS_HZ // N_PER_FRAME
ZERO_RAW: Final = 32768
RAW_PER_SLM: Final = 120
STATUS_NOT_READY: Final = 0x01
STATUS_SENSOR_CRC: Final = 0x02
STATUS_READ_ERROR: Final = 0x04
WARMUP_FRAMES: Final = 1
MAX_CATCH_UP_S: Final = 0.5

# Built-in manoeuvres: FVC (L), decay constant (s). Flow = A (1 - e^(-t/0.04 s)) e^(-t/tau),
# scaled so the volume is the FVC. Adult PEF exceeds the SFM3300's +/-250 slm (4.2 L/s):
# "child" stays in range, "normal" and the others go beyond it as a real SFM3300 would.
PROFILES: Final = {
    "child": (1.5, 0.45),
    "normal": (4.0, 0.55),
    "obstructive": (3.0, 1.6),
    "restrictive": (2.4, 0.35),
}
RISE_S: Final = 0.04
MANOEUVRE_S: Final = 6.0


def crc8(data: bytes) -> int:
    """Sensirion CRC-8: polynomial x^8 + x^5 + x^4 + 1, init 0x00, bit by bit."""
    crc = 0x00
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE, bit by bit."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def flow_to_raw(flow_lps: NDArray[np.float64]) -> NDArray[np.int64]:
    """L/s to the sensor's 16-bit reading (slm * 120 + 32768), clipped."""
    raw = np.rint(flow_lps * 60.0 * RAW_PER_SLM + ZERO_RAW)
    return np.clip(raw, 0, 0xFFFF).astype(np.int64)


def encode_frame(
    seq: int, status: int, raws: Sequence[int], sensor_crcs: Sequence[int] | None = None
) -> bytes:
    """One frame; sensor CRCs are computed unless given (to inject bad ones)."""
    if not 1 <= len(raws) <= 50 or not 0 <= seq <= 0xFFFF or not 0 <= status <= 0xFF:
        raise EncodeError(f"cannot encode seq={seq} status={status} with {len(raws)} samples")
    body = bytearray([len(raws), seq >> 8, seq & 0xFF, status])
    for i, raw in enumerate(raws):
        pair = bytes([raw >> 8, raw & 0xFF])
        body += pair
        body.append(crc8(pair) if sensor_crcs is None else sensor_crcs[i])
    check = crc16(bytes(body))
    return b"\xa5\x5a" + bytes(body) + bytes([check >> 8, check & 0xFF])


def builtin_expiration_lps(fs_hz: float, profile: str = "normal") -> NDArray[np.float64]:
    """One analytic forced expiration (expiration positive), MANOEUVRE_S long."""
    if profile not in PROFILES:
        raise CommandError(f"unknown profile {profile!r}; known: {', '.join(PROFILES)}")
    fvc_l, tau_s = PROFILES[profile]
    t_s = np.arange(int(MANOEUVRE_S * fs_hz)) / fs_hz
    shape = (1.0 - np.exp(-t_s / RISE_S)) * np.exp(-t_s / tau_s)
    out: NDArray[np.float64] = shape * (fvc_l / (shape.sum() / fs_hz))
    return out


@dataclass(frozen=True, slots=True)
class SpiroCounters:
    """What the bridge sent and injected."""

    frames_sent: int
    frames_dropped: int
    frames_unplugged: int
    samples_sent: int
    garbage_events: int
    garbage_bytes: int
    crc_corrupted: int
    manoeuvres: int
    unplugs: int
    replugs: int
    bytes_written: int
    bytes_dropped: int
    skipped_frames: int


class SimSpirometer(SimPtyDevice):
    """An SFM3300-D flow sensor on a simulated USB serial bridge."""

    kind = KIND

    def __init__(
        self,
        device_id: str,
        link_path: str | os.PathLike[str],
        *,
        seed: int,
        patient: PatientSource | None = None,
        noise_lps: float = 0.003,
        warmup_frames: int = WARMUP_FRAMES,
        bypass_ratio: float = 1.0,
    ) -> None:
        self.device_id = device_id
        self.port = SimSerialPort(link_path, baud=BAUD, max_backlog_bytes=4096)
        self.patient = patient
        self.noise_lps = noise_lps
        if not 1.0 <= bypass_ratio <= 20.0:
            raise CommandError(f"bypass_ratio must be in 1..20, got {bypass_ratio!r}")
        # A flow head that sends 1/bypass_ratio of the flow through the sensor, so adult
        # peak flows (6-12 L/s) stay inside the SFM3300's +/-250 slm (4.2 L/s).
        self.bypass_ratio = float(bypass_ratio)
        noise_seq, fault_seq = np.random.SeedSequence(seed).spawn(2)
        self._noise_rng = np.random.default_rng(noise_seq)
        self._fault_rng = np.random.default_rng(fault_seq)
        self._seq = 0
        self.warmup_frames = self._whole("warmup_frames", warmup_frames)
        self._warmup = self.warmup_frames
        self._manoeuvre: collections.deque[float] = collections.deque()
        self._profile: str | None = None
        self._drop_queue = 0
        self._garbage_queue = 0
        self._crc_queue = 0
        self._count: dict[str, int] = dict.fromkeys(
            (f for f in SpiroCounters.__dataclass_fields__ if not f.startswith("bytes_")), 0
        )

    def uri_query(self) -> str:
        """The URI's query: codec, baud rate and the codec's options."""
        bypass = f"&bypass={self.bypass_ratio:g}" if self.bypass_ratio != 1.0 else ""
        return f"codec=spiro&baud={BAUD}{bypass}"

    async def run(self) -> None:
        """Stream frames in real time until cancelled."""
        start = time.monotonic()
        emitted = 0
        while True:
            due = int((time.monotonic() - start) * FRAMES_PER_S) - emitted
            if due > MAX_CATCH_UP_S * FRAMES_PER_S:
                logger.warning("%s: event loop stalled, skipping %d frames", self.device_id, due)
                self._count["skipped_frames"] += due
                self._seq = (self._seq + due * N_PER_FRAME) % 0x10000
                emitted += due
                due = 0
            out = bytearray()
            for _ in range(max(0, due)):
                out += self._next_frame()
            emitted += max(0, due)
            if out and self.port.plugged:
                self.port.write(bytes(out))
            wake = start + (emitted + 1) / FRAMES_PER_S + 0.005
            await asyncio.sleep(max(0.0, wake - time.monotonic()))

    # --- scenario and faults -----------------------------------------------------------

    def blow(self, profile: str = "normal") -> int:
        """Start one forced expiration now; returns its length in samples."""
        if self.patient is not None:
            try:
                flow = np.asarray(self.patient.forced_expiration_lps(float(FS_HZ), profile))
            except ValueError as exc:  # a profile the scenario patient does not know
                raise CommandError(str(exc)) from exc
        else:
            flow = builtin_expiration_lps(float(FS_HZ), profile)
        self._manoeuvre = collections.deque(float(v) for v in flow)
        self._profile = profile
        self._count["manoeuvres"] += 1
        logger.info("%s: forced expiration (%s), %d samples", self.device_id, profile, len(flow))
        return len(flow)

    def inject_garbage(self, n_bytes: int) -> None:
        """Put n random bytes (never 0xA5) on the line before the next frame."""
        self._garbage_queue += self._whole("n_bytes", n_bytes)

    def drop_frames(self, n: int) -> None:
        """Lose the next n frames (their samples never reach the host)."""
        self._drop_queue += self._whole("n", n)

    def corrupt_sensor_crc(self, n: int) -> None:
        """The next n samples carry a wrong sensor CRC-8 (and their frames STATUS 0x02)."""
        self._crc_queue += self._whole("n", n)

    def unplug(self) -> None:
        """Pull the USB cable: the port disappears."""
        if self.port.plugged:
            self.port.unplug()
            self._count["unplugs"] += 1

    def replug(self) -> None:
        """Plug back in: the bridge powers up (SEQ 0, sensor warming up)."""
        if self.port.plugged:
            self.unplug()
        self.port.plug()
        self._count["replugs"] += 1
        self._seq = 0
        self._warmup = self.warmup_frames

    def counters(self) -> SpiroCounters:
        """A snapshot of what was sent and injected."""
        return SpiroCounters(
            bytes_written=self.port.bytes_written,
            bytes_dropped=self.port.bytes_dropped,
            **self._count,
        )

    def status(self) -> dict[str, object]:
        """Everything a control client may want to know, JSON-ready."""
        return {
            "id": self.device_id,
            "kind": self.kind,
            "uri": self.uri,
            "link_path": self.link_path,
            "slave": self.port.slave_name,
            "plugged": self.port.plugged,
            "sequence": self._seq,
            "manoeuvre": self._profile if self._manoeuvre else None,
            "manoeuvre_samples_left": len(self._manoeuvre),
            "source": "patient" if self.patient is not None else "builtin",
            "counters": asdict(self.counters()),
        }

    # --- internals -----------------------------------------------------------------------

    @staticmethod
    def _whole(name: str, value: int) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100_000:
            raise CommandError(f"{name} must be a whole number in 0..100000, got {value!r}")
        return value

    def _next_frame(self) -> bytes:
        flow = self._noise_rng.normal(0.0, self.noise_lps, N_PER_FRAME)
        for i in range(N_PER_FRAME):
            if self._manoeuvre:
                flow[i] += self._manoeuvre.popleft()
        raws = [int(r) for r in flow_to_raw(flow / self.bypass_ratio)]
        seq = self._seq
        self._seq = (self._seq + N_PER_FRAME) % 0x10000
        status = 0
        if self._warmup:
            self._warmup -= 1
            status |= STATUS_NOT_READY
        if not self.port.plugged:
            self._count["frames_unplugged"] += 1
            return b""
        if self._drop_queue:
            self._drop_queue -= 1
            self._count["frames_dropped"] += 1
            return b""
        crcs = [crc8(bytes([r >> 8, r & 0xFF])) for r in raws]
        if self._crc_queue:  # only frames that reach the host carry the bad CRCs
            k = min(self._crc_queue, N_PER_FRAME)
            for i in range(k):
                crcs[i] ^= 0x5A
            self._crc_queue -= k
            self._count["crc_corrupted"] += k
            status |= STATUS_SENSOR_CRC
        data = encode_frame(seq, status, raws, crcs)
        self._count["frames_sent"] += 1
        self._count["samples_sent"] += N_PER_FRAME
        if self._garbage_queue:
            values = self._fault_rng.integers(0, 255, size=self._garbage_queue)
            garbage = (values + (values >= 0xA5)).astype(np.uint8).tobytes()
            self._count["garbage_events"] += 1
            self._count["garbage_bytes"] += self._garbage_queue
            self._garbage_queue = 0
            data = garbage + data
        return data
