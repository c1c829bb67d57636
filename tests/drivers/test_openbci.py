"""OpenBCI Cyton codec: hand-built vectors checked whole and field by field, exact errors,
commands, resync and gap counting, saturation, a seeded fuzz test; and the driver reading the
hwsim board on a real pty for ~10 s, through faults and an unplug."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import re
import time
from pathlib import Path

import numpy as np
import pytest
from hwsim.openbci import SimOpenbciCyton, counts_per_uv, encode_packet, encode_packets

from drivers.codecs import CODECS, describe
from drivers.codecs.openbci import (
    RAIL_COUNTS,
    AuxKind,
    CytonDecoder,
    CytonPacket,
    CytonSamples,
    InputType,
    channel_settings,
    scale_uv,
)
from drivers.codecs.openbci import describe as describe_openbci
from drivers.devices import open_device
from drivers.errors import CodecError, PortGoneError, UriError
from drivers.model import QualityFlag, Quantity, SampleBlock

VECTORS = Path(__file__).parents[1] / "vectors" / "openbci"


def load_hex(name: str) -> bytes:
    lines = (VECTORS / f"{name}.hex").read_text().splitlines()
    assert lines[0].startswith("# source: "), "every vector names its source on line 1"
    return bytes.fromhex(" ".join(line.split("#", 1)[0] for line in lines))


VECTOR_NAMES = sorted(p.stem for p in VECTORS.glob("*.hex"))
ACCEL = load_hex("spec_packet_accel")
STAMP = load_hex("spec_packet_timestamp")
GAP = load_hex("spec_stream_gap")


def decode_all(data: bytes, step: int | None = None) -> tuple[CytonSamples, CytonDecoder]:
    d = CytonDecoder()
    parts = []
    step = step or max(1, len(data))
    for i in range(0, len(data), step):
        parts.append(d.feed(data[i : i + step]))
    parts.append(d.flush())
    return _cat(parts), d


def _cat(parts: list[CytonSamples]) -> CytonSamples:
    return CytonSamples(
        np.concatenate([p.sample_number for p in parts]),
        np.concatenate([p.counts for p in parts]),
        np.concatenate([p.aux for p in parts]),
        np.concatenate([p.footer for p in parts]),
        np.concatenate([p.lost_before for p in parts]),
    )


def packet(sn: int, base: int = 0, footer: int = 0xC0) -> bytes:
    """A packet built here from the byte table (not with any encoder under test)."""
    body = b"".join((base + ch).to_bytes(3, "big") for ch in range(8))
    return bytes([0xA0, sn]) + body + bytes(6) + bytes([footer])


# --- vectors ---------------------------------------------------------------------------------


def test_vectors_present() -> None:
    assert set(VECTOR_NAMES) == {"spec_packet_accel", "spec_packet_timestamp", "spec_stream_gap"}
    assert (VECTORS / "README.md").exists()
    for name in VECTOR_NAMES:
        assert (VECTORS / f"{name}.json").exists()


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_vector_describe_whole(name: str) -> None:
    result = describe("serial.openbci", load_hex(name))
    assert result == json.loads((VECTORS / f"{name}.json").read_text())
    json.dumps(result, allow_nan=False)


def test_accel_packet_every_field() -> None:
    p = CytonPacket.from_bytes(ACCEL)
    assert p.sample_number == 42
    assert p.counts == (1, -1, 8388607, -8388608, 678490, 4096, -4096, 41152)
    assert p.footer == 0xC0 and p.aux_kind is AuxKind.ACCEL
    assert p.aux_fields() == {
        "kind": "accel",
        "accel_counts": [0, -128, 8000],
        "accel_g": [0.0, -0.016, 1.0],
    }
    assert bytes(p) == ACCEL
    out = describe_openbci(ACCEL)
    assert out["channel_uv"][2] == 187500.0  # +FS = 4.5 V / 24 = 187.5 mV
    assert out["saturated_channels"] == [3, 4]


def test_timestamp_packet() -> None:
    p = CytonPacket.from_bytes(STAMP)
    assert p.aux_kind is AuxKind.ACCEL_TIMESTAMP
    assert p.aux_fields() == {
        "kind": "accel_timestamp",
        "accel_code": "X",
        "accel_byte": 1,
        "timestamp_ms": 123456,
    }
    assert p.counts[:2] == (100, -100)


def test_stream_gap_vector_counters() -> None:
    samples, d = decode_all(GAP)
    assert samples.sample_number.tolist() == [254, 255, 2, 3]
    assert samples.lost_before.tolist() == [0, 0, 2, 0]
    assert (d.frames_ok, d.frames_dropped, d.bytes_dropped, d.pending_bytes) == (4, 2, 3, 0)
    assert samples.counts[:, 0].tolist() == [0x10, 0x11, 0x12, 0x13]
    assert samples.saturated()[3].tolist() == [False, True] + [False] * 6


def test_aux_kinds_by_footer() -> None:
    kinds = [CytonPacket.from_bytes(packet(0, footer=0xC0 + k)).aux_kind for k in range(16)]
    assert kinds[:7] == [
        AuxKind.ACCEL,
        AuxKind.RAW,
        AuxKind.USER,
        AuxKind.ACCEL_TIMESTAMP_SET,
        AuxKind.ACCEL_TIMESTAMP,
        AuxKind.RAW_TIMESTAMP_SET,
        AuxKind.RAW_TIMESTAMP,
    ]
    assert set(kinds[7:]) == {AuxKind.UNKNOWN}
    out = describe_openbci(packet(0, footer=0xCA))
    assert out["aux"] == {"kind": "unknown", "raw": "000000000000"}
    assert out["warnings"] == ["footer 0xca: AUX layout not documented, kept raw"]


def test_registry() -> None:
    assert "serial.openbci" in CODECS


# --- scale and commands ----------------------------------------------------------------------


def test_scale_uv_per_gain() -> None:
    assert scale_uv(24) == pytest.approx(0.02235174, rel=1e-6)  # Cyton docs: 0.02235 µV/count
    for gain in (1, 2, 4, 6, 8, 12, 24):
        assert scale_uv(gain) == pytest.approx(4.5 / gain / (2**23 - 1) * 1e6)
    # The simulator's independent constant is the reciprocal.
    assert scale_uv(8) * counts_per_uv(8) == pytest.approx(1.0)


def test_channel_settings_commands() -> None:
    assert channel_settings(1) == b"x1060110X"  # SDK default
    assert channel_settings(8, gain=6, srb2=False) == b"x8030100X"
    assert channel_settings(3, power_down=True, gain=1, input_type=InputType.SHORTED) == (
        b"x3101110X"
    )
    assert channel_settings(9, bias=False, srb1=True) == b"xQ060011X"  # Daisy channel 9


def test_exact_errors() -> None:
    cases = [
        (lambda: CytonPacket.from_bytes(ACCEL[:32]), "openbci packet: expected 33 bytes, got 32"),
        (
            lambda: CytonPacket.from_bytes(b"\xa1" + ACCEL[1:]),
            "openbci packet: byte 0 is 0xa1, expected header 0xa0",
        ),
        (
            lambda: CytonPacket.from_bytes(ACCEL[:32] + b"\xb0"),
            "openbci packet: byte 32 is 0xb0, expected a footer 0xc0..0xcf",
        ),
        (lambda: channel_settings(0), "openbci: channel 0 is outside 1..16"),
        (
            lambda: channel_settings(1, gain=3),
            "openbci: gain 3 is not an ADS1299 PGA gain (1, 2, 4, 6, 8, 12, 24)",
        ),
        (lambda: scale_uv(5), "openbci: gain 5 is not an ADS1299 PGA gain (1, 2, 4, 6, 8, 12, 24)"),
        (
            lambda: CytonPacket(256, (0,) * 8, bytes(6)),
            "openbci packet: sample number 256 outside 0..255",
        ),
        (
            lambda: CytonPacket(0, (1 << 23,) + (0,) * 7, bytes(6)),
            "openbci packet: channel 1 count 8388608 is not 24-bit",
        ),
        (
            lambda: describe("serial.openbci", bytes(40)),
            "no valid openbci packet in 40 bytes (a packet is a0, sample number, 8 x 3 channel "
            "bytes, 6 aux bytes, footer c0..cf: 33 bytes)",
        ),
    ]
    for fn, message in cases:
        with pytest.raises(CodecError, match=f"^{re.escape(message)}$"):
            fn()


# --- decoder ---------------------------------------------------------------------------------


def test_byte_by_byte_equals_one_feed() -> None:
    data = b"\x00\x01" + b"".join(packet(i % 256, i) for i in range(300))
    whole, d1 = decode_all(data)
    single, d2 = decode_all(data, step=1)
    assert whole.n == single.n == 300
    assert np.array_equal(whole.counts, single.counts)
    assert (d1.bytes_dropped, d2.bytes_dropped) == (2, 2)


def test_garbage_between_packets_is_dropped_exactly() -> None:
    garbage = bytes(range(1, 60))  # no 0xa0
    data = packet(0) + packet(1) + garbage + packet(2) + packet(3)
    samples, d = decode_all(data)
    assert samples.sample_number.tolist() == [0, 1, 2, 3]
    assert samples.lost_before.tolist() == [0, 0, 0, 0]
    assert (d.bytes_dropped, d.resyncs, d.frames_dropped) == (59, 1, 0)


def test_one_damaged_packet_is_dropped_in_place() -> None:
    bad = bytearray(packet(2))
    bad[32] = 0x00  # footer destroyed
    data = packet(0) + packet(1) + bytes(bad) + packet(3) + packet(4)
    samples, d = decode_all(data)
    assert samples.sample_number.tolist() == [0, 1, 3, 4]
    assert samples.lost_before.tolist() == [0, 0, 1, 0]
    assert (d.frames_rejected, d.bytes_dropped, d.resyncs) == (1, 33, 0)
    assert d.locked


def test_counter_gap_and_wrap() -> None:
    data = packet(250) + packet(251) + packet(5) + packet(6)
    samples, d = decode_all(data)
    assert samples.lost_before.tolist() == [0, 0, 9, 0]  # 252..255, 0..4
    assert d.frames_dropped == 9


def test_long_loss_replaced_by_garbage_counts_whole_wraps() -> None:
    # 300 samples vanished and the line carried the same number of garbage bytes: the
    # counter alone says 44 (300 mod 256); bytes / 33 resolve the wrap.
    garbage = bytes((i % 0x9F) + 1 for i in range(300 * 33))
    data = packet(0) + packet(1) + garbage + packet((2 + 300) % 256) + packet((3 + 300) % 256)
    samples, _d = decode_all(data)
    assert samples.lost_before.tolist() == [0, 0, 300, 0]
    # without bytes on the line, a silent loss aliases modulo 256 (documented)
    samples, _ = decode_all(packet(0) + packet(1) + packet(46) + packet(47))
    assert samples.lost_before.tolist() == [0, 0, 44, 0]


def test_saturation_and_uv() -> None:
    counts = [RAIL_COUNTS, -RAIL_COUNTS, RAIL_COUNTS - 1, 0, 2**23 - 1, -(2**23), 1000, -1000]
    data = b"".join(encode_packet(i, counts) for i in range(3))
    samples, _ = decode_all(data)
    assert samples.saturated()[0].tolist() == [True, True, False, False, True, True, False, False]
    gains = (24, 24, 24, 24, 24, 24, 1, 2)
    uv = samples.uv(gains)
    assert uv[0, 6] == pytest.approx(1000 * 4.5 / (2**23 - 1) * 1e6)
    assert uv[0, 7] == pytest.approx(-1000 * 4.5 / 2 / (2**23 - 1) * 1e6)


def test_hwsim_stream_decodes_to_its_counts() -> None:
    rng = np.random.default_rng(3)
    n = 2000
    counts = rng.integers(-(2**23), 2**23, size=(n, 8))
    sn = np.arange(n, dtype=np.int64)
    data = encode_packets(sn, counts, np.zeros((n, 6), np.uint8))
    samples, d = decode_all(data, step=97)
    assert np.array_equal(samples.counts, counts)
    assert np.array_equal(samples.sample_number, sn % 256)
    assert d.frames_dropped == 0 and d.bytes_dropped == 0


def _mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        op = rng.randrange(4)
        pos = rng.randrange(len(out) + 1)
        if op == 0 and out:
            out[min(pos, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            out[pos:pos] = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 70)))
        elif op == 2:
            del out[pos : pos + rng.randint(1, 100)]
        else:
            out[pos:pos] = b"\xa0" * rng.randint(1, 5)
    return bytes(out)


def test_fuzz_never_raises_and_counters_add_up() -> None:
    seed = int(os.environ.get("HELSEROM_FUZZ_SEED", random.randrange(2**32)))
    print(f"openbci fuzz seed: {seed} (replay with HELSEROM_FUZZ_SEED={seed})")
    rng = random.Random(seed)
    clean = b"".join(packet(i % 256, i * 7) for i in range(40)) + ACCEL + STAMP + GAP
    for case in range(300):
        if case % 10 == 0:
            data = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 400)))
        else:
            data = _mutate(rng, clean)
        samples, d = decode_all(data, step=rng.randint(1, 90))
        ctx = f"seed {seed} case {case}"
        assert 33 * d.frames_ok + d.bytes_dropped + d.pending_bytes == len(data), ctx
        assert samples.n == d.frames_ok, ctx
        assert int(samples.lost_before.sum()) == d.frames_dropped, ctx
        assert (samples.lost_before >= 0).all(), ctx
        if case < 30:
            single, _ = decode_all(data, step=1)
            assert np.array_equal(single.counts, samples.counts), ctx
        try:
            json.dumps(describe_openbci(data), allow_nan=False)
        except CodecError as exc:
            assert "\n" not in str(exc), ctx


# --- driver on the simulated board ---------------------------------------------------------


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
        await stream.aclose()  # runs the driver's cleanup (stop command) now
    return out


def test_uri_options() -> None:
    dev = open_device(
        "e", "serial:///dev/x?codec=openbci&baud=115200&gain=8&channels=I,II,III,a,b,c,d,e"
    )
    assert dev.kind == "openbci-cyton"
    assert dev.channels == ("I", "II", "III", "a", "b", "c", "d", "e")  # type: ignore[attr-defined]
    assert dev.gains == (8,) * 8  # type: ignore[attr-defined]
    with pytest.raises(UriError, match="gain '5' is not an ADS1299 gain"):
        open_device("e", "serial:///dev/x?codec=openbci&baud=115200&gain=5")
    with pytest.raises(UriError, match="channels must be 8 distinct comma-separated names"):
        open_device("e", "serial:///dev/x?codec=openbci&baud=115200&channels=a,b")


async def test_driver_streams_10_s_at_full_rate_then_survives_unplug(tmp_path: Path) -> None:
    sim = SimOpenbciCyton("ecg-1", tmp_path / "by-id" / "usb-FTDI_cyton", seed=11)
    async with sim, asyncio.TaskGroup() as group:
        task = group.create_task(sim.run())
        assert not sim.streaming  # nothing until the driver sends 'b'
        device = open_device("ecg-1", sim.uri + "&gain=12")
        t0 = time.monotonic()
        blocks = await collect(device, 10.0)
        elapsed = time.monotonic() - t0
        await asyncio.sleep(0.1)
        assert not sim.streaming  # 's' sent when the stream closed
        assert sim.gains == [12] * 8  # channel settings sent on open
        n = sum(b.n_samples for b in blocks)
        assert abs(n - 250 * elapsed) <= 60  # full rate (one block of slack at each end)
        for a, b in itertools.pairwise(blocks):
            assert b.first_index == a.first_index + a.n_samples  # no unexplained gap
        assert all(b.quality == QualityFlag.NONE for b in blocks)
        first = blocks[0]
        assert first.quantity is Quantity.ECG and first.unit == "uV" and first.fs_hz == 250.0
        assert first.channels == tuple(f"ch{i}" for i in range(1, 9))
        # Lead II of the built-in ECG has R peaks of ~1.2 mV; gain 12 scaling is applied.
        lead_ii = np.concatenate([b.values[:, 1] for b in blocks])
        assert 900 < lead_ii.max() < 1500
        assert device.counters.frames_dropped == 0 and device.counters.bytes_dropped == 0

        # Faults: radio loss, garbage, a lead off; then the dongle is pulled and put back.
        reader = asyncio.create_task(collect(device, 2.5))
        await asyncio.sleep(0.8)
        sim.drop_samples(7)
        sim.inject_garbage(50)
        await asyncio.sleep(0.5)
        sim.lead_off(3)
        faulty = await reader
        gaps = [
            (b.first_index - (a.first_index + a.n_samples)) for a, b in itertools.pairwise(faulty)
        ]
        assert sorted(g for g in gaps if g) == [7]
        gap_block = faulty[next(i + 1 for i, g in enumerate(gaps) if g)]
        assert gap_block.quality & QualityFlag.GAP_BEFORE
        assert any(b.quality & QualityFlag.RAIL_SATURATION for b in faulty[-3:])
        assert sim.counters().garbage_bytes == 50
        sim.lead_off(3, off=False)

        reader = asyncio.create_task(collect(device, 30.0))
        await asyncio.sleep(0.5)
        sim.unplug()
        with pytest.raises(PortGoneError):
            await reader
        sim.replug()
        again = await collect(device, 1.0)
        assert sum(b.n_samples for b in again) > 150
        assert again[0].quality & QualityFlag.GAP_BEFORE  # link was down
        task.cancel()
