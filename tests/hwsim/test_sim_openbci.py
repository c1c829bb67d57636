"""hwsim.openbci.SimOpenbciCyton on a real pty, read with pyserial and checked with a small
packet scanner written here from the Cyton data format (not the gateway's codec)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import numpy as np
import pytest
import serial
from hwsim.errors import CommandError
from hwsim.openbci import (
    BANNER,
    SimOpenbciCyton,
    builtin_ecg_uv,
    counts_per_uv,
    encode_packet,
)
from hwsim.patient_api import VitalSigns
from numpy.typing import NDArray

from tests.hwsim._hwsim_helpers import entries, lexists, open_fd_count


def scan(data: bytes) -> tuple[list[tuple[int, list[int], bytes]], int]:
    """(sample number, 8 counts, aux) per packet at 0xA0 .. 0xC0; bytes skipped after the first
    packet (a read may start mid-packet)."""
    out = []
    i = 0
    skipped = 0
    while i + 33 <= len(data):
        if data[i] == 0xA0 and data[i + 32] == 0xC0:
            counts = []
            for ch in range(8):
                b = data[i + 2 + 3 * ch : i + 5 + 3 * ch]
                v = (b[0] << 16) | (b[1] << 8) | b[2]
                counts.append(v - (1 << 24) if v & 0x800000 else v)
            out.append((data[i + 1], counts, data[i + 26 : i + 32]))
            i += 33
        else:
            skipped += bool(out)
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
async def board(tmp_path: Path) -> AsyncIterator[SimOpenbciCyton]:
    device = SimOpenbciCyton("bci-1", tmp_path / "serial" / "by-id" / "usb-FTDI_x", seed=3)
    async with device, asyncio.TaskGroup() as group:
        task = group.create_task(device.run())
        yield device
        task.cancel()


def open_serial(device: SimOpenbciCyton) -> serial.Serial:
    return serial.Serial(device.link_path, 115200, timeout=0.05)


async def command(ser: serial.Serial, data: bytes) -> None:
    await asyncio.to_thread(ser.write, data)
    await asyncio.sleep(0.1)


def test_encode_packet_bytes() -> None:
    data = encode_packet(7, [1, -1, 2**23 - 1, -(2**23), 0, 0, 0, 0], bytes(6))
    assert data[:2] == b"\xa0\x07" and data[-1] == 0xC0 and len(data) == 33
    assert data[2:14] == bytes.fromhex("000001ffffff7fffff800000")
    with pytest.raises(ValueError, match="count 8388608 does not fit 24 bits"):
        encode_packet(0, [2**23] + [0] * 7)


def test_builtin_ecg_has_one_r_peak_per_beat() -> None:
    t_s = np.arange(2500) / 250.0  # 10 s
    uv = builtin_ecg_uv(t_s, 60.0, ("I", "II"))
    lead_ii = uv[:, 1]
    inner = lead_ii[1:-1]
    peaks = 1 + np.flatnonzero((inner > 800) & (inner >= lead_ii[:-2]) & (inner > lead_ii[2:]))
    assert peaks.tolist() == [250 * k for k in range(1, 10)]  # one R per second (edges excluded)
    assert uv[:, 0].max() == pytest.approx(0.6 * lead_ii.max())


async def test_streams_only_after_b_at_250_hz(board: SimOpenbciCyton) -> None:
    with open_serial(board) as ser:
        assert await read_for(ser, 0.3) == b""  # idle until told
        await command(ser, b"b")
        await read_for(ser, 0.1)
        t0 = time.monotonic()
        data = await read_for(ser, 1.5)
        elapsed = time.monotonic() - t0
        packets, skipped = scan(data)
        assert skipped == 0
        assert abs(len(packets) - 250 * elapsed) <= 15
        numbers = [p[0] for p in packets]
        assert all((b - a) % 256 == 1 for a, b in itertools.pairwise(numbers))
        # Accelerometer at 25 Hz: 1 g on Z in one packet of 10, zeros otherwise.
        with_accel = [p for p in packets if p[2] != bytes(6)]
        assert {p[2] for p in with_accel} == {bytes.fromhex("000000001f40")}
        assert abs(len(with_accel) - len(packets) / 10) <= 2
        await command(ser, b"s")
        await read_for(ser, 0.1)
        assert await read_for(ser, 0.3) == b""
    assert not board.status()["streaming"]


async def test_reset_banner_and_channel_settings(board: SimOpenbciCyton) -> None:
    with open_serial(board) as ser:
        await command(ser, b"x3040110X")  # channel 3: gain 8
        await command(ser, b"x5160110X")  # channel 5: powered down
        assert board.gains[2] == 8 and not board.powered[4]
        await command(ser, b"b")
        data = await read_for(ser, 0.5)
        packets, _ = scan(data)
        ch5 = {p[1][4] for p in packets}
        assert ch5 == {0}
        await command(ser, b"v")
        tail = await read_for(ser, 0.3)
        assert tail.endswith(BANNER)
        assert board.gains == [24] * 8 and not board.streaming


async def test_faults_are_exact(board: SimOpenbciCyton) -> None:
    with open_serial(board) as ser:
        await command(ser, b"b")
        reading = asyncio.create_task(read_for(ser, 1.5))
        await asyncio.sleep(0.4)
        board.drop_samples(5)
        await asyncio.sleep(0.3)
        board.inject_garbage(40)
        board.lead_off(2)
        board.saturate(7, 0.2)
        data = await reading
    packets, skipped = scan(data)
    assert skipped == 40
    numbers = [p[0] for p in packets]
    jumps = [(b - a) % 256 for a, b in itertools.pairwise(numbers)]
    assert sorted(j for j in jumps if j != 1) == [6]  # 5 samples never sent
    assert packets[-1][1][1] == 2**23 - 1  # lead off: positive rail
    railed = sum(1 for p in packets if p[1][6] == 2**23 - 1)
    assert 45 <= railed <= 55  # 0.2 s at 250 Hz
    c = board.counters()
    assert (c.samples_dropped, c.garbage_bytes, c.garbage_events) == (5, 40, 1)
    with pytest.raises(CommandError, match=r"channel must be 1\.\.8, got 9"):
        board.lead_off(9)
    with pytest.raises(CommandError):
        board.drop_samples(-1)


class FlatPatient:
    """A patient whose every ECG lead reads a constant: the board must carry it exactly."""

    def __init__(self, level_uv: float) -> None:
        self.level_uv = level_uv
        self.calls: list[tuple[float, int, float, tuple[str, ...]]] = []

    def vitals(self, t_s: float) -> VitalSigns:
        return VitalSigns(60, 98, 3, 120, 80, 37, 12, 70, "sinus")

    def ecg_uv(
        self, t0_s: float, n: int, fs_hz: float, leads: Sequence[str]
    ) -> NDArray[np.float64]:
        self.calls.append((t0_s, n, fs_hz, tuple(leads)))
        return np.full((n, len(leads)), self.level_uv)

    def pleth(self, t0_s: float, n: int, fs_hz: float) -> NDArray[np.float64]:
        return np.zeros(n)

    def forced_expiration_lps(self, fs_hz: float, profile: str = "normal") -> NDArray[np.float64]:
        return np.zeros(10)


async def test_patient_source_drives_the_ecg(tmp_path: Path) -> None:
    patient = FlatPatient(100.0)
    device = SimOpenbciCyton("bci", tmp_path / "p", seed=1, patient=patient, noise_uv=0.0)
    async with device:
        task = asyncio.create_task(device.run())
        with open_serial(device) as ser:
            await command(ser, b"b")
            packets, _ = scan(await read_for(ser, 0.4))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert packets
    expected = round(100.0 * counts_per_uv(24))  # 4474 counts
    assert {c for p in packets for c in p[1]} == {expected}
    t0s = [c[0] for c in patient.calls]
    assert t0s == sorted(t0s) and patient.calls[0][2] == 250.0
    assert patient.calls[0][3] == ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")


async def test_unplug_replug_and_status(board: SimOpenbciCyton) -> None:
    link = board.link_path
    with open_serial(board) as ser:
        await command(ser, b"b")
        await read_for(ser, 0.2)
        board.unplug()
        with pytest.raises((serial.SerialException, OSError)):
            await read_for(ser, 0.5)
    assert not lexists(link)
    await asyncio.sleep(0.2)
    board.replug()
    with open_serial(board) as ser:
        packets, _ = scan(await read_for(ser, 0.4))
    assert len(packets) > 50  # the board kept streaming: only the dongle was pulled
    status = board.status()
    assert status["plugged"] and status["streaming"] and status["kind"] == "openbci-cyton"
    assert status["counters"]["unplugs"] == 1 and status["counters"]["samples_unplugged"] > 10  # type: ignore[index]
    assert board.uri == f"serial://{link}?codec=openbci&baud=115200"


async def test_no_leftovers(tmp_path: Path) -> None:
    fds_before = open_fd_count()
    device = SimOpenbciCyton("bci", tmp_path / "a" / "b" / "usb-x", seed=1)
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
