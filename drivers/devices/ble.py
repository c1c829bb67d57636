"""Bluetooth LE health devices: one class for every profile, a profile object per kind.

``ble://AA:BB:CC:DD:EE:FF?profile=bp`` names a blood-pressure cuff; the profile decides which
characteristics to subscribe to and how their values become model events
(:mod:`drivers.devices.ble_profiles`). What every profile shares lives here: connect, read Device
Information (attached to every measurement through ``self.info``; its manufacturer and model pick
the decoder quirks), track the battery, count and log undecodable values without stopping.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator

from drivers.codecs.ble_quirks import quirk_entry
from drivers.devices.base import LinkCounters
from drivers.devices.ble_profiles import PROFILES, Profile
from drivers.errors import CodecError, PortGoneError, TransportError, UriError
from drivers.model import DeviceEvent, DeviceInfo, ReceiveTime
from drivers.transports.ble import BleLink, uuid16
from drivers.transports.uri import DeviceUri

logger = logging.getLogger(__name__)

BATTERY_LEVEL = uuid16(0x2A19)
DIS_FIELDS = (  # Device Information Service (0x180A) characteristic -> DeviceInfo field
    (uuid16(0x2A29), "manufacturer"),
    (uuid16(0x2A24), "model_number"),
    (uuid16(0x2A25), "serial_number"),
    (uuid16(0x2A27), "hardware_revision"),
    (uuid16(0x2A26), "firmware_revision"),
    (uuid16(0x2A28), "software_revision"),
    (uuid16(0x2A23), "system_id"),
)
DROP_LOG_INTERVAL_S = 1.0
KEEPALIVE_S = 10.0  # silence after which a GATT read checks that the link is alive
STREAM_KEEPALIVE_S = 2.0  # the same for a device that streams (1 Hz or faster): sooner
BLE_KINDS = {name: profile.kind for name, profile in PROFILES.items()}


def profile_of(uri: DeviceUri) -> str:
    """The profile named by a ``ble://`` URI; UriError lists the known ones."""
    name = uri.params.get("profile", "")
    if name not in PROFILES:
        raise UriError(
            f"{uri}: unknown or missing profile {name!r}; expected ?profile= one of "
            + ", ".join(sorted(PROFILES))
        )
    return name


class BleDevice:
    """A Bluetooth LE health device (PLX oximeter, BP cuff, thermometer, scale, HR strap)."""

    def __init__(self, device_id: str, uri: DeviceUri) -> None:
        self.device_id = device_id
        self.uri = uri
        self.profile_name = profile_of(uri)
        self.kind = BLE_KINDS[self.profile_name]
        # A cuff, thermometer or scale is silent between measurements; its link is watched
        # by keep-alive reads instead (KEEPALIVE_S).
        self.streams = PROFILES[self.profile_name].streams
        self.counters = LinkCounters()
        self.info = DeviceInfo()
        self._dropped_logged = 0
        self._drop_logged_s = -math.inf

    async def stream(self) -> AsyncIterator[DeviceEvent]:
        """Connect, set the device up and yield events until the link drops."""
        profile: Profile = PROFILES[self.profile_name](self.device_id)
        async with BleLink(self.uri.target, name=self.device_id) as link:
            self.counters.last_rx_monotonic_s = time.monotonic()
            # Every connection reports what it found (stored: the device's history of
            # firmware and battery swaps; the first event tells the pipeline it is up).
            self.info = await self._read_info(link)
            yield self.info
            entry = quirk_entry(self.info.manufacturer, self.info.model_number)
            if entry is not None:
                logger.info("%s: device quirks %s (%s)", self.device_id, entry.quirks, entry.source)
            await self._battery(link)
            profile.quirks = entry.quirks if entry is not None else profile.quirks
            for event in await profile.setup(link, ReceiveTime.now()):
                yield event
            lost = 0  # notifications the link's bounded queue dropped (a flood), counted
            keepalive_s = STREAM_KEEPALIVE_S if self.streams else KEEPALIVE_S
            while True:
                try:
                    note = await asyncio.wait_for(link.next(), keepalive_s)
                except TimeoutError:
                    await self._ping(link)  # silence is normal for a cuff; a dead link is not
                    continue
                self.counters.last_rx_monotonic_s = note.monotonic_s
                if link.dropped != lost:
                    self.counters.frames_dropped += link.dropped - lost
                    lost = link.dropped
                if note.uuid == BATTERY_LEVEL:
                    self._set_battery(note.data)
                    continue
                received = ReceiveTime(note.wall_s, note.monotonic_s)
                try:
                    events = profile.decode(note.uuid, note.data, received)
                except CodecError as exc:
                    self.counters.frames_dropped += 1
                    self.counters.bytes_dropped += len(note.data)
                    self._log_drop(exc, note.data)
                    continue
                self.counters.frames_ok += 1
                for event in events:
                    yield event

    async def _ping(self, link: BleLink) -> None:
        """A GATT read to prove the link (and bluetoothd) still answer.

        After bluetoothd dies, bleak keeps reporting "connected" and no disconnect callback
        comes; only a call fails (UnknownObject). Reading the battery or a DIS string every
        KEEPALIVE_S of silence turns that into a reconnect.
        """
        uuid = BATTERY_LEVEL if link.has_characteristic(BATTERY_LEVEL) else DIS_FIELDS[0][0]
        try:
            data = await link.read(uuid)
        except TransportError as exc:
            raise PortGoneError(
                f"{self.uri.target}: no answer to a keep-alive read ({exc})"
            ) from exc
        if uuid == BATTERY_LEVEL:
            self._set_battery(data)

    async def _read_info(self, link: BleLink) -> DeviceInfo:
        fields: dict[str, str | None] = {}
        for uuid, name in DIS_FIELDS:
            if not link.has_characteristic(uuid):
                continue
            try:
                raw = await link.read(uuid)
            except TransportError as exc:
                logger.warning("%s: cannot read %s: %s", self.device_id, name, exc)
                continue
            fields[name] = raw.hex(":") if name == "system_id" else _text(raw)
        return DeviceInfo(**fields)

    async def _battery(self, link: BleLink) -> None:
        if not link.has_characteristic(BATTERY_LEVEL):
            return
        self._set_battery(await link.read(BATTERY_LEVEL))
        try:
            await link.subscribe(BATTERY_LEVEL)
        except TransportError as exc:  # read-only battery on some devices: keep the read value
            logger.info("%s: battery level not notifiable (%s)", self.device_id, exc)

    def _set_battery(self, data: bytes) -> None:
        if len(data) == 1 and data[0] <= 100:
            self.counters.battery_pct = float(data[0])
        else:
            logger.warning("%s: battery level %s is not 0..100 %%", self.device_id, data.hex())

    def _log_drop(self, exc: CodecError, data: bytes) -> None:
        now = time.monotonic()
        if now - self._drop_logged_s >= DROP_LOG_INTERVAL_S:
            skipped = self.counters.frames_dropped - self._dropped_logged - 1
            more = f" ({skipped} more since the last report)" if skipped > 0 else ""
            logger.warning("%s: undecodable value %s: %s%s", self.device_id, data.hex(), exc, more)
            self._dropped_logged = self.counters.frames_dropped
            self._drop_logged_s = now


def _text(raw: bytes) -> str:
    """A DIS string: UTF-8, trailing NULs (some devices pad) removed."""
    return raw.rstrip(b"\x00").decode("utf-8", errors="replace").strip()
