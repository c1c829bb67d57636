"""Nonin serial data format #7: one frame, and one packet of 25 frames (sans-IO, no state).

Frame (5 bytes, 75 per second, no start byte)::

    STATUS (bit 7 = 1) | PLETH MSB | PLETH LSB | FLOAT (byte 4) | CHK = sum of bytes 1-4 mod 256

The STATUS byte has the bits of format #2 (`Nonin2Status`); the pleth is 16 bits; byte 4
carries a different field in each of the 25 frames of a packet, as in format #2, except that
frames 6 and 7 (the timer in format #2) are reserved in format #7. Byte table, sources and
one decoded packet: ``docs/protocols/nonin7-8.md``. The decoder is in ``nonin7_decoder``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from drivers.codecs.nonin2_frame import (
    HR_MISSING,
    SPO2_MISSING,
    Nonin2Status,
    Perfusion,
    status_quality,
    worst_perfusion,
)
from drivers.errors import CodecError
from drivers.model import QualityFlag

FRAME_LEN: Final = 5
FRAMES_PER_PACKET: Final = 25
FRAMES_PER_S: Final = 75
PLETH_MAX: Final = 0xFFFF

# Byte 4 of frame k (0-based; Nonin numbers frames 1..25) carries these fields.
_HR_FIELDS: Final = {
    "hr_bpm": 0,  # HR MSB (frame 1), HR LSB (frame 2): 4-beat average, for recording
    "hr_extended_bpm": 13,  # E-HR: 8-beat average, for recording
    "hr_display_bpm": 19,  # HR-D: 4-beat average, for display
    "hr_display_extended_bpm": 21,  # E-HR-D: 8-beat average, for display
}
_SPO2_FIELDS: Final = {
    "spo2_pct": 2,
    "spo2_display_pct": 8,
    "spo2_fast_pct": 9,
    "spo2_beat_pct": 10,
    "spo2_extended_pct": 15,
    "spo2_display_extended_pct": 16,
}
FIELD_FRAMES: Final[dict[str, tuple[int, ...]]] = {
    **{name: (k, k + 1) for name, k in _HR_FIELDS.items()},
    **{name: (k,) for name, k in _SPO2_FIELDS.items()},
    "firmware_revision": (3,),  # SREV
    "stat2": (7,),  # STAT2: bit 5 SPA (SmartPoint), others reserved
}
"""Which frames (0-based index in the packet) carry each decoded field in byte 4."""

_STATUS: Final = tuple(Nonin2Status(v) for v in range(256))


def frame_valid(data: bytes | bytearray, offset: int = 0) -> bool:
    """True when the 5 bytes at ``offset`` are a frame: STATUS bit 7 set and checksum right."""
    if offset < 0 or offset + FRAME_LEN > len(data):
        return False
    b0 = data[offset]
    return b0 & 0x80 != 0 and (
        (b0 + data[offset + 1] + data[offset + 2] + data[offset + 3]) & 0xFF == data[offset + 4]
    )


@dataclass(frozen=True, slots=True)
class Nonin7Frame:
    """One 5-byte frame: STATUS, 16-bit PLETH, byte 4 (meaning set by position), checksum."""

    status: Nonin2Status
    pleth: int  # 16-bit plethysmogram sample
    byte4: int

    def __post_init__(self) -> None:
        status = int(self.status)
        if not 0x80 <= status <= 0xFF:
            raise CodecError(f"nonin7 frame: status must be 0x80..0xff, got {status}")
        if not 0 <= self.pleth <= PLETH_MAX:
            raise CodecError(f"nonin7 frame: pleth {self.pleth} is outside 0..65535")
        if not 0 <= self.byte4 <= 0xFF:
            raise CodecError(f"nonin7 frame: byte4 {self.byte4} is outside 0..255")
        object.__setattr__(self, "status", _STATUS[status])

    @classmethod
    def from_bytes(cls, data: bytes) -> Nonin7Frame:
        """Decode exactly 5 bytes; CodecError names the offset and what was wrong."""
        if len(data) != FRAME_LEN:
            raise CodecError(f"nonin7 frame: expected {FRAME_LEN} bytes, got {len(data)}")
        if not data[0] & 0x80:
            raise CodecError(
                f"nonin7 frame: offset 0: status bit 7 must be 1, got status 0x{data[0]:02x}"
            )
        expected = sum(data[:4]) & 0xFF
        if data[4] != expected:
            raise CodecError(
                f"nonin7 frame: offset 4: checksum must be 0x{expected:02x} "
                f"(sum of offsets 0-3 mod 256), got 0x{data[4]:02x}"
            )
        return cls(_STATUS[data[0]], (data[1] << 8) | data[2], data[3])

    def __bytes__(self) -> bytes:
        head = bytes((int(self.status), self.pleth >> 8, self.pleth & 0xFF, self.byte4))
        return head + bytes((sum(head) & 0xFF,))

    @property
    def sync(self) -> bool:
        """True on the first frame of a packet."""
        return bool(self.status & Nonin2Status.SYNC)

    @property
    def perfusion(self) -> Perfusion:
        """The perfusion colour this frame reports."""
        return worst_perfusion([int(self.status)])


def _hr(msb: int | None, lsb: int | None) -> float:
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
class Nonin7Packet:
    """Contiguous frames of one packet; numerics are NaN when missing or not received.

    ``frames_lost_before`` counts frames lost between the previous packet and this one;
    ``first_frame_index`` (0 = the SYNC frame) is None when the decoder cannot tell where
    these frames sit in the device's packet, and the numerics are then all NaN.
    """

    n_frames: int
    pleth: tuple[int, ...]  # 16-bit samples, one per frame, 75 Hz
    statuses: tuple[Nonin2Status, ...]
    byte4: tuple[int, ...]  # raw, reserved ones included
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
    firmware_revision: int | None
    stat2: int | None
    first_frame_index: int | None = 0
    frames_lost_before: int = 0

    def __post_init__(self) -> None:
        n = self.n_frames
        if not 1 <= n <= FRAMES_PER_PACKET:
            raise CodecError(f"nonin7 packet: n_frames {n} is outside 1..{FRAMES_PER_PACKET}")
        for name in ("pleth", "statuses", "byte4"):
            if len(getattr(self, name)) != n:
                raise CodecError(
                    f"nonin7 packet: {name} has {len(getattr(self, name))} entries for {n} frames"
                )
        first = self.first_frame_index
        if first is not None and not (first >= 0 and first + n <= FRAMES_PER_PACKET):
            raise CodecError(f"nonin7 packet: frames {first}..{first + n - 1} do not fit 0..24")
        if self.frames_lost_before < 0:
            raise CodecError(f"nonin7 packet: frames_lost_before {self.frames_lost_before} < 0")

    @classmethod
    def from_raw(
        cls,
        statuses: Sequence[int],
        pleth: Sequence[int],
        byte4: Sequence[int],
        first_frame_index: int | None = 0,
        frames_lost_before: int = 0,
    ) -> Nonin7Packet:
        """Build from per-frame STATUS, PLETH and byte 4 values (already checked frames)."""
        n = len(statuses)
        base = first_frame_index

        def at(k: int) -> int | None:
            if base is None or not 0 <= k - base < n:
                return None
            return byte4[k - base]

        hr = {name: _hr(at(k), at(k + 1)) for name, k in _HR_FIELDS.items()}
        spo2 = {name: _spo2(at(k)) for name, k in _SPO2_FIELDS.items()}
        srev = at(3)
        return cls(
            n_frames=n,
            pleth=tuple(pleth),
            statuses=tuple(_STATUS[s] for s in statuses),
            byte4=tuple(byte4),
            firmware_revision=srev,
            stat2=at(7),
            first_frame_index=base,
            frames_lost_before=frames_lost_before,
            **hr,
            **spo2,
        )

    @classmethod
    def from_frames(
        cls,
        frames: Sequence[Nonin7Frame],
        first_frame_index: int | None = 0,
        frames_lost_before: int = 0,
    ) -> Nonin7Packet:
        """Build from contiguous frames whose first one sits at ``first_frame_index``."""
        return cls.from_raw(
            [int(f.status) for f in frames],
            [f.pleth for f in frames],
            [f.byte4 for f in frames],
            first_frame_index,
            frames_lost_before,
        )

    @property
    def complete(self) -> bool:
        """All 25 frames, in order, SYNC first."""
        return self.first_frame_index == 0 and self.n_frames == FRAMES_PER_PACKET

    def frames(self) -> tuple[Nonin7Frame, ...]:
        """The frames again, in order."""
        return tuple(
            Nonin7Frame(s, p, b)
            for s, p, b in zip(self.statuses, self.pleth, self.byte4, strict=True)
        )

    def __bytes__(self) -> bytes:
        return b"".join(bytes(f) for f in self.frames())

    @property
    def perfusion(self) -> Perfusion:
        """Worst perfusion colour over the frames."""
        return worst_perfusion(self.statuses)

    @property
    def smartpoint(self) -> bool | None:
        """STAT2 bit 5 (SPA): a high-quality SmartPoint measurement; None if not received."""
        return None if self.stat2 is None else bool(self.stat2 & 0x20)

    def received(self, name: str) -> bool:
        """True when every frame carrying field ``name`` is in this packet at a known index."""
        frames = FIELD_FRAMES.get(name)
        if frames is None:
            raise KeyError(f"unknown nonin7 field {name!r}; known: {', '.join(FIELD_FRAMES)}")
        first = self.first_frame_index
        if first is None:
            return False
        return all(first <= k < first + self.n_frames for k in frames)

    def status_quality(self) -> QualityFlag:
        """Union over the frames of what STATUS says, plus GAP_BEFORE after lost frames."""
        flags = QualityFlag.NONE
        for s in set(self.statuses):
            flags |= status_quality(int(s))
        if self.frames_lost_before:
            flags |= QualityFlag.GAP_BEFORE
        return flags

    def quality(self) -> QualityFlag:
        """`status_quality` plus MISSING when ``hr_bpm`` or ``spo2_pct`` is NaN."""
        flags = self.status_quality()
        if math.isnan(self.hr_bpm) or math.isnan(self.spo2_pct):
            flags |= QualityFlag.MISSING
        return flags
