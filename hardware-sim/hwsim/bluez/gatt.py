"""GATT services, characteristics and descriptors of a simulated peripheral, and their D-Bus face.

The model (:class:`Service`, :class:`Characteristic`, :class:`Descriptor`) is what a peripheral
declares; it knows nothing of D-Bus. While a device is connected the daemon exports one
``org.bluez.GattService1`` / ``GattCharacteristic1`` / ``GattDescriptor1`` object per model
object, at the paths BlueZ uses and bleak parses (``…/dev_AA_BB…/service000a/char000b/desc000d``:
the hex is the attribute handle, bleak reads it back as the handle).

A notification and an indication look the same on D-Bus: a ``PropertiesChanged`` of ``Value``
on the characteristic (BlueZ confirms indications itself). bleak never calls ``Get``, so every
state change here is signalled.
"""

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Final, Protocol

from dbus_fast import DBusError, PropertyAccess, Variant
from dbus_fast.annotations import (
    DBusBool,
    DBusBytes,
    DBusDict,
    DBusObjectPath,
    DBusSignature,
    DBusStr,
    DBusUInt16,
)
from dbus_fast.service import ServiceInterface, dbus_method, dbus_property

from hwsim.errors import HwsimError

SERVICE_IFACE: Final = "org.bluez.GattService1"
CHAR_IFACE: Final = "org.bluez.GattCharacteristic1"
DESC_IFACE: Final = "org.bluez.GattDescriptor1"
CCCD_UUID: Final = "00002902-0000-1000-8000-00805f9b34fb"
BASE_UUID_SUFFIX: Final = "-0000-1000-8000-00805f9b34fb"
MTU: Final = 247

DBusStrList = Annotated[list[str], DBusSignature("as")]

ERR_FAILED: Final = "org.bluez.Error.Failed"
ERR_NOT_PERMITTED: Final = "org.bluez.Error.NotPermitted"
ERR_NOT_SUPPORTED: Final = "org.bluez.Error.NotSupported"
ERR_NOT_CONNECTED: Final = "org.bluez.Error.NotConnected"
ERR_IN_PROGRESS: Final = "org.bluez.Error.InProgress"
ERR_NOT_READY: Final = "org.bluez.Error.NotReady"
ERR_DOES_NOT_EXIST: Final = "org.bluez.Error.DoesNotExist"
ERR_INVALID_ARGUMENTS: Final = "org.bluez.Error.InvalidArguments"
ERR_IMPROPERLY_CONFIGURED: Final = "org.bluez.Error.ImproperlyConfigured"

# ATT error codes a peripheral answers with (Core Spec Vol 3 Part F §3.4.1.1, CSS Part B §1.2)
ATT_INVALID_VALUE_LENGTH: Final = 0x0D
ATT_CCCD_IMPROPERLY_CONFIGURED: Final = 0xFD
ATT_VALUE_NOT_ALLOWED: Final = 0x13


def uuid16(short: int) -> str:
    """The full 128-bit form of a 16-bit SIG UUID, lower case as BlueZ gives it."""
    return f"{short:08x}{BASE_UUID_SUFFIX}"


class GattError(HwsimError):
    """A peripheral refusing a GATT operation: becomes the BlueZ D-Bus error BlueZ would send."""

    def __init__(self, att_code: int) -> None:
        self.att_code = att_code
        # as BlueZ's create_gatt_dbus_error() (src/gatt-client.c) maps ATT errors; bleak's
        # assert_gatt_reply() parses exactly these back into ATT codes
        if att_code == ATT_INVALID_VALUE_LENGTH:
            self.dbus_name, self.text = ERR_INVALID_ARGUMENTS, "Invalid Length"
        elif att_code == ATT_CCCD_IMPROPERLY_CONFIGURED:
            self.dbus_name, self.text = ERR_IMPROPERLY_CONFIGURED, "Improperly Configured"
        else:
            self.dbus_name = ERR_FAILED
            self.text = f"Operation failed with ATT error: 0x{att_code:02x}"
        super().__init__(self.text)


ReadHook = Callable[[], bytes]
WriteHook = Callable[[bytes], None]
SubscribeHook = Callable[[bool], None]


class Descriptor:
    """One descriptor (read-only value); CCCDs are added by the daemon, not declared."""

    def __init__(self, uuid: str, value: bytes = b"", flags: Sequence[str] = ("read",)) -> None:
        self.uuid = uuid.lower()
        self.value = value
        self.flags = tuple(flags)


class Characteristic:
    """One characteristic: flags as BlueZ names them, a value or a read hook, a write hook."""

    def __init__(
        self,
        uuid: str,
        flags: Sequence[str],
        value: bytes = b"",
        *,
        on_read: ReadHook | None = None,
        on_write: WriteHook | None = None,
        on_subscribe: SubscribeHook | None = None,
        descriptors: Sequence[Descriptor] = (),
    ) -> None:
        self.uuid = uuid.lower()
        self.flags = tuple(flags)
        self.value = value
        self.on_read = on_read
        self.on_write = on_write
        self.on_subscribe = on_subscribe
        self.descriptors = list(descriptors)
        self.notifying = False

    @property
    def can_notify(self) -> bool:
        """Whether the characteristic notifies or indicates."""
        return "notify" in self.flags or "indicate" in self.flags


class Service:
    """One primary service and its characteristics."""

    def __init__(self, uuid: str, characteristics: Sequence[Characteristic]) -> None:
        self.uuid = uuid.lower()
        self.characteristics = list(characteristics)

    def char(self, uuid: str) -> Characteristic:
        """The characteristic with `uuid` (full 128-bit form)."""
        for c in self.characteristics:
            if c.uuid == uuid.lower():
                return c
        raise KeyError(uuid)


class GattHost(Protocol):
    """What the GATT objects need from the daemon."""

    def value_changed(self, path: str, value: bytes) -> None:
        """Signal a new Value (a read that changed it, a notification, an indication)."""
        ...


class GattService1(ServiceInterface):
    """``org.bluez.GattService1`` for one exported service."""

    def __init__(self, service: Service, device_path: str) -> None:
        super().__init__(SERVICE_IFACE)
        self.service = service
        self._device = device_path

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> DBusStr:
        return self.service.uuid

    @dbus_property(access=PropertyAccess.READ)
    def Primary(self) -> DBusBool:
        return True

    @dbus_property(access=PropertyAccess.READ)
    def Device(self) -> DBusObjectPath:
        return self._device


class GattCharacteristic1(ServiceInterface):
    """``org.bluez.GattCharacteristic1``: ReadValue, WriteValue, StartNotify, StopNotify."""

    def __init__(self, char: Characteristic, path: str, service_path: str, host: GattHost) -> None:
        super().__init__(CHAR_IFACE)
        self.char = char
        self.path = path
        self._service = service_path
        self._host = host

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> DBusStr:
        return self.char.uuid

    @dbus_property(access=PropertyAccess.READ)
    def Service(self) -> DBusObjectPath:
        return self._service

    @dbus_property(access=PropertyAccess.READ)
    def Value(self) -> DBusBytes:
        return self.char.value

    @dbus_property(access=PropertyAccess.READ)
    def Notifying(self) -> DBusBool:
        return self.char.notifying

    @dbus_property(access=PropertyAccess.READ)
    def Flags(self) -> DBusStrList:
        return list(self.char.flags)

    @dbus_property(access=PropertyAccess.READ)
    def MTU(self) -> DBusUInt16:
        return MTU

    @dbus_method()
    def ReadValue(self, options: DBusDict) -> DBusBytes:
        if "read" not in self.char.flags:
            raise DBusError(ERR_NOT_PERMITTED, "Read not permitted")
        try:
            value = self.char.on_read() if self.char.on_read is not None else self.char.value
        except GattError as exc:
            raise DBusError(exc.dbus_name, exc.text) from exc
        offset = _offset(options)
        if value != self.char.value:
            # BlueZ caches what it read in Value and signals the change
            self._host.value_changed(self.path, value)
        return value[offset:]

    @dbus_method()
    def WriteValue(self, value: DBusBytes, options: DBusDict) -> None:
        kind = options.get("type", Variant("s", "request")).value
        allowed = "write" in self.char.flags or (
            kind == "command" and "write-without-response" in self.char.flags
        )
        if not allowed:
            raise DBusError(ERR_NOT_PERMITTED, "Write not permitted")
        if self.char.on_write is None:
            raise DBusError(ERR_NOT_PERMITTED, "Write not permitted")
        try:
            self.char.on_write(bytes(value))
        except GattError as exc:
            raise DBusError(exc.dbus_name, exc.text) from exc

    @dbus_method()
    def StartNotify(self) -> None:
        if not self.char.can_notify:
            raise DBusError(ERR_NOT_SUPPORTED, "Operation is not supported")
        if self.char.notifying:
            return
        self.char.notifying = True
        self.emit_properties_changed({"Notifying": True})
        if self.char.on_subscribe is not None:
            self.char.on_subscribe(True)

    @dbus_method()
    def StopNotify(self) -> None:
        if not self.char.notifying:
            raise DBusError(ERR_FAILED, "No notify session started")
        self.char.notifying = False
        self.emit_properties_changed({"Notifying": False})
        if self.char.on_subscribe is not None:
            self.char.on_subscribe(False)


class GattDescriptor1(ServiceInterface):
    """``org.bluez.GattDescriptor1``; a CCCD reads back the notify/indicate bits, never writes."""

    def __init__(self, desc: Descriptor, char: Characteristic, char_path: str) -> None:
        super().__init__(DESC_IFACE)
        self.desc = desc
        self._char = char
        self._char_path = char_path

    def _current(self) -> bytes:
        if self.desc.uuid != CCCD_UUID:
            return self.desc.value
        bits = 0
        if self._char.notifying:
            bits = 0x0001 if "notify" in self._char.flags else 0x0002
        return bits.to_bytes(2, "little")

    @dbus_property(access=PropertyAccess.READ)
    def UUID(self) -> DBusStr:
        return self.desc.uuid

    @dbus_property(access=PropertyAccess.READ)
    def Characteristic(self) -> DBusObjectPath:
        return self._char_path

    @dbus_property(access=PropertyAccess.READ)
    def Value(self) -> DBusBytes:
        return self._current()

    @dbus_property(access=PropertyAccess.READ)
    def Flags(self) -> DBusStrList:
        return list(self.desc.flags)

    @dbus_method()
    def ReadValue(self, options: DBusDict) -> DBusBytes:
        return self._current()[_offset(options) :]

    @dbus_method()
    def WriteValue(self, value: DBusBytes, options: DBusDict) -> None:
        # BlueZ owns the CCCD (clients use StartNotify); other descriptors here are read-only
        raise DBusError(ERR_NOT_PERMITTED, "Write not permitted")


def _offset(options: dict[str, Any]) -> int:
    raw = options.get("offset")
    return int(raw.value) if isinstance(raw, Variant) else 0


def cccd_for(char: Characteristic) -> Descriptor | None:
    """The Client Characteristic Configuration descriptor a notifying characteristic carries."""
    if not char.can_notify:
        return None
    return Descriptor(CCCD_UUID, b"\x00\x00", flags=("read", "write"))
