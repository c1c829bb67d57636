"""hwsim.nonin2 against vectors written by hand from the Nonin data format #2 description.

Every expected byte below was worked out on paper from the format table (see the module
docstring of hwsim.nonin2 for the sources), not produced by the encoder.
"""

from __future__ import annotations

import dataclasses

import pytest
from hwsim.errors import EncodeError
from hwsim.nonin2 import (
    Nonin2Packet,
    Perfusion,
    Stat2,
    encode_frame,
    encode_packet,
    frame_inside,
    hr_bytes,
    is_valid_frame,
)

from tests.hwsim._hwsim_helpers import is_frame

PLETH = bytes(range(100, 125))  # 25 distinct samples: 0x64 .. 0x7C


def frames_of(data: bytes) -> list[bytes]:
    assert len(data) == 125
    return [data[i : i + 5] for i in range(0, 125, 5)]


def test_single_frame_vector() -> None:
    # 0x01 + 0x80 + 0x40 + 0x03 = 0xC4
    assert encode_frame(0x80, 0x40, 0x03) == bytes.fromhex("01 80 40 03 C4")


def test_checksum_wraps_modulo_256() -> None:
    # 1 + 255 + 255 + 255 = 766 = 0x2FE -> 0xFE
    assert encode_frame(0xFF, 0xFF, 0xFF) == bytes.fromhex("01 FF FF FF FE")


def test_status_bit7_is_forced() -> None:
    # STATUS 0x00 is sent as 0x80; 1 + 0x80 + 0 + 0 = 0x81
    assert encode_frame(0x00, 0x00, 0x00) == bytes.fromhex("01 80 00 00 81")


@pytest.mark.parametrize(
    ("hr_bpm", "msb", "lsb"),
    [
        (72, 0x00, 0x48),  # 72 < 128
        (127, 0x00, 0x7F),
        (128, 0x01, 0x00),  # bit 7 goes to MSB bit 0
        (300, 0x02, 0x2C),  # 300 = 256 + 44
        (510, 0x03, 0x7E),
        (None, 0x03, 0x7F),  # missing = 511
    ],
)
def test_hr_split(hr_bpm: int | None, msb: int, lsb: int) -> None:
    assert hr_bytes(hr_bpm) == (msb, lsb)


def full_packet() -> Nonin2Packet:
    perfusion = [Perfusion.NONE] * 25
    perfusion[2:14] = [Perfusion.GREEN] * 12  # frames 3..14
    artifact = [False] * 25
    artifact[4] = True  # frame 5
    return Nonin2Packet(
        pleth=PLETH,
        hr_bpm=72,
        spo2_pct=97,
        firmware_rev=0x41,
        timer_ticks=1000,  # 7 * 128 + 104
        stat2=Stat2.SMARTPOINT,
        spo2_display_pct=96,
        spo2_fast_pct=95,
        spo2_beat_pct=94,
        hr_ext_bpm=75,
        spo2_ext_pct=93,
        spo2_ext_display_pct=92,
        hr_display_bpm=130,
        hr_ext_display_bpm=300,
        artifact=tuple(artifact),
        perfusion=tuple(perfusion),
        reserved_byte=0xAA,
    )


# Byte 4 of frames 1..25 for full_packet(), from the format table.
FULL_BYTE4 = [
    0x00, 0x48,  # 1-2 HR 72
    0x61,  # 3 SpO2 97
    0x41,  # 4 SREV
    0xAA,  # 5 reserved
    0x07, 0x68,  # 6-7 timer 1000 = 7 << 7 | 104
    0x20,  # 8 STAT2 SPA
    0x60,  # 9 SpO2-D 96
    0x5F,  # 10 SpO2 fast 95
    0x5E,  # 11 SpO2 B-B 94
    0xAA, 0xAA,  # 12-13 reserved
    0x00, 0x4B,  # 14-15 E-HR 75
    0x5D,  # 16 E-SpO2 93
    0x5C,  # 17 E-SpO2-D 92
    0xAA, 0xAA,  # 18-19 reserved
    0x01, 0x02,  # 20-21 HR-D 130 = 128 + 2
    0x02, 0x2C,  # 22-23 E-HR-D 300 = 256 + 44
    0xAA, 0xAA,  # 24-25 reserved
]  # fmt: skip

# STATUS of frames 1..25: 0x80 always, SYNC 0x01 on frame 1, green 0x02 on 3..14, ARTF 0x20 on 5.
FULL_STATUS = [0x81, 0x80] + [0x82, 0x82, 0xA2] + [0x82] * 9 + [0x80] * 11


def test_full_packet_against_hand_vector() -> None:
    data = encode_packet(full_packet())
    assert len(data) == 125
    for number, frame in enumerate(frames_of(data), start=1):
        status, pleth, byte4 = FULL_STATUS[number - 1], PLETH[number - 1], FULL_BYTE4[number - 1]
        expected_chk = (0x01 + status + pleth + byte4) % 256
        assert frame == bytes((0x01, status, pleth, byte4, expected_chk)), f"frame {number}"
    # Two frames written out in full: frame 1 = 01 81 64 00 E6, frame 8 = 01 82 6B 20 0E.
    assert data[0:5] == bytes.fromhex("01 81 64 00 E6")
    assert data[35:40] == bytes.fromhex("01 82 6B 20 0E")


def test_bytes_dunder_is_the_encoding() -> None:
    packet = full_packet()
    assert bytes(packet) == encode_packet(packet)


def test_missing_values_by_default() -> None:
    frames = frames_of(encode_packet(Nonin2Packet(pleth=PLETH)))
    for msb_frame in (1, 14, 20, 22):
        assert frames[msb_frame - 1][3] == 0x03
        assert frames[msb_frame][3] == 0x7F
    for spo2_frame in (3, 9, 10, 11, 16, 17):
        assert frames[spo2_frame - 1][3] == 0x7F
    assert all(is_frame(f) for f in frames)


def test_sync_only_on_frame_one_and_bit7_everywhere() -> None:
    frames = frames_of(encode_packet(Nonin2Packet(pleth=PLETH)))
    assert [f[1] & 0x01 for f in frames] == [1] + [0] * 24
    assert all(f[1] & 0x80 for f in frames)
    assert all(f[0] == 0x01 for f in frames)


@pytest.mark.parametrize(
    ("field", "bit"),
    [("sensor_disconnected", 0x40), ("out_of_track", 0x10), ("sensor_alarm", 0x08)],
)
def test_packet_wide_flag_bits(field: str, bit: int) -> None:
    plain = frames_of(encode_packet(Nonin2Packet(pleth=PLETH)))
    flagged = frames_of(encode_packet(Nonin2Packet(pleth=PLETH, **{field: True})))
    for before, after in zip(plain, flagged, strict=True):
        assert after[1] == before[1] | bit
        assert is_frame(after)


def test_artifact_bit_only_on_its_frame() -> None:
    for index in (0, 7, 24):
        flags = [False] * 25
        flags[index] = True
        frames = frames_of(encode_packet(Nonin2Packet(pleth=PLETH, artifact=tuple(flags))))
        assert [bool(f[1] & 0x20) for f in frames] == flags


@pytest.mark.parametrize(
    ("perfusion", "bits"),
    [
        (Perfusion.NONE, 0x00),
        (Perfusion.GREEN, 0x02),
        (Perfusion.RED, 0x04),
        (Perfusion.YELLOW, 0x06),
    ],
)
def test_perfusion_bits(perfusion: Perfusion, bits: int) -> None:
    frames = frames_of(encode_packet(Nonin2Packet(pleth=PLETH, perfusion=(perfusion,) * 25)))
    assert all(f[1] & 0x06 == bits for f in frames)


def test_steady_fills_every_variant() -> None:
    packet = Nonin2Packet.steady(PLETH, 72, 97)
    frames = frames_of(encode_packet(packet))
    for msb_frame in (1, 14, 20, 22):
        assert (frames[msb_frame - 1][3], frames[msb_frame][3]) == (0x00, 0x48)
    for spo2_frame in (3, 9, 10, 11, 16, 17):
        assert frames[spo2_frame - 1][3] == 0x61


def test_replace_keeps_validation() -> None:
    packet = Nonin2Packet.steady(PLETH, 72, 97)
    with pytest.raises(EncodeError):
        dataclasses.replace(packet, spo2_pct=101)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"hr_bpm": 511}, "hr_bpm=511 is outside 0..510 bpm (use None for a missing value)"),
        ({"spo2_pct": 101}, "spo2_pct=101 is outside 0..100 % (use None for a missing value)"),
        ({"spo2_pct": True}, "spo2_pct=True is outside 0..100 % (use None for a missing value)"),
        ({"timer_ticks": 16384}, "timer_ticks=16384 is outside 0..16383"),
        ({"firmware_rev": 256}, "firmware_rev=256 is outside 0..255"),
        ({"reserved_byte": -1}, "reserved_byte=-1 is outside 0..255"),
        ({"pleth": bytes(24)}, "pleth has 24 samples: a packet carries 25"),
        ({"artifact": (False,) * 24}, "artifact has 24 flags: expected 25"),
    ],
)
def test_range_errors(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"pleth": PLETH, **kwargs}
    with pytest.raises(EncodeError) as info:
        Nonin2Packet(**args)  # type: ignore[arg-type]
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)


def test_frame_validity_and_aliasing_helpers() -> None:
    good = bytes.fromhex("01 80 40 03 C4")
    assert is_valid_frame(good)
    assert not is_valid_frame(bytes.fromhex("01 80 40 03 C5"))  # checksum
    assert not is_valid_frame(bytes.fromhex("01 00 40 03 44"))  # STATUS bit 7 clear
    assert not is_valid_frame(bytes.fromhex("02 80 40 03 C5"))  # start byte
    assert not is_valid_frame(good[:4])
    # 01 80 01 | 01 80 ... : a window at offset 2 starts 01 01 (no bit 7): nothing inside.
    assert not frame_inside(bytes.fromhex("01 80 01"), good)
    # A whole good frame inside the damaged bytes is found.
    assert frame_inside(bytes.fromhex("FF") + good, b"")
