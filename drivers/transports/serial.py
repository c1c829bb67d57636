"""Serial transport: moves bytes between a serial port and the loop. Never decodes.

Built on pyserial-asyncio-fast (the port's fd on the event loop, no thread). Errors from
pyserial and the OS are translated into TransportError with advice.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
from types import TracebackType
from typing import Self

import serial
import serial_asyncio_fast

from drivers.errors import PortGoneError, TransportError

logger = logging.getLogger(__name__)

READ_CHUNK_BYTES = 4096
PARITIES = {"none": serial.PARITY_NONE, "odd": serial.PARITY_ODD, "even": serial.PARITY_EVEN}


class SerialTransport:
    """An open serial port as an async context manager: ``read()`` and ``write()`` bytes."""

    def __init__(self, path: str, baudrate: int, parity: str = "none") -> None:
        if parity not in PARITIES:
            raise TransportError(
                f"{path}: parity {parity!r}; expected one of {', '.join(PARITIES)}"
            )
        self.path = path
        self.baudrate = baudrate
        self.parity = parity
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> Self:
        try:
            self._reader, self._writer = await serial_asyncio_fast.open_serial_connection(
                url=self.path,
                baudrate=self.baudrate,
                parity=PARITIES[self.parity],
                exclusive=True,
            )
        except (serial.SerialException, OSError) as exc:
            raise _translate_open_error(self.path, exc) from exc
        logger.info("%s: opened at %d baud", self.path, self.baudrate)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            # the port may already be gone; closing is all we wanted
            with contextlib.suppress(serial.SerialException, OSError):
                await writer.wait_closed()

    async def read(self) -> bytes:
        """Bytes as they arrive (at least one). PortGoneError when the port vanishes."""
        if self._reader is None:
            raise TransportError(f"{self.path}: read on a closed port")
        try:
            data = await self._reader.read(READ_CHUNK_BYTES)
        except (serial.SerialException, OSError) as exc:
            raise PortGoneError(
                f"{self.path}: the port vanished (device unplugged or powered off)"
            ) from exc
        if not data:
            raise PortGoneError(f"{self.path}: end of stream (device unplugged)")
        return data

    async def write(self, data: bytes) -> None:
        """Send bytes to the device."""
        if self._writer is None:
            raise TransportError(f"{self.path}: write on a closed port")
        try:
            self._writer.write(data)
            await self._writer.drain()
        except (serial.SerialException, OSError) as exc:
            raise PortGoneError(f"{self.path}: write failed, the port is gone") from exc


def _translate_open_error(path: str, exc: BaseException) -> TransportError:
    err = exc.errno if isinstance(exc, OSError) else getattr(exc, "errno", None)
    if err == errno.ENOENT or not os.path.exists(path):
        return TransportError(
            f"{path}: no such port; is the device plugged in and switched on? "
            "(see `ls -l /dev/serial/by-id/`)"
        )
    if err in (errno.EACCES, errno.EPERM):
        return TransportError(
            f"{path}: permission denied; the gateway's user needs the 'dialout' group "
            "(or the udev rule from systemd/)"
        )
    if err == errno.EBUSY or "lock" in str(exc).lower():
        return TransportError(f"{path}: port busy, another program has it open")
    return TransportError(f"{path}: cannot open: {exc}")
