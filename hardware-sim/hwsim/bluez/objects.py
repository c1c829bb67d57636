"""``org.bluez.Adapter1`` and ``org.bluez.Device1`` as dbus-fast service interfaces.

They hold the state BlueZ shows on D-Bus and delegate every action to the daemon
(:class:`hwsim.bluez.daemon.SimBluez`), which signals each change: bleak never calls ``Get``.
"""

import random
from typing import TYPE_CHECKING, Annotated, Final

from dbus_fast import PropertyAccess, Variant
from dbus_fast.annotations import (
    DBusBool,
    DBusDict,
    DBusInt16,
    DBusObjectPath,
    DBusSignature,
    DBusStr,
    DBusUInt32,
)
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property

from hwsim.bluez.gatt import DBusStrList, GattCharacteristic1
from hwsim.bluez.peripherals import SimPeripheral

if TYPE_CHECKING:
    import asyncio

    from hwsim.bluez.daemon import SimBluez

ADAPTER_IFACE: Final = "org.bluez.Adapter1"
DEVICE_IFACE: Final = "org.bluez.Device1"
ADAPTER_PATH: Final = "/org/bluez/hci0"
ADAPTER_ADDRESS: Final = "00:1A:7D:DA:71:0A"

DBusManufacturerData = Annotated[dict[int, Variant], DBusSignature("a{qv}")]


def device_path(address: str) -> str:
    """BlueZ's object path of a device on hci0: /org/bluez/hci0/dev_AA_BB_CC_DD_EE_FF."""
    return f"{ADAPTER_PATH}/dev_{address.upper().replace(':', '_')}"


class Adapter1(ServiceInterface):
    """The simulated controller hci0."""

    def __init__(self, daemon: "SimBluez") -> None:
        super().__init__(ADAPTER_IFACE)
        self._daemon = daemon

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> DBusStr:
        return ADAPTER_ADDRESS

    @dbus_property(access=PropertyAccess.READ)
    def AddressType(self) -> DBusStr:
        return "public"

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> DBusStr:
        return "hwsim"

    @dbus_property(access=PropertyAccess.READ)
    def Alias(self) -> DBusStr:
        return "hwsim"

    @dbus_property(access=PropertyAccess.READ)
    def Class(self) -> DBusUInt32:
        return 0

    @dbus_property()
    def Powered(self) -> DBusBool:
        return self._daemon.powered

    @Powered.setter  # type: ignore[no-redef]
    def Powered(self, value: DBusBool) -> None:
        self._daemon.set_powered(value)

    @dbus_property(access=PropertyAccess.READ)
    def PowerState(self) -> DBusStr:
        return "on" if self._daemon.powered else "off"

    @dbus_property(access=PropertyAccess.READ)
    def Discoverable(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def Pairable(self) -> DBusBool:
        return True

    @dbus_property(access=PropertyAccess.READ)
    def Discovering(self) -> DBusBool:
        return self._daemon.discovering

    @dbus_property(access=PropertyAccess.READ)
    def UUIDs(self) -> DBusStrList:
        return []

    @dbus_property(access=PropertyAccess.READ)
    def Modalias(self) -> DBusStr:
        return "usb:v1D6Bp0246d0548"

    @dbus_property(access=PropertyAccess.READ)
    def Roles(self) -> DBusStrList:
        return ["central", "peripheral"]

    @dbus_method()
    def StartDiscovery(self) -> None:
        self._daemon.start_discovery()

    @dbus_method()
    def StopDiscovery(self) -> None:
        self._daemon.stop_discovery()

    @dbus_method()
    def SetDiscoveryFilter(self, properties: DBusDict) -> None:
        self._daemon.set_discovery_filter(properties)

    @dbus_method()
    def GetDiscoveryFilters(self) -> DBusStrList:
        return ["UUIDs", "RSSI", "Pathloss", "Transport", "DuplicateData", "Discoverable"]

    @dbus_method()
    def RemoveDevice(self, device: DBusObjectPath) -> None:
        self._daemon.remove_device(device)


class Device1(ServiceInterface):
    """One remote device BlueZ knows of, and the state of its link."""

    def __init__(self, daemon: "SimBluez", peripheral: SimPeripheral, rng: random.Random) -> None:
        super().__init__(DEVICE_IFACE)
        self._daemon = daemon
        self.peripheral = peripheral
        self.path = device_path(peripheral.address)
        self.rssi = peripheral.rssi_dbm
        self.connected = False
        self.connecting = False
        self.services_resolved = False
        self.paired = False
        self.trusted = False
        self.resolved_uuids: list[str] = []
        self.gatt: list[tuple[str, ServiceInterface]] = []
        self.char_paths: dict[int, str] = {}  # id(Characteristic) -> object path
        self.chars: dict[str, GattCharacteristic1] = {}
        self.session: asyncio.Task[None] | None = None
        self._rng = rng

    def next_rssi(self) -> int:
        """A new RSSI reading that differs from the last (BlueZ only signals changes)."""
        base = self.peripheral.rssi_dbm
        self.rssi = self._rng.choice([base + d for d in (-2, -1, 0, 1, 2) if base + d != self.rssi])
        return self.rssi

    @dbus_property(access=PropertyAccess.READ)
    def Address(self) -> DBusStr:
        return self.peripheral.address

    @dbus_property(access=PropertyAccess.READ)
    def AddressType(self) -> DBusStr:
        return "public"

    @dbus_property(access=PropertyAccess.READ)
    def Name(self) -> DBusStr:
        return self.peripheral.name

    @dbus_property(access=PropertyAccess.READ)
    def Alias(self) -> DBusStr:
        return self.peripheral.name

    @dbus_property(access=PropertyAccess.READ)
    def Adapter(self) -> DBusObjectPath:
        return ADAPTER_PATH

    @dbus_property(access=PropertyAccess.READ)
    def RSSI(self) -> DBusInt16:
        return self.rssi

    @dbus_property(access=PropertyAccess.READ)
    def UUIDs(self) -> DBusStrList:
        return self.resolved_uuids or self.peripheral.advertised_uuids

    @dbus_property(access=PropertyAccess.READ)
    def ManufacturerData(self) -> DBusManufacturerData:
        return {k: Variant("ay", v) for k, v in self.peripheral.manufacturer_data().items()}

    @dbus_property(access=PropertyAccess.READ)
    def ServiceData(self) -> DBusDict:
        return {}

    @dbus_property(access=PropertyAccess.READ)
    def Connected(self) -> DBusBool:
        return self.connected

    @dbus_property(access=PropertyAccess.READ)
    def ServicesResolved(self) -> DBusBool:
        return self.services_resolved

    @dbus_property(access=PropertyAccess.READ)
    def Paired(self) -> DBusBool:
        return self.paired

    @dbus_property(access=PropertyAccess.READ)
    def Bonded(self) -> DBusBool:
        return self.paired

    @dbus_property()
    def Trusted(self) -> DBusBool:
        return self.trusted

    @Trusted.setter  # type: ignore[no-redef]
    def Trusted(self, value: DBusBool) -> None:
        self.trusted = value

    @dbus_property(access=PropertyAccess.READ)
    def Blocked(self) -> DBusBool:
        return False

    @dbus_property(access=PropertyAccess.READ)
    def LegacyPairing(self) -> DBusBool:
        return False

    @dbus_method()
    async def Connect(self) -> None:
        await self._daemon.connect(self)

    @dbus_method()
    async def Disconnect(self) -> None:
        self._daemon.disconnect(self)

    @dbus_method()
    async def Pair(self) -> None:
        await self._daemon.pair(self)

    @dbus_method()
    def CancelPairing(self) -> None:
        return None
