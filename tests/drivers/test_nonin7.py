"""Nonin serial data format #7: vectors (spec and a real OEM III capture), exact errors, resync,
seeded fuzz, and the device driver against the simulator on a real pty."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import os
import random
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from drivers.codecs import CODECS
from drivers.codecs.nonin7 import (
    Nonin7Decoder,
    Nonin7Frame,
    Nonin7Packet,
    describe,
    frame_valid,
)
from drivers.devices import open_device
from drivers.errors import CodecError, TransportError
from drivers.model import DeviceEvent, Measurement, QualityFlag, Quantity, SampleBlock

VECTORS = Path(__file__).parents[1] / "vectors" / "nonin7"
CAPTURE = "lukasotter-oem3-sensor-data-60seconds_first5packets"


def load_hex(name: str, folder: Path = VECTORS) -> bytes:
    """Bytes of a .hex vector: line 1 names the source, '#' starts a comment."""
    lines = (folder / f"{name}.hex").read_text().splitlines()
    assert lines[0].startswith("# source: "), "every vector names its source on line 1"
    return bytes.fromhex(" ".join(line.split("#", 1)[0] for line in lines))


def load_json(name: str, folder: Path = VECTORS) -> object:
    return json.loads((folder / f"{name}.json").read_text())


VECTOR_NAMES = sorted(p.stem for p in VECTORS.glob("*.hex"))
NORMAL = load_hex("spec_packet_normal")
FINGER_OUT = load_hex("spec_packet_finger_out")
HR300 = load_hex("spec_packet_hr300_red")
REAL = load_hex(CAPTURE)


def decode_all(data: bytes) -> tuple[list[Nonin7Packet], Nonin7Decoder]:
    decoder = Nonin7Decoder()
    return decoder.feed(data) + decoder.flush(), decoder


def shape(packets: list[Nonin7Packet]) -> list[tuple[int, int | None, int, bool]]:
    return [(p.n_frames, p.first_frame_index, p.frames_lost_before, p.complete) for p in packets]


# --- vectors ------------------------------------------------------------------------------


def test_vectors_present() -> None:
    assert {"spec_packet_normal", "spec_packet_finger_out", "spec_packet_hr300_red"} <= set(
        VECTOR_NAMES
    )
    assert CAPTURE in VECTOR_NAMES


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_vector_describe_whole(name: str) -> None:
    assert describe(load_hex(name)) == load_json(name)


@pytest.mark.parametrize("name", ["spec_packet_normal", "spec_packet_finger_out", CAPTURE])
def test_vector_round_trip(name: str) -> None:
    data = load_hex(name)
    packets, _ = decode_all(data)
    assert b"".join(bytes(p) for p in packets) == data


def test_normal_packet_every_field() -> None:
    (p,), d = decode_all(NORMAL)
    assert p.complete and p.first_frame_index == 0 and p.frames_lost_before == 0
    assert p.pleth == tuple(30000 + 100 * k for k in range(25))
    assert (p.hr_bpm, p.hr_extended_bpm, p.hr_display_bpm, p.hr_display_extended_bpm) == (
        72.0,
        73.0,
        72.0,
        73.0,
    )
    assert (p.spo2_pct, p.spo2_display_pct, p.spo2_fast_pct, p.spo2_beat_pct) == (
        97.0,
        97.0,
        96.0,
        98.0,
    )
    assert (p.spo2_extended_pct, p.spo2_display_extended_pct) == (97.0, 97.0)
    assert (p.firmware_revision, p.stat2, p.smartpoint) == (0x2D, 0x20, True)
    assert p.perfusion.value == "green"
    assert p.quality() == QualityFlag.NONE
    assert (d.frames_ok, d.bytes_dropped, d.packets_ok) == (25, 0, 1)


def test_finger_out_missing_and_held_display_values() -> None:
    (p,), _ = decode_all(FINGER_OUT)
    assert math.isnan(p.hr_bpm) and math.isnan(p.spo2_pct) and math.isnan(p.spo2_fast_pct)
    assert (p.hr_display_bpm, p.spo2_display_pct) == (72.0, 97.0)
    assert p.quality() == (
        QualityFlag.SENSOR_DISCONNECTED | QualityFlag.SENSOR_ALARM | QualityFlag.MISSING
    )


def test_hr300_red_artifact() -> None:
    (p,), _ = decode_all(HR300)
    assert p.hr_bpm == p.hr_extended_bpm == p.hr_display_extended_bpm == 300.0
    assert p.spo2_pct == 88.0
    assert p.pleth[0] == 65535
    assert p.status_quality() == (
        QualityFlag.OUT_OF_TRACK | QualityFlag.ARTIFACT | QualityFlag.LOW_PERFUSION
    )


def test_real_capture_lukasotter_oem3() -> None:
    """Five packets of a real OEM III in format #7: every checksum holds, values as logged."""
    packets, d = decode_all(REAL)
    assert [p.complete for p in packets] == [True] * 5
    assert (d.frames_ok, d.bytes_dropped, d.frames_dropped) == (125, 0, 0)
    assert [p.hr_bpm for p in packets] == [94.0, 93.0, 93.0, 92.0, 92.0]
    assert {p.spo2_pct for p in packets} == {96.0}
    assert {p.firmware_revision for p in packets} == {45}
    assert packets[0].pleth[:3] == (38406, 38420, 38247)
    # Frames 6 and 7 (the timer in format #2) are reserved in #7: zero in this capture.
    assert {p.byte4[5] for p in packets} == {0} and {p.byte4[6] for p in packets} == {0}


# --- exact errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "nonin7 frame: expected 5 bytes, got 0"),
        ("81 75 30 00", "nonin7 frame: expected 5 bytes, got 4"),
        ("01 75 30 00 a6", "nonin7 frame: offset 0: status bit 7 must be 1, got status 0x01"),
        (
            "83 75 30 00 29",
            "nonin7 frame: offset 4: checksum must be 0x28 (sum of offsets 0-3 mod 256), got 0x29",
        ),
    ],
)
def test_frame_errors_exact(raw: str, message: str) -> None:
    with pytest.raises(CodecError) as exc:
        Nonin7Frame.from_bytes(bytes.fromhex(raw))
    assert str(exc.value) == message


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            "00 11 22",
            "no valid nonin7 frame in 3 bytes (a frame is status with bit 7 set, pleth MSB, "
            "pleth LSB, byte 4, checksum = sum of the first 4 bytes mod 256)",
        ),
        (
            "83 75 30 00 29",
            "nonin7 frame: offset 4: checksum must be 0x28 (sum of offsets 0-3 mod 256), got 0x29",
        ),
    ],
)
def test_describe_errors_exact(raw: str, message: str) -> None:
    with pytest.raises(CodecError) as exc:
        describe(bytes.fromhex(raw))
    assert str(exc.value) == message


def test_frame_checks_and_helper() -> None:
    with pytest.raises(CodecError, match=r"status must be 0x80\.\.0xff"):
        Nonin7Frame(0x01, 0, 0)  # type: ignore[arg-type]
    with pytest.raises(CodecError, match="pleth 65536 is outside"):
        Nonin7Frame(0x80, 65536, 0)  # type: ignore[arg-type]
    assert frame_valid(NORMAL, 0) and not frame_valid(NORMAL, 1) and not frame_valid(NORMAL, -1)


def test_registry() -> None:
    assert CODECS["serial.nonin7"] is describe


# --- resync and gaps ---------------------------------------------------------------------


def test_garbage_between_packets_is_counted_exactly() -> None:
    garbage = bytes(b & 0x7F for b in random.Random(3).randbytes(37))
    packets, d = decode_all(NORMAL + garbage + HR300)
    assert shape(packets) == [(25, 0, 0, True), (25, 0, 0, True)]
    assert d.bytes_dropped == 37 and d.resyncs == 1


def test_lost_frames_fit_the_packet_positions() -> None:
    data = NORMAL + HR300
    # Frames 11-13 vanish whole: no byte is out of place, only the early SYNC tells.
    packets, d = decode_all(data[: 10 * 5] + data[13 * 5 :])
    assert shape(packets) == [(22, None, 0, False), (25, 0, 0, True)]
    assert d.sync_errors == 1 and d.frames_dropped == 0 and math.isnan(packets[0].hr_bpm)
    # Two bytes lost inside frame 11: that frame is lost, the rest is placed exactly.
    packets, d = decode_all(data[:50] + data[52:])
    assert shape(packets) == [(10, 0, 0, False), (14, 11, 1, False), (25, 0, 0, True)]
    assert (
        d.frames_dropped == 1
        and d.bytes_dropped == 3
        and packets[1].status_quality() & (QualityFlag.GAP_BEFORE)
    )


def test_damaged_frame_keeps_lock() -> None:
    data = bytearray(NORMAL * 2)
    data[7 * 5 + 4] ^= 0x01  # checksum of frame 8
    packets, d = decode_all(bytes(data))
    assert shape(packets) == [(7, 0, 0, False), (17, 8, 1, False), (25, 0, 0, True)]
    assert d.frames_rejected == 1 and d.resyncs == 0 and d.bytes_dropped == 5


def test_split_feed_gives_the_same_packets() -> None:
    data = REAL + FINGER_OUT
    whole, _ = decode_all(data)
    d = Nonin7Decoder()
    parts = [q for k in range(0, len(data), 3) for q in d.feed(data[k : k + 3])] + d.flush()
    assert parts == whole


# --- fuzz ---------------------------------------------------------------------------------


def mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(0, 12)):
        kind = rng.random()
        at = rng.randrange(len(out) + 1)
        if kind < 0.3 and out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        elif kind < 0.55:
            del out[at : at + rng.randint(1, 40)]
        elif kind < 0.8:
            out[at:at] = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 30)))
        else:
            out[at:at] = out[at : at + rng.randint(1, 60)]
    return bytes(out)


def fuzz_seed(name: str) -> int:
    seed = int(os.environ.get("HELSEROM_FUZZ_SEED", random.randrange(2**32)))
    print(f"{name} fuzz seed: {seed} (replay with HELSEROM_FUZZ_SEED={seed})")
    return seed


def test_fuzz_never_raises_counts_and_recovers() -> None:
    seed = fuzz_seed("nonin7")
    rng = random.Random(seed)
    clean = (NORMAL + HR300 + FINGER_OUT + REAL) * 2
    for case in range(250):
        data = (
            rng.randbytes(rng.randint(0, 600)) if case % 10 == 0 else mutate(rng, clean)
        ) + NORMAL * 2  # always ends with clean packets: the decoder must recover
        decoder = Nonin7Decoder()
        packets: list[Nonin7Packet] = []
        i = 0
        while i < len(data):
            step = rng.randint(1, 80)
            packets += decoder.feed(data[i : i + step])
            i += step
        packets += decoder.flush()
        ctx = f"seed {seed} case {case}"
        assert 5 * decoder.frames_ok + decoder.bytes_dropped + decoder.pending_bytes == len(data)
        assert sum(p.n_frames for p in packets) == decoder.frames_ok, ctx
        assert sum(p.frames_lost_before for p in packets) == decoder.frames_dropped, ctx
        assert decoder.packets_ok == sum(p.complete for p in packets), ctx
        assert packets[-1].complete and packets[-1].hr_bpm == 72.0, ctx
        for p in packets:
            if p.first_frame_index is None:
                assert math.isnan(p.hr_bpm) and p.firmware_revision is None, ctx
        try:
            json.dumps(describe(data), allow_nan=False)
        except CodecError as exc:
            assert "\n" not in str(exc), ctx


def test_agrees_with_hwsim_encoder() -> None:
    sim = pytest.importorskip("hwsim.nonin78")
    packet = sim.Packet7(
        pleth=tuple(range(1000, 1025)),
        perfusion=(sim.YELLOW,) * 12 + (0,) * 13,
        hr_bpm=131,
        spo2_pct=91,
        hr_display_bpm=130,
        spo2_display_pct=92,
        out_of_track=True,
    )
    (p,), _ = decode_all(packet.encode())
    assert (p.hr_bpm, p.spo2_pct, p.hr_display_bpm, p.spo2_display_pct) == (131, 91, 130, 92)
    assert p.pleth == tuple(range(1000, 1025)) and p.perfusion.value == "yellow"
    assert p.status_quality() == QualityFlag.OUT_OF_TRACK | QualityFlag.MARGINAL_PERFUSION


# --- device on a real pty ------------------------------------------------------------------


@dataclass
class DeviceRun:
    """What a driver yielded while it ran against a simulator."""

    blocks: list[SampleBlock] = field(default_factory=list)
    numerics: list[Measurement] = field(default_factory=list)
    reconnects: int = 0
    first_event_after_replug_s: float | None = None


async def run_device(
    uri: str, seconds: float, replug_at: tuple[object, float] | None = None
) -> DeviceRun:
    """Run the driver for ``seconds``, reopening the port after it vanishes (as the
    supervisor does). ``replug_at`` = (sim, t): unplug then replug the sim at t seconds."""
    result = DeviceRun()
    device = open_device("ox-test", uri)
    replugged_at: list[float] = []

    async def consume() -> None:
        while True:
            try:
                events: AsyncIterator[DeviceEvent] = device.stream()
                async for event in events:
                    if replugged_at and result.first_event_after_replug_s is None:
                        result.first_event_after_replug_s = time.monotonic() - replugged_at[0]
                    if isinstance(event, SampleBlock):
                        result.blocks.append(event)
                    elif isinstance(event, Measurement):
                        result.numerics.append(event)
            except TransportError:
                result.reconnects += 1
                await asyncio.sleep(0.05)

    async def plug() -> None:
        if replug_at is None:
            return
        sim, at_s = replug_at
        await asyncio.sleep(at_s)
        sim.unplug()  # type: ignore[attr-defined]
        await asyncio.sleep(0.5)
        sim.replug()  # type: ignore[attr-defined]
        replugged_at.append(time.monotonic())

    task = asyncio.create_task(consume())
    plugger = asyncio.create_task(plug())
    await asyncio.sleep(seconds)
    task.cancel()
    plugger.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    with contextlib.suppress(asyncio.CancelledError):
        await plugger
    return result


def check_continuity(blocks: list[SampleBlock]) -> int:
    """Blocks follow each other without a gap; returns the number of samples."""
    for prev, nxt in itertools.pairwise(blocks):
        assert nxt.first_index == prev.first_index + prev.n_samples
        assert not nxt.quality & QualityFlag.GAP_BEFORE
    return sum(b.n_samples for b in blocks)


@pytest.fixture
async def sim7(tmp_path: Path) -> AsyncIterator[object]:
    from hwsim.sim_oximeters import SimNonin7Oximeter

    device = SimNonin7Oximeter(
        "ox7", tmp_path / "serial" / "by-id" / "usb-Nonin_7-if00", seed=11, acquire_s=0.0
    )
    async with device, asyncio.TaskGroup() as group:
        task = group.create_task(device.run())
        yield device
        task.cancel()


async def test_device_streams_10_s_at_full_rate(sim7: object) -> None:
    run = await run_device(sim7.uri, 10.0)  # type: ignore[attr-defined]
    sent = sim7.counters()["units_sent"]  # type: ignore[attr-defined]
    received = check_continuity(run.blocks)
    print(f"nonin7: {sent} frames sent, {received} pleth samples received in 10 s")
    assert 0 <= sent - received <= 40  # at most the packet in progress and the pty's bytes
    assert received >= 25 * 10
    assert {b.fs_hz for b in run.blocks} == {75.0} and run.blocks[0].first_index == 0
    spo2 = [m for m in run.numerics if m.quantity is Quantity.SPO2]
    assert len(spo2) == received // 25
    assert all(90 <= m.value <= 100 and m.quality == QualityFlag.NONE for m in spo2)


async def test_device_unplug_replug_gives_data_again(sim7: object) -> None:
    run = await run_device(sim7.uri, 4.0, replug_at=(sim7, 1.5))  # type: ignore[attr-defined]
    assert run.reconnects >= 1
    assert run.first_event_after_replug_s is not None
    print(f"nonin7: first event {run.first_event_after_replug_s:.3f} s after replug")
    assert run.blocks[-1].first_index > 0
