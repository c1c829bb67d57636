"""hwsim.spirometer.SimSpirometer on a real pty, read with pyserial; frames checked with the
stdlib's CRC-16/CCITT (binascii.crc_hqx) and a scanner written here from the protocol page."""

from __future__ import annotations

import asyncio
import binascii
import itertools
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import serial
from hwsim.errors import CommandError
from hwsim.patient_api import VitalSigns
from hwsim.spirometer import PROFILES, SimSpirometer, builtin_expiration_lps, crc8, crc16
from numpy.typing import NDArray

from tests.hwsim._hwsim_helpers import entries, lexists, open_fd_count


def crc8_ref(two: bytes) -> int:
    """Sensirion CRC-8 (0x31, init 0) written MSB-first over a 16-bit word, here."""
    word = (two[0] << 8) | two[1]
    reg = word << 8
    for bit in range(23, 7, -1):
        if reg & (1 << bit):
            reg ^= 0x131 << (bit - 8)
    return reg & 0xFF


def scan(data: bytes) -> tuple[list[tuple[int, int, list[int], list[bool]]], int]:
    """(SEQ, STATUS, raws, sensor CRC ok) per frame with a valid CRC-16; bytes skipped after
    the first frame."""
    out = []
    i = 0
    skipped = 0
    while i + 3 <= len(data):
        if data[i : i + 2] == b"\xa5\x5a":
            n = data[i + 2]
            size = 8 + 3 * n
            if i + size > len(data):
                break
            body = data[i + 2 : i + size - 2]
            if binascii.crc_hqx(body, 0xFFFF) == int.from_bytes(
                data[i + size - 2 : i + size], "big"
            ):
                samples = body[4:]
                raws = [(samples[k] << 8) | samples[k + 1] for k in range(0, 3 * n, 3)]
                oks = [crc8_ref(samples[k : k + 2]) == samples[k + 2] for k in range(0, 3 * n, 3)]
                out.append((int.from_bytes(body[1:3], "big"), body[3], raws, oks))
                i += size
                continue
        skipped += bool(out)  # a read may start mid-frame
        i += 1
    return out, skipped


async def read_for(ser: serial.Serial, seconds: float) -> bytes:
    def work() -> bytes:
        out = bytearray()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            out += ser.read(max(1, ser.in_waiting))
        return bytes(out)

    return await asyncio.to_thread(work)


@pytest.fixture
async def spiro(tmp_path: Path) -> AsyncIterator[SimSpirometer]:
    # Five "not ready" frames after power-up (0.5 s): the test's reader is surely open by then.
    device = SimSpirometer("sp-1", tmp_path / "by-id" / "usb-spiro", seed=4, warmup_frames=5)
    async with device, asyncio.TaskGroup() as group:
        task = group.create_task(device.run())
        yield device
        task.cancel()


def test_crcs_against_references() -> None:
    assert crc16(b"123456789") == binascii.crc_hqx(b"123456789", 0xFFFF) == 0x29B1
    for word in (0x0000, 0x8000, 0x9C20, 0xBEEF, 0xFFFF, 0x1234):
        two = word.to_bytes(2, "big")
        assert crc8(two) == crc8_ref(two)
    assert crc8(b"\x80\x00") == 0x23


def test_builtin_profiles_have_their_fvc() -> None:
    for name, (fvc_l, tau_s) in PROFILES.items():
        flow = builtin_expiration_lps(100.0, name)
        assert flow.sum() / 100.0 == pytest.approx(fvc_l, rel=1e-9), name
        assert flow.argmax() < 20  # peak within 200 ms
        fev1 = flow[:100].sum() / 100.0
        assert 0.2 < fev1 / fvc_l < 0.95, (name, tau_s)
    with pytest.raises(CommandError, match="unknown profile 'cough'"):
        builtin_expiration_lps(100.0, "cough")


async def test_streams_10_frames_per_second_zero_flow(spiro: SimSpirometer) -> None:
    with serial.Serial(spiro.link_path, 115200, timeout=0.05) as ser:
        data = await read_for(ser, 1.5)
    frames, skipped = scan(data)
    assert skipped == 0
    assert 13 <= len(frames) <= 17  # 10/s
    statuses = [f[1] for f in frames]
    ready = statuses.index(0)
    assert 1 <= ready <= 5 and set(statuses[:ready]) == {0x01}  # power-up: sensor not ready
    assert set(statuses[ready:]) == {0}
    seqs = [f[0] for f in frames]
    assert all(b - a == 10 for a, b in itertools.pairwise(seqs))
    raws = np.array([r for f in frames for r in f[2]])
    assert abs(np.median(raws) - 32768) <= 3 and raws.std() > 0  # zero flow with sensor noise
    assert all(ok for f in frames for ok in f[3])


async def test_blow_and_faults(spiro: SimSpirometer) -> None:
    with serial.Serial(spiro.link_path, 115200, timeout=0.05) as ser:
        await read_for(ser, 0.2)
        n = spiro.blow("child")
        assert n == 600 and spiro.status()["manoeuvre"] == "child"
        reading = asyncio.create_task(read_for(ser, 2.0))
        await asyncio.sleep(1.0)
        spiro.drop_frames(3)
        spiro.inject_garbage(33)
        spiro.corrupt_sensor_crc(4)
        data = await reading
    frames, skipped = scan(data)
    assert skipped == 33
    seqs = [f[0] for f in frames]
    assert sorted(b - a for a, b in itertools.pairwise(seqs) if b - a != 10) == [40]
    bad = [(f[1], f[3].count(False)) for f in frames if not all(f[3])]
    assert bad == [(0x02, 4)]
    flow_lps = (np.array([r for f in frames for r in f[2]]) - 32768) / 120 / 60
    assert 2.0 < flow_lps.max() < 250 / 60  # "child" peak flow stays in the sensor range
    c = spiro.counters()
    assert (c.frames_dropped, c.garbage_bytes, c.crc_corrupted, c.manoeuvres) == (3, 33, 4, 1)


class BlowPatient:
    def vitals(self, t_s: float) -> VitalSigns:
        return VitalSigns(60, 98, 3, 120, 80, 37, 12, 70, "sinus")

    def ecg_uv(
        self, t0_s: float, n: int, fs_hz: float, leads: Sequence[str]
    ) -> NDArray[np.float64]:
        return np.zeros((n, len(leads)))

    def pleth(self, t0_s: float, n: int, fs_hz: float) -> NDArray[np.float64]:
        return np.zeros(n)

    def forced_expiration_lps(self, fs_hz: float, profile: str = "normal") -> NDArray[np.float64]:
        assert fs_hz == 100.0 and profile == "obstructive"
        return np.full(30, 1.0)  # 1 L/s for 0.3 s


async def test_patient_source_drives_the_manoeuvre(tmp_path: Path) -> None:
    device = SimSpirometer("sp", tmp_path / "p", seed=2, patient=BlowPatient(), noise_lps=0.0)
    async with device:
        task = asyncio.create_task(device.run())
        with serial.Serial(device.link_path, 115200, timeout=0.05) as ser:
            await read_for(ser, 0.3)
            assert device.blow("obstructive") == 30
            frames, _ = scan(await read_for(ser, 0.8))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    raws = [r for f in frames for r in f[2]]
    assert raws.count(32768 + 7200) == 30  # 1 L/s = 60 slm = 7200 counts above the offset
    assert set(raws) == {32768, 39968}


async def test_unplug_replug_is_a_power_up(spiro: SimSpirometer) -> None:
    link = spiro.link_path
    with serial.Serial(link, 115200, timeout=0.05) as ser:
        await read_for(ser, 0.3)
        spiro.unplug()
        with pytest.raises((serial.SerialException, OSError)):
            await read_for(ser, 0.5)
    assert not lexists(link)
    spiro.replug()
    with serial.Serial(link, 115200, timeout=0.05) as ser:
        frames, _ = scan(await read_for(ser, 0.5))
    assert frames[0][0] == 0 and frames[0][1] == 0x01
    assert spiro.uri == f"serial://{link}?codec=spiro&baud=115200"
    with pytest.raises(CommandError):
        spiro.drop_frames(-2)


async def test_no_leftovers(tmp_path: Path) -> None:
    fds_before = open_fd_count()
    device = SimSpirometer("sp", tmp_path / "a" / "b" / "usb-x", seed=1)
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
