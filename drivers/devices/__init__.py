"""Device kinds: a codec plus a transport, yielding model events.

``open_device`` picks one by URI.
"""

from __future__ import annotations

from drivers.devices.base import Device, LinkCounters
from drivers.devices.nonin import NoninOximeter
from drivers.errors import UriError
from drivers.transports.uri import DeviceUri

# codec name in a serial URI -> device class
SERIAL_KINDS: dict[str, type[NoninOximeter]] = {"nonin2": NoninOximeter}
KNOWN_CODECS = frozenset(SERIAL_KINDS)

__all__ = ["KNOWN_CODECS", "Device", "LinkCounters", "open_device"]


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
    raise UriError(f"{uri!r}: {parsed.scheme}:// devices are not supported yet")
