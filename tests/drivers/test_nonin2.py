"""Nonin serial data format #2: vectors built by hand from the format description, framing
faults with exact counters, split feeds, describe(), and a seeded fuzz test."""

from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path

import pytest

from drivers.codecs import CODECS, describe
from drivers.codecs.nonin2 import (
    FIELD_FRAMES,
    Nonin2Decoder,
    Nonin2Frame,
    Nonin2Packet,
    Nonin2Status,
    Perfusion,
    frame_valid,
)
from drivers.codecs.nonin2 import describe as describe_nonin2
from drivers.errors import CodecError
from drivers.model import QualityFlag

VECTORS = Path(__file__).parents[1] / "vectors" / "nonin2"


def load_hex(name: str) -> bytes:
    """Bytes of a .hex vector: '#' starts a comment, whitespace is ignored."""
    lines = (VECTORS / f"{name}.hex").read_text().splitlines()
    assert lines[0].startswith("# source: "), "every vector names its source on line 1"
    return bytes.fromhex(" ".join(line.split("#", 1)[0] for line in lines))


def load_json(name: str) -> object:
    return json.loads((VECTORS / f"{name}.json").read_text())


VECTOR_NAMES = sorted(p.stem for p in VECTORS.glob("*.hex"))
NORMAL = load_hex("spec_packet_normal")
FINGER_OUT = load_hex("spec_packet_finger_out")
HR300 = load_hex("spec_packet_hr300_red")
EDMUND = load_hex("edmund-troche-spo2-nonin_frame-txt")


def frames_of(data: bytes) -> list[bytes]:
    return [data[i : i + 5] for i in range(0, len(data), 5)]


def decode_all(data: bytes) -> tuple[list[Nonin2Packet], Nonin2Decoder]:
    decoder = Nonin2Decoder()
    packets = decoder.feed(data) + decoder.flush()
    return packets, decoder


def counters(d: Nonin2Decoder) -> dict[str, int]:
    return {
        "frames_ok": d.frames_ok,
        "frames_dropped": d.frames_dropped,
        "bytes_dropped": d.bytes_dropped,
        "frames_rejected": d.frames_rejected,
        "resyncs": d.resyncs,
        "sync_errors": d.sync_errors,
        "packets_ok": d.packets_ok,
        "packets_incomplete": d.packets_incomplete,
        "pending_bytes": d.pending_bytes,
    }


def shape(packets: list[Nonin2Packet]) -> list[tuple[int, int | None, int, bool]]:
    """(n_frames, first_frame_index, frames_lost_before, complete) per packet."""
    return [(p.n_frames, p.first_frame_index, p.frames_lost_before, p.complete) for p in packets]


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


# --- vectors ---------------------------------------------------------------------------------


def test_vectors_present() -> None:
    assert "edmund-troche-spo2-nonin_frame-txt" in VECTOR_NAMES
    for name in VECTOR_NAMES:
        assert (VECTORS / f"{name}.json").exists(), f"{name}.hex has no expected JSON beside it"


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_vector_describe_whole(name: str) -> None:
    result = describe("serial.nonin2", load_hex(name))
    assert result == load_json(name)
    json.dumps(result, allow_nan=False)  # JSON-ready: no NaN, no enums


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_vector_frames_round_trip(name: str) -> None:
    data = load_hex(name)
    for raw in frames_of(data):
        assert bytes(Nonin2Frame.from_bytes(raw)) == raw
    if len(data) > 5:
        packets, _ = decode_all(data)
        assert b"".join(bytes(p) for p in packets) == data


def test_normal_packet_every_field() -> None:
    packets, d = decode_all(NORMAL)
    assert len(packets) == 1
    p = packets[0]
    assert (p.complete, p.n_frames, p.first_frame_index, p.frames_lost_before) == (True, 25, 0, 0)
    assert p.pleth == (
        128,
        144,
        168,
        192,
        208,
        216,
        208,
        192,
        176,
        160,
        152,
        144,
        136,
        128,
        120,
        112,
        104,
        100,
        96,
        92,
        88,
        88,
        96,
        112,
        128,
    )
    assert [int(s) for s in p.statuses] == [0x81] + [0x82] * 12 + [0x80] * 12
    assert all(isinstance(s, Nonin2Status) for s in p.statuses)
    assert (p.hr_bpm, p.spo2_pct, p.spo2_display_pct, p.spo2_fast_pct, p.spo2_beat_pct) == (
        72.0,
        97.0,
        97.0,
        96.0,
        98.0,
    )
    assert (p.hr_extended_bpm, p.spo2_extended_pct, p.spo2_display_extended_pct) == (
        71.0,
        97.0,
        97.0,
    )
    assert (p.hr_display_bpm, p.hr_display_extended_bpm) == (72.0, 71.0)
    assert (p.firmware_revision, p.timer_ticks, p.stat2) == (42, 133, 0)
    assert p.timer_s == pytest.approx(133 / 3)
    assert p.byte4[:8] == (0x00, 0x48, 0x61, 0x2A, 0x00, 0x01, 0x05, 0x00)
    assert p.perfusion is Perfusion.GREEN
    assert p.quality() == QualityFlag.NONE
    assert all(p.received(name) for name in FIELD_FRAMES)
    assert counters(d) == {
        "frames_ok": 25,
        "frames_dropped": 0,
        "bytes_dropped": 0,
        "frames_rejected": 0,
        "resyncs": 0,
        "sync_errors": 0,
        "packets_ok": 1,
        "packets_incomplete": 0,
        "pending_bytes": 0,
    }


def test_finger_out_missing_values_and_held_display_values() -> None:
    (p,), _ = decode_all(FINGER_OUT)
    for name in (
        "hr_bpm",
        "spo2_pct",
        "spo2_fast_pct",
        "spo2_beat_pct",
        "hr_extended_bpm",
        "spo2_extended_pct",
    ):
        assert math.isnan(getattr(p, name)), name
        assert p.received(name)
        assert QualityFlag.MISSING in p.value_quality(name)
    assert (p.spo2_display_pct, p.spo2_display_extended_pct) == (97.0, 97.0)
    assert (p.hr_display_bpm, p.hr_display_extended_bpm) == (72.0, 71.0)
    assert QualityFlag.MISSING not in p.value_quality("hr_display_bpm")
    assert p.quality() == (
        QualityFlag.SENSOR_ALARM | QualityFlag.OUT_OF_TRACK | QualityFlag.MISSING
    )
    assert p.timer_s == 2.0


def test_hr_above_127_reserved_bits_and_perfusion() -> None:
    (p,), _ = decode_all(HR300)
    assert p.hr_bpm == 300.0  # MSB 0x06: reserved bit 2 ignored, bits 1..0 = 2
    assert (p.hr_extended_bpm, p.hr_display_bpm, p.hr_display_extended_bpm) == (128.0, 299.0, 255.0)
    assert (p.timer_ticks, p.stat2, p.byte4[4], p.byte4[24]) == (16383, 0x21, 0x13, 0xFF)
    assert p.timer_s == 5461.0
    assert p.perfusion is Perfusion.RED
    assert [s for s in p.statuses if Nonin2Status.ARTF in s] == [Nonin2Status(0xA6)]
    assert p.quality() == (
        QualityFlag.ARTIFACT | QualityFlag.LOW_PERFUSION | QualityFlag.MARGINAL_PERFUSION
    )


def test_real_capture_edmund_troche() -> None:
    (p,), d = decode_all(EDMUND)
    assert (p.hr_bpm, p.spo2_pct, p.firmware_revision, p.spo2_beat_pct) == (61.0, 97.0, 41, 98.0)
    assert (p.hr_extended_bpm, p.spo2_extended_pct) == (62.0, 98.0)
    assert p.byte4[4] == 0x61  # a reserved frame that is not zero: ignored
    assert d.packets_ok == 1


# --- one frame -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("01 81 40 00", "nonin2 frame: expected 5 bytes, got 4"),
        ("01 81 40 00 c2 00", "nonin2 frame: expected 5 bytes, got 6"),
        ("", "nonin2 frame: expected 5 bytes, got 0"),
        ("02 81 40 00 c3", "nonin2 frame: offset 0: start byte must be 0x01, got 0x02"),
        ("01 01 40 00 42", "nonin2 frame: offset 1: status bit 7 must be 1, got status 0x01"),
        (
            "01 81 40 00 c3",
            "nonin2 frame: offset 4: checksum must be 0xc2 (sum of offsets 0-3 mod 256), got 0xc3",
        ),
    ],
)
def test_frame_errors_exact(raw: str, message: str) -> None:
    with pytest.raises(CodecError) as exc:
        Nonin2Frame.from_bytes(bytes.fromhex(raw))
    assert str(exc.value) == message


def test_frame_post_init_checks() -> None:
    with pytest.raises(CodecError, match=r"^nonin2 frame: status bit 7 must be 1, got status 0x01"):
        Nonin2Frame(Nonin2Status.SYNC, 0, 0)
    with pytest.raises(CodecError, match=r"^nonin2 frame: pleth 256 is outside 0\.\.255$"):
        Nonin2Frame(Nonin2Status.ALWAYS_ONE, 256, 0)
    with pytest.raises(CodecError, match=r"^nonin2 frame: byte4 -1 is outside 0\.\.255$"):
        Nonin2Frame(Nonin2Status.ALWAYS_ONE, 0, -1)
    frame = Nonin2Frame(Nonin2Status(0x81), 0x40, 0)
    assert bytes(frame) == bytes.fromhex("018140 00c2")
    assert frame.sync


def test_status_bit_values() -> None:
    assert {f.name: f.value for f in Nonin2Status} == {
        "SYNC": 0x01,
        "GPRF": 0x02,
        "RPRF": 0x04,
        "SNSA": 0x08,
        "OOT": 0x10,
        "ARTF": 0x20,
        "SNSD": 0x40,
        "ALWAYS_ONE": 0x80,
    }
    assert Nonin2Status.YPRF == Nonin2Status.GPRF | Nonin2Status.RPRF


# Frames written by hand: 01, STATUS, PLETH 0x10, byte 4 0x00, CHK = 0x11 + STATUS (mod 256).
@pytest.mark.parametrize(
    ("raw", "names", "perfusion", "quality"),
    [
        ("01 80 10 00 91", [], Perfusion.NONE, QualityFlag.NONE),
        ("01 81 10 00 92", ["SYNC"], Perfusion.NONE, QualityFlag.NONE),
        ("01 82 10 00 93", ["GPRF"], Perfusion.GREEN, QualityFlag.NONE),
        ("01 84 10 00 95", ["RPRF"], Perfusion.RED, QualityFlag.LOW_PERFUSION),
        ("01 86 10 00 97", ["GPRF", "RPRF"], Perfusion.YELLOW, QualityFlag.MARGINAL_PERFUSION),
        ("01 88 10 00 99", ["SNSA"], Perfusion.NONE, QualityFlag.SENSOR_ALARM),
        ("01 90 10 00 a1", ["OOT"], Perfusion.NONE, QualityFlag.OUT_OF_TRACK),
        ("01 a0 10 00 b1", ["ARTF"], Perfusion.NONE, QualityFlag.ARTIFACT),
        ("01 c0 10 00 d1", ["SNSD"], Perfusion.NONE, QualityFlag.SENSOR_DISCONNECTED),
        (
            "01 ff 10 00 10",
            ["SYNC", "GPRF", "RPRF", "SNSA", "OOT", "ARTF", "SNSD"],
            Perfusion.YELLOW,
            QualityFlag.SENSOR_DISCONNECTED
            | QualityFlag.ARTIFACT
            | QualityFlag.OUT_OF_TRACK
            | QualityFlag.SENSOR_ALARM
            | QualityFlag.MARGINAL_PERFUSION,
        ),
    ],
)
def test_each_status_bit_and_colour(
    raw: str, names: list[str], perfusion: Perfusion, quality: QualityFlag
) -> None:
    data = bytes.fromhex(raw)
    frame = Nonin2Frame.from_bytes(data)
    assert frame.perfusion is perfusion
    assert bytes(frame) == data
    result = describe_nonin2(data)
    assert result["status"] == names
    assert result["perfusion"] == perfusion.value
    assert result["quality"] == quality.names()
    packet = Nonin2Packet.from_frames([frame], None)
    assert packet.status_quality() == quality


def test_frame_valid_helper() -> None:
    assert frame_valid(NORMAL) and frame_valid(NORMAL, 120)
    assert not frame_valid(NORMAL, 1) and not frame_valid(NORMAL, 121) and not frame_valid(b"")


# --- decoder: faults with exact counters -----------------------------------------------------


def flip(data: bytes, offset: int, mask: int) -> bytes:
    out = bytearray(data)
    out[offset] ^= mask
    return bytes(out)


def expect(
    frames_ok: int,
    *,
    frames_dropped: int = 0,
    bytes_dropped: int = 0,
    frames_rejected: int = 0,
    resyncs: int = 0,
    sync_errors: int = 0,
    packets_ok: int = 0,
    packets_incomplete: int = 0,
) -> dict[str, int]:
    return {
        "frames_ok": frames_ok,
        "frames_dropped": frames_dropped,
        "bytes_dropped": bytes_dropped,
        "frames_rejected": frames_rejected,
        "resyncs": resyncs,
        "sync_errors": sync_errors,
        "packets_ok": packets_ok,
        "packets_incomplete": packets_incomplete,
        "pending_bytes": 0,
    }


GARBAGE7 = bytes.fromhex("01 80 55 00 01 01 81")  # starts like frames, never checks out
SCENARIOS = {
    "clean": (
        NORMAL + HR300 + NORMAL,
        [(25, 0, 0, True)] * 3,
        expect(75, packets_ok=3),
    ),
    "garbage_before_first_frame": (  # not a gap: nothing came before it
        bytes.fromhex("00 02 ff 01 80 7e") + NORMAL + HR300,
        [(25, 0, 0, True)] * 2,
        expect(50, bytes_dropped=6, packets_ok=2),
    ),
    "garbage_between_packets": (  # 7 bytes ~ 1 frame, but 0 fits modulo 25: nothing lost
        NORMAL + GARBAGE7 + HR300 + NORMAL,
        [(25, 0, 0, True)] * 3,
        expect(75, bytes_dropped=7, frames_rejected=1, resyncs=1, packets_ok=3),
    ),
    "truncated_frame": (  # frame 10 of HR300 loses its last 2 bytes
        NORMAL + HR300[:48] + HR300[50:] + NORMAL,
        [(25, 0, 0, True), (9, 0, 0, False), (15, 10, 1, False), (25, 0, 0, True)],
        expect(
            74,
            frames_dropped=1,
            bytes_dropped=3,
            frames_rejected=1,
            resyncs=1,
            packets_ok=2,
            packets_incomplete=2,
        ),
    ),
    "bit_flip_in_frame_3": (  # damaged in place: lock kept, no resync
        NORMAL + flip(HR300, 13, 0x04) + NORMAL,
        [(25, 0, 0, True), (2, 0, 0, False), (22, 3, 1, False), (25, 0, 0, True)],
        expect(
            74,
            frames_dropped=1,
            bytes_dropped=5,
            frames_rejected=1,
            packets_ok=2,
            packets_incomplete=2,
        ),
    ),
    "bit_flip_in_sync_frame": (
        NORMAL + flip(HR300, 1, 0x01) + NORMAL,
        [(25, 0, 0, True), (24, 1, 1, False), (25, 0, 0, True)],
        expect(
            74,
            frames_dropped=1,
            bytes_dropped=5,
            frames_rejected=1,
            packets_ok=2,
            packets_incomplete=1,
        ),
    ),
    "bit_flip_in_start_byte": (
        NORMAL + flip(HR300, 100, 0x01) + NORMAL,
        [(25, 0, 0, True), (20, 0, 0, False), (4, 21, 1, False), (25, 0, 0, True)],
        expect(
            74,
            frames_dropped=1,
            bytes_dropped=5,
            frames_rejected=1,
            packets_ok=2,
            packets_incomplete=2,
        ),
    ),
    "seven_frames_vanish_on_frame_boundaries": (  # SYNC early: positions unknown
        NORMAL + HR300[:25] + HR300[60:] + NORMAL,
        [(25, 0, 0, True), (18, None, 0, False), (25, 0, 7, True)],
        expect(68, frames_dropped=7, sync_errors=1, packets_ok=2, packets_incomplete=1),
    ),
    "sync_frame_vanishes_on_frame_boundaries": (  # 26 frames and no SYNC
        NORMAL + HR300[:25] + NORMAL[5:] + HR300,
        [(25, 0, 0, True), (25, None, 0, False), (4, 21, 0, False), (25, 0, 0, True)],
        expect(79, sync_errors=1, packets_ok=2, packets_incomplete=2),
    ),
    "stream_starts_mid_packet": (  # the first frames end right before SYNC: positions known
        HR300[50:] + NORMAL,
        [(15, 10, 0, False), (25, 0, 0, True)],
        expect(40, packets_ok=1, packets_incomplete=1),
    ),
    "long_garbage_counts_as_lost_packet": (  # 130 bytes = 26 frames of line time
        NORMAL + bytes(130) + HR300,
        [(25, 0, 0, True), (25, 0, 25, True)],
        expect(
            50, frames_dropped=25, bytes_dropped=130, frames_rejected=1, resyncs=1, packets_ok=2
        ),
    ),
    "partial_packet_at_end": (
        HR300[:60],
        [(12, 0, 0, False)],
        expect(12, packets_incomplete=1),
    ),
}


@pytest.mark.parametrize("name", SCENARIOS)
def test_fault_scenarios_exact(name: str) -> None:
    data, expected_shape, expected_counters = SCENARIOS[name]
    packets, d = decode_all(data)
    assert shape(packets) == expected_shape
    assert counters(d) == expected_counters
    assert sum(p.frames_lost_before for p in packets) == d.frames_dropped


@pytest.mark.parametrize("name", SCENARIOS)
def test_split_feed_gives_the_same_result(name: str) -> None:
    data = SCENARIOS[name][0]
    whole, d_whole = decode_all(data)
    d = Nonin2Decoder()
    one_by_one = [p for i in range(len(data)) for p in d.feed(data[i : i + 1])] + d.flush()
    assert one_by_one == whole
    assert counters(d) == counters(d_whole)


def test_numerics_follow_frame_positions_after_a_gap() -> None:
    packets, _ = decode_all(NORMAL + flip(HR300, 13, 0x04) + NORMAL)
    head, tail = packets[1], packets[2]
    assert head.hr_bpm == 300.0 and head.received("hr_bpm")
    assert math.isnan(head.spo2_pct) and not head.received("spo2_pct")  # its frame was damaged
    assert math.isnan(tail.spo2_pct) and not tail.received("spo2_pct")
    assert (tail.firmware_revision, tail.timer_ticks, tail.spo2_beat_pct) == (42, 16383, 83.0)
    assert QualityFlag.GAP_BEFORE in tail.quality()
    assert QualityFlag.MISSING in tail.value_quality("hr_bpm")


def test_unknown_positions_give_no_numerics() -> None:
    packets, _ = decode_all(NORMAL + HR300[:25] + HR300[60:] + NORMAL)
    broken = packets[1]
    assert broken.first_frame_index is None and broken.pleth == tuple(
        b for i, b in enumerate(HR300[:25] + HR300[60:]) if i % 5 == 2
    )
    assert all(not broken.received(name) for name in FIELD_FRAMES)
    assert all(math.isnan(getattr(broken, n)) for n in ("hr_bpm", "spo2_pct", "spo2_fast_pct"))
    assert broken.firmware_revision is None and broken.timer_s is None


def test_one_frame_needs_flush_and_flush_keeps_partial_bytes() -> None:
    d = Nonin2Decoder()
    assert d.feed(NORMAL[:5]) == []  # hunting: a lone frame is not trusted yet
    (p,) = d.flush()
    assert (p.n_frames, p.first_frame_index) == (1, 0)
    assert math.isnan(p.hr_bpm) and not p.received("hr_bpm")  # HR LSB is in frame 2
    d.feed(NORMAL[5:7])
    assert d.flush() == [] and d.pending_bytes == 2
    rest = d.feed(NORMAL[7:]) + d.flush()
    assert [(q.n_frames, q.first_frame_index, q.frames_lost_before) for q in rest] == [(24, 1, 0)]
    assert math.isnan(rest[0].hr_bpm)  # MSB went out with the flushed packet: never joined
    assert rest[0].spo2_pct == 97.0
    assert d.frames_ok == 25 and d.frames_dropped == 0


def test_flush_mid_packet_continues_positions() -> None:
    d = Nonin2Decoder()
    first = d.feed(NORMAL[:60]) + d.flush()
    second = d.feed(NORMAL[60:] + HR300) + d.flush()
    assert shape(first) == [(12, 0, 0, False)]
    assert shape(second) == [(13, 12, 0, False), (25, 0, 0, True)]
    assert second[0].spo2_extended_pct == 97.0


def test_packet_checks() -> None:
    good = Nonin2Packet.from_raw([0x81], [1], [0])
    assert good.first_frame_index == 0 and not good.complete
    with pytest.raises(CodecError, match=r"do not fit 0\.\.24"):
        Nonin2Packet.from_raw([0x80] * 3, [0] * 3, [0] * 3, first_frame_index=23)
    with pytest.raises(KeyError, match="unknown nonin2 field 'pulse'"):
        good.received("pulse")


# --- describe and the registry ---------------------------------------------------------------


def test_describe_stream_with_faults() -> None:
    # the SYNC frame at the end places HR300's last 22 frames, so their numerics count
    data = NORMAL + GARBAGE7 + flip(HR300, 13, 0x04) + NORMAL[:8]
    result = describe("serial.nonin2", data)
    assert result["kind"] == "stream"
    assert (result["frames"], result["packets"], result["packets_complete"]) == (50, 4, 1)
    assert (result["frames_lost"], result["bytes_skipped"]) == (1, 12)
    assert (result["pulse_bpm"], result["spo2_pct"], result["spo2_beat_pct"]) == (300, 97, 83)
    assert (result["timer_ticks"], result["stat2"]) == (16383, 0x21)
    assert result["warnings"] == [
        "12 byte(s) skipped while looking for frames",
        "2 frame(s) failed the start byte, status bit 7 or checksum check and were dropped",
        "about 1 frame(s) lost in gaps",
        "3 incomplete packet(s) (fewer than 25 frames in order)",
        "3 trailing byte(s) do not make a valid frame",
        "artifact (ARTF) in 1 of 50 frame(s)",
        "red perfusion (low or no pulse signal) in 11 of 50 frame(s)",
        "yellow perfusion (marginal pulse signal) in 1 of 50 frame(s)",
    ]
    json.dumps(result, allow_nan=False)


def test_describe_partial_packet_lists_fields_not_received() -> None:
    result = describe("serial.nonin2", NORMAL[:20])
    assert (result["pulse_bpm"], result["spo2_pct"], result["firmware_revision"]) == (72, 97, 42)
    assert result["spo2_display_pct"] is None and result["timer_s"] is None
    warnings = result["warnings"]
    assert isinstance(warnings, list)
    assert warnings[0] == "1 incomplete packet(s) (fewer than 25 frames in order)"
    assert warnings[1].startswith(
        "not received (their frames are missing): spo2_display_pct, spo2_fast_pct,"
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "no valid nonin2 frame in 0 bytes"),
        ("00 01 02 03 04 05", "no valid nonin2 frame in 6 bytes"),
        ("01 81 40 00 c3", "nonin2 frame: offset 4: checksum must be 0xc2"),
    ],
)
def test_describe_errors_are_one_line(raw: str, message: str) -> None:
    with pytest.raises(CodecError) as exc:
        describe("serial.nonin2", bytes.fromhex(raw))
    assert str(exc.value).startswith(message)
    assert "\n" not in str(exc.value)


def test_registry() -> None:
    assert CODECS["serial.nonin2"] is describe_nonin2
    with pytest.raises(CodecError) as exc:
        describe("serial.nonin9", b"")
    known = ", ".join(sorted(CODECS))
    assert str(exc.value) == f"unknown codec 'serial.nonin9'; known codecs: {known}"
    assert "serial.nonin2" in known


# --- the simulator as a second, independent oracle (never the only one) -----------------------


def test_agrees_with_hwsim_encoder() -> None:
    sim = pytest.importorskip("hwsim.nonin2")
    base = sim.Nonin2Packet.steady(bytes(range(100, 125)), hr_bpm=301, spo2_pct=88)
    cases = [
        base,
        sim.Nonin2Packet.steady(bytes(25), hr_bpm=None, spo2_pct=None),
        sim.Nonin2Packet(
            pleth=bytes(range(25)),
            hr_bpm=64,
            spo2_pct=99,
            firmware_rev=7,
            timer_ticks=9000,
            stat2=sim.Stat2.SMARTPOINT,
            hr_display_bpm=65,
            sensor_disconnected=True,
            out_of_track=True,
            sensor_alarm=True,
            artifact=(True,) + (False,) * 24,
            perfusion=(sim.Perfusion.YELLOW,) * 12 + (sim.Perfusion.RED,) * 13,
            reserved_byte=0xFF,
        ),
    ]
    data = b"".join(bytes(c) for c in cases)
    packets, d = decode_all(data)
    assert d.packets_ok == 3 and d.bytes_dropped == 0
    for want, got in zip(cases, packets, strict=True):

        def value(x: int | None) -> float:
            return math.nan if x is None else float(x)

        assert got.pleth == tuple(want.pleth)
        pairs = [
            (want.hr_bpm, got.hr_bpm),
            (want.spo2_pct, got.spo2_pct),
            (want.hr_ext_bpm, got.hr_extended_bpm),
            (want.hr_display_bpm, got.hr_display_bpm),
            (want.hr_ext_display_bpm, got.hr_display_extended_bpm),
            (want.spo2_display_pct, got.spo2_display_pct),
            (want.spo2_fast_pct, got.spo2_fast_pct),
            (want.spo2_beat_pct, got.spo2_beat_pct),
            (want.spo2_ext_pct, got.spo2_extended_pct),
            (want.spo2_ext_display_pct, got.spo2_display_extended_pct),
        ]
        assert all(same(value(w), g) for w, g in pairs), pairs
        assert (got.firmware_revision, got.timer_ticks, got.stat2) == (
            want.firmware_rev,
            want.timer_ticks,
            int(want.stat2),
        )
        assert [f.perfusion.value for f in got.frames()] == [p.name.lower() for p in want.perfusion]
        assert [Nonin2Status.ARTF in s for s in got.statuses] == list(want.artifact)
        assert (QualityFlag.SENSOR_DISCONNECTED in got.quality()) == want.sensor_disconnected


# --- fuzz ------------------------------------------------------------------------------------


def _mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(0, 12)):
        kind = rng.random()
        at = rng.randrange(len(out) + 1)
        if kind < 0.3 and out:  # bit flip
            i = rng.randrange(len(out))
            out[i] ^= 1 << rng.randrange(8)
        elif kind < 0.55:  # delete a run
            del out[at : at + rng.randint(1, 40)]
        elif kind < 0.8:  # insert garbage, sometimes frame-like
            junk = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 30)))
            out[at:at] = junk if rng.random() < 0.5 else junk.replace(b"\x00", b"\x01")
        else:  # duplicate a run
            out[at:at] = out[at : at + rng.randint(1, 60)]
    return bytes(out)


def test_fuzz_never_raises_and_counters_add_up() -> None:
    seed = int(os.environ.get("HELSEROM_FUZZ_SEED", random.randrange(2**32)))
    print(f"nonin2 fuzz seed: {seed} (replay with HELSEROM_FUZZ_SEED={seed})")
    rng = random.Random(seed)
    clean = (NORMAL + HR300 + FINGER_OUT + EDMUND) * 3
    for case in range(300):
        if case % 10 == 0:
            data = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 600)))
        else:
            data = _mutate(rng, clean)
        decoder = Nonin2Decoder()
        packets: list[Nonin2Packet] = []
        i = 0
        while i < len(data):
            step = rng.randint(1, 80)
            packets += decoder.feed(data[i : i + step])
            i += step
        packets += decoder.flush()
        ctx = f"seed {seed} case {case}"
        assert 5 * decoder.frames_ok + decoder.bytes_dropped + decoder.pending_bytes == len(data), (
            ctx
        )
        assert sum(p.n_frames for p in packets) == decoder.frames_ok, ctx
        assert sum(p.frames_lost_before for p in packets) == decoder.frames_dropped, ctx
        assert decoder.packets_ok + decoder.packets_incomplete == len(packets), ctx
        assert decoder.packets_ok == sum(p.complete for p in packets), ctx
        for p in packets:
            assert len(p.pleth) == len(p.statuses) == len(p.byte4) == p.n_frames, ctx
            if p.first_frame_index is None:
                assert math.isnan(p.hr_bpm) and p.firmware_revision is None, ctx
        if case < 40:  # the same bytes one by one give the same packets
            d1 = Nonin2Decoder()
            single = [q for k in range(len(data)) for q in d1.feed(data[k : k + 1])] + d1.flush()
            assert single == packets, ctx
        try:
            json.dumps(describe_nonin2(data), allow_nan=False)
        except CodecError as exc:
            assert "\n" not in str(exc), ctx
