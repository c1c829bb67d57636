"""Contec CMS50D+ live data: both firmware protocols, detection from the bytes, exact errors,
resync, seeded fuzz, and the driver against the simulator (legacy and v7) on a real pty."""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from drivers.codecs import CODECS
from drivers.codecs.cms50 import (
    KEEP_ALIVE,
    START_LIVE,
    Cms50Decoder,
    Cms50Sample,
    Protocol,
    command,
    describe,
)
from drivers.devices import open_device
from drivers.errors import CodecError, UriError
from drivers.model import QualityFlag, Quantity
from tests.drivers.test_nonin7 import (
    check_continuity,
    fuzz_seed,
    load_hex,
    load_json,
    mutate,
    run_device,
)

VECTORS = Path(__file__).parents[1] / "vectors" / "cms50"
VECTOR_NAMES = sorted(p.stem for p in VECTORS.glob("*.hex"))
LEGACY = load_hex("spec_legacy_stream", VECTORS)
V7 = load_hex("spec_v7_stream", VECTORS)
V7_REPLY = load_hex("spec_v7_with_reply", VECTORS)


def decode_all(
    data: bytes, protocol: Protocol | None = None
) -> tuple[list[Cms50Sample], Cms50Decoder]:
    decoder = Cms50Decoder(protocol)
    return decoder.feed(data) + decoder.flush(), decoder


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_vector_describe_whole(name: str) -> None:
    assert describe(load_hex(name, VECTORS)) == load_json(name, VECTORS)


def test_legacy_every_field() -> None:
    samples, d = decode_all(LEGACY)
    assert d.protocol is Protocol.LEGACY and d.frames_ok == 3
    a, b, c = samples
    assert (a.signal_strength, a.pulse_beep, a.pleth, a.bargraph) == (6, True, 50, 7)
    assert (a.pulse_bpm, a.spo2_pct, a.pi_raw) == (72.0, 97.0, None)
    assert (b.pulse_bpm, b.spo2_pct, b.pleth, b.pulse_beep) == (200.0, 96.0, 51, False)
    assert c.probe_error and math.isnan(c.pulse_bpm) and math.isnan(c.spo2_pct)
    assert c.status_quality() == QualityFlag.SENSOR_DISCONNECTED
    assert a.status_quality() == QualityFlag.NONE


def test_v7_every_field() -> None:
    samples, d = decode_all(V7)
    assert d.protocol is Protocol.V7
    a, b, c = samples
    assert (a.signal_strength, a.pleth, a.bargraph, a.pulse_bpm, a.spo2_pct) == (6, 50, 7, 72, 97)
    assert a.pi_raw == 0xFFFF and not a.probe_error and not a.searching
    assert (b.pulse_bpm, b.spo2_pct, b.pleth) == (200.0, 96.0, 51)  # PR bit 7 via the high byte
    assert c.probe_error and (c.pr_raw, c.spo2_raw) == (255, 127)
    assert math.isnan(c.pulse_bpm) and math.isnan(c.spo2_pct)


def test_v7_reply_packets_are_skipped_whole() -> None:
    samples, d = decode_all(V7_REPLY)
    assert [s.pr_raw for s in samples] == [72, 200, 255]
    assert (d.packets_other, d.bytes_other, d.bytes_dropped) == (1, 3, 0)


@pytest.mark.parametrize(("data", "protocol"), [(LEGACY, Protocol.LEGACY), (V7, Protocol.V7)])
def test_detection_after_garbage_and_split_feed(data: bytes, protocol: Protocol) -> None:
    garbage = bytes(random.Random(9).randbytes(23))
    stream = garbage + data * 3
    whole, d = decode_all(stream)
    assert d.protocol is protocol and len(whole) >= 8
    d2 = Cms50Decoder()
    single = [s for k in range(len(stream)) for s in d2.feed(stream[k : k + 1])] + d2.flush()
    assert single == whole


def test_not_enough_to_detect_waits() -> None:
    d = Cms50Decoder()
    assert d.feed(LEGACY[:10]) == [] and d.protocol is None and d.pending_bytes == 10
    assert len(d.feed(LEGACY[10:])) == 3 and d.protocol is Protocol.LEGACY


def test_lost_bytes_mark_a_gap() -> None:
    data = V7 * 3
    samples, d = decode_all(data[:20] + data[24:])  # four bytes of packet 3 lost
    assert d.bytes_dropped == 5 and d.frames_dropped == 1
    assert samples[2].samples_lost_before == 1
    assert samples[2].status_quality() & QualityFlag.GAP_BEFORE


@pytest.mark.parametrize(
    ("fn", "raw", "message"),
    [
        (Cms50Sample.from_legacy, "c6 32 07 48", "cms50 legacy frame: expected 5 bytes, got 4"),
        (
            Cms50Sample.from_legacy,
            "46 32 07 48 61",
            "cms50 legacy frame: offset 0: sync bit 7 must be 1, got 0x46",
        ),
        (
            Cms50Sample.from_legacy,
            "c6 32 87 48 61",
            "cms50 legacy frame: offset 2: bit 7 must be 0, got 0x87",
        ),
        (
            Cms50Sample.from_v7,
            "02 e0 86 b2 87 c8 e1 ff ff",
            "cms50 v7 packet: offset 0: type must be 0x01 (real-time data), got 0x02",
        ),
        (
            Cms50Sample.from_v7,
            "01 e0 86 32 87 c8 e1 ff ff",
            "cms50 v7 packet: offset 3: bit 7 must be 1, got 0x32",
        ),
        (Cms50Sample.from_v7, "01 e0", "cms50 v7 packet: expected 9 bytes, got 2"),
    ],
)
def test_packet_errors_exact(fn: object, raw: str, message: str) -> None:
    with pytest.raises(CodecError) as exc:
        fn(bytes.fromhex(raw))  # type: ignore[operator]
    assert str(exc.value) == message


def test_describe_and_command_errors_exact() -> None:
    with pytest.raises(CodecError) as exc:
        describe(bytes.fromhex("7d 81 a1 80"))
    assert str(exc.value) == (
        "no cms50 live data in 4 bytes (legacy: 5-byte frames with bit 7 set on the first "
        "byte only; v7: 0x01 then 8 bytes with bit 7 set)"
    )
    with pytest.raises(CodecError) as exc:
        command(0x21)
    assert str(exc.value) == "cms50 command code 0x21 must be 0x80..0xff"
    assert START_LIVE.hex() == "7d81a1808080808080" and KEEP_ALIVE.hex() == "7d81af808080808080"
    assert CODECS["serial.cms50"] is describe


@pytest.mark.parametrize("clean", [LEGACY * 6, V7_REPLY * 4], ids=["legacy", "v7"])
def test_fuzz_never_raises_counts_and_recovers(clean: bytes) -> None:
    seed = fuzz_seed("cms50")
    rng = random.Random(seed)
    tail = clean[: len(clean) // 2]
    for case in range(250):
        data = (rng.randbytes(rng.randint(0, 300)) if case % 10 == 0 else mutate(rng, clean)) + tail
        decoder = Cms50Decoder()
        samples: list[Cms50Sample] = []
        i = 0
        while i < len(data):
            step = rng.randint(1, 40)
            samples += decoder.feed(data[i : i + step])
            i += step
        samples += decoder.flush()
        ctx = f"seed {seed} case {case}"
        unit = 5 if decoder.protocol is Protocol.LEGACY else 9
        accounted = unit * decoder.frames_ok + decoder.bytes_dropped + decoder.bytes_other
        assert accounted + decoder.pending_bytes == len(data), ctx
        assert len(samples) == decoder.frames_ok, ctx
        assert sum(s.samples_lost_before for s in samples) == decoder.frames_dropped, ctx
        assert samples, ctx
        try:
            json.dumps(describe(data), allow_nan=False)
        except CodecError as exc:
            assert "\n" not in str(exc), ctx


# --- devices on a real pty ---------------------------------------------------------------


def make_sim(tmp_path: Path, protocol: str, keepalive_timeout_s: float = 10.0) -> object:
    from hwsim.sim_oximeters import SimCms50Oximeter

    return SimCms50Oximeter(
        "cms",
        tmp_path / "serial" / "by-id" / f"usb-Contec_{protocol}-if00",
        protocol=protocol,
        seed=13,
        acquire_s=0.0,
        keepalive_timeout_s=keepalive_timeout_s,
    )


@pytest.fixture
async def legacy_sim(tmp_path: Path) -> AsyncIterator[object]:
    device = make_sim(tmp_path, "legacy")
    async with device, asyncio.TaskGroup() as group:  # type: ignore[attr-defined]
        task = group.create_task(device.run())  # type: ignore[attr-defined]
        yield device
        task.cancel()


@pytest.fixture
async def v7_sim(tmp_path: Path) -> AsyncIterator[object]:
    # The sim stops after 7 s without start-live or keep-alive: a 10 s run proves keep-alive.
    device = make_sim(tmp_path, "v7", keepalive_timeout_s=7.0)
    async with device, asyncio.TaskGroup() as group:  # type: ignore[attr-defined]
        task = group.create_task(device.run())  # type: ignore[attr-defined]
        yield device
        task.cancel()


async def test_legacy_device_streams_10_s_without_commands(legacy_sim: object) -> None:
    run = await run_device(legacy_sim.uri, 10.0)  # type: ignore[attr-defined]
    counters = legacy_sim.counters()  # type: ignore[attr-defined]
    received = check_continuity(run.blocks)
    print(f"cms50 legacy: {counters['units_sent']} packets sent, {received} samples received")
    assert 0 <= counters["units_sent"] - received <= 10
    assert counters["bytes_from_host"] == 0  # a legacy device is never written to
    spo2 = [m for m in run.numerics if m.quantity is Quantity.SPO2]
    assert len(spo2) == received // 60
    assert all(m.quality == QualityFlag.NONE and 90 <= m.value <= 100 for m in spo2)


async def test_v7_device_start_and_keepalive_for_10_s(v7_sim: object) -> None:
    run = await run_device(v7_sim.uri, 10.0)  # type: ignore[attr-defined]
    counters = v7_sim.counters()  # type: ignore[attr-defined]
    received = check_continuity(run.blocks)
    commands = v7_sim.commands  # type: ignore[attr-defined]
    print(
        f"cms50 v7: {counters['units_sent']} packets sent, {received} samples received, "
        f"{counters['units_silent']} silent before start-live, commands {commands}"
    )
    assert commands[0] == 0xA1 and 0xAF in commands
    assert counters["units_silent"] > 0  # silent until asked
    assert 0 <= counters["units_sent"] - received <= 10
    assert received >= 60 * 8  # still streaming after the sim's 7 s keep-alive timeout
    assert {b.fs_hz for b in run.blocks} == {60.0}


async def test_v7_device_sensor_off_and_replug(v7_sim: object) -> None:
    v7_sim.sensor_off()  # type: ignore[attr-defined]
    run = await run_device(v7_sim.uri, 6.0, replug_at=(v7_sim, 2.5))  # type: ignore[attr-defined]
    assert run.reconnects >= 1 and run.first_event_after_replug_s is not None
    print(f"cms50 v7: first event {run.first_event_after_replug_s:.3f} s after replug")
    starts = [c for c in v7_sim.commands if c == 0xA1]  # type: ignore[attr-defined]
    assert len(starts) >= 2  # asked again after the device powered up
    assert run.numerics and all(m.is_missing for m in run.numerics)
    assert all(m.quality & QualityFlag.SENSOR_DISCONNECTED for m in run.numerics)


def test_uri_protocol_parameter(tmp_path: Path) -> None:
    base = f"serial://{tmp_path}/x?codec=cms50&baud=115200"
    assert open_device("a", base + "&protocol=v7").forced_protocol is Protocol.V7  # type: ignore[attr-defined]
    with pytest.raises(UriError, match="protocol 'v9' is not one of legacy, v7"):
        open_device("a", base + "&protocol=v9")
