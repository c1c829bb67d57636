"""Nonin serial data format #8: vectors from the byte table, exact errors, resync, seeded fuzz,
and the device driver against the simulator on a real pty."""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.codecs import CODECS
from drivers.codecs.nonin8 import (
    Nonin8Decoder,
    Nonin8Record,
    Nonin8Status,
    Nonin8Status2,
    describe,
    record_plausible,
)
from drivers.errors import CodecError
from drivers.model import QualityFlag, Quantity
from tests.drivers.test_nonin7 import fuzz_seed, load_hex, load_json, mutate, run_device

VECTORS = Path(__file__).parents[1] / "vectors" / "nonin8"
VECTOR_NAMES = sorted(p.stem for p in VECTORS.glob("*.hex"))
NORMAL = load_hex("spec_record_normal", VECTORS)
HR300 = load_hex("spec_record_hr300_red", VECTORS)
FINGER_OUT = load_hex("spec_record_finger_out", VECTORS)
STREAM = load_hex("spec_stream_3s", VECTORS)


def decode_all(data: bytes) -> tuple[list[Nonin8Record], Nonin8Decoder]:
    decoder = Nonin8Decoder()
    return decoder.feed(data) + decoder.flush(), decoder


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_vector_describe_whole(name: str) -> None:
    assert describe(load_hex(name, VECTORS)) == load_json(name, VECTORS)


def test_records_every_field() -> None:
    r = Nonin8Record.from_bytes(NORMAL)
    assert (r.hr_bpm, r.spo2_pct, r.perfusion) == (72.0, 97.0, "green")
    assert r.status2 == Nonin8Status2.SPA and r.status_quality() == QualityFlag.NONE
    assert bytes(r) == NORMAL
    r = Nonin8Record.from_bytes(HR300)
    assert (r.hr_bpm, r.spo2_pct, r.perfusion) == (300.0, 90.0, "red")
    assert r.status & Nonin8Status.ARTF and r.flags()["low_battery"]
    assert r.status_quality() == QualityFlag.ARTIFACT | QualityFlag.LOW_PERFUSION
    r = Nonin8Record.from_bytes(FINGER_OUT)
    assert math.isnan(r.hr_bpm) and math.isnan(r.spo2_pct)
    assert r.value_quality(r.hr_bpm) == (
        QualityFlag.SENSOR_DISCONNECTED | QualityFlag.SENSOR_ALARM | QualityFlag.MISSING
    )


def test_stream_and_split_feed() -> None:
    records, d = decode_all(STREAM)
    assert [r.hr_bpm for r in records] == [72.0, 73.0, 74.0]
    d2 = Nonin8Decoder()
    single = [r for k in range(len(STREAM)) for r in d2.feed(STREAM[k : k + 1])] + d2.flush()
    assert single == records and d.frames_ok == 3


def test_live_stream_takes_each_record_once_locked() -> None:
    d = Nonin8Decoder()
    assert d.feed(NORMAL) == []  # one record could be chance: wait for the next
    assert [r.hr_bpm for r in d.feed(NORMAL)] == [72.0, 72.0]
    assert [r.hr_bpm for r in d.feed(HR300)] == [300.0]  # locked: at once


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("80 48 61", "nonin8 record: expected 4 bytes, got 3"),
        ("00 48 61 20", "nonin8 record: offset 0: status bit 7 must be 1, got 0x00"),
        ("80 48 e1 20", "nonin8 record: offset 2: bit 7 must be 0, got 0xe1"),
    ],
)
def test_record_errors_exact(raw: str, message: str) -> None:
    with pytest.raises(CodecError) as exc:
        Nonin8Record.from_bytes(bytes.fromhex(raw))
    assert str(exc.value) == message
    if len(raw.split()) == 4:
        with pytest.raises(CodecError) as exc2:
            describe(bytes.fromhex(raw))
        assert str(exc2.value) == message


def test_describe_error_exact() -> None:
    with pytest.raises(CodecError) as exc:
        describe(bytes.fromhex("11 22 33 44 55"))
    assert str(exc.value) == (
        "no valid nonin8 record in 5 bytes (a record is status with bit 7 set, then HR, "
        "SpO2 and status2 with bit 7 clear)"
    )


def test_plausibility_and_registry() -> None:
    assert record_plausible(NORMAL) and record_plausible(FINGER_OUT)
    assert not record_plausible(bytes.fromhex("83 7e 61 00"))  # HR 510
    assert not record_plausible(bytes.fromhex("80 48 70 00"))  # SpO2 112
    assert CODECS["serial.nonin8"] is describe


def test_garbage_resync_counts() -> None:
    garbage = bytes(b & 0x7F for b in random.Random(5).randbytes(9))
    records, d = decode_all(STREAM + garbage + STREAM)
    assert [r.hr_bpm for r in records] == [72.0, 73.0, 74.0] * 2
    assert d.bytes_dropped == 9 and records[3].records_lost_before == 2
    assert records[3].status_quality() & QualityFlag.GAP_BEFORE


def test_fuzz_never_raises_counts_and_recovers() -> None:
    seed = fuzz_seed("nonin8")
    rng = random.Random(seed)
    clean = (STREAM + NORMAL + HR300 + FINGER_OUT) * 4
    for case in range(300):
        data = (rng.randbytes(rng.randint(0, 200)) if case % 10 == 0 else mutate(rng, clean)) + (
            NORMAL * 3
        )
        decoder = Nonin8Decoder()
        records: list[Nonin8Record] = []
        i = 0
        while i < len(data):
            step = rng.randint(1, 20)
            records += decoder.feed(data[i : i + step])
            i += step
        records += decoder.flush()
        ctx = f"seed {seed} case {case}"
        assert 4 * decoder.frames_ok + decoder.bytes_dropped + decoder.pending_bytes == len(data)
        assert len(records) == decoder.frames_ok, ctx
        assert sum(r.records_lost_before for r in records) == decoder.frames_dropped, ctx
        assert records[-1].hr_bpm == 72.0 and records[-1].spo2_pct == 97.0, ctx
        try:
            json.dumps(describe(data), allow_nan=False)
        except CodecError as exc:
            assert "\n" not in str(exc), ctx


@pytest.fixture
async def sim8(tmp_path: Path) -> AsyncIterator[object]:
    from hwsim.sim_oximeters import SimNonin8Oximeter

    device = SimNonin8Oximeter(
        "ox8", tmp_path / "serial" / "by-id" / "usb-Nonin_8-if00", seed=12, acquire_s=0.0
    )
    async with device, asyncio.TaskGroup() as group:
        task = group.create_task(device.run())
        yield device
        task.cancel()


async def test_device_streams_10_s(sim8: object) -> None:
    run = await run_device(sim8.uri, 10.0)  # type: ignore[attr-defined]
    sent = sim8.counters()["units_sent"]  # type: ignore[attr-defined]
    spo2 = [m for m in run.numerics if m.quantity is Quantity.SPO2]
    pulse = [m for m in run.numerics if m.quantity is Quantity.PULSE_RATE]
    print(f"nonin8: {sent} records sent, {len(spo2)} decoded in 10 s")
    # The decoder locks on the second record, then takes each one as it comes.
    assert 0 <= sent - len(spo2) <= 1 and len(spo2) >= 8
    assert len(pulse) == len(spo2) and run.blocks == []
    assert all(60 <= m.value <= 90 and m.quality == QualityFlag.NONE for m in pulse)


async def test_device_sensor_off_gives_missing(sim8: object) -> None:
    sim8.sensor_off()  # type: ignore[attr-defined]
    run = await run_device(sim8.uri, 3.5)  # type: ignore[attr-defined]
    assert run.numerics
    for m in run.numerics:
        assert m.is_missing
        assert m.quality == (
            QualityFlag.SENSOR_DISCONNECTED | QualityFlag.SENSOR_ALARM | QualityFlag.MISSING
        )


async def test_device_unplug_replug(sim8: object) -> None:
    run = await run_device(sim8.uri, 6.0, replug_at=(sim8, 2.5))  # type: ignore[attr-defined]
    assert run.reconnects >= 1 and run.first_event_after_replug_s is not None
    print(f"nonin8: first record {run.first_event_after_replug_s:.3f} s after replug")
