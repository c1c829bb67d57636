"""Simulated devices: a Nonin pulse oximeter streaming data format #2 on a pty, in real time.

The oximeter streams 75 frames per second, paced by time.monotonic from its start so it never
drifts, writing the frames due every ~40 ms. Its reports follow the generated pleth: HR is the
4-beat (E-HR: 8-beat) average of the beat intervals it drew, perfusion bits mark 12 frames at
each pulse, and after power-up or sensor-on it needs `acquire_beats` beats before it reports.

Faults are injected on command and counted, so a test can compare with what the gateway saw.
Each is placed so that a checksum-validating framer that resynchronises byte by byte loses
exactly what the counter says and no false frame appears:

- garbage(n): n random bytes between two frames, never 0x01 (the frame start): n bytes dropped.
- truncate: the next frame loses its tail: that frame (and so its packet) is lost.
- flip_bits(n): one bit flipped in each of the next n frames: n frames (and their packets)
  lost.
- unplug/replug: the port vanishes; on replug the oximeter powers up again (timer 0, packet
  boundary, acquiring beats).

Sensor off (finger out or probe unplugged from the oximeter) sends SNSD and SNSA, missing
recording values (HR 511, SpO2 127), a flat pleth, and display ("-D") values that hold the last
reading for 10 s before going missing, as the Nonin documentation describes.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import os
import time
from dataclasses import asdict, dataclass
from typing import Final

import numpy as np

from hwsim import nonin2
from hwsim.errors import CommandError
from hwsim.nonin2 import Nonin2Packet, Perfusion
from hwsim.patient_api import PatientSource
from hwsim.physiology import FULL_PULSE_LSB, PlethChunk, PlethGenerator, Spo2Drift
from hwsim.pty import SimPtyDevice, SimSerialPort

logger = logging.getLogger(__name__)

NONIN2_KIND: Final = "nonin2-oximeter"
WRITE_INTERVAL_S: Final = 0.040  # 3 frames per write at 75 frames/s
MAX_CATCH_UP_S: Final = 0.5  # a stalled loop skips time rather than bursting faster than 9600 baud
DISPLAY_HOLD_S: Final = 10.0  # "-D" values hold the last reading this long (Nonin docs)
OUT_OF_TRACK_AFTER_S: Final = 2.0  # sustained artifact turns into OOT
ARTIFACT_LSB: Final = 35.0  # motion artifact size on the 0..255 pleth
PATIENT_PI_FULL_PCT: Final = 10.0  # a patient's perfusion index that gives a full-size pulse
PLETH_BASE_LSB: Final = 128.0 - FULL_PULSE_LSB / 2  # the trough of a full-size pulse
GREEN_PERFUSION_MIN: Final = 0.30  # relative pulse amplitude for a green / yellow indication
YELLOW_PERFUSION_MIN: Final = 0.10
HR_RANGE_BPM: Final = (20.0, 300.0)
SPO2_RANGE_PCT: Final = (50.0, 100.0)


@dataclass(frozen=True, slots=True)
class Vitals:
    """What the simulated patient has now."""

    hr_bpm: float
    spo2_pct: float
    perfusion: float  # pulse amplitude relative to full scale, 0..1


@dataclass(frozen=True, slots=True)
class OximeterCounters:
    """What the oximeter sent and injected since it was created."""

    frames_sent: int  # intact frames handed to the port while plugged
    packets_sent: int  # packets whose 25 frames all went out intact
    packets_damaged: int  # packets with a truncated, corrupted or unplugged frame
    frames_unplugged: int  # frames produced while unplugged (never on the wire)
    garbage_events: int
    garbage_bytes: int
    truncated_frames: int
    truncated_bytes_sent: int  # bytes of truncated frames that did go out
    corrupted_frames: int
    flipped_bits: int
    unplugs: int
    replugs: int
    bytes_written: int  # accepted by the pty
    bytes_dropped: int  # lost in the pty: nobody read them, or unplugged
    skipped_frames: int  # frames never produced because the event loop stalled


def _check(name: str, value: float, bounds: tuple[float, float]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise CommandError(f"{name} must be a number, got {value!r}")
    if not bounds[0] <= value <= bounds[1]:
        raise CommandError(f"{name}={value} is outside {bounds[0]:g}..{bounds[1]:g}")
    return float(value)


def _check_count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100_000:
        raise CommandError(f"{name} must be a whole number in 0..100000, got {value!r}")
    return value


class SimNoninOximeter(SimPtyDevice):
    """A Nonin oximeter (OEM III / Xpod style) on a simulated USB serial port."""

    kind = NONIN2_KIND

    def __init__(
        self,
        device_id: str,
        link_path: str | os.PathLike[str],
        *,
        seed: int,
        hr_bpm: float = 72.0,
        spo2_pct: float = 97.0,
        perfusion: float = 0.6,
        resp_rate_per_min: float = 15.0,
        hrv_rel: float = 0.03,
        spo2_drift_sd_pct: float = 0.5,
        acquire_beats: int = 3,
        firmware_rev: int = 0x41,
        out_of_track_after_s: float = OUT_OF_TRACK_AFTER_S,
        patient: PatientSource | None = None,
    ) -> None:
        self.device_id = device_id
        self.patient = patient  # when given, vitals and pleth come from the simulated patient
        self.port = SimSerialPort(
            link_path, baud=nonin2.BAUD, max_backlog_bytes=nonin2.FRAMES_PER_S * nonin2.FRAME_LEN
        )
        pleth_seq, spo2_seq, fault_seq, misc_seq = np.random.SeedSequence(seed).spawn(4)
        self._pleth = PlethGenerator(
            np.random.default_rng(pleth_seq), resp_rate_per_min=resp_rate_per_min, hrv_rel=hrv_rel
        )
        self._spo2 = Spo2Drift(np.random.default_rng(spo2_seq), spo2_pct, sd_pct=spo2_drift_sd_pct)
        self._fault_rng = np.random.default_rng(fault_seq)
        self._misc_rng = np.random.default_rng(misc_seq)
        self._vitals = Vitals(
            _check("hr_bpm", hr_bpm, HR_RANGE_BPM),
            _check("spo2_pct", spo2_pct, SPO2_RANGE_PCT),
            _check("perfusion", perfusion, (0.0, 1.0)),
        )
        self.acquire_beats = acquire_beats
        self.firmware_rev = firmware_rev
        self.out_of_track_after_s = out_of_track_after_s
        # Oximeter state
        self._sensor_on = True
        self._sensor_off_by_patient = False
        self._sensor_off_at_s = 0.0
        self._artifact_until_s = 0.0
        self._artifact_since_s: float | None = None
        self._rr_s: collections.deque[float] = collections.deque(maxlen=8)
        self._beats_seen = 0
        self._spo2_beat_pct: int | None = None
        self._perfusion_left = 0  # frames of the current pulse indication still to show
        self._last_display: tuple[int | None, int | None, int | None, int | None] = (None,) * 4
        self._last_display_at_s = -math.inf
        self._last_packet: Nonin2Packet | None = None
        # Stream state
        self._packet_index = 0  # since power-up (replug)
        self._frame_clock = 0  # frames since start of run(), for the stream time
        self._pending: collections.deque[tuple[bytes, int]] = collections.deque()  # (frame, packet)
        self._packet_frames: dict[int, tuple[int, int]] = {}  # packet -> (intact, on the wire)
        # Faults and counters
        self._garbage_queue = 0
        self._truncate_queue = 0
        self._flip_queue = 0
        self._count: dict[str, int] = dict.fromkeys(
            (f for f in OximeterCounters.__dataclass_fields__ if not f.startswith("bytes_")), 0
        )

    # --- lifecycle ---------------------------------------------------------------------

    def uri_query(self) -> str:
        """The URI's query: codec, baud rate and the codec's options."""
        return f"codec=nonin2&baud={nonin2.BAUD}"

    @property
    def vitals(self) -> Vitals:
        """The simulated patient's vitals now."""
        return self._vitals

    @property
    def last_packet(self) -> Nonin2Packet | None:
        """The packet most recently built (what the oximeter reports now)."""
        return self._last_packet

    async def run(self) -> None:
        """Stream in real time until cancelled."""
        start = time.monotonic()
        emitted = 0
        while True:
            due = int((time.monotonic() - start) * nonin2.FRAMES_PER_S) - emitted
            if due > MAX_CATCH_UP_S * nonin2.FRAMES_PER_S:
                logger.warning("%s: event loop stalled, skipping %d frames", self.device_id, due)
                self._count["skipped_frames"] += due
                emitted += due
                due = 0
            if due > 0:
                out = bytearray()
                for _ in range(due):
                    out += self._next_frame_bytes()
                emitted += due
                if self.port.plugged:
                    self.port.write(bytes(out))
            wake = start + (emitted + 1) / nonin2.FRAMES_PER_S + WRITE_INTERVAL_S / 2
            await asyncio.sleep(max(0.0, wake - time.monotonic()))

    # --- scenario ------------------------------------------------------------------------

    def set_vitals(
        self,
        *,
        hr_bpm: float | None = None,
        spo2_pct: float | None = None,
        perfusion: float | None = None,
    ) -> Vitals:
        """Change the patient's vitals (None keeps a value); returns the new vitals."""
        vitals = Vitals(
            self._vitals.hr_bpm if hr_bpm is None else _check("hr_bpm", hr_bpm, HR_RANGE_BPM),
            self._vitals.spo2_pct
            if spo2_pct is None
            else _check("spo2_pct", spo2_pct, SPO2_RANGE_PCT),
            self._vitals.perfusion
            if perfusion is None
            else _check("perfusion", perfusion, (0.0, 1.0)),
        )
        self._vitals = vitals
        self._spo2.target_pct = vitals.spo2_pct
        logger.info("%s: vitals %s", self.device_id, vitals)
        return vitals

    def sensor_off(self) -> None:
        """Finger out / probe disconnected: SNSD + SNSA, missing values, flat pleth."""
        if self._sensor_on:
            self._sensor_on = False
            self._sensor_off_at_s = self._stream_time_s()
            logger.info("%s: sensor off", self.device_id)

    def sensor_on(self) -> None:
        """Sensor back on: the oximeter acquires beats again before reporting."""
        if not self._sensor_on:
            self._sensor_on = True
            self._reset_acquisition()
            logger.info("%s: sensor on", self.device_id)

    def artifact(self, seconds: float) -> None:
        """Motion artifact for this many seconds from now (ARTF, OOT once sustained)."""
        seconds = _check("seconds", seconds, (0.0, 3600.0))
        now = self._stream_time_s()
        if self._artifact_since_s is None or now >= self._artifact_until_s:
            self._artifact_since_s = now
        self._artifact_until_s = max(self._artifact_until_s, now + seconds)
        logger.info("%s: motion artifact for %.1f s", self.device_id, seconds)

    # --- faults --------------------------------------------------------------------------

    def inject_garbage(self, n_bytes: int) -> None:
        """Put n random bytes (never 0x01) on the line before the next frame."""
        self._garbage_queue += _check_count("n_bytes", n_bytes)

    def truncate_next_frame(self) -> None:
        """Cut the tail off the next frame."""
        self._truncate_queue += 1

    def flip_bits(self, n: int) -> None:
        """Flip one bit in each of the next n frames."""
        self._flip_queue += _check_count("n", n)

    def unplug(self) -> None:
        """Pull the USB cable: the port disappears."""
        if self.port.plugged:
            self.port.unplug()
            self._count["unplugs"] += 1

    def replug(self) -> None:
        """Plug the cable back in: a new port behind the same link, the oximeter powers up."""
        if self.port.plugged:
            self.unplug()
        self.port.plug()
        self._count["replugs"] += 1
        # Power-up: whatever was left of the current packet is never sent.
        for _intact, on_wire in self._packet_frames.values():
            if on_wire:
                self._count["packets_damaged"] += 1
        self._pending.clear()
        self._packet_frames.clear()
        self._packet_index = 0
        self._reset_acquisition()

    def counters(self) -> OximeterCounters:
        """A snapshot of what was sent and injected."""
        return OximeterCounters(
            bytes_written=self.port.bytes_written,
            bytes_dropped=self.port.bytes_dropped,
            **self._count,
        )

    def status(self) -> dict[str, object]:
        """Everything a control client may want to know, JSON-ready."""
        packet = self._last_packet
        now = self._stream_time_s()
        return {
            "id": self.device_id,
            "kind": self.kind,
            "uri": self.uri,
            "link_path": self.link_path,
            "slave": self.port.slave_name,
            "plugged": self.port.plugged,
            "sensor_on": self._sensor_on,
            "artifact_s_left": round(max(0.0, self._artifact_until_s - now), 3),
            "vitals": asdict(self._vitals),
            "reported": {
                "hr_bpm": None if packet is None else packet.hr_bpm,
                "spo2_pct": None if packet is None else packet.spo2_pct,
            },
            "counters": asdict(self.counters()),
        }

    # --- frame production ----------------------------------------------------------------

    def _stream_time_s(self) -> float:
        return self._frame_clock / nonin2.FRAMES_PER_S

    def _reset_acquisition(self) -> None:
        self._rr_s.clear()
        self._beats_seen = 0
        self._spo2_beat_pct = None
        self._perfusion_left = 0

    def _peek(self, n: int) -> list[bytes]:
        while len(self._pending) < n:
            self._queue_packet()
        return [frame for frame, _ in list(self._pending)[:n]]

    def _next_frame_bytes(self) -> bytes:
        frame, packet = self._peek(1)[0], self._pending[0][1]
        following = self._peek(2)[1]
        self._pending.popleft()
        self._frame_clock += 1
        out = bytearray()
        if self._garbage_queue and self.port.plugged:
            values = self._fault_rng.integers(0, 255, size=self._garbage_queue)
            out += bytes((values + (values >= nonin2.FRAME_START)).astype(np.uint8).tolist())
            self._count["garbage_events"] += 1
            self._count["garbage_bytes"] += self._garbage_queue
            self._garbage_queue = 0
        intact = False
        on_wire = self.port.plugged
        if not self.port.plugged:
            self._count["frames_unplugged"] += 1
        elif self._truncate_queue:
            self._truncate_queue -= 1
            # k = 1 always qualifies: the next frame's 0x01 cannot be a STATUS (no bit 7).
            keep = next(k for k in (3, 2, 4, 1) if not nonin2.frame_inside(frame[:k], following))
            out += frame[:keep]
            self._count["truncated_frames"] += 1
            self._count["truncated_bytes_sent"] += keep
        elif self._flip_queue:
            self._flip_queue -= 1
            out += self._flip_one_bit(frame, following)
            self._count["corrupted_frames"] += 1
            self._count["flipped_bits"] += 1
        else:
            out += frame
            intact = True
            self._count["frames_sent"] += 1
        had_intact, had_on_wire = self._packet_frames.get(packet, (0, 0))
        self._packet_frames[packet] = (had_intact + intact, had_on_wire + on_wire)
        if not self._pending or self._pending[0][1] != packet:  # last frame of the packet
            n_intact, n_on_wire = self._packet_frames.pop(packet)
            if n_intact == nonin2.FRAMES_PER_PACKET:
                self._count["packets_sent"] += 1
            elif n_on_wire:
                self._count["packets_damaged"] += 1
        return bytes(out)

    def _flip_one_bit(self, frame: bytes, following: bytes) -> bytes:
        for _ in range(64):
            position = int(self._fault_rng.integers(0, nonin2.FRAME_LEN * 8))
            damaged = bytearray(frame)
            damaged[position // 8] ^= 1 << (position % 8)
            if not nonin2.frame_inside(bytes(damaged), following):
                return bytes(damaged)
        # Every random choice aliased (never seen): flip the checksum's top bit instead.
        return frame[:4] + bytes((frame[4] ^ 0x80,))

    def _queue_packet(self) -> None:
        packet = self._build_packet()
        index = self._packet_index
        self._packet_index += 1
        self._last_packet = packet
        data = nonin2.encode_packet(packet)
        for i in range(nonin2.FRAMES_PER_PACKET):
            frame = data[i * nonin2.FRAME_LEN : (i + 1) * nonin2.FRAME_LEN]
            self._pending.append((frame, index))

    def _build_packet(self) -> Nonin2Packet:
        n = nonin2.FRAMES_PER_PACKET
        # Stream time of this packet's first frame (packets may be built a frame early).
        t_s = (self._frame_clock + len(self._pending)) / nonin2.FRAMES_PER_S
        if self.patient is not None:
            self._follow_patient(self.patient, t_s)
        vitals = self._vitals
        artifact_on = self._sensor_on and t_s < self._artifact_until_s
        if self.patient is not None:
            chunk = self._patient_chunk(self.patient, t_s, n)
        else:
            chunk = self._pleth.generate(
                n,
                hr_bpm=vitals.hr_bpm,
                amplitude_lsb=vitals.perfusion * FULL_PULSE_LSB,
                artifact_lsb=ARTIFACT_LSB if artifact_on else 0.0,
                flat=not self._sensor_on,
            )
        spo2_true = self._spo2.step(n / nonin2.FRAMES_PER_S)
        perfusion = [Perfusion.NONE] * n
        artifact = [False] * n
        colour = self._perfusion_colour(vitals.perfusion, artifact_on)
        if self._sensor_on:
            onsets = set(chunk.beat_onsets)
            for i in range(n):
                if i in onsets:
                    self._perfusion_left = nonin2.PERFUSION_FRAMES_PER_PULSE
                if self._perfusion_left:
                    self._perfusion_left -= 1
                    perfusion[i] = colour
                    artifact[i] = artifact_on
            for rr in chunk.rr_intervals_s:
                self._rr_s.append(rr)
                self._beats_seen += 1
                beat_noise = float(self._misc_rng.normal(0.0, 0.7)) if not artifact_on else 0.0
                self._spo2_beat_pct = round(min(100.0, max(0.0, spo2_true + beat_noise)))
        acquired = self._sensor_on and self._beats_seen >= self.acquire_beats
        hr4: int | None = None
        hr8: int | None = None
        spo2: int | None = None
        spo2_beat: int | None = None
        if acquired:
            recent = list(self._rr_s)  # the last 8 beat intervals at most
            hr4 = round(60.0 * len(recent[-4:]) / sum(recent[-4:]))
            hr8 = round(60.0 * len(recent) / sum(recent))
            spo2 = round(spo2_true)
            spo2_beat = self._spo2_beat_pct
            self._last_display = (hr4, hr8, spo2, spo2)
            self._last_display_at_s = t_s
        held = t_s - self._last_display_at_s <= DISPLAY_HOLD_S
        hr_d, hr8_d, spo2_d, spo2_8_d = self._last_display if held else (None,) * 4
        out_of_track = (
            artifact_on
            and self._artifact_since_s is not None
            and t_s - self._artifact_since_s >= self.out_of_track_after_s
        )
        return Nonin2Packet(
            pleth=chunk.samples.tobytes(),
            hr_bpm=hr4,
            spo2_pct=spo2,
            firmware_rev=self.firmware_rev,
            timer_ticks=self._packet_index % nonin2.TIMER_MODULUS,
            spo2_display_pct=spo2_d,
            spo2_fast_pct=spo2,
            spo2_beat_pct=spo2_beat,
            hr_ext_bpm=hr8,
            spo2_ext_pct=spo2,
            spo2_ext_display_pct=spo2_8_d,
            hr_display_bpm=hr_d,
            hr_ext_display_bpm=hr8_d,
            sensor_disconnected=not self._sensor_on,
            sensor_alarm=not self._sensor_on,
            out_of_track=out_of_track,
            artifact=tuple(artifact),
            perfusion=tuple(perfusion),
            reserved_byte=int(self._misc_rng.integers(0, 256)),
        )

    def _follow_patient(self, patient: PatientSource, t_s: float) -> None:
        """Take the patient's vitals; the finger leaving the probe is a sensor-off."""
        vs = patient.vitals(t_s)
        perfusion = min(1.0, vs.perfusion_index_pct / PATIENT_PI_FULL_PCT)
        self._vitals = Vitals(vs.hr_bpm, min(100.0, vs.spo2_pct), perfusion)
        self._spo2.target_pct = self._vitals.spo2_pct
        finger_out = patient.finger_out(t_s)
        if finger_out and self._sensor_on:
            self.sensor_off()
        elif not finger_out and not self._sensor_on and self._sensor_off_by_patient:
            self.sensor_on()
        self._sensor_off_by_patient = finger_out

    def _patient_chunk(self, patient: PatientSource, t_s: float, n: int) -> PlethChunk:
        """n pleth samples from the patient, in the format #2 byte range, with beat onsets."""
        if not self._sensor_on:
            return PlethChunk(np.zeros(n, dtype=np.uint8), (), ())
        pleth = np.clip(patient.pleth(t_s, n, nonin2.FRAMES_PER_S), 0.0, 1.0)
        samples = np.round(PLETH_BASE_LSB + pleth * self._vitals.perfusion * FULL_PULSE_LSB)
        above = pleth >= 0.5
        onsets = tuple(int(i) for i in np.flatnonzero(above[1:] & ~above[:-1]) + 1)
        rr_s = 60.0 / max(self._vitals.hr_bpm, 1.0)
        return PlethChunk(np.clip(samples, 0, 255).astype(np.uint8), onsets, (rr_s,) * len(onsets))

    @staticmethod
    def _perfusion_colour(perfusion: float, artifact_on: bool) -> Perfusion:
        if perfusion >= GREEN_PERFUSION_MIN and not artifact_on:
            return Perfusion.GREEN
        if perfusion >= YELLOW_PERFUSION_MIN:
            return Perfusion.YELLOW
        return Perfusion.RED
