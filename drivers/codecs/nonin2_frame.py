"""Nonin serial data format #2: one frame, and one packet of 25 frames (sans-IO, no state).

See ``docs/protocols/nonin2.md`` for the byte table, the flags and one packet decoded byte by
byte. The decoder that finds frames in a byte stream is in ``nonin2_decoder``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from drivers.errors import CodecError
from drivers.model import QualityFlag

FRAME_START: Final = 0x01  # byte 1 of every frame
FRAME_LEN: Final = 5
FRAMES_PER_PACKET: Final = 25  # one packet every 1/3 s
FRAMES_PER_S: Final = 75  # one pleth sample per frame
TIMER_HZ: Final = 3  # the timer counts packets (Oxford IBME NoninPacket: "3 Hz timer")
HR_MISSING: Final = 511  # 9 bits all ones: the device has no pulse rate
SPO2_MISSING: Final = 127  # 7 bits all ones: the device has no SpO2

# Byte 4 of frame k (0-based; Nonin numbers frames 1..25) carries these fields.
_HR_FIELDS: Final = {
    "hr_bpm": (0, 1),  # HR MSB, HR LSB: 4-beat average, for recording
    "hr_extended_bpm": (13, 14),  # E-HR: 8-beat average, for recording
    "hr_display_bpm": (19, 20),  # HR-D: 4-beat average, for display
    "hr_display_extended_bpm": (21, 22),  # E-HR-D: 8-beat average, for display
}
_SPO2_FIELDS: Final = {
    "spo2_pct": 2,  # SpO2: 4-beat average, for recording
    "spo2_display_pct": 8,  # SpO2-D: 4-beat average, for display
    "spo2_fast_pct": 9,  # SpO2 Fast: 4-beat average, not slew limited
    "spo2_beat_pct": 10,  # SpO2 B-B: beat to beat, not averaged
    "spo2_extended_pct": 15,  # E-SpO2: 8-beat average, for recording
    "spo2_display_extended_pct": 16,  # E-SpO2-D: 8-beat average, for display
}
_RAW_FIELDS: Final = {
    "firmware_revision": (3,),  # SREV
    "timer_ticks": (5, 6),  # timer MSB, LSB (7 bits each)
    "stat2": (7,),  # STAT2
}
FIELD_FRAMES: Final[dict[str, tuple[int, ...]]] = {
    **_HR_FIELDS,
    **{name: (k,) for name, k in _SPO2_FIELDS.items()},
    **_RAW_FIELDS,
}
"""Which frames (0-based index in the packet) carry each decoded field in byte 4."""


class Nonin2Status(enum.IntFlag):
    """STATUS byte (frame byte 2). Perfusion is the pair GPRF/RPRF, see `Perfusion`."""

    SYNC = 0x01  # set on the first frame of a packet only
    GPRF = 0x02  # green perfusion bit; with RPRF: yellow
    RPRF = 0x04  # red perfusion bit; with GPRF: yellow
    YPRF = 0x06  # yellow perfusion = both bits (an alias, not a bit of its own)
    SNSA = 0x08  # sensor alarm: the device is giving unusable data (finger out)
    OOT = 0x10  # out of track: an absence of consecutive good pulse signals
    ARTF = 0x20  # artifact: a detected pulse did not match the current pulse interval
    SNSD = 0x40  # sensor disconnected or inoperable
    ALWAYS_ONE = 0x80  # bit 7 is always 1: STATUS is never mistaken for the start byte


class Perfusion(enum.Enum):
    """Pulse amplitude colour from STATUS bits 2..1, reported for 12 frames around each pulse."""

    NONE = "none"  # neither bit: no pulse at this moment, no indication
    GREEN = "green"  # GPRF alone: high signal quality
    YELLOW = "yellow"  # both bits: marginal signal quality
    RED = "red"  # RPRF alone: low or no pulse signal


_STATUS: Final = tuple(Nonin2Status(v) for v in range(256))
_PERFUSION: Final = (Perfusion.NONE, Perfusion.GREEN, Perfusion.RED, Perfusion.YELLOW)
_SINGLE_BITS: Final = tuple(f for f in Nonin2Status if f.value.bit_count() == 1)
_FLAG_QUALITY: Final = (
    (Nonin2Status.SNSD, QualityFlag.SENSOR_DISCONNECTED),
    (Nonin2Status.ARTF, QualityFlag.ARTIFACT),
    (Nonin2Status.OOT, QualityFlag.OUT_OF_TRACK),
    (Nonin2Status.SNSA, QualityFlag.SENSOR_ALARM),
)


def _status_quality(status: int) -> QualityFlag:
    flags = QualityFlag.NONE
    for bit, flag in _FLAG_QUALITY:
        if status & bit:
            flags |= flag
    colour = _PERFUSION[(status >> 1) & 0x03]
    if colour is Perfusion.RED:
        flags |= QualityFlag.LOW_PERFUSION
    elif colour is Perfusion.YELLOW:
        flags |= QualityFlag.MARGINAL_PERFUSION
    return flags


_QUALITY: Final = tuple(_status_quality(v) for v in range(256))


def status_names(status: int) -> list[str]:
    """Names of the set STATUS bits, low bit first, without ALWAYS_ONE (for JSON)."""
    return [str(f.name) for f in _SINGLE_BITS if f is not Nonin2Status.ALWAYS_ONE and status & f]


def perfusion_of(status: int) -> Perfusion:
    """The perfusion colour a STATUS byte reports."""
    return _PERFUSION[(status >> 1) & 0x03]


def worst_perfusion(statuses: Sequence[int]) -> Perfusion:
    """Worst colour over STATUS bytes: red, else yellow, else green, else none."""
    seen = {_PERFUSION[(int(s) >> 1) & 0x03] for s in statuses}
    for colour in (Perfusion.RED, Perfusion.YELLOW, Perfusion.GREEN):
        if colour in seen:
            return colour
    return Perfusion.NONE


def status_quality(status: int) -> QualityFlag:
    """What one STATUS byte says as quality flags (disconnect, artifact, perfusion, ...)."""
    return _QUALITY[status & 0xFF]


def frame_valid(data: bytes | bytearray, offset: int = 0) -> bool:
    """True when the 5 bytes at ``offset`` are a frame: start byte, bit 7, checksum."""
    if offset < 0 or offset + FRAME_LEN > len(data):
        return False
    b1, b2, b3 = data[offset + 1], data[offset + 2], data[offset + 3]
    return (
        data[offset] == FRAME_START
        and b1 & 0x80 != 0
        and (FRAME_START + b1 + b2 + b3) & 0xFF == data[offset + 4]
    )


@dataclass(frozen=True, slots=True)
class Nonin2Frame:
    """One 5-byte frame: 0x01, STATUS, PLETH, byte 4 (meaning set by position), checksum."""

    status: Nonin2Status
    pleth: int  # 8-bit plethysmogram sample
    byte4: int  # meaning depends on the frame's index in its packet (FIELD_FRAMES)

    def __post_init__(self) -> None:
        status = int(self.status)
        if not 0 <= status <= 0xFF:
            raise CodecError(f"nonin2 frame: status {status} is outside 0..255")
        if not status & Nonin2Status.ALWAYS_ONE:
            raise CodecError(f"nonin2 frame: status bit 7 must be 1, got status 0x{status:02x}")
        for name in ("pleth", "byte4"):
            value = getattr(self, name)
            if not 0 <= value <= 0xFF:
                raise CodecError(f"nonin2 frame: {name} {value} is outside 0..255")
        object.__setattr__(self, "status", _STATUS[status])

    @classmethod
    def from_bytes(cls, data: bytes) -> Nonin2Frame:
        """Decode exactly 5 bytes; CodecError names the offset and what was wrong."""
        if len(data) != FRAME_LEN:
            raise CodecError(f"nonin2 frame: expected {FRAME_LEN} bytes, got {len(data)}")
        if data[0] != FRAME_START:
            raise CodecError(
                f"nonin2 frame: offset 0: start byte must be 0x01, got 0x{data[0]:02x}"
            )
        if not data[1] & 0x80:
            raise CodecError(
                f"nonin2 frame: offset 1: status bit 7 must be 1, got status 0x{data[1]:02x}"
            )
        expected = sum(data[:4]) & 0xFF
        if data[4] != expected:
            raise CodecError(
                f"nonin2 frame: offset 4: checksum must be 0x{expected:02x} "
                f"(sum of offsets 0-3 mod 256), got 0x{data[4]:02x}"
            )
        return cls(_STATUS[data[1]], data[2], data[3])

    def __bytes__(self) -> bytes:
        head = bytes((FRAME_START, int(self.status), self.pleth, self.byte4))
        return head + bytes((sum(head) & 0xFF,))

    @property
    def perfusion(self) -> Perfusion:
        """Perfusion colour of this frame (NONE between pulses)."""
        return _PERFUSION[(int(self.status) >> 1) & 0x03]

    @property
    def sync(self) -> bool:
        """True on the first frame of a packet."""
        return bool(self.status & Nonin2Status.SYNC)


def _hr(msb: int | None, lsb: int | None) -> float:
    # 9 bits: MSB bits 1..0 are HR bits 8..7 (bits 6..2 reserved), LSB bits 6..0 are HR 6..0.
    if msb is None or lsb is None:
        return math.nan
    value = ((msb & 0x03) << 7) | (lsb & 0x7F)
    return math.nan if value == HR_MISSING else float(value)


def _spo2(byte: int | None) -> float:
    if byte is None:
        return math.nan
    value = byte & 0x7F
    return math.nan if value == SPO2_MISSING else float(value)


@dataclass(frozen=True, slots=True)
class Nonin2Packet:
    """Contiguous frames of one packet; numerics are NaN when missing or not received.

    A packet never hides a gap: its frames follow each other on the wire, and
    ``frames_lost_before`` counts the frames lost between the previous packet's last frame and
    this packet's first one. ``first_frame_index`` (0 = the SYNC frame) is None when the
    decoder cannot be sure where in the device's packet these frames sit; numerics are then
    all NaN (a byte 4 read from the wrong frame would be a wrong value, not a missing one).
    """

    complete: bool  # all 25 frames, in order, SYNC first
    n_frames: int
    pleth: tuple[int, ...]  # one sample per frame received, in order (75 Hz)
    statuses: tuple[Nonin2Status, ...]
    hr_bpm: float
    spo2_pct: float
    spo2_display_pct: float
    spo2_fast_pct: float
    spo2_beat_pct: float
    hr_extended_bpm: float
    spo2_extended_pct: float
    spo2_display_extended_pct: float
    hr_display_bpm: float
    hr_display_extended_bpm: float
    firmware_revision: int | None  # SREV
    timer_ticks: int | None  # 14-bit counter, one tick per packet (3 Hz)
    stat2: int | None  # STAT2, raw
    byte4: tuple[int, ...]  # byte 4 of each frame, raw (reserved ones included)
    first_frame_index: int | None = 0
    frames_lost_before: int = 0

    def __post_init__(self) -> None:
        n = self.n_frames
        if not 1 <= n <= FRAMES_PER_PACKET:
            raise CodecError(f"nonin2 packet: n_frames {n} is outside 1..{FRAMES_PER_PACKET}")
        for name in ("pleth", "statuses", "byte4"):
            if len(getattr(self, name)) != n:
                raise CodecError(
                    f"nonin2 packet: {name} has {len(getattr(self, name))} entries for {n} frames"
                )
        first = self.first_frame_index
        if first is not None and not (first >= 0 and first + n <= FRAMES_PER_PACKET):
            raise CodecError(f"nonin2 packet: frames {first}..{first + n - 1} do not fit 0..24")
        if self.complete != (first == 0 and n == FRAMES_PER_PACKET):
            raise CodecError("nonin2 packet: complete must mean 25 frames from index 0")
        if self.frames_lost_before < 0:
            raise CodecError(f"nonin2 packet: frames_lost_before {self.frames_lost_before} < 0")

    @classmethod
    def from_raw(
        cls,
        statuses: Sequence[int],
        pleth: Sequence[int],
        byte4: Sequence[int],
        first_frame_index: int | None = 0,
        frames_lost_before: int = 0,
    ) -> Nonin2Packet:
        """Build from per-frame STATUS, PLETH and byte 4 values (already checked frames)."""
        n = len(statuses)
        base = first_frame_index

        def at(k: int) -> int | None:
            if base is None or not 0 <= k - base < n:
                return None
            return byte4[k - base]

        hr = {name: _hr(at(m), at(m + 1)) for name, (m, _) in _HR_FIELDS.items()}
        spo2 = {name: _spo2(at(k)) for name, k in _SPO2_FIELDS.items()}
        t_msb, t_lsb = at(5), at(6)
        timer = None if t_msb is None or t_lsb is None else ((t_msb & 0x7F) << 7) | (t_lsb & 0x7F)
        return cls(
            complete=base == 0 and n == FRAMES_PER_PACKET,
            n_frames=n,
            pleth=tuple(pleth),
            statuses=tuple(_STATUS[s] for s in statuses),
            hr_bpm=hr["hr_bpm"],
            spo2_pct=spo2["spo2_pct"],
            spo2_display_pct=spo2["spo2_display_pct"],
            spo2_fast_pct=spo2["spo2_fast_pct"],
            spo2_beat_pct=spo2["spo2_beat_pct"],
            hr_extended_bpm=hr["hr_extended_bpm"],
            spo2_extended_pct=spo2["spo2_extended_pct"],
            spo2_display_extended_pct=spo2["spo2_display_extended_pct"],
            hr_display_bpm=hr["hr_display_bpm"],
            hr_display_extended_bpm=hr["hr_display_extended_bpm"],
            firmware_revision=at(3),
            timer_ticks=timer,
            stat2=at(7),
            byte4=tuple(byte4),
            first_frame_index=base,
            frames_lost_before=frames_lost_before,
        )

    @classmethod
    def from_frames(
        cls,
        frames: Sequence[Nonin2Frame],
        first_frame_index: int | None = 0,
        frames_lost_before: int = 0,
    ) -> Nonin2Packet:
        """Build from contiguous frames whose first one sits at ``first_frame_index``."""
        return cls.from_raw(
            [int(f.status) for f in frames],
            [f.pleth for f in frames],
            [f.byte4 for f in frames],
            first_frame_index,
            frames_lost_before,
        )

    def frames(self) -> tuple[Nonin2Frame, ...]:
        """The frames again, in order."""
        return tuple(
            Nonin2Frame(s, p, b)
            for s, p, b in zip(self.statuses, self.pleth, self.byte4, strict=True)
        )

    def __bytes__(self) -> bytes:
        return b"".join(bytes(f) for f in self.frames())

    @property
    def timer_s(self) -> float | None:
        """The device timer in seconds (ticks / 3), None when its frames were not received."""
        return None if self.timer_ticks is None else self.timer_ticks / TIMER_HZ

    @property
    def perfusion(self) -> Perfusion:
        """Worst perfusion colour over the frames: red, else yellow, else green, else none."""
        return worst_perfusion(self.statuses)

    def received(self, name: str) -> bool:
        """True when every frame carrying field ``name`` is in this packet at a known index."""
        frames = FIELD_FRAMES.get(name)
        if frames is None:
            raise KeyError(f"unknown nonin2 field {name!r}; known: {', '.join(FIELD_FRAMES)}")
        first = self.first_frame_index
        if first is None:
            return False
        return all(first <= k < first + self.n_frames for k in frames)

    def status_quality(self) -> QualityFlag:
        """Union over the frames of what STATUS says (disconnect, artifact, perfusion, ...)."""
        flags = QualityFlag.NONE
        for s in set(self.statuses):
            flags |= _QUALITY[int(s)]
        if self.frames_lost_before:
            flags |= QualityFlag.GAP_BEFORE
        return flags

    def quality(self) -> QualityFlag:
        """`status_quality` plus MISSING when ``hr_bpm`` or ``spo2_pct`` is NaN."""
        flags = self.status_quality()
        if math.isnan(self.hr_bpm) or math.isnan(self.spo2_pct):
            flags |= QualityFlag.MISSING
        return flags

    def value_quality(self, name: str) -> QualityFlag:
        """Quality of one numeric: the packet's STATUS flags, plus MISSING when it is NaN.

        NaN means the device sent its "no value" code or the value's frames were not
        received; `received` tells which.
        """
        self.received(name)  # raises KeyError for an unknown name
        value = getattr(self, name)
        flags = self.status_quality()
        if value is None or (isinstance(value, float) and math.isnan(value)):
            flags |= QualityFlag.MISSING
        return flags
