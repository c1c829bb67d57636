"""Contec CMS50D+ class live data, encoded from the protocol notes (what the oximeter sends).
hwsim is an independent oracle: written from the documents, never from the gateway.

Legacy firmware (19200 baud): 5-byte frames, 60 a second, sent unasked. Bit 7 is the sync
bit: set on byte 1, clear on bytes 2-5::

    1  1 | pulse beep | SpO2 dropping | searching too long | signal strength (0..8)
    2  0 | pleth (0..127)
    3  0 | PR bit 7 | searching | probe error | bar graph (0..15)
    4  0 | PR bits 6..0
    5  0 | SpO2

V7 firmware ("Communication protocol of pulse oximeter V7.0", 115200 baud): the host sends
commands ``7D 81 cc 80 80 80 80 80 80`` (cc = A1 start real-time data, AF "still connected",
A2 stop). Device packets: a type byte with bit 7 clear, a byte holding bit 7 of each data
byte (data byte k -> bit k-1) with its own bit 7 set, then the data bytes with bit 7 forced
to 1. Real-time data (type 01) carries 7 data bytes::

    DATA1  probe error | beep | SpO2 dropping | searching too long | signal strength (0..8)
    DATA2  searching | pleth (0..100)          DATA3  bar graph (0..15)
    DATA4  PR (0..254, 255 = none)             DATA5  SpO2 (0..100, 127 = none)
    DATA6  PI low byte     DATA7  PI high byte  (0xFFFF = not measured)

Sources: atbrask/CMS50Dplus cms50dplus.py and blog (legacy live format, 60 Hz, 19200 baud);
a translated Contec manual quoted on picbasic.co.uk thread 11311 (legacy byte table);
celiponcio/oximeter-CMS50Dplus-v4.6 cms50Dplus_thread.py (v7 start command, 9-byte packets,
observed fixed bits); AndreasZachariae/cms50dplus-driver (keep-alive AF every 5 s, from the
V7.0 document); tobac/cms50ew (command list).
"""

from __future__ import annotations

from typing import Final

from hwsim.errors import EncodeError

LEGACY_BAUD: Final = 19200
V7_BAUD: Final = 115200
PACKETS_PER_S: Final = 60
CMD_START_LIVE: Final = 0xA1
CMD_STOP_LIVE: Final = 0xA2
CMD_KEEP_ALIVE: Final = 0xAF
PR_NONE: Final = 255
SPO2_NONE: Final = 127
PI_NONE: Final = 0xFFFF


def _check(name: str, value: int, top: int) -> int:
    if not 0 <= value <= top:
        raise EncodeError(f"cms50 {name} {value} is outside 0..{top}")
    return value


def encode_legacy(
    *,
    pleth: int,
    pr_bpm: int,
    spo2_pct: int,
    signal_strength: int = 6,
    bargraph: int = 0,
    pulse_beep: bool = False,
    spo2_dropping: bool = False,
    searching_too_long: bool = False,
    searching: bool = False,
    probe_error: bool = False,
) -> bytes:
    """One legacy 5-byte frame."""
    _check("pleth", pleth, 127)
    _check("pr", pr_bpm, 255)
    _check("spo2", spo2_pct, 127)
    b1 = 0x80 | _check("signal strength", signal_strength, 15)
    b1 |= (0x40 if pulse_beep else 0) | (0x20 if spo2_dropping else 0)
    b1 |= 0x10 if searching_too_long else 0
    b3 = _check("bar graph", bargraph, 15) | (0x10 if probe_error else 0)
    b3 |= (0x20 if searching else 0) | ((pr_bpm & 0x80) >> 1)
    return bytes((b1, pleth, b3, pr_bpm & 0x7F, spo2_pct))


def encode_v7_packet(packet_type: int, data: bytes) -> bytes:
    """A v7 device packet: type, high-bit byte, data bytes with bit 7 set."""
    if not 0 <= packet_type <= 0x7F or len(data) > 7:
        raise EncodeError("v7 packet: type 0..127 and at most 7 data bytes")
    high = 0x80
    for k, byte in enumerate(data):
        if byte & 0x80:
            high |= 1 << k
    return bytes((packet_type, high)) + bytes(0x80 | b for b in data)


def encode_v7_live(
    *,
    pleth: int,
    pr_bpm: int,
    spo2_pct: int,
    signal_strength: int = 6,
    bargraph: int = 0,
    pulse_beep: bool = False,
    spo2_dropping: bool = False,
    searching_too_long: bool = False,
    searching: bool = False,
    probe_error: bool = False,
    pi_raw: int = PI_NONE,
) -> bytes:
    """One v7 real-time data packet (type 0x01, 9 bytes)."""
    d1 = _check("signal strength", signal_strength, 15)
    d1 |= (0x40 if pulse_beep else 0) | (0x20 if spo2_dropping else 0)
    d1 |= (0x10 if searching_too_long else 0) | (0x80 if probe_error else 0)
    d2 = _check("pleth", pleth, 127) | (0x80 if searching else 0)
    data = bytes(
        (
            d1,
            d2,
            _check("bar graph", bargraph, 15),
            _check("pr", pr_bpm, 255),
            _check("spo2", spo2_pct, 127),
            _check("pi", pi_raw, 0xFFFF) & 0xFF,
            pi_raw >> 8,
        )
    )
    return encode_v7_packet(0x01, data)


def host_commands(data: bytes) -> list[int]:
    """Command codes found in bytes the host wrote (``7D 81 cc``), in order."""
    out = []
    i = data.find(b"\x7d\x81")
    while i >= 0 and i + 2 < len(data):
        out.append(data[i + 2])
        i = data.find(b"\x7d\x81", i + 3)
    return out
