"""Bluetooth LE transport: a GATT connection through bleak (BlueZ on Linux). Never decodes.

``BleLink`` finds a peripheral by address, connects with bleak-retry-connector (which backs off on
BlueZ's transient errors), and turns GATT notifications and indications into a bounded queue of
``Notification`` (characteristic UUID, bytes, arrival time). When the link drops, ``next()`` raises
PortGoneError once the queue is drained, so the device layer sees the loss in order, after every
value that did arrive.

BlueZ traps handled here (see docs/protocols/ble.md):
* after an unsolicited disconnect, ``disconnect()`` is still called before reconnecting, or bleak
  leaks one D-Bus connection per cycle;
* BlueZ error names (``org.bluez.Error.InProgress`` …) become TransportError with advice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.device import BLEDevice
from bleak.exc import BleakDBusError, BleakError
from bleak_retry_connector import BleakNotFoundError, establish_connection

from drivers.errors import PortGoneError, TransportError

logger = logging.getLogger(__name__)

FIND_TIMEOUT_S = 10.0
DEFAULT_QUEUE = 512
DISCONNECT_TIMEOUT_S = 5.0

# BlueZ error name -> what to tell a nurse or IT engineer.
_ADVICE = {
    "org.bluez.Error.InProgress": "BlueZ is busy with another operation on this device; retrying",
    "org.bluez.Error.Failed": "BlueZ reported a failure (device out of range or busy)",
    "org.bluez.Error.NotReady": "the Bluetooth adapter is not ready (powered off?)",
    "org.bluez.Error.NotPermitted": "the device refused the operation (pairing needed?)",
    "org.bluez.Error.NotConnected": "the device is not connected",
    "org.bluez.Error.DoesNotExist": "BlueZ no longer knows this device (out of range?)",
    "org.bluez.Error.AuthenticationFailed": "pairing failed; forget and pair the device again",
}


@dataclass(frozen=True, slots=True)
class Notification:
    """One notification or indication as it arrived."""

    uuid: str  # characteristic UUID, lower-case 128-bit form
    data: bytes
    monotonic_s: float
    wall_s: float


def uuid16(short: int) -> str:
    """The full 128-bit form of a 16-bit Bluetooth SIG UUID (scan filters need it)."""
    return f"0000{short:04x}-0000-1000-8000-00805f9b34fb"


def translate(address: str, exc: BaseException) -> TransportError:
    """A bleak/BlueZ error as a TransportError that names the device and says what to do."""
    if isinstance(exc, BleakDBusError):
        advice = _ADVICE.get(exc.dbus_error, exc.dbus_error_details or "")
        return TransportError(f"{address}: {exc.dbus_error}: {advice}".rstrip(": "))
    if isinstance(exc, BleakNotFoundError):
        return TransportError(f"{address}: not found; is the device switched on and in range?")
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return TransportError(f"{address}: timed out; is the device in range?")
    return TransportError(f"{address}: {exc}")


class BleLink:
    """A GATT connection as an async context manager."""

    def __init__(
        self,
        address: str,
        *,
        name: str | None = None,
        find_timeout_s: float = FIND_TIMEOUT_S,
        queue_size: int = DEFAULT_QUEUE,
    ) -> None:
        self.address = address.upper()
        self.name = name or self.address
        self.find_timeout_s = find_timeout_s
        self.dropped = 0  # notifications lost because the queue was full
        self._queue: deque[Notification] = deque(maxlen=queue_size)
        self._wakeup = asyncio.Event()
        self._client: BleakClient | None = None
        self._lost: str | None = None

    @property
    def connected(self) -> bool:
        return self._client is not None and self._client.is_connected and self._lost is None

    async def __aenter__(self) -> Self:
        device = await self._find()
        try:
            self._client = await establish_connection(
                BleakClient,
                device,
                self.name,
                disconnected_callback=self._on_disconnect,
                max_attempts=2,
            )
        except (BleakError, TimeoutError) as exc:
            raise translate(self.address, exc) from exc
        logger.info("%s: connected", self.address)
        return self

    async def _find(self) -> BLEDevice:
        try:
            device = await BleakScanner.find_device_by_address(
                self.address, timeout=self.find_timeout_s
            )
        except (BleakError, TimeoutError) as exc:
            raise translate(self.address, exc) from exc
        if device is None:
            raise TransportError(
                f"{self.address}: not found in {self.find_timeout_s:.0f} s; "
                "is the device switched on and in range?"
            )
        return device

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        # Always, even after the peripheral dropped us: bleak keeps a D-Bus connection per
        # client until disconnect() runs.
        with contextlib.suppress(BleakError, TimeoutError, EOFError, OSError):
            async with asyncio.timeout(DISCONNECT_TIMEOUT_S):
                await client.disconnect()

    def _on_disconnect(self, _client: BleakClient) -> None:
        if self._lost is None:
            self._lost = f"{self.address}: link lost (device out of range or switched off)"
            logger.info("%s", self._lost)
        self._wakeup.set()

    def _client_or_fail(self) -> BleakClient:
        if self._client is None:
            raise TransportError(f"{self.address}: not connected")
        if self._lost is not None:
            raise PortGoneError(self._lost)
        return self._client

    def has_characteristic(self, uuid: str) -> bool:
        """True when the peripheral exposes this characteristic."""
        client = self._client_or_fail()
        return client.services.get_characteristic(uuid) is not None

    async def read(self, uuid: str) -> bytes:
        """Read a characteristic's value."""
        client = self._client_or_fail()
        try:
            return bytes(await client.read_gatt_char(uuid))
        except (BleakError, TimeoutError) as exc:
            raise self._failure(exc) from exc

    async def write(self, uuid: str, data: bytes, *, response: bool = True) -> None:
        """Write a characteristic (with response by default: control points need it)."""
        client = self._client_or_fail()
        try:
            await client.write_gatt_char(uuid, data, response=response)
        except (BleakError, TimeoutError) as exc:
            raise self._failure(exc) from exc

    async def subscribe(self, uuid: str) -> None:
        """Start notifications/indications of a characteristic into the queue."""
        client = self._client_or_fail()

        def on_value(characteristic: BleakGATTCharacteristic, data: bytearray) -> None:
            if len(self._queue) == self._queue.maxlen:
                self.dropped += 1
            self._queue.append(
                Notification(
                    characteristic.uuid.lower(), bytes(data), time.monotonic(), time.time()
                )
            )
            self._wakeup.set()

        try:
            await client.start_notify(uuid, on_value)
        except (BleakError, TimeoutError) as exc:
            raise self._failure(exc) from exc

    async def next(self) -> Notification:
        """The next notification; PortGoneError once the link is lost and the queue is empty."""
        while True:
            if self._queue:
                return self._queue.popleft()
            if self._lost is not None:
                raise PortGoneError(self._lost)
            self._wakeup.clear()
            await self._wakeup.wait()

    def _failure(self, exc: BaseException) -> TransportError:
        if self._lost is not None:
            return PortGoneError(self._lost)
        return translate(self.address, exc)


@dataclass(frozen=True, slots=True)
class Advert:
    """A peripheral seen in a scan."""

    address: str
    name: str | None
    rssi_dbm: int | None
    service_uuids: tuple[str, ...]
    paired: bool | None  # None when the backend does not say


async def scan(timeout_s: float = 5.0, service_uuids: list[str] | None = None) -> list[Advert]:
    """Peripherals advertising in range (BlueZ: also those it already knows), strongest first."""
    try:
        if service_uuids:
            found = await BleakScanner.discover(
                timeout=timeout_s, return_adv=True, service_uuids=service_uuids
            )
        else:
            found = await BleakScanner.discover(timeout=timeout_s, return_adv=True)
    except (BleakError, TimeoutError) as exc:
        raise TransportError(f"Bluetooth scan failed: {exc}") from exc
    adverts = []
    for device, adv in found.values():
        details = device.details if isinstance(device.details, dict) else {}
        props = details.get("props", {})
        paired = props.get("Paired") if isinstance(props, dict) else None
        adverts.append(
            Advert(
                device.address.upper(),
                adv.local_name or device.name,
                adv.rssi,
                tuple(u.lower() for u in adv.service_uuids),
                bool(paired) if paired is not None else None,
            )
        )
    return sorted(adverts, key=lambda a: -(a.rssi_dbm if a.rssi_dbm is not None else -999))
