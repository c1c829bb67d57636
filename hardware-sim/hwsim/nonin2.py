"""Nonin serial data format #2, encoded from the format description: what the oximeter sends.

hwsim is an independent oracle: this encoder is written from the device documentation, never
from the gateway's decoder.

Frame: 5 bytes, 75 frames per second (9600 baud, 8N1)::

    byte 1  0x01                       start of frame
    byte 2  STATUS                     bit 7 always 1, see `Status`
    byte 3  PLETH                      8-bit plethysmogram sample
    byte 4  depends on the frame's place in the packet (table below)
    byte 5  CHK = (byte 1 + byte 2 + byte 3 + byte 4) mod 256

Packet: 25 frames (1/3 s); STATUS bit 0 (SYNC) is set on frame 1 only. Byte 4 by frame::

     1 HR MSB (bits 8..7)   2 HR LSB (bits 6..0)    3 SpO2         4 SREV (firmware)
     5 reserved             6 timer MSB (7 bits)    7 timer LSB    8 STAT2
     9 SpO2-D              10 SpO2 fast            11 SpO2 B-B    12-13 reserved
    14 E-HR MSB            15 E-HR LSB             16 E-SpO2      17 E-SpO2-D
    18-19 reserved         20 HR-D MSB             21 HR-D LSB    22 E-HR-D MSB
    23 E-HR-D LSB          24-25 reserved

HR is 9 bits (511 = missing), SpO2 7 bits (127 = missing). "-D" values are formatted for
display (they hold the last value for 10 s after the finger leaves), the others for recording
(missing at once). "E-" values are 8-beat extended averages, the others 4-beat. Reserved bytes
are undefined (0..255): a decoder must ignore them.

Perfusion (STATUS bits 2..1) is reported for 12 frames (160 ms) per pulse: bit 2 alone = red,
bit 1 alone = green, both = yellow, neither = no pulse now (see `Perfusion`).

Sources (read to learn, nothing copied):
- Nonin Medical, WristOx2 Model 3150 OEM Specification and Technical Information (7970-000),
  "Serial Data Format #2 Definition"; the OEM III module and Xpod specifications carry the
  same table.
- Nonin Onyx II 9560 manual, status byte: "The oximeter reports each pulse by setting/clearing
  the RPRF and GPRF bits for a period of 12 frames (160 mS)", RPRF = bit 2, GPRF = bit 1.
- pez-globo/pufferfish-software, firmware/ventilator-controller-stm32/.../Serial/Nonin/
  FrameReceiver.cpp and PacketReceiver.cpp: start byte, checksum over bytes 1-4, SYNC bit,
  status masks (yellow 0x06, red 0x04, green 0x02), byte-4 frame map.
- Oxford IBME nonin package (uk.ac.ox.ibme.nonin NoninPacket/NoninFrame, O. Gibson, D. Salvi):
  HR masks 0x03/0x7F, missing values 511/127, the 3 Hz timer as 7 + 7 bits, STAT2 bit 5 SPA
  (SmartPoint) and bit 0 low battery.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Final

from hwsim.errors import EncodeError

FRAME_START: Final = 0x01
FRAME_LEN: Final = 5
FRAMES_PER_PACKET: Final = 25
PACKET_LEN: Final = FRAME_LEN * FRAMES_PER_PACKET
FRAMES_PER_S: Final = 75
PACKETS_PER_S: Final = FRAMES_PER_S // FRAMES_PER_PACKET
BAUD: Final = 9600

HR_MISSING: Final = 511  # 9 bits all ones
SPO2_MISSING: Final = 127  # 7 bits all ones
HR_MAX_BPM: Final = 510  # largest value the 9 bits carry that is not "missing"
SPO2_MAX_PCT: Final = 100
TIMER_MODULUS: Final = 1 << 14  # 7 bits in each of two frames
PERFUSION_FRAMES_PER_PULSE: Final = 12  # 160 ms at 75 frames/s (Onyx II 9560 manual)


class Status(enum.IntFlag):
    """STATUS byte (frame byte 2) bits."""

    SYNC = 0x01  # frame 1 of the packet
    GPRF = 0x02  # green perfusion bit (alone: green; with RPRF: yellow)
    RPRF = 0x04  # red perfusion bit (alone: red; with GPRF: yellow)
    SNSA = 0x08  # sensor alarm: unusable data (finger out)
    OOT = 0x10  # out of track: no consecutive good pulses
    ARTF = 0x20  # artifact: this pulse did not match the pulse interval
    SNSD = 0x40  # sensor disconnected or inoperable
    ALWAYS = 0x80  # always set; makes STATUS > 127


class Perfusion(enum.IntEnum):
    """Pulse amplitude quality, STATUS bits 2..1, shown for 12 frames around each pulse."""

    NONE = 0  # no pulse at this moment
    GREEN = Status.GPRF  # high signal quality
    RED = Status.RPRF  # low or no pulse signal
    YELLOW = Status.GPRF | Status.RPRF  # low or marginal signal


class Stat2(enum.IntFlag):
    """STAT2 byte (byte 4 of frame 8)."""

    LOW_BATTERY = 0x01
    SMARTPOINT = 0x20  # SPA: high-quality SmartPoint measurement


# Byte 4 of frame n (1-based) carries this field.
FRAME_HR_MSB: Final = 1
FRAME_HR_LSB: Final = 2
FRAME_SPO2: Final = 3
FRAME_SREV: Final = 4
FRAME_TIMER_MSB: Final = 6
FRAME_TIMER_LSB: Final = 7
FRAME_STAT2: Final = 8
FRAME_SPO2_D: Final = 9
FRAME_SPO2_FAST: Final = 10
FRAME_SPO2_BB: Final = 11
FRAME_E_HR_MSB: Final = 14
FRAME_E_HR_LSB: Final = 15
FRAME_E_SPO2: Final = 16
FRAME_E_SPO2_D: Final = 17
FRAME_HR_D_MSB: Final = 20
FRAME_HR_D_LSB: Final = 21
FRAME_E_HR_D_MSB: Final = 22
FRAME_E_HR_D_LSB: Final = 23
RESERVED_FRAMES: Final = frozenset({5, 12, 13, 18, 19, 24, 25})

_NO_STAT2: Final = Stat2(0)
_NO_ARTIFACT: Final = (False,) * FRAMES_PER_PACKET
_NO_PERFUSION: Final = (Perfusion.NONE,) * FRAMES_PER_PACKET


@dataclass(frozen=True, slots=True)
class Nonin2Packet:
    """What the oximeter reports in one packet (25 frames, 1/3 s); None means missing."""

    pleth: bytes  # 25 samples, one per frame
    hr_bpm: int | None = None  # 4-beat average, for recording
    spo2_pct: int | None = None  # 4-beat average, for recording
    firmware_rev: int = 0  # SREV
    timer_ticks: int = 0  # 3 Hz counter, 14 bits
    stat2: Stat2 = _NO_STAT2
    spo2_display_pct: int | None = None  # SpO2-D
    spo2_fast_pct: int | None = None
    spo2_beat_pct: int | None = None  # SpO2 B-B, unaveraged
    hr_ext_bpm: int | None = None  # E-HR, 8-beat
    spo2_ext_pct: int | None = None  # E-SpO2, 8-beat
    spo2_ext_display_pct: int | None = None  # E-SpO2-D
    hr_display_bpm: int | None = None  # HR-D
    hr_ext_display_bpm: int | None = None  # E-HR-D
    sensor_disconnected: bool = False  # SNSD on every frame
    out_of_track: bool = False  # OOT on every frame
    sensor_alarm: bool = False  # SNSA on every frame
    artifact: tuple[bool, ...] = field(default=_NO_ARTIFACT)  # ARTF per frame
    perfusion: tuple[Perfusion, ...] = field(default=_NO_PERFUSION)  # per frame
    reserved_byte: int = 0  # byte 4 of the reserved frames (undefined on the wire)

    def __post_init__(self) -> None:
        if len(self.pleth) != FRAMES_PER_PACKET:
            raise EncodeError(
                f"pleth has {len(self.pleth)} samples: a packet carries {FRAMES_PER_PACKET}"
            )
        for name in ("hr_bpm", "hr_ext_bpm", "hr_display_bpm", "hr_ext_display_bpm"):
            _check_optional(name, getattr(self, name), HR_MAX_BPM, "bpm")
        for name in (
            "spo2_pct",
            "spo2_display_pct",
            "spo2_fast_pct",
            "spo2_beat_pct",
            "spo2_ext_pct",
            "spo2_ext_display_pct",
        ):
            _check_optional(name, getattr(self, name), SPO2_MAX_PCT, "%")
        _check_range("firmware_rev", self.firmware_rev, 255)
        _check_range("timer_ticks", self.timer_ticks, TIMER_MODULUS - 1)
        _check_range("stat2", int(self.stat2), 255)
        _check_range("reserved_byte", self.reserved_byte, 255)
        if len(self.artifact) != FRAMES_PER_PACKET:
            raise EncodeError(f"artifact has {len(self.artifact)} flags: expected 25")
        if len(self.perfusion) != FRAMES_PER_PACKET:
            raise EncodeError(f"perfusion has {len(self.perfusion)} entries: expected 25")

    @classmethod
    def steady(
        cls,
        pleth: bytes,
        hr_bpm: int | None,
        spo2_pct: int | None,
    ) -> Nonin2Packet:
        """A packet whose every HR and SpO2 variant is the same (add flags with `replace`)."""
        return cls(
            pleth=pleth,
            hr_bpm=hr_bpm,
            spo2_pct=spo2_pct,
            spo2_display_pct=spo2_pct,
            spo2_fast_pct=spo2_pct,
            spo2_beat_pct=spo2_pct,
            hr_ext_bpm=hr_bpm,
            spo2_ext_pct=spo2_pct,
            spo2_ext_display_pct=spo2_pct,
            hr_display_bpm=hr_bpm,
            hr_ext_display_bpm=hr_bpm,
        )

    def __bytes__(self) -> bytes:
        return encode_packet(self)


def _check_range(name: str, value: int, maximum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise EncodeError(f"{name}={value!r} is outside 0..{maximum}")


def _check_optional(name: str, value: int | None, maximum: int, unit: str) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise EncodeError(
            f"{name}={value!r} is outside 0..{maximum} {unit} (use None for a missing value)"
        )


def checksum(head: bytes) -> int:
    """Frame checksum: the sum of the first four bytes, modulo 256."""
    return sum(head[:4]) & 0xFF


def encode_frame(status: int, pleth: int, byte4: int) -> bytes:
    """One 5-byte frame; bit 7 of STATUS is forced on as the format requires."""
    head = bytes((FRAME_START, (status | Status.ALWAYS) & 0xFF, pleth & 0xFF, byte4 & 0xFF))
    return head + bytes((checksum(head),))


def hr_bytes(hr_bpm: int | None) -> tuple[int, int]:
    """(MSB, LSB) of a 9-bit heart rate: bits 8..7 in MSB bits 1..0, bits 6..0 in LSB."""
    value = HR_MISSING if hr_bpm is None else hr_bpm
    return (value >> 7) & 0x03, value & 0x7F


def spo2_byte(spo2_pct: int | None) -> int:
    """7-bit SpO2 byte, 127 when missing."""
    return SPO2_MISSING if spo2_pct is None else spo2_pct


def byte4_values(packet: Nonin2Packet) -> tuple[int, ...]:
    """Byte 4 of each of the 25 frames, in order."""
    values = [packet.reserved_byte] * FRAMES_PER_PACKET

    def put(frame: int, value: int) -> None:
        values[frame - 1] = value

    for msb_frame, hr in (
        (FRAME_HR_MSB, packet.hr_bpm),
        (FRAME_E_HR_MSB, packet.hr_ext_bpm),
        (FRAME_HR_D_MSB, packet.hr_display_bpm),
        (FRAME_E_HR_D_MSB, packet.hr_ext_display_bpm),
    ):
        msb, lsb = hr_bytes(hr)
        put(msb_frame, msb)
        put(msb_frame + 1, lsb)
    put(FRAME_SPO2, spo2_byte(packet.spo2_pct))
    put(FRAME_SREV, packet.firmware_rev)
    put(FRAME_TIMER_MSB, (packet.timer_ticks >> 7) & 0x7F)
    put(FRAME_TIMER_LSB, packet.timer_ticks & 0x7F)
    put(FRAME_STAT2, int(packet.stat2))
    put(FRAME_SPO2_D, spo2_byte(packet.spo2_display_pct))
    put(FRAME_SPO2_FAST, spo2_byte(packet.spo2_fast_pct))
    put(FRAME_SPO2_BB, spo2_byte(packet.spo2_beat_pct))
    put(FRAME_E_SPO2, spo2_byte(packet.spo2_ext_pct))
    put(FRAME_E_SPO2_D, spo2_byte(packet.spo2_ext_display_pct))
    return tuple(values)


def status_bytes(packet: Nonin2Packet) -> tuple[int, ...]:
    """STATUS of each of the 25 frames, in order."""
    common = Status.ALWAYS
    if packet.sensor_disconnected:
        common |= Status.SNSD
    if packet.out_of_track:
        common |= Status.OOT
    if packet.sensor_alarm:
        common |= Status.SNSA
    out = []
    for index in range(FRAMES_PER_PACKET):
        status = common | int(packet.perfusion[index])
        if packet.artifact[index]:
            status |= Status.ARTF
        if index == 0:
            status |= Status.SYNC
        out.append(int(status))
    return tuple(out)


def encode_packet(packet: Nonin2Packet) -> bytes:
    """The 125 bytes of one packet, frame 1 (SYNC) first."""
    return b"".join(
        encode_frame(status, pleth, byte4)
        for status, pleth, byte4 in zip(
            status_bytes(packet), packet.pleth, byte4_values(packet), strict=True
        )
    )


def is_valid_frame(window: bytes) -> bool:
    """Whether 5 bytes form a frame: start byte, STATUS bit 7 and checksum all right."""
    return (
        len(window) == FRAME_LEN
        and window[0] == FRAME_START
        and window[1] & Status.ALWAYS != 0
        and checksum(window) == window[4]
    )


def frame_inside(damaged: bytes, following: bytes) -> bool:
    """Whether a framer resyncing byte by byte could find a frame starting inside `damaged`."""
    data = damaged + following
    return any(
        is_valid_frame(data[i : i + FRAME_LEN])
        for i in range(len(damaged))
        if i + FRAME_LEN <= len(data)
    )
