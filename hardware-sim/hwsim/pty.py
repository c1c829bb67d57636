"""A serial port made of a pseudo-terminal, behind a stable link like /dev/serial/by-id/….

The gateway opens the link with pyserial exactly as it opens a USB serial adapter. The
simulator writes to the master side and never blocks: like a UART without flow control it
loses what nobody reads. Bytes pile up in the slave's input queue while no reader has the port
open (or a reader stalls); past `max_backlog_bytes` (about a second of data) the queue is
flushed, so a reader never gets a stale burst.

`unplug()` closes the master, which hangs the slave up: a blocked reader wakes and reads EOF
(pyserial raises SerialException "device reports readiness to read but returned no data"),
writes fail with EIO, and the link disappears. `replug()` makes a new pty (the kernel may give
it another /dev/pts number, as USB re-enumeration does) behind the same link.

Sources: pty(7), tty_ioctl(4) (FIONREAD, TCIFLUSH) and termios(3) (raw mode) Linux manual
pages; pyserial 3.5 serialposix.py for how a reader sees a vanished device.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import struct
import termios
import tty
from pathlib import Path
from types import TracebackType
from typing import Final, Self
from urllib.parse import quote

from hwsim.errors import SimPortError

logger = logging.getLogger(__name__)

HOST_BYTES_KEPT: Final = 4096  # what the host wrote to us, kept for inspection


class SimSerialPort:
    """A pty pair whose slave is reachable through a symlink at `link_path`."""

    def __init__(
        self, link_path: str | os.PathLike[str], *, baud: int = 9600, max_backlog_bytes: int = 0
    ) -> None:
        self.link_path = Path(link_path).absolute()
        self.baud = baud
        # Default bound: one second at the line rate (10 bits per byte with 8N1).
        self.max_backlog_bytes = max_backlog_bytes or baud // 10
        self._master_fd: int | None = None
        self._slave_fd: int | None = None  # ours: keeps the pty alive while no reader has it
        self._slave_name: str | None = None
        self._created_dirs: list[Path] = []
        self.bytes_written = 0  # accepted by the pty
        self.bytes_dropped = 0  # refused (queue full or unplugged) or flushed as stale
        self.flushes = 0
        self.bytes_from_host = 0
        self.from_host = bytearray()  # last HOST_BYTES_KEPT bytes the host wrote

    @property
    def plugged(self) -> bool:
        """Whether the device is present (a pty exists behind the link)."""
        return self._master_fd is not None

    @property
    def slave_name(self) -> str | None:
        """The /dev/pts/N the link points to now, None while unplugged."""
        return self._slave_name

    async def __aenter__(self) -> Self:
        try:
            self.plug()
        except BaseException:
            self.close()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def plug(self) -> None:
        """Create the pty and point the link at it (a no-op if already plugged)."""
        if self.plugged:
            return
        loop = asyncio.get_running_loop()
        self._make_parent_dirs()
        if self.link_path.exists() and not self.link_path.is_symlink():
            raise SimPortError(
                f"{self.link_path} exists and is not a symlink: choose another link path "
                "for the simulated device"
            )
        master_fd, slave_fd = os.openpty()
        try:
            # Raw: no echo, no CR/LF translation, no line buffering, before any byte flows.
            tty.setraw(slave_fd, termios.TCSANOW)
            os.set_blocking(master_fd, False)
            slave_name = os.ttyname(slave_fd)
            temp = self.link_path.with_name(f".{self.link_path.name}.{os.getpid()}.tmp")
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            os.symlink(slave_name, temp)
            os.replace(temp, self.link_path)  # atomic: readers never see a missing link
            loop.add_reader(master_fd, self._drain_host)
        except BaseException as exc:
            os.close(master_fd)
            os.close(slave_fd)
            if isinstance(exc, OSError):
                raise SimPortError(f"cannot create pty behind {self.link_path}: {exc}") from exc
            raise
        self._master_fd, self._slave_fd, self._slave_name = master_fd, slave_fd, slave_name
        logger.info("sim port %s -> %s plugged", self.link_path, slave_name)

    def unplug(self) -> None:
        """The device vanishes: readers see EOF/EIO and the link disappears."""
        if self._master_fd is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop may already be closed
            asyncio.get_running_loop().remove_reader(self._master_fd)
        os.close(self._master_fd)
        self._master_fd = None
        if self._slave_fd is not None:
            os.close(self._slave_fd)
            self._slave_fd = None
        self._remove_link()
        logger.info("sim port %s (%s) unplugged", self.link_path, self._slave_name)
        self._slave_name = None

    def replug(self) -> None:
        """Unplug if needed, then appear again behind the same link."""
        self.unplug()
        self.plug()

    def close(self) -> None:
        """Unplug and remove every directory this port created."""
        self.unplug()
        self._remove_link()
        for directory in reversed(self._created_dirs):
            with contextlib.suppress(OSError):  # not empty: someone else uses it too
                directory.rmdir()
        self._created_dirs.clear()

    def backlog(self) -> int:
        """Bytes written but not yet read by anyone (0 while unplugged)."""
        if self._slave_fd is None:
            return 0
        raw = fcntl.ioctl(self._slave_fd, termios.FIONREAD, b"\0\0\0\0")
        return int(struct.unpack("i", raw)[0])

    def write(self, data: bytes) -> int:
        """Send bytes without blocking; return how many went out (the rest is lost)."""
        if self._master_fd is None or self._slave_fd is None:
            self.bytes_dropped += len(data)
            return 0
        queued = self.backlog()
        if queued + len(data) > self.max_backlog_bytes:
            # Nobody is reading: drop the stale queue as an overrun UART would.
            termios.tcflush(self._slave_fd, termios.TCIFLUSH)
            self.bytes_dropped += queued
            self.flushes += 1
        try:
            written = os.write(self._master_fd, data)
        except BlockingIOError:
            written = 0
        except OSError as exc:
            if exc.errno != errno.EIO:
                raise
            written = 0
        self.bytes_written += written
        self.bytes_dropped += len(data) - written
        return written

    def _drain_host(self) -> None:
        # The host may write to the device (commands); read it so its writes never block.
        if self._master_fd is None:
            return
        try:
            data = os.read(self._master_fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            return
        self.bytes_from_host += len(data)
        self.from_host += data
        del self.from_host[:-HOST_BYTES_KEPT]

    def _make_parent_dirs(self) -> None:
        missing: list[Path] = []
        parent = self.link_path.parent
        while not parent.exists():
            missing.append(parent)
            parent = parent.parent
        for directory in reversed(missing):
            try:
                directory.mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                raise SimPortError(f"cannot create {directory} for the sim link: {exc}") from exc
            self._created_dirs.append(directory)

    def _remove_link(self) -> None:
        # Remove the link only if it is ours (points at a pty we made or at nothing now).
        try:
            target = os.readlink(self.link_path)
        except OSError:
            return
        if self._slave_name is None or target == self._slave_name or not Path(target).exists():
            with contextlib.suppress(FileNotFoundError):
                self.link_path.unlink()


class SimPtyDevice:
    """Base of the simulated serial devices: a :class:`SimSerialPort` plus the device's URI.

    Subclasses set ``self.port`` in ``__init__`` and say which query their URI carries.
    """

    port: SimSerialPort

    async def __aenter__(self) -> Self:
        await self.port.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.port.__aexit__(exc_type, exc, tb)

    @property
    def link_path(self) -> str:
        """Where the gateway opens the device."""
        return str(self.port.link_path)

    @property
    def uri(self) -> str:
        """Device URI for the gateway's config."""
        return f"serial://{quote(self.link_path)}?{self.uri_query()}"

    def uri_query(self) -> str:
        """The URI's query: codec, baud rate and the codec's options."""
        raise NotImplementedError
