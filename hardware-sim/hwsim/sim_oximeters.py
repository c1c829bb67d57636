"""Simulated serial oximeters on real pseudo-terminals: Nonin format #7 and #8, Contec CMS50.

Each device streams its units (frames, records or packets) in real time, paced by
time.monotonic from the start of `run()` so it never drifts, and has the surface of
`hwsim.devices.SimNoninOximeter`: async context manager, ``run()``, ``uri``, ``link_path``,
``unplug()``, ``replug()``, ``inject_garbage(n)``, ``sensor_off()`` / ``sensor_on()``,
``set_vitals(...)``, ``status()``.

Signals come from a `hwsim.patient_api.PatientSource` when one is given (vitals and pleth at
the device's own sample rate, time = seconds since `run()` started), else from the seeded
`hwsim.physiology` generators. Injected garbage never holds a byte that can start a unit of
the device's format, so a resynchronising framer drops exactly the injected bytes.

The CMS50 simulator runs either firmware (``protocol="legacy"`` streams unasked;
``protocol="v7"`` stays silent until the host sends start-live, and stops when neither
start-live nor keep-alive came for ``keepalive_timeout_s``).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from hwsim import cms50, nonin78
from hwsim.errors import CommandError
from hwsim.patient_api import PatientSource
from hwsim.physiology import FULL_PULSE_LSB, PlethGenerator, Spo2Drift
from hwsim.pty import SimPtyDevice, SimSerialPort

logger = logging.getLogger(__name__)

WRITE_INTERVAL_S: Final = 0.040
MAX_CATCH_UP_S: Final = 0.5
HR_RANGE_BPM: Final = (20.0, 300.0)
SPO2_RANGE_PCT: Final = (50.0, 100.0)
GREEN_PERFUSION_MIN: Final = 0.30  # relative pulse amplitude -> Nonin colour
YELLOW_PERFUSION_MIN: Final = 0.10
COUNTER_NAMES: Final = (
    *("units_sent", "units_unplugged", "units_silent", "skipped_units"),
    *("garbage_events", "garbage_bytes", "unplugs", "replugs"),
)
PI_FULL_PCT: Final = 10.0  # patient perfusion index mapped to relative amplitude 1.0


@dataclass(frozen=True, slots=True)
class Vitals:
    """What the simulated patient has now (when no PatientSource drives the device)."""

    hr_bpm: float
    spo2_pct: float
    perfusion: float  # pulse amplitude relative to full scale, 0..1


@dataclass(frozen=True, slots=True)
class Signals:
    """One block of what the device measures."""

    pleth01: NDArray[np.float64]  # 0..1
    onsets: tuple[int, ...]  # sample indices where a pulse starts
    hr_bpm: int | None  # reported (None while acquiring or sensor off)
    spo2_pct: int | None
    perfusion: float  # relative amplitude 0..1


def _check(name: str, value: float, bounds: tuple[float, float]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise CommandError(f"{name} must be a number, got {value!r}")
    if not bounds[0] <= value <= bounds[1]:
        raise CommandError(f"{name}={value} is outside {bounds[0]:g}..{bounds[1]:g}")
    return float(value)


class _SimSerialOximeter(SimPtyDevice):
    """Shared machinery: pacing, port, faults, vitals. Subclasses make the bytes."""

    kind = "oximeter"
    codec = ""
    baud = 9600
    units_per_s = 75.0

    def __init__(
        self,
        device_id: str,
        link_path: str | os.PathLike[str],
        *,
        seed: int,
        hr_bpm: float = 72.0,
        spo2_pct: float = 97.0,
        perfusion: float = 0.6,
        patient: PatientSource | None = None,
        acquire_s: float = 1.0,
        hrv_rel: float = 0.03,
        spo2_drift_sd_pct: float = 0.5,
    ) -> None:
        self.device_id = device_id
        self.port = SimSerialPort(link_path, baud=self.baud, max_backlog_bytes=self.baud // 10)
        pleth_seq, spo2_seq, fault_seq = np.random.SeedSequence(seed).spawn(3)
        self._pleth = PlethGenerator(
            np.random.default_rng(pleth_seq), fs_hz=self.pleth_fs_hz, hrv_rel=hrv_rel
        )
        self._spo2 = Spo2Drift(np.random.default_rng(spo2_seq), spo2_pct, sd_pct=spo2_drift_sd_pct)
        self._fault_rng = np.random.default_rng(fault_seq)
        self._vitals = Vitals(
            _check("hr_bpm", hr_bpm, HR_RANGE_BPM),
            _check("spo2_pct", spo2_pct, SPO2_RANGE_PCT),
            _check("perfusion", perfusion, (0.0, 1.0)),
        )
        self.patient = patient
        self.acquire_s = _check("acquire_s", acquire_s, (0.0, 60.0))
        self._sensor_on = True
        self._acquire_until_s = self.acquire_s
        self._rr_s: deque[float] = deque(maxlen=4)
        self._clock = 0  # units produced since run() started: the stream time
        self._garbage_queue = 0
        self._count: dict[str, int] = dict.fromkeys(COUNTER_NAMES, 0)

    @property
    def pleth_fs_hz(self) -> float:
        """Rate of the pleth the device samples (its unit rate unless it says otherwise)."""
        return self.units_per_s

    # --- lifecycle -------------------------------------------------------------------

    def uri_query(self) -> str:
        """The URI's query: codec, baud rate and the codec's options."""
        return f"codec={self.codec}&baud={self.baud}"

    @property
    def vitals(self) -> Vitals:
        """The built-in patient's vitals now."""
        return self._vitals

    async def run(self) -> None:
        """Stream in real time until cancelled."""
        start = time.monotonic()
        emitted = 0
        while True:
            self._poll_host()
            due = int((time.monotonic() - start) * self.units_per_s) - emitted
            if due > max(2.0, MAX_CATCH_UP_S * self.units_per_s):
                logger.warning("%s: event loop stalled, skipping %d units", self.device_id, due)
                self._count["skipped_units"] += due
                self._clock += due
                emitted += due
                due = 0
            if due > 0:
                out = bytearray()
                for _ in range(due):
                    out += self._next_unit_on_wire()
                emitted += due
                if out and self.port.plugged:
                    self.port.write(bytes(out))
            # Wake for the next unit, but batch fast streams into ~40 ms writes.
            wake = start + (emitted + 1) / self.units_per_s + WRITE_INTERVAL_S / 2
            await asyncio.sleep(max(0.0, wake - time.monotonic()))

    def _next_unit_on_wire(self) -> bytes:
        unit = self._next_unit()
        self._clock += 1
        if not self.port.plugged:
            self._count["units_unplugged"] += 1
            return b""
        if not self._streaming():
            self._count["units_silent"] += 1
            return b""
        out = bytearray()
        if self._garbage_queue:
            values = self._fault_rng.integers(0, 256, size=self._garbage_queue, dtype=np.uint8)
            out += self._safe_garbage(bytes(values.tolist()))
            self._count["garbage_events"] += 1
            self._count["garbage_bytes"] += self._garbage_queue
            self._garbage_queue = 0
        self._count["units_sent"] += 1
        return bytes(out) + unit

    # --- hooks for subclasses ----------------------------------------------------------

    def _next_unit(self) -> bytes:
        raise NotImplementedError

    def _safe_garbage(self, data: bytes) -> bytes:
        """Garbage that cannot start a unit (default: bit 7 clear)."""
        return bytes(b & 0x7F for b in data)

    def _streaming(self) -> bool:
        return True

    def _poll_host(self) -> None:
        return None

    def _power_up(self) -> None:
        return None

    # --- scenario ----------------------------------------------------------------------

    def stream_time_s(self) -> float:
        """Seconds of stream produced since run() started."""
        return self._clock / self.units_per_s

    def set_vitals(
        self,
        *,
        hr_bpm: float | None = None,
        spo2_pct: float | None = None,
        perfusion: float | None = None,
    ) -> Vitals:
        """Change the built-in patient's vitals (None keeps a value)."""
        v = self._vitals
        self._vitals = Vitals(
            v.hr_bpm if hr_bpm is None else _check("hr_bpm", hr_bpm, HR_RANGE_BPM),
            v.spo2_pct if spo2_pct is None else _check("spo2_pct", spo2_pct, SPO2_RANGE_PCT),
            v.perfusion if perfusion is None else _check("perfusion", perfusion, (0.0, 1.0)),
        )
        self._spo2.target_pct = self._vitals.spo2_pct
        return self._vitals

    def sensor_off(self) -> None:
        """Finger out / probe off: status flags set, missing values, flat pleth."""
        self._sensor_on = False

    def sensor_on(self) -> None:
        """Sensor back on: the device acquires the pulse again before reporting."""
        if not self._sensor_on:
            self._sensor_on = True
            self._reacquire()

    def inject_garbage(self, n_bytes: int) -> None:
        """Put n random bytes (none can start a unit) on the line before the next unit."""
        if isinstance(n_bytes, bool) or not isinstance(n_bytes, int) or not 0 <= n_bytes <= 100_000:
            raise CommandError(f"n_bytes must be a whole number in 0..100000, got {n_bytes!r}")
        self._garbage_queue += n_bytes

    def unplug(self) -> None:
        """Pull the USB cable: the port disappears."""
        if self.port.plugged:
            self.port.unplug()
            self._count["unplugs"] += 1

    def replug(self) -> None:
        """Plug back in: a new pty behind the same link; the device powers up again."""
        if self.port.plugged:
            self.unplug()
        self.port.plug()
        self._count["replugs"] += 1
        self._reacquire()
        self._power_up()

    def counters(self) -> dict[str, int]:
        """What was produced, sent and injected (bytes as the pty saw them)."""
        return {
            **self._count,
            "bytes_written": self.port.bytes_written,
            "bytes_dropped": self.port.bytes_dropped,
            "bytes_from_host": self.port.bytes_from_host,
        }

    def status(self) -> dict[str, object]:
        """Everything a control client may want to know, JSON-ready."""
        return {
            "id": self.device_id,
            "kind": self.kind,
            "uri": self.uri,
            "link_path": self.link_path,
            "slave": self.port.slave_name,
            "plugged": self.port.plugged,
            "streaming": self._streaming(),
            "sensor_on": self._sensor_on,
            "patient": "external" if self.patient is not None else "built-in",
            "vitals": asdict(self._vitals),
            "counters": self.counters(),
        }

    # --- signals -------------------------------------------------------------------------

    def _reacquire(self) -> None:
        self._rr_s.clear()
        self._acquire_until_s = self.stream_time_s() + self.acquire_s

    def _signals(self, n: int, t0_s: float) -> Signals:
        """``n`` pleth samples at ``pleth_fs_hz`` from ``t0_s``, and the values to report."""
        fs_hz = self.pleth_fs_hz
        acquired = self._sensor_on and t0_s >= self._acquire_until_s
        if self.patient is not None:
            vs = self.patient.vitals(t0_s)
            pleth = np.clip(self.patient.pleth(t0_s, n, fs_hz), 0.0, 1.0)
            above = pleth >= 0.5
            onsets = tuple(int(i) for i in np.flatnonzero(above[1:] & ~above[:-1]) + 1)
            perfusion = min(1.0, max(0.0, vs.perfusion_index_pct / PI_FULL_PCT))
            hr: int | None = round(vs.hr_bpm)
            spo2: int | None = round(min(100.0, vs.spo2_pct))
        else:
            v = self._vitals
            chunk = self._pleth.generate(
                n,
                hr_bpm=v.hr_bpm,
                amplitude_lsb=v.perfusion * FULL_PULSE_LSB,
                flat=not self._sensor_on,
            )
            pleth = chunk.samples.astype(np.float64) / 255.0
            onsets = chunk.beat_onsets
            self._rr_s.extend(chunk.rr_intervals_s)
            perfusion = v.perfusion
            spo2_true = self._spo2.step(n / fs_hz)
            recent = list(self._rr_s)
            hr = round(60.0 * len(recent) / sum(recent)) if recent else round(v.hr_bpm)
            spo2 = round(spo2_true)
        if not self._sensor_on:
            pleth = np.zeros(n)
            onsets = ()
        if not acquired:
            hr = spo2 = None
        return Signals(pleth, onsets, hr, spo2, perfusion)


class SimNonin7Oximeter(_SimSerialOximeter):
    """A Nonin oximeter set to serial data format #7 (75 frames/s, 16-bit pleth)."""

    kind = "nonin7-oximeter"
    codec = "nonin7"
    baud = nonin78.BAUD
    units_per_s = float(nonin78.FRAMES_PER_S_7)

    def __init__(self, device_id: str, link_path: str | os.PathLike[str], **kwargs: Any) -> None:
        super().__init__(device_id, link_path, **kwargs)
        self._frames: deque[bytes] = deque()
        self._perfusion_left = 0
        self.packets_built = 0

    def _power_up(self) -> None:
        self._frames.clear()  # the rest of the packet is never sent; a new one starts
        self._perfusion_left = 0

    def _next_unit(self) -> bytes:
        if not self._frames:
            packet = self._build_packet(self.stream_time_s())
            data = packet.encode()
            self._frames.extend(data[i : i + 5] for i in range(0, len(data), 5))
            self.packets_built += 1
        return self._frames.popleft()

    def _build_packet(self, t0_s: float) -> nonin78.Packet7:
        n = nonin78.FRAMES_PER_PACKET
        s = self._signals(n, t0_s)
        colour = (
            nonin78.GREEN
            if s.perfusion >= GREEN_PERFUSION_MIN
            else nonin78.YELLOW
            if s.perfusion >= YELLOW_PERFUSION_MIN
            else nonin78.RED
        )
        codes = []
        for i in range(n):
            if i in s.onsets:
                self._perfusion_left = nonin78.PERFUSION_FRAMES_PER_PULSE
            codes.append(colour if self._perfusion_left and self._sensor_on else 0)
            self._perfusion_left = max(0, self._perfusion_left - 1)
        pleth = np.clip(np.rint(s.pleth01 * 65535.0), 0, 65535).astype(int)
        off = not self._sensor_on
        return nonin78.Packet7(
            pleth=tuple(int(p) for p in pleth),
            perfusion=tuple(codes),
            hr_bpm=s.hr_bpm,
            spo2_pct=s.spo2_pct,
            hr_display_bpm=s.hr_bpm,
            spo2_display_pct=s.spo2_pct,
            sensor_disconnected=off,
            sensor_alarm=off,
            smartpoint=s.hr_bpm is not None,
        )


class SimNonin8Oximeter(_SimSerialOximeter):
    """A Nonin oximeter set to serial data format #8 (one 4-byte record a second)."""

    kind = "nonin8-oximeter"
    codec = "nonin8"
    baud = nonin78.BAUD
    units_per_s = float(nonin78.RECORDS_PER_S_8)

    @property
    def pleth_fs_hz(self) -> float:
        """The oximeter still samples its pleth at 75 Hz; it just does not send it."""
        return float(nonin78.FRAMES_PER_S_7)

    def _next_unit(self) -> bytes:
        s = self._signals(nonin78.FRAMES_PER_S_7, self.stream_time_s())
        off = not self._sensor_on
        return nonin78.encode_record8(
            s.hr_bpm,
            s.spo2_pct,
            sensor_disconnected=off,
            sensor_alarm=off,
            low_perfusion=not off and s.perfusion < YELLOW_PERFUSION_MIN,
            marginal_perfusion=not off
            and YELLOW_PERFUSION_MIN <= s.perfusion < GREEN_PERFUSION_MIN,
            smartpoint=s.hr_bpm is not None,
        )


class SimCms50Oximeter(_SimSerialOximeter):
    """A Contec CMS50D+ with legacy (streams unasked) or v7 (command protocol) firmware."""

    kind = "cms50-oximeter"
    codec = "cms50"
    units_per_s = float(cms50.PACKETS_PER_S)

    def __init__(
        self,
        device_id: str,
        link_path: str | os.PathLike[str],
        *,
        protocol: str = "v7",
        keepalive_timeout_s: float = 10.0,
        **kwargs: Any,
    ) -> None:
        if protocol not in ("legacy", "v7"):
            raise CommandError(f"protocol must be 'legacy' or 'v7', got {protocol!r}")
        self.protocol = protocol
        self.baud = cms50.LEGACY_BAUD if protocol == "legacy" else cms50.V7_BAUD
        super().__init__(device_id, link_path, **kwargs)
        self.keepalive_timeout_s = keepalive_timeout_s
        self._queue: deque[bytes] = deque()
        self._live = False
        self._last_command_s = -math.inf
        self._host_seen = 0
        self.commands: list[int] = []  # command codes received, in order (bounded)

    def _streaming(self) -> bool:
        if self.protocol == "legacy":
            return True
        return self._live and time.monotonic() - self._last_command_s <= self.keepalive_timeout_s

    def _safe_garbage(self, data: bytes) -> bytes:
        if self.protocol == "legacy":
            return bytes(b & 0x7F for b in data)  # a frame starts with bit 7 set
        return bytes(b | 0x80 for b in data)  # a packet starts with bit 7 clear

    def _power_up(self) -> None:
        self._live = False
        self._queue.clear()
        self._host_seen = self.port.bytes_from_host

    def _poll_host(self) -> None:
        new = self.port.bytes_from_host - self._host_seen
        if new <= 0:
            return
        self._host_seen = self.port.bytes_from_host
        for code in cms50.host_commands(bytes(self.port.from_host[-new:])):
            self.commands.append(code)
            del self.commands[:-256]
            if code == cms50.CMD_START_LIVE:
                self._live = True
                self._last_command_s = time.monotonic()
            elif code == cms50.CMD_KEEP_ALIVE:
                self._last_command_s = time.monotonic()
            elif code == cms50.CMD_STOP_LIVE:
                self._live = False

    def _next_unit(self) -> bytes:
        if not self._queue:
            n = cms50.PACKETS_PER_S
            s = self._signals(n, self.stream_time_s())
            off = not self._sensor_on
            encode = cms50.encode_legacy if self.protocol == "legacy" else cms50.encode_v7_live
            for i in range(n):
                pleth = round(float(s.pleth01[i]) * 100.0)
                self._queue.append(
                    encode(
                        pleth=pleth,
                        pr_bpm=cms50.PR_NONE if s.hr_bpm is None else s.hr_bpm,
                        spo2_pct=cms50.SPO2_NONE if s.spo2_pct is None else s.spo2_pct,
                        signal_strength=0 if off else min(8, round(s.perfusion * 8)),
                        bargraph=min(15, pleth * 15 // 100),
                        pulse_beep=i in s.onsets,
                        searching=s.hr_bpm is None and not off,
                        probe_error=off,
                    )
                )
        return self._queue.popleft()
