"""A simulated bluetoothd: the BlueZ D-Bus API on a private bus, served with dbus-fast.

    async with SimBluez([SimThermometer("thermo-1", "C0:FF:EE:00:00:01", name="Thermo")]) as bz:
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = bz.bus_address   # bleak's side
        bz.peripherals["thermo-1"].measure()
        bz.peripherals["thermo-1"].out_of_range()
        await bz.restart()

bleak's BlueZ backend, unmodified, talks to it as to the real one. The subset served: the
ObjectManager at ``/`` (GetManagedObjects; InterfacesAdded/Removed as objects come and go),
``Adapter1`` on /org/bluez/hci0, ``Device1`` per discovered peripheral, and ``GattService1`` /
``GattCharacteristic1`` / ``GattDescriptor1`` while connected. Every state change is signalled
(bleak never calls Get); signals are broadcast.

Notifications go through one bounded, paced queue (:class:`hwsim.bluez.pump.NotificationPump`).
"""

import asyncio
import contextlib
import logging
import random
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Final, Self

from dbus_fast import BusType, DBusError, Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.constants import RequestNameReply

from hwsim.bluez.bus import PrivateBus
from hwsim.bluez.gatt import (
    CHAR_IFACE,
    ERR_DOES_NOT_EXIST,
    ERR_FAILED,
    ERR_IN_PROGRESS,
    ERR_NOT_CONNECTED,
    ERR_NOT_READY,
    Characteristic,
    GattCharacteristic1,
    GattDescriptor1,
    GattService1,
    cccd_for,
)
from hwsim.bluez.objects import ADAPTER_PATH, Adapter1, Device1
from hwsim.bluez.peripherals import SimPeripheral
from hwsim.bluez.pump import QUEUE_MAX, NotificationPump
from hwsim.errors import HwsimError

logger = logging.getLogger(__name__)

BLUEZ_NAME: Final = "org.bluez"
ERR_UNKNOWN_OBJECT: Final = "org.freedesktop.DBus.Error.UnknownObject"
PROPERTIES_IFACE: Final = "org.freedesktop.DBus.Properties"
ADV_INTERVAL_S: Final = 0.1
CONNECT_DELAY_S: Final = 0.01
FIRST_HANDLE: Final = 0x000A  # 0x0001.. belong to GAP/GATT, which BlueZ does not export


def _log_crash(task: "asyncio.Task[None]") -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("%s died", task.get_name(), exc_info=task.exception())


class SimBluez:
    """The simulated bluetoothd with its peripherals, as an async context manager."""

    def __init__(
        self,
        peripherals: Sequence[SimPeripheral],
        directory: str | None = None,
        *,
        bus_address: str | None = None,
        seed: int = 0,
        queue_max: int = QUEUE_MAX,
    ) -> None:
        ids = [p.id for p in peripherals]
        if len(set(ids)) != len(ids):
            raise HwsimError(f"peripheral ids must be unique, got {ids}")
        self.peripherals: dict[str, SimPeripheral] = {p.id: p for p in peripherals}
        self._private = PrivateBus(directory) if bus_address is None else None
        self._given_address = bus_address
        self._rng = random.Random(seed)
        self.bus: MessageBus | None = None
        self.powered = True
        self.discovering = False
        self._discovery_sessions = 0
        self._filter_uuids: set[str] = set()
        self._adapter: Adapter1 | None = None
        self._devices: dict[str, Device1] = {}  # path -> device
        self._paired: set[str] = set()  # addresses, kept across restarts as BlueZ stores them
        self.pump = NotificationPump(queue_max)
        self._tasks: list[asyncio.Task[None]] = []
        self.restarts = 0

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def bus_address(self) -> str:
        """Address of the bus the daemon serves (set DBUS_SYSTEM_BUS_ADDRESS to it)."""
        if self._private is not None:
            return self._private.address
        assert self._given_address is not None
        return self._given_address

    @property
    def devices(self) -> dict[str, Device1]:
        """Device objects currently exported, by object path."""
        return dict(self._devices)

    async def __aenter__(self) -> Self:
        if self._private is not None:
            await self._private.__aenter__()
        try:
            for p in self.peripherals.values():
                p.attach(self)
            await self._start_daemon()
            for coro, name in ((self.pump.run(self), "pump"), (self._advertise(), "adv")):
                task = asyncio.create_task(coro, name=f"hwsim:bluez:{name}")
                task.add_done_callback(_log_crash)
                self._tasks.append(task)
        except BaseException:
            await self.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        # not suppress(CancelledError): a cancellation of this exit itself must propagate
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            await self._stop_daemon()
        finally:
            for p in self.peripherals.values():
                p.attach(None)
            if self._private is not None:
                await self._private.__aexit__(None, None, None)

    async def _start_daemon(self) -> None:
        bus = MessageBus(bus_address=self.bus_address, bus_type=BusType.SYSTEM)
        try:
            await bus.connect()
            bus.add_message_handler(self._unknown_object)
            self.bus = bus
            self._adapter = Adapter1(self)
            bus.export(ADAPTER_PATH, self._adapter)
            for p in self.peripherals.values():
                if p.address in self._paired and p.in_range:
                    self._add_device(p)
            reply = await bus.request_name(BLUEZ_NAME)
        except BaseException:
            bus.disconnect()
            self.bus = None
            raise
        if reply is not RequestNameReply.PRIMARY_OWNER:
            bus.disconnect()
            self.bus = None
            raise HwsimError(f"could not own {BLUEZ_NAME} on {self.bus_address}: {reply.name}")
        logger.info("simulated bluetoothd owns %s as %s", BLUEZ_NAME, bus.unique_name)

    def _unknown_object(self, msg: Message) -> Message | None:
        """Calls to a BlueZ path that is not (or no longer) exported: UnknownObject, as libdbus.

        dbus-fast itself would answer UnknownMethod; bleak tells a vanished device apart by
        UnknownObject (BleakDeviceNotFoundError on Connect, silence on Disconnect).
        """
        if (
            msg.message_type is not MessageType.METHOD_CALL
            or not (msg.interface or "").startswith("org.bluez.")
            or not (msg.path or "").startswith(ADAPTER_PATH)
        ):
            return None
        known = msg.path == ADAPTER_PATH and self._adapter is not None
        for dev in self._devices.values():
            known = known or msg.path == dev.path or any(p == msg.path for p, _ in dev.gatt)
        if known:
            return None
        return Message.new_error(msg, ERR_UNKNOWN_OBJECT, f"No such object path '{msg.path}'")

    async def _stop_daemon(self, *, crash: bool = False) -> None:
        """Shut down as bluetoothd does on SIGTERM: links drop, objects go, the name is freed.

        `crash`: vanish instead (SIGKILL): the connection closes first, so no signal goes out.
        """
        bus, self.bus = self.bus, None
        if crash and bus is not None:
            bus.disconnect()
            with contextlib.suppress(Exception):
                await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]
            bus = None
        for dev in list(self._devices.values()):
            self._remove(dev, bus)
        self.pump.clear()
        self.discovering = False
        self._discovery_sessions = 0
        self._filter_uuids.clear()
        self._adapter = None if bus is None else self._adapter
        if bus is None:
            return
        if self._adapter is not None:
            bus.unexport(ADAPTER_PATH)
            self._adapter = None
        with contextlib.suppress(Exception):
            if bus.connected:
                await bus.release_name(BLUEZ_NAME)
        bus.disconnect()
        with contextlib.suppress(Exception):
            await bus.wait_for_disconnect()  # type: ignore[no-untyped-call]

    async def restart(self, down_s: float = 0.0, *, crash: bool = False) -> None:
        """Restart bluetoothd: a new connection takes over ``org.bluez`` and re-exports all.

        Graceful (SIGTERM) by default: links drop and objects are removed with signals first.
        `crash`: the old connection just vanishes (SIGKILL), clients see no signal at all.
        """
        saved = self.powered
        await self._stop_daemon(crash=crash)
        await asyncio.sleep(down_s)
        self.powered = saved
        await self._start_daemon()
        self.restarts += 1

    # --- adapter ------------------------------------------------------------------------------

    def set_powered(self, on: bool) -> None:
        """Power the adapter on or off (off drops links, stops discovery, forgets devices)."""
        if on == self.powered:
            return
        self.powered = on
        if not on:
            for dev in list(self._devices.values()):
                self._teardown(dev)
                if dev.peripheral.address not in self._paired:
                    self._remove(dev, self.bus)
            if self.discovering:
                self._discovery_sessions = 0
                self.discovering = False
                self._adapter_changed({"Discovering": False})
        self._adapter_changed({"Powered": on, "PowerState": "on" if on else "off"})

    def power_off(self) -> None:
        """Fault: the adapter is switched off (rfkill, USB dongle pulled …)."""
        self.set_powered(False)

    def power_on(self) -> None:
        """The adapter is switched back on."""
        self.set_powered(True)

    def _adapter_changed(self, changes: dict[str, Any]) -> None:
        if self._adapter is not None and self.bus is not None:
            self._adapter.emit_properties_changed(changes)

    def start_discovery(self) -> None:
        """Adapter1.StartDiscovery."""
        if not self.powered:
            raise DBusError(ERR_NOT_READY, "Resource Not Ready")
        self._discovery_sessions += 1
        if not self.discovering:
            self.discovering = True
            self._adapter_changed({"Discovering": True})

    def stop_discovery(self) -> None:
        """Adapter1.StopDiscovery."""
        if not self.powered:
            raise DBusError(ERR_NOT_READY, "Resource Not Ready")
        if self._discovery_sessions == 0:
            raise DBusError(ERR_FAILED, "No discovery started")
        self._discovery_sessions -= 1
        if self._discovery_sessions == 0:
            self.discovering = False
            self._filter_uuids.clear()
            self._adapter_changed({"Discovering": False})

    def set_discovery_filter(self, properties: dict[str, Variant]) -> None:
        """Adapter1.SetDiscoveryFilter: only the UUIDs entry changes what is reported."""
        if not self.powered:
            raise DBusError(ERR_NOT_READY, "Resource Not Ready")
        uuids = properties.get("UUIDs")
        self._filter_uuids = {str(u).lower() for u in uuids.value} if uuids is not None else set()

    def remove_device(self, path: str) -> None:
        """Adapter1.RemoveDevice."""
        dev = self._devices.get(path)
        if dev is None:
            raise DBusError(ERR_DOES_NOT_EXIST, "Does Not Exist")
        self._paired.discard(dev.peripheral.address)
        self._remove(dev, self.bus)

    async def _advertise(self) -> None:
        """While discovering, each advertising peripheral is reported (InterfacesAdded or RSSI)."""
        while True:
            await asyncio.sleep(ADV_INTERVAL_S)
            if not (self.discovering and self.powered and self.bus is not None):
                continue
            for p in self.peripherals.values():
                if not p.in_range or p.connected:
                    continue
                if self._filter_uuids and not self._filter_uuids & set(p.advertised_uuids):
                    continue
                dev = self._device_of(p)
                if dev is None:
                    self._add_device(p)
                else:
                    dev.emit_properties_changed({"RSSI": dev.next_rssi()})

    def _add_device(self, p: SimPeripheral) -> Device1:
        dev = Device1(self, p, self._rng)
        dev.paired = p.address in self._paired
        self._devices[dev.path] = dev
        assert self.bus is not None
        self.bus.export(dev.path, dev)
        return dev

    def _device_of(self, p: SimPeripheral) -> Device1 | None:
        for dev in self._devices.values():
            if dev.peripheral is p:
                return dev
        return None

    def _remove(self, dev: Device1, bus: MessageBus | None) -> None:
        self._teardown(dev, bus)
        self._devices.pop(dev.path, None)
        if bus is not None:
            bus.unexport(dev.path)

    # --- links --------------------------------------------------------------------------------

    async def connect(self, dev: Device1) -> None:
        """Device1.Connect: link up, GATT exported, ServicesResolved, then the reply."""
        p = dev.peripheral
        if not self.powered:
            raise DBusError(ERR_NOT_READY, "Resource Not Ready")
        if dev.connecting:
            raise DBusError(ERR_IN_PROGRESS, "In Progress")
        if dev.connected:
            return
        armed = p.faults.take_connect_error()
        if armed is not None:
            raise DBusError(*armed)
        dev.connecting = True
        try:
            await asyncio.sleep(CONNECT_DELAY_S)
        finally:
            dev.connecting = False
        if not p.in_range or self._devices.get(dev.path) is not dev or not self.powered:
            raise DBusError(ERR_FAILED, "Page Timeout")
        bus = self.bus
        assert bus is not None
        p.on_connect()
        dev.connected = True
        dev.emit_properties_changed({"Connected": True})
        self._export_gatt(dev, bus)
        dev.services_resolved = True
        dev.resolved_uuids = sorted({s.uuid for s in p.services} | set(p.advertised_uuids))
        dev.emit_properties_changed({"UUIDs": dev.resolved_uuids, "ServicesResolved": True})
        dev.session = asyncio.create_task(self._session(dev), name=f"hwsim:bluez:{p.id}")

    async def _session(self, dev: Device1) -> None:
        try:
            await dev.peripheral.session()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("peripheral %s failed; dropping its link", dev.peripheral.id)
            self._teardown(dev)

    def disconnect(self, dev: Device1) -> None:
        """Device1.Disconnect."""
        if not dev.connected:
            raise DBusError(ERR_NOT_CONNECTED, "Not Connected")
        self._teardown(dev)

    async def pair(self, dev: Device1) -> None:
        """Device1.Pair: connects if needed, then Paired/Bonded (Just Works, no agent)."""
        if not dev.connected:
            await self.connect(dev)
        if not dev.paired:
            dev.paired = True
            self._paired.add(dev.peripheral.address)
            dev.emit_properties_changed({"Paired": True, "Bonded": True})

    def _export_gatt(self, dev: Device1, bus: MessageBus) -> None:
        handle = FIRST_HANDLE
        for service in dev.peripheral.services:
            spath = f"{dev.path}/service{handle:04x}"
            handle += 1
            sif = GattService1(service, dev.path)
            exports: list[tuple[str, Any]] = [(spath, sif)]
            for char in service.characteristics:
                cpath = f"{spath}/char{handle:04x}"
                handle += 2  # declaration + value
                cif = GattCharacteristic1(char, cpath, spath, self)
                exports.append((cpath, cif))
                dev.char_paths[id(char)] = cpath
                dev.chars[cpath] = cif
                cccd = cccd_for(char)
                for desc in [*char.descriptors, *([cccd] if cccd else [])]:
                    dpath = f"{cpath}/desc{handle:04x}"
                    handle += 1
                    exports.append((dpath, GattDescriptor1(desc, char, cpath)))
            for path, iface in exports:
                bus.export(path, iface)
                dev.gatt.append((path, iface))

    def _teardown(self, dev: Device1, bus: MessageBus | None = None) -> None:
        """The link is gone: session stops, GATT objects go, ServicesResolved/Connected false."""
        bus = self.bus if bus is None else bus
        if not dev.connected:
            return
        if dev.session is not None:
            dev.session.cancel()
            dev.session = None
        dev.peripheral.on_disconnect()
        self.pump.forget(dev.path)
        if bus is not None:
            for path, _ in reversed(dev.gatt):
                bus.unexport(path)
        dev.gatt.clear()
        dev.char_paths.clear()
        dev.chars.clear()
        dev.connected = False
        dev.services_resolved = False
        if bus is not None:
            dev.emit_properties_changed({"ServicesResolved": False, "Connected": False})

    # --- PeripheralHost / GattHost ------------------------------------------------------------

    def notify(self, peripheral: SimPeripheral, char: Characteristic, value: bytes) -> None:
        """Queue a notification/indication of `char` as PropertiesChanged(Value)."""
        dev = self._device_of(peripheral)
        if dev is None or not dev.connected:
            return
        path = dev.char_paths.get(id(char))
        if path is not None:
            self._push_value(dev.path, path, value)

    def value_changed(self, path: str, value: bytes) -> None:
        """A read changed a characteristic's cached Value."""
        self._push_value(path.rsplit("/", 2)[0], path, value)

    def _push_value(self, device_path: str, char_path: str, value: bytes) -> None:
        msg = Message.new_signal(
            char_path,
            PROPERTIES_IFACE,
            "PropertiesChanged",
            "sa{sv}as",
            [CHAR_IFACE, {"Value": Variant("ay", value)}, []],
        )
        self.pump.push(device_path, msg)

    def drop_link(self, peripheral: SimPeripheral, *, after_queued: bool = False) -> None:
        """Unsolicited disconnect (link loss), now or once the queued notifications went out."""
        dev = self._device_of(peripheral)
        if dev is None:
            return
        if after_queued:
            self.pump.push(dev.path, lambda: self._teardown(dev))
        else:
            self._teardown(dev)

    def range_changed(self, peripheral: SimPeripheral) -> None:
        """Out of range: the link drops and the device object goes (back: found by scanning)."""
        if peripheral.in_range:
            return
        dev = self._device_of(peripheral)
        if dev is not None:
            self._remove(dev, self.bus)

    def status(self) -> dict[str, Any]:
        """A JSON-able snapshot for the control socket and tests."""
        return {
            "bus_address": self.bus_address,
            "owner": None if self.bus is None else self.bus.unique_name,
            "powered": self.powered,
            "discovering": self.discovering,
            "restarts": self.restarts,
            "notifications": {
                "sent": self.pump.sent,
                "dropped": self.pump.dropped,
                "discarded": self.pump.discarded,
                "pending": self.pump.pending,
            },
            "devices": {
                d.peripheral.id: {"path": d.path, "connected": d.connected, "paired": d.paired}
                for d in self._devices.values()
            },
        }
