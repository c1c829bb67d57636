"""Nonin serial data formats #7 and #8, encoded from the format description (what the oximeter
sends). hwsim is an independent oracle: written from the documents, never from the gateway.

Format #7: 5-byte frames, 75 per second, 25 frames a packet (9600 baud, 8N1)::

    byte 1  STATUS     bit 7 always 1; 6 SNSD, 5 ARTF, 4 OOT, 3 SNSA, 2..1 perfusion, 0 SYNC
    byte 2  PLETH MSB
    byte 3  PLETH LSB  (16-bit pleth)
    byte 4  by frame:  1 HR MSB, 2 HR LSB, 3 SpO2, 4 SREV, 8 STAT2, 9 SpO2-D, 10 SpO2 fast,
                       11 SpO2 B-B, 14 E-HR MSB, 15 E-HR LSB, 16 E-SpO2, 17 E-SpO2-D,
                       20 HR-D MSB, 21 HR-D LSB, 22 E-HR-D MSB, 23 E-HR-D LSB; others reserved
    byte 5  CHK = (byte 1 + byte 2 + byte 3 + byte 4) mod 256

Format #8: one 4-byte record a second::

    byte 1  1 | SNSD | OOT | LPRF | MPRF | ARTF | HR bit 8 | HR bit 7
    byte 2  0 | HR bits 6..0
    byte 3  0 | SpO2 (127 = missing)
    byte 4  0 | reserved | SPA | reserved | SNSA | reserved | battery critical | low battery

HR 511 and SpO2 127 mean "no value" in both formats.

Sources: Nonin OEM III Module Specifications (4518-001) and Integration Guide, as summarised in
the public repositories LukasOtter/RecruitmentProject (OEM III #7 capture and decoder) and an
R reader of #7 (byte table, STATUS bits, STAT2, reserved frames 5-7); C. Fracchia, nonin
packet.py (formats 2, 7, 8); mattjlewis/NoninPulseOx DataFormat8Serialiser (9560 #8 bits);
drphrozen/javautilityclasses Format8.java (3150 #8 STATUS2 battery bits).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from hwsim.errors import EncodeError

FRAME_LEN_7: Final = 5
FRAMES_PER_PACKET: Final = 25
FRAMES_PER_S_7: Final = 75
RECORD_LEN_8: Final = 4
RECORDS_PER_S_8: Final = 1
BAUD: Final = 9600
HR_NONE: Final = 511
SPO2_NONE: Final = 127

# STATUS (format #7), by bit
SYNC: Final = 0x01
GREEN: Final = 0x02
RED: Final = 0x04
YELLOW: Final = 0x06
SNSA: Final = 0x08
OOT: Final = 0x10
ARTF: Final = 0x20
SNSD: Final = 0x40
ALWAYS: Final = 0x80
PERFUSION_FRAMES_PER_PULSE: Final = 12

# 1-based frame number -> what byte 4 carries (format #7)
_HR_FRAMES: Final = {"hr": 1, "hr_ext": 14, "hr_disp": 20, "hr_ext_disp": 22}
_SPO2_FRAMES: Final = {
    "spo2": 3,
    "spo2_disp": 9,
    "spo2_fast": 10,
    "spo2_beat": 11,
    "spo2_ext": 16,
    "spo2_ext_disp": 17,
}
SREV_FRAME: Final = 4
STAT2_FRAME: Final = 8
RESERVED_FRAMES: Final = (5, 6, 7, 12, 13, 18, 19, 24, 25)


def _hr_code(hr_bpm: int | None) -> int:
    if hr_bpm is None:
        return HR_NONE
    if not 0 <= hr_bpm < HR_NONE:
        raise EncodeError(f"HR {hr_bpm} bpm does not fit 9 bits below 511")
    return hr_bpm


def _spo2_code(spo2_pct: int | None) -> int:
    if spo2_pct is None:
        return SPO2_NONE
    if not 0 <= spo2_pct <= 100:
        raise EncodeError(f"SpO2 {spo2_pct} % is outside 0..100")
    return spo2_pct


def encode_frame7(status: int, pleth: int, byte4: int) -> bytes:
    """One format #7 frame; checksum = sum of the first four bytes mod 256."""
    if not 0x80 <= status <= 0xFF or not 0 <= pleth <= 0xFFFF or not 0 <= byte4 <= 0xFF:
        raise EncodeError(f"format #7 frame out of range: {status}, {pleth}, {byte4}")
    head = bytes((status, pleth >> 8, pleth & 0xFF, byte4))
    return head + bytes((sum(head) % 256,))


@dataclass(frozen=True, slots=True)
class Packet7:
    """What the oximeter reports in one format #7 packet (None = missing value)."""

    pleth: tuple[int, ...]  # 25 samples, 0..65535
    perfusion: tuple[int, ...]  # 25 perfusion codes: 0, GREEN, RED or YELLOW
    hr_bpm: int | None
    spo2_pct: int | None
    hr_display_bpm: int | None = None
    spo2_display_pct: int | None = None
    firmware_rev: int = 0x2D
    smartpoint: bool = False
    sensor_disconnected: bool = False
    sensor_alarm: bool = False
    out_of_track: bool = False
    artifact: bool = False
    reserved_byte: int = 0

    def byte4_values(self) -> list[int]:
        """Byte 4 of the 25 frames."""
        values = [self.reserved_byte & 0x7F] * FRAMES_PER_PACKET
        hr = _hr_code(self.hr_bpm)
        hr_disp = _hr_code(self.hr_display_bpm)
        for name, frame in _HR_FRAMES.items():
            code = hr_disp if name.endswith("disp") else hr
            values[frame - 1] = code >> 7
            values[frame] = code & 0x7F
        spo2 = _spo2_code(self.spo2_pct)
        spo2_disp = _spo2_code(self.spo2_display_pct)
        for name, frame in _SPO2_FRAMES.items():
            values[frame - 1] = spo2_disp if name.endswith("disp") else spo2
        values[SREV_FRAME - 1] = self.firmware_rev & 0x7F
        values[STAT2_FRAME - 1] = 0x20 if self.smartpoint else 0x00
        return values

    def encode(self) -> bytes:
        """The 125 bytes of the packet."""
        if len(self.pleth) != FRAMES_PER_PACKET or len(self.perfusion) != FRAMES_PER_PACKET:
            raise EncodeError("a format #7 packet has 25 pleth samples and 25 perfusion codes")
        flags = ALWAYS
        flags |= SNSD if self.sensor_disconnected else 0
        flags |= SNSA if self.sensor_alarm else 0
        flags |= OOT if self.out_of_track else 0
        out = bytearray()
        for i, byte4 in enumerate(self.byte4_values()):
            status = flags | self.perfusion[i] | (SYNC if i == 0 else 0)
            if self.artifact and self.perfusion[i]:
                status |= ARTF
            out += encode_frame7(status, self.pleth[i], byte4)
        return bytes(out)


def encode_record8(
    hr_bpm: int | None,
    spo2_pct: int | None,
    *,
    sensor_disconnected: bool = False,
    out_of_track: bool = False,
    low_perfusion: bool = False,
    marginal_perfusion: bool = False,
    artifact: bool = False,
    smartpoint: bool = False,
    sensor_alarm: bool = False,
    battery_critical: bool = False,
    low_battery: bool = False,
) -> bytes:
    """One format #8 record."""
    hr = _hr_code(hr_bpm)
    status = 0x80 | (hr >> 7)
    status |= 0x40 if sensor_disconnected else 0
    status |= 0x20 if out_of_track else 0
    status |= 0x10 if low_perfusion else 0
    status |= 0x08 if marginal_perfusion else 0
    status |= 0x04 if artifact else 0
    status2 = (0x20 if smartpoint else 0) | (0x08 if sensor_alarm else 0)
    status2 |= (0x02 if battery_critical else 0) | (0x01 if low_battery else 0)
    return bytes((status, hr & 0x7F, _spo2_code(spo2_pct), status2))
