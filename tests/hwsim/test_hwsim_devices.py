"""hwsim.devices.SimNoninOximeter: real-time stream read with pyserial, faults counted exactly."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import serial
from hwsim.devices import SimNoninOximeter
from hwsim.errors import CommandError

from tests.hwsim._hwsim_helpers import entries, hr_of, lexists, open_fd_count, packets, scan


async def read_for(ser: serial.Serial, seconds: float) -> bytes:
    def work() -> bytes:
        out = bytearray()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            out += ser.read(max(1, ser.in_waiting))
        return bytes(out)

    return await asyncio.to_thread(work)


@pytest.fixture
async def oximeter(tmp_path: Path) -> AsyncIterator[SimNoninOximeter]:
    device = SimNoninOximeter(
        "ox-1",
        tmp_path / "serial" / "by-id" / "usb-Nonin_test-if00-port0",
        seed=7,
        hr_bpm=72,
        spo2_pct=97,
        hrv_rel=0.0,
        spo2_drift_sd_pct=0.0,
        acquire_beats=1,
        out_of_track_after_s=1.0,
    )
    async with device, asyncio.TaskGroup() as group:
        task = group.create_task(device.run())
        yield device
        task.cancel()


def open_serial(device: SimNoninOximeter) -> serial.Serial:
    return serial.Serial(device.link_path, 9600, timeout=0.05)


async def test_streams_75_frames_per_second_in_packets_of_25(
    oximeter: SimNoninOximeter,
) -> None:
    await asyncio.sleep(0.9)  # let it acquire the pulse
    with open_serial(oximeter) as ser:
        await read_for(ser, 0.1)
        before = oximeter.counters().frames_sent
        t0 = time.monotonic()
        data = await read_for(ser, 1.6)
        elapsed = time.monotonic() - t0
        sent = oximeter.counters().frames_sent - before
    # Paced by the monotonic clock: within two writes (6 frames) of 75/s, no drift.
    assert abs(sent - 75 * elapsed) <= 6
    result = scan(data)
    assert result.skipped == 0 and result.resyncs == 0
    assert abs(len(result.frames) - 75 * 1.6) <= 10
    whole = packets(result.frames)
    assert len(whole) >= 3
    for packet in whole:
        assert hr_of(packet, 1) == 72  # HR
        assert hr_of(packet, 14) == 72  # E-HR
        assert hr_of(packet, 20) == 72  # HR-D
        assert packet[2][3] == 97  # SpO2
        assert packet[3][3] == 0x41  # SREV
        assert all(f[1] & 0x78 == 0 for f in packet)  # no SNSD, ARTF, OOT, SNSA
    # Green perfusion shown for 12 frames per pulse: 72 bpm -> 1.2 pulses per second.
    green = sum(1 for f in result.frames if f[1] & 0x06 == 0x02)
    assert 12 * 1 <= green <= 12 * 2 + 12
    # 3 Hz timer counts packets.
    timers = [(p[5][3] << 7) | p[6][3] for p in whole]
    assert all(b - a == 1 for a, b in itertools.pairwise(timers))


async def test_faults_are_exactly_what_a_resyncing_framer_drops(
    oximeter: SimNoninOximeter,
) -> None:
    with open_serial(oximeter) as ser:
        reading = asyncio.create_task(read_for(ser, 2.0))
        await asyncio.sleep(0.5)
        oximeter.inject_garbage(7)
        oximeter.truncate_next_frame()
        await asyncio.sleep(0.3)
        oximeter.flip_bits(2)
        await asyncio.sleep(0.3)
        oximeter.inject_garbage(40)
        data = await reading
    c = oximeter.counters()
    assert (c.garbage_events, c.garbage_bytes) == (2, 47)
    assert (c.truncated_frames, c.corrupted_frames, c.flipped_bits) == (1, 2, 2)
    assert 1 <= c.truncated_bytes_sent <= 4
    result = scan(data)
    assert result.skipped == c.garbage_bytes + c.truncated_bytes_sent + 5 * c.corrupted_frames
    # garbage + truncated frame run together, then two flips, then garbage: 4 resyncs at most
    assert 3 <= result.resyncs <= 5
    assert c.packets_damaged >= 1


async def test_sensor_off_and_on(oximeter: SimNoninOximeter) -> None:
    await asyncio.sleep(0.9)
    oximeter.sensor_off()
    await asyncio.sleep(0.4)
    with open_serial(oximeter) as ser:
        off = scan(await read_for(ser, 0.7))
        assert off.frames
        assert all(f[1] & 0x48 == 0x48 for f in off.frames)  # SNSD + SNSA
        assert all(f[1] & 0x06 == 0 for f in off.frames)  # no pulse shown
        assert {f[2] for f in off.frames} == {128}  # flat pleth
        for packet in packets(off.frames):
            assert hr_of(packet, 1) == 511 and packet[2][3] == 127  # recording: missing
            assert hr_of(packet, 20) == 72 and packet[8][3] == 97  # display: held for 10 s
        oximeter.sensor_on()
        await asyncio.sleep(1.0)
        ser.reset_input_buffer()
        on = scan(await read_for(ser, 0.7))
    assert all(f[1] & 0x48 == 0 for f in on.frames)
    assert len({f[2] for f in on.frames}) > 10
    assert all(hr_of(p, 1) == 72 for p in packets(on.frames))


async def test_artifact_sets_artf_then_oot(oximeter: SimNoninOximeter) -> None:
    await asyncio.sleep(0.3)
    oximeter.artifact(2.0)
    with open_serial(oximeter) as ser:
        data = await read_for(ser, 1.8)
    frames = scan(data).frames
    assert any(f[1] & 0x20 for f in frames)  # ARTF during pulses
    assert not any(f[1] & 0x10 for f in frames[:40])
    assert any(f[1] & 0x10 for f in frames[-40:])  # OOT once sustained (here past 1 s)
    # Never green while moving (the packet under way when it started was built already).
    assert not any(f[1] & 0x06 == 0x02 for f in frames[25:])


async def test_set_vitals_changes_the_reports(oximeter: SimNoninOximeter) -> None:
    oximeter.set_vitals(hr_bpm=120, spo2_pct=88)
    assert oximeter.vitals.hr_bpm == 120.0
    await asyncio.sleep(1.5)
    packet = oximeter.last_packet
    assert packet is not None and packet.spo2_pct == 88
    assert packet.hr_bpm is not None and 95 < packet.hr_bpm <= 120  # 4-beat average catching up
    with pytest.raises(CommandError, match=re.escape("hr_bpm=400.0 is outside 20..300")):
        oximeter.set_vitals(hr_bpm=400.0)
    with pytest.raises(CommandError):
        oximeter.inject_garbage(-1)


async def test_unplug_and_replug(oximeter: SimNoninOximeter) -> None:
    link = oximeter.link_path
    with open_serial(oximeter) as ser:
        await read_for(ser, 0.3)
        oximeter.unplug()
        # pyserial: read() raises SerialException, in_waiting raises OSError(EIO)
        with pytest.raises((serial.SerialException, OSError)):
            await read_for(ser, 1.0)
    assert not lexists(link)
    await asyncio.sleep(0.2)
    oximeter.replug()
    with open_serial(oximeter) as ser:
        result = scan(await read_for(ser, 0.6))
    assert len(result.frames) > 30
    c = oximeter.counters()
    assert (c.unplugs, c.replugs) == (1, 1)
    assert c.frames_unplugged >= 10


async def test_uri(tmp_path: Path) -> None:
    device = SimNoninOximeter("ox", tmp_path / "by-id" / "usb-Nonin_x", seed=1)
    assert device.uri == f"serial://{tmp_path}/by-id/usb-Nonin_x?codec=nonin2&baud=9600"


async def test_no_leftovers(tmp_path: Path) -> None:
    fds_before = open_fd_count()
    device = SimNoninOximeter("ox", tmp_path / "a" / "b" / "usb-Nonin_x", seed=1)
    async with device:
        task = asyncio.create_task(device.run())
        await asyncio.sleep(0.2)
        device.unplug()
        device.replug()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert open_fd_count() == fds_before
    assert entries(tmp_path) == []
