"""Spirometer (SFM3300-D bridge) codec: vectors whole and by field, CRC reference values, exact
errors, resync and sequence gaps, a seeded fuzz test; and the driver reading the hwsim
spirometer on a real pty for ~10 s with a manoeuvre, faults and an unplug."""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import os
import random
import re
import time
from pathlib import Path

import numpy as np
import pytest
from hwsim.spirometer import SimSpirometer, builtin_expiration_lps, encode_frame

from drivers.codecs import CODECS, describe
from drivers.codecs.spiro import (
    SpiroDecoder,
    SpiroFrame,
    SpiroStatus,
    crc8_sensirion,
    crc16_ccitt,
    frame_len,
    raw_to_lps,
)
from drivers.codecs.spiro import describe as describe_spiro
from drivers.devices import open_device
from drivers.devices.spirometer import frame_quality
from drivers.errors import CodecError, PortGoneError, UriError
from drivers.model import QualityFlag, Quantity, SampleBlock

VECTORS = Path(__file__).parents[1] / "vectors" / "spiro"


def load_hex(name: str) -> bytes:
    lines = (VECTORS / f"{name}.hex").read_text().splitlines()
    assert lines[0].startswith("# source: "), "every vector names its source on line 1"
    return bytes.fromhex(" ".join(line.split("#", 1)[0] for line in lines))


VECTOR_NAMES = sorted(p.stem for p in VECTORS.glob("*.hex"))
FLOW = load_hex("spec_frame_flow")
GAP = load_hex("spec_stream_gap")


def decode_all(data: bytes, step: int | None = None) -> tuple[list[SpiroFrame], SpiroDecoder]:
    d = SpiroDecoder()
    step = step or max(1, len(data))
    frames = [f for i in range(0, len(data), step) for f in d.feed(data[i : i + step])]
    return frames, d


def test_vectors_present() -> None:
    assert set(VECTOR_NAMES) == {
        "spec_frame_flow",
        "spec_frame_not_ready",
        "spec_frame_sensor_crc",
        "spec_stream_gap",
    }
    assert (VECTORS / "README.md").exists()
    assert "serial.spiro" in CODECS


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_vector_describe_whole(name: str) -> None:
    result = describe("serial.spiro", load_hex(name))
    assert result == json.loads((VECTORS / f"{name}.json").read_text())
    json.dumps(result, allow_nan=False)


def test_crc_reference_values() -> None:
    assert crc16_ccitt(b"123456789") == 0x29B1  # CRC-16/CCITT-FALSE check value
    assert crc8_sensirion(b"\x80\x00") == 0x23  # worked bit by bit in the protocol page
    assert crc8_sensirion(b"\x00\x00") == 0x00  # init 0x00 (SFM3x00), not 0xFF (SHT3x)


def test_flow_frame_every_field() -> None:
    f = SpiroFrame.from_bytes(FLOW)
    assert (f.sequence, f.status, f.n_samples) == (258, SpiroStatus.NONE, 3)
    assert f.raw == (32768, 39968, 32648)
    assert f.sensor_crc == (0x23, 0x7F, 0x61)
    assert f.sample_crc_ok() == (True, True, True)
    assert f.flow_lps() == pytest.approx((0.0, 1.0, -1 / 60))
    assert bytes(f) == FLOW
    assert raw_to_lps(32768 + 120 * 250) == pytest.approx(250 / 60)


def test_stream_gap_vector() -> None:
    frames, d = decode_all(GAP)
    assert [(f.sequence, f.samples_lost_before) for f in frames] == [(65530, 0), (1, 4)]
    assert (d.frames_ok, d.samples_dropped, d.bytes_dropped, d.pending_bytes) == (2, 4, 2, 0)


def test_not_ready_and_sensor_crc() -> None:
    f = SpiroFrame.from_bytes(load_hex("spec_frame_not_ready"))
    assert f.status is SpiroStatus.NOT_READY and all(math.isnan(v) for v in f.flow_lps())
    g = SpiroFrame.from_bytes(load_hex("spec_frame_sensor_crc"))
    assert g.sample_crc_ok() == (True, False)
    assert g.flow_lps()[0] == pytest.approx(10 / 60) and math.isnan(g.flow_lps()[1])
    # Reserved STATUS bits are kept, not raised.
    h = SpiroFrame(1, SpiroStatus(0x80), (32768,), (0x23,))
    assert int(SpiroFrame.from_bytes(bytes(h)).status) == 0x80


def test_frame_quality_flags() -> None:
    ok = (0x23,)
    assert frame_quality(SpiroFrame(0, SpiroStatus.NONE, (32768,), ok)) == QualityFlag.NONE
    assert frame_quality(SpiroFrame(0, SpiroStatus.NOT_READY, (32768,), ok)) == (
        QualityFlag.SENSOR_ALARM | QualityFlag.MISSING
    )
    assert frame_quality(SpiroFrame(0, SpiroStatus.READ_ERROR, (32768,), ok)) == (
        QualityFlag.SENSOR_DISCONNECTED | QualityFlag.MISSING
    )
    assert frame_quality(SpiroFrame(0, SpiroStatus.NONE, (32768,), (0x24,))) == (
        QualityFlag.SENSOR_ALARM | QualityFlag.MISSING
    )
    over = 32768 + 120 * 251  # 251 slm: beyond the calibrated +/-250 slm
    frame = SpiroFrame(0, SpiroStatus.NONE, (over,), (crc8_sensirion(over.to_bytes(2, "big")),))
    assert frame.over_range() == 1
    assert frame_quality(frame) == QualityFlag.OUT_OF_RANGE
    within = 32768 - 120 * 250
    frame = SpiroFrame(0, SpiroStatus.NONE, (within,), (crc8_sensirion(within.to_bytes(2, "big")),))
    assert frame.over_range() == 0


def test_exact_errors() -> None:
    bad_crc = FLOW[:-1] + bytes([FLOW[-1] ^ 1])
    cases = [
        (
            lambda: SpiroFrame.from_bytes(FLOW[:10]),
            "spiro frame: 10 bytes is shorter than the minimum 11",
        ),
        (
            lambda: SpiroFrame.from_bytes(b"\xa5\x5b" + FLOW[2:]),
            "spiro frame: bytes 0-1 are a55b, expected sync a55a",
        ),
        (
            lambda: SpiroFrame.from_bytes(FLOW[:2] + b"\x00" + FLOW[3:]),
            "spiro frame: byte 2 (N) is 0, expected 1..50",
        ),
        (lambda: SpiroFrame.from_bytes(FLOW + b"\x00"), "spiro frame: N=3 needs 17 bytes, got 18"),
        (
            lambda: SpiroFrame.from_bytes(bad_crc),
            "spiro frame: CRC-16 at offset 15 is 0x0c4f, computed 0x0c4e",
        ),
        (
            lambda: describe("serial.spiro", bad_crc),
            "spiro frame: CRC-16 at offset 15 is 0x0c4f, computed 0x0c4e",
        ),
        (
            lambda: describe("serial.spiro", bytes(30)),
            "no valid spiro frame in 30 bytes (a frame is a5 5a, N, SEQ u16, STATUS, "
            "N x (raw u16, CRC-8), CRC-16/CCITT-FALSE)",
        ),
        (
            lambda: SpiroFrame(70000, SpiroStatus.NONE, (1,), (1,)),
            "spiro frame: sequence 70000 outside 0..65535",
        ),
    ]
    for fn, message in cases:
        with pytest.raises(CodecError, match=f"^{re.escape(message)}$"):
            fn()


def test_resync_after_garbage_and_damaged_frame() -> None:
    a = encode_frame(0, 0, [32768] * 10)
    b = encode_frame(10, 0, [33000] * 10)
    damaged = bytearray(encode_frame(20, 0, [33100] * 10))
    damaged[8] ^= 0x10
    c = encode_frame(30, 0, [33200] * 10)
    data = a + b"\xa5\x5a\x05" + b + bytes(damaged) + c
    frames, d = decode_all(data, step=7)
    assert [(f.sequence, f.samples_lost_before) for f in frames] == [(0, 0), (10, 0), (30, 10)]
    assert d.bytes_dropped == 3 + len(damaged)
    assert d.frames_dropped == 1 and d.samples_dropped == 10
    assert d.bytes_ok + d.bytes_dropped + d.pending_bytes == len(data)


def test_hwsim_manoeuvre_volume() -> None:
    flow = builtin_expiration_lps(100.0, "child")
    raws = np.clip(np.rint(flow * 7200 + 32768), 0, 65535).astype(int).tolist()
    data = b"".join(encode_frame(i % 65536, 0, raws[i : i + 10]) for i in range(0, len(raws), 10))
    frames, _ = decode_all(data, step=64)
    decoded = np.array([v for f in frames for v in f.flow_lps()])
    assert decoded.sum() / 100.0 == pytest.approx(1.5, abs=0.01)  # FVC of the profile
    assert decoded.max() < 250 / 60  # within the SFM3300 range


def test_fuzz_never_raises_and_counters_add_up() -> None:
    seed = int(os.environ.get("HELSEROM_FUZZ_SEED", random.randrange(2**32)))
    print(f"spiro fuzz seed: {seed} (replay with HELSEROM_FUZZ_SEED={seed})")
    rng = random.Random(seed)
    clean = b"".join(encode_frame(i * 10, 0, [32768 + i] * 10) for i in range(20)) + GAP
    for case in range(300):
        if case % 10 == 0:
            data = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 400)))
        else:
            out = bytearray(clean)
            for _ in range(rng.randint(1, 6)):
                pos = rng.randrange(len(out))
                op = rng.randrange(3)
                if op == 0:
                    out[pos] ^= 1 << rng.randrange(8)
                elif op == 1:
                    out[pos:pos] = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 50)))
                else:
                    del out[pos : pos + rng.randint(1, 60)]
            data = bytes(out)
        frames, d = decode_all(data, step=rng.randint(1, 80))
        ctx = f"seed {seed} case {case}"
        assert d.bytes_ok + d.bytes_dropped + d.pending_bytes == len(data), ctx
        assert sum(frame_len(f.n_samples) for f in frames) == d.bytes_ok, ctx
        assert sum(f.samples_lost_before for f in frames) == d.samples_dropped, ctx
        try:
            json.dumps(describe_spiro(data), allow_nan=False)
        except CodecError as exc:
            assert "\n" not in str(exc), ctx


# --- driver on the simulated spirometer ------------------------------------------------------


async def collect(device: object, seconds: float) -> list[SampleBlock]:
    out: list[SampleBlock] = []
    end = time.monotonic() + seconds
    stream = device.stream()  # type: ignore[attr-defined]
    try:
        async for event in stream:
            assert isinstance(event, SampleBlock)
            out.append(event)
            if time.monotonic() > end:
                break
    finally:
        await stream.aclose()
    return out


async def test_driver_streams_10_s_with_a_manoeuvre_then_survives_unplug(tmp_path: Path) -> None:
    sim = SimSpirometer("spiro-1", tmp_path / "by-id" / "usb-spiro", seed=5, warmup_frames=3)
    async with sim, asyncio.TaskGroup() as group:
        task = group.create_task(sim.run())
        device = open_device("spiro-1", sim.uri)
        assert device.kind == "spiro-sfm3300"
        reader = asyncio.create_task(collect(device, 10.0))
        await asyncio.sleep(1.0)
        sim.blow("child")
        blocks = await reader
        n = sum(b.n_samples for b in blocks)
        assert abs(n - 1000) <= 40  # 100 Hz for ~10 s
        for a, b in itertools.pairwise(blocks):
            assert b.first_index == a.first_index + a.n_samples
        first = blocks[0]
        assert first.quantity is Quantity.AIRWAY_FLOW and first.unit == "L/s"
        assert first.fs_hz == 100.0 and first.channels == ("flow",)
        # The bridge was powered up just before: its first frames are "not ready".
        warming = [b for b in blocks if b.quality & QualityFlag.MISSING]
        assert 1 <= len(warming) <= 3 and warming == blocks[: len(warming)]
        assert all(np.isnan(b.values).all() for b in warming)
        assert all(b.quality == QualityFlag.NONE for b in blocks[len(warming) :])
        flow = np.concatenate([b.values[:, 0] for b in blocks[len(warming) :]])
        assert np.nansum(flow) / 100.0 == pytest.approx(1.5, abs=0.08)  # FVC of "child"
        assert abs(float(np.median(flow))) < 0.01  # zero flow at rest, with sensor noise

        reader = asyncio.create_task(collect(device, 2.0))
        await asyncio.sleep(0.5)
        sim.drop_frames(2)
        sim.inject_garbage(25)
        sim.corrupt_sensor_crc(3)
        faulty = await reader
        gaps = [
            b.first_index - (a.first_index + a.n_samples) for a, b in itertools.pairwise(faulty)
        ]
        assert [g for g in gaps if g] == [20]
        assert sum(np.isnan(b.values).sum() for b in faulty) == 3
        assert any(b.quality & QualityFlag.SENSOR_ALARM for b in faulty)

        reader = asyncio.create_task(collect(device, 30.0))
        await asyncio.sleep(0.5)
        sim.unplug()
        with pytest.raises(PortGoneError):
            await reader
        sim.replug()
        again = await collect(device, 1.0)
        assert sum(b.n_samples for b in again) >= 80
        assert again[0].quality & QualityFlag.GAP_BEFORE
        task.cancel()


async def test_bypass_flow_head_measures_an_adult_without_clipping(tmp_path: Path) -> None:
    # An adult's peak flow (~7 L/s) is beyond the SFM3300's 4.2 L/s: a 1:5 bypass head passes
    # a fifth through the sensor and the gateway scales back (URI bypass=5).
    sim = SimSpirometer("spiro-1", tmp_path / "usb-spiro", seed=6, warmup_frames=1, bypass_ratio=5)
    assert sim.uri.endswith("&bypass=5")
    async with sim, asyncio.TaskGroup() as group:
        task = group.create_task(sim.run())
        device = open_device("spiro-1", sim.uri)
        reader = asyncio.create_task(collect(device, 9.0))
        await asyncio.sleep(0.5)
        sim.blow("normal")
        blocks = await reader
        task.cancel()
    good = [b for b in blocks if not b.quality & QualityFlag.MISSING]
    assert not any(b.quality & QualityFlag.OUT_OF_RANGE for b in good)
    flow = np.concatenate([b.values[:, 0] for b in good])
    expected = builtin_expiration_lps(100.0, "normal")
    assert float(flow.max()) == pytest.approx(float(expected.max()), rel=0.02)
    assert float(expected.max()) > 4.2  # it would have clipped without the bypass
    assert np.nansum(flow) / 100.0 == pytest.approx(expected.sum() / 100.0, abs=0.05)


@pytest.mark.parametrize("bad", ["0.5", "x", "25"])
def test_bypass_must_be_a_sane_ratio(bad: str) -> None:
    with pytest.raises(UriError, match=f"bypass='{bad}' must be a number from 1 to 20"):
        open_device("s", f"serial:///dev/ttyUSB0?codec=spiro&bypass={bad}")
