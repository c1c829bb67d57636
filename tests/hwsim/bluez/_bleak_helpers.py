"""Test-side helpers: find a simulated device with a real BleakScanner, collect notifications."""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from datetime import datetime

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice

FIND_TIMEOUT_S = 10.0
WAIT_S = 10.0


def sig(short: int) -> str:
    """Full 128-bit UUID of a 16-bit SIG UUID (written out here, not taken from hwsim)."""
    return f"0000{short:04x}-0000-1000-8000-00805f9b34fb"


async def find(address: str) -> BLEDevice:
    """Scan with a real BleakScanner until `address` is seen."""
    device = await BleakScanner.find_device_by_address(address, timeout=FIND_TIMEOUT_S)
    assert device is not None, f"{address} not found by scanning"
    return device


class Inbox:
    """Notifications of one characteristic, as a queue."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def __call__(self, _char: BleakGATTCharacteristic, data: bytearray) -> None:
        self.queue.put_nowait(bytes(data))

    async def get(self) -> bytes:
        async with asyncio.timeout(WAIT_S):
            return await self.queue.get()

    async def until(self, pred: Callable[[bytes], bool]) -> bytes:
        while True:
            value = await self.get()
            if pred(value):
                return value


async def subscribe(client: BleakClient, uuid: str) -> Inbox:
    """start_notify on `uuid` into a fresh inbox."""
    inbox = Inbox()
    await client.start_notify(uuid, inbox)
    return inbox


def date_time(raw: bytes) -> datetime:
    """GSS Date Time (7 bytes), decoded by hand."""
    year, month, day, hour, minute, second = struct.unpack("<HBBBBB", raw)
    return datetime(year, month, day, hour, minute, second)
