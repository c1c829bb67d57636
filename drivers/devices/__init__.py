"""Device kinds: a codec plus a transport, yielding model events.

``open_device`` picks one by URI.
"""

from __future__ import annotations

from collections.abc import Callable

from drivers.devices.base import Device, LinkCounters
from drivers.devices.ble import BleDevice
from drivers.devices.ble_profiles import PROFILES as BLE_PROFILES
from drivers.devices.cms50 import Cms50Oximeter
from drivers.devices.nonin import NoninOximeter
from drivers.devices.nonin78 import Nonin7Oximeter, Nonin8Oximeter
from drivers.devices.openbci import OpenbciCyton
from drivers.devices.spirometer import Spirometer
from drivers.errors import UriError
from drivers.transports.uri import DeviceUri

# codec name in a serial URI -> device class
SERIAL_KINDS: dict[str, Callable[[str, DeviceUri], Device]] = {
    "nonin2": NoninOximeter,
    "nonin7": Nonin7Oximeter,
    "nonin8": Nonin8Oximeter,
    "cms50": Cms50Oximeter,
    "openbci": OpenbciCyton,
    "spiro": Spirometer,
}
KNOWN_CODECS = frozenset(SERIAL_KINDS)
KNOWN_BLE_PROFILES = frozenset(BLE_PROFILES)

__all__ = ["KNOWN_BLE_PROFILES", "KNOWN_CODECS", "Device", "LinkCounters", "open_device"]


def open_device(device_id: str, uri: str) -> Device:
    """The device object for a URI (nothing is opened until its ``stream()`` runs)."""
    parsed = DeviceUri.parse(uri)
    if parsed.scheme == "serial":
        codec = parsed.codec or ""
        if codec not in SERIAL_KINDS:
            raise UriError(
                f"{uri!r}: unknown codec {codec!r} (known: {', '.join(sorted(SERIAL_KINDS))})"
            )
        return SERIAL_KINDS[codec](device_id, parsed)
    return BleDevice(device_id, parsed)  # ble://: the profile is checked here
