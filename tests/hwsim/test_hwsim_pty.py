"""hwsim.pty.SimSerialPort opened with real pyserial, as the gateway opens a USB adapter."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
import serial
from hwsim.errors import SimPortError
from hwsim.pty import SimSerialPort

from tests.hwsim._hwsim_helpers import entries, lexists, open_fd_count


def link_in(tmp_path: Path) -> Path:
    return tmp_path / "dev" / "serial" / "by-id" / "usb-Nonin_Medical_Inc._OEM_III-if00-port0"


async def read_exactly(ser: serial.Serial, n: int) -> bytes:
    return await asyncio.to_thread(ser.read, n)


async def test_bytes_pass_unchanged_through_the_link(tmp_path: Path) -> None:
    link = link_in(tmp_path)
    async with SimSerialPort(link) as port:
        assert link.is_symlink()
        assert os.readlink(link) == port.slave_name
        assert port.slave_name is not None and port.slave_name.startswith("/dev/pts/")
        with serial.Serial(str(link), 9600, timeout=2.0) as ser:
            # Every byte value, including CR, LF, XON/XOFF, ^C and ^D: the tty must be raw.
            payload = bytes(range(256))
            assert port.write(payload) == 256
            assert await read_exactly(ser, 256) == payload
            # And the other way: what the host writes is drained, never blocks the host.
            ser.write(b"\x0d\x0a\x11hello")
            ser.flush()
            for _ in range(50):
                if port.bytes_from_host >= 8:
                    break
                await asyncio.sleep(0.01)
            assert bytes(port.from_host) == b"\x0d\x0a\x11hello"


async def test_unplug_gives_the_reader_an_error_fast_and_removes_the_link(
    tmp_path: Path,
) -> None:
    link = link_in(tmp_path)
    async with SimSerialPort(link) as port:
        with serial.Serial(str(link), 9600, timeout=5.0) as ser:
            port.write(b"\x01\x80\x00\x00\x81")
            assert await read_exactly(ser, 5) == b"\x01\x80\x00\x00\x81"
            reader = asyncio.create_task(read_exactly(ser, 100))  # blocks in the thread
            await asyncio.sleep(0.1)
            t0 = time.monotonic()
            port.unplug()
            with pytest.raises(serial.SerialException):
                await asyncio.wait_for(reader, timeout=1.0)
            assert time.monotonic() - t0 < 1.0
            assert not lexists(link)
            assert not port.plugged and port.slave_name is None
            assert port.write(b"lost") == 0
            assert port.bytes_dropped == 4


async def test_replug_works_again_through_the_same_link(tmp_path: Path) -> None:
    link = link_in(tmp_path)
    async with SimSerialPort(link) as port:
        stale = serial.Serial(str(link), 9600, timeout=1.0)  # the gateway's old handle
        try:
            port.unplug()
            port.replug()
            assert link.is_symlink() and os.readlink(link) == port.slave_name
            with serial.Serial(str(link), 9600, timeout=2.0) as ser:
                port.write(b"again")
                assert await read_exactly(ser, 5) == b"again"
            with pytest.raises(serial.SerialException):
                stale.read(1)  # the old pty is gone for good
        finally:
            stale.close()


async def _settle(port: SimSerialPort) -> None:
    last = -1
    for _ in range(200):  # up to 2 s
        now = port.backlog()
        if now == last:
            return
        last = now
        await asyncio.sleep(0.01)


async def test_backlog_is_bounded_while_nobody_reads(tmp_path: Path) -> None:
    link = link_in(tmp_path)
    async with SimSerialPort(link, max_backlog_bytes=375) as port:
        for _ in range(100):  # ten seconds' worth of frames, nobody reading
            port.write(bytes(15 * 5))
            await asyncio.sleep(0)
        # The kernel moves pty bytes to the reader's queue asynchronously (its flip buffer);
        # under load FIONREAD lags. Wait for it to settle, then write once more so the bound
        # is enforced against an accurate count.
        await _settle(port)
        port.write(bytes(15 * 5))
        await _settle(port)
        assert port.backlog() <= 375
        assert port.flushes >= 1
        assert port.bytes_written + port.bytes_dropped >= 1500 * 5 - 375
        # A plain reader (no pyserial input flush on open) gets at most about a second.
        fd = os.open(link, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        try:
            stale = b""
            while True:
                try:
                    chunk = os.read(fd, 4096)
                except BlockingIOError:
                    break
                if not chunk:
                    break
                stale += chunk
            assert 0 < len(stale) <= 375
        finally:
            os.close(fd)


async def test_write_never_blocks(tmp_path: Path) -> None:
    async with SimSerialPort(link_in(tmp_path), max_backlog_bytes=1 << 30) as port:
        t0 = time.monotonic()
        for _ in range(200):
            port.write(bytes(4096))  # far more than the pty can hold
        assert time.monotonic() - t0 < 1.0
        assert port.bytes_dropped > 0


async def test_cleanup_leaves_nothing(tmp_path: Path) -> None:
    link = link_in(tmp_path)
    fds_before = open_fd_count()
    async with SimSerialPort(link) as port:
        port.replug()
        port.unplug()
        port.replug()
        with serial.Serial(str(link), 9600, timeout=0.1):
            pass
        assert open_fd_count() > fds_before
    assert open_fd_count() == fds_before
    assert not lexists(link)
    assert entries(tmp_path) == []  # dev/serial/by-id made by the port, removed too


async def test_directories_it_did_not_make_are_kept(tmp_path: Path) -> None:
    (tmp_path / "keep").mkdir()
    link = tmp_path / "keep" / "ttySIM0"
    async with SimSerialPort(link):
        pass
    assert entries(tmp_path) == ["keep"] and not lexists(link)


async def test_stale_link_is_replaced(tmp_path: Path) -> None:
    link = tmp_path / "ttySIM0"
    link.symlink_to("/dev/pts/does-not-exist")
    async with SimSerialPort(link) as port:
        assert os.readlink(link) == port.slave_name
    assert not lexists(link)


async def test_refuses_to_replace_a_real_file(tmp_path: Path) -> None:
    path = tmp_path / "ttySIM0"
    path.write_text("not a device")
    fds_before = open_fd_count()
    with pytest.raises(SimPortError, match="exists and is not a symlink"):
        async with SimSerialPort(path):
            pass
    assert path.read_text() == "not a device"
    assert open_fd_count() == fds_before
