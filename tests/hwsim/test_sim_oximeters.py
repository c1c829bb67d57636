"""hwsim.sim_oximeters: Nonin #7 / #8 and CMS50 (legacy, v7) simulators read with pyserial.

The bytes are checked with tiny scanners written here from the byte tables, independent of
both hwsim's encoders and the gateway's decoders.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import serial
from hwsim.errors import CommandError
from hwsim.patient_api import VitalSigns
from hwsim.sim_oximeters import SimCms50Oximeter, SimNonin7Oximeter, SimNonin8Oximeter
from numpy.typing import NDArray

from tests.hwsim._hwsim_helpers import lexists

START_LIVE = bytes.fromhex("7d81a1808080808080")


async def read_for(ser: serial.Serial, seconds: float) -> bytes:
    def work() -> bytes:
        out = bytearray()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            out += ser.read(max(1, ser.in_waiting))
        return bytes(out)

    return await asyncio.to_thread(work)


def nonin7_frames(data: bytes) -> tuple[list[bytes], int]:
    """Frames (STATUS bit 7, checksum of bytes 1-4) after locking on 3 in a row; bytes skipped
    after the lock."""

    def ok(i: int) -> bool:
        w = data[i : i + 5]
        return len(w) == 5 and w[0] & 0x80 != 0 and sum(w[:4]) % 256 == w[4]

    i, frames, skipped, locked, ever = 0, [], 0, False, False
    while i + 5 <= len(data):
        if not locked:
            if ok(i) and ok(i + 5) and ok(i + 10):
                locked = ever = True
            else:
                skipped += ever
                i += 1
            continue
        if ok(i):
            frames.append(data[i : i + 5])
            i += 5
        else:
            skipped += 1
            i += 1
            locked = False
    return frames, skipped


def high_low_units(data: bytes, pattern: Sequence[bool]) -> list[bytes]:
    """Units whose bytes have bit 7 as in ``pattern`` (True = set)."""
    n = len(pattern)
    out = []
    i = 0
    while i + n <= len(data):
        if all(bool(data[i + k] & 0x80) == pattern[k] for k in range(n)):
            out.append(data[i : i + n])
            i += n
        else:
            i += 1
    return out


def nonin7_hr(packet: list[bytes]) -> int:
    return ((packet[0][3] & 0x03) << 7) | (packet[1][3] & 0x7F)


class SteadyPatient:
    """A PatientSource with fixed vitals and a 1 Hz sine pleth."""

    def vitals(self, t_s: float) -> VitalSigns:
        return VitalSigns(100.0, 91.0, 2.0, 120.0, 80.0, 37.0, 14.0, 70.0, "sinus")

    def ecg_uv(
        self, t0_s: float, n: int, fs_hz: float, leads: Sequence[str]
    ) -> NDArray[np.float64]:
        return np.zeros((n, len(leads)))

    def pleth(self, t0_s: float, n: int, fs_hz: float) -> NDArray[np.float64]:
        t = t0_s + np.arange(n) / fs_hz
        return 0.5 + 0.4 * np.sin(2 * math.pi * t)

    def forced_expiration_lps(self, fs_hz: float, profile: str = "normal") -> NDArray[np.float64]:
        return np.zeros(1)


@pytest.fixture
async def sim7(tmp_path: Path) -> AsyncIterator[SimNonin7Oximeter]:
    device = SimNonin7Oximeter(
        "o7", tmp_path / "by-id" / "usb-Nonin-7", seed=3, hr_bpm=80, hrv_rel=0.0, acquire_s=0.0
    )
    async with device, asyncio.TaskGroup() as group:
        task = group.create_task(device.run())
        yield device
        task.cancel()


async def test_nonin7_frames_packets_and_garbage(sim7: SimNonin7Oximeter) -> None:
    with serial.Serial(sim7.link_path, 9600, timeout=0.05) as ser:
        await read_for(ser, 0.1)
        before = await read_for(ser, 0.3)  # lock on these frames first
        sim7.inject_garbage(17)
        data = before + await read_for(ser, 1.5)
    frames, skipped = nonin7_frames(data)
    assert skipped == 17  # garbage never holds a frame start: exactly the injected bytes
    syncs = [k for k, f in enumerate(frames) if f[0] & 0x01]
    assert len(syncs) >= 3 and all(b - a == 25 for a, b in itertools.pairwise(syncs))
    packet = frames[syncs[0] : syncs[0] + 25]
    assert 70 <= nonin7_hr(packet) <= 90 and 90 <= packet[2][3] <= 100
    assert max((f[1] << 8) | f[2] for f in frames) > 255  # a 16-bit pleth
    assert sim7.counters()["garbage_bytes"] == 17


async def test_nonin7_sensor_off(sim7: SimNonin7Oximeter) -> None:
    sim7.sensor_off()
    await asyncio.sleep(0.5)
    with serial.Serial(sim7.link_path, 9600, timeout=0.05) as ser:
        frames, _ = nonin7_frames(await read_for(ser, 1.0))
    syncs = [k for k, f in enumerate(frames) if f[0] & 0x01]
    packet = frames[syncs[-2] : syncs[-2] + 25]
    assert all(f[0] & 0x48 == 0x48 for f in packet)  # SNSD and SNSA
    assert nonin7_hr(packet) == 511 and packet[2][3] == 127


async def test_nonin8_records_and_patient_source(tmp_path: Path) -> None:
    device = SimNonin8Oximeter(
        "o8", tmp_path / "usb-Nonin-8", seed=4, patient=SteadyPatient(), acquire_s=0.0
    )
    async with device, asyncio.TaskGroup() as group:
        task = group.create_task(device.run())
        with serial.Serial(device.link_path, 9600, timeout=0.05) as ser:
            data = await read_for(ser, 2.6)
        task.cancel()
    records = high_low_units(data, (True, False, False, False))
    assert len(records) == len(data) // 4 >= 2
    for r in records:
        assert (((r[0] & 0x03) << 7) | r[1], r[2]) == (100, 91)
        assert r[3] & 0x20  # SPA
    assert device.status()["patient"] == "external"


async def test_cms50_legacy_streams_unasked(tmp_path: Path) -> None:
    device = SimCms50Oximeter("c", tmp_path / "usb-Contec", protocol="legacy", seed=5)
    async with device, asyncio.TaskGroup() as group:
        task = group.create_task(device.run())
        with serial.Serial(device.link_path, 19200, timeout=0.05) as ser:
            await read_for(ser, 0.1)
            device.inject_garbage(7)
            data = await read_for(ser, 1.0)
        task.cancel()
    data = data[next(k for k, b in enumerate(data) if b & 0x80) :]  # from the first frame
    frames = high_low_units(data, (True, False, False, False, False))
    # Garbage has bit 7 clear, never a frame start: 7 bytes plus a partial frame at the end.
    assert 0 <= len(data) - len(frames) * 5 - 7 < 5
    assert all(f[1] <= 100 for f in frames)
    assert device.uri.endswith("?codec=cms50&baud=19200")


async def test_cms50_v7_silent_until_asked_and_stops_without_keepalive(tmp_path: Path) -> None:
    device = SimCms50Oximeter(
        "c", tmp_path / "usb-Contec", protocol="v7", seed=6, keepalive_timeout_s=1.0
    )
    async with device, asyncio.TaskGroup() as group:
        task = group.create_task(device.run())
        with serial.Serial(device.link_path, 115200, timeout=0.05) as ser:
            assert await read_for(ser, 0.5) == b""
            ser.write(START_LIVE)
            data = await read_for(ser, 0.9)
            after = await read_for(ser, 1.5)
        task.cancel()
    packets = high_low_units(data, (False,) + (True,) * 8)
    assert len(packets) >= 40 and all(p[0] == 0x01 for p in packets)
    assert 0 <= len(data) - len(packets) * 9 < 9  # a partial packet at the end at most
    assert len(after) < len(data)  # stopped after the 1 s keep-alive timeout
    assert device.commands == [0xA1] and device.status()["streaming"] is False


async def test_unplug_and_replug(tmp_path: Path) -> None:
    device = SimNonin7Oximeter("o7", tmp_path / "by-id" / "x", seed=1)
    link = Path(device.link_path)
    async with device, asyncio.TaskGroup() as group:
        task = group.create_task(device.run())
        await asyncio.sleep(0.2)
        device.unplug()
        assert not lexists(link)
        await asyncio.sleep(0.3)
        device.replug()
        with serial.Serial(device.link_path, 9600, timeout=0.05) as ser:
            frames, _ = nonin7_frames(await read_for(ser, 0.5))
        task.cancel()
    assert len(frames) > 20
    c = device.counters()
    assert (c["unplugs"], c["replugs"]) == (1, 1) and c["units_unplugged"] > 0


async def test_argument_checks(tmp_path: Path) -> None:
    device = SimNonin8Oximeter("o", tmp_path / "x", seed=1)
    with pytest.raises(CommandError, match=r"hr_bpm=400 is outside 20\.\.300"):
        device.set_vitals(hr_bpm=400)
    with pytest.raises(CommandError, match="n_bytes must be a whole number"):
        device.inject_garbage(-1)
    with pytest.raises(CommandError, match="protocol must be 'legacy' or 'v7'"):
        SimCms50Oximeter("c", tmp_path / "y", protocol="v9", seed=1)
    assert device.set_vitals(spo2_pct=90).spo2_pct == 90.0
