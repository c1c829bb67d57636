"""Device URIs: how config names a device, so simulator and hardware differ only in config.

serial:///dev/serial/by-id/usb-Nonin_Medical_Inc._3150-if00?codec=nonin2&baud=9600
ble://AA:BB:CC:DD:EE:FF?profile=plx            (Bluetooth issue)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from urllib.parse import parse_qsl, unquote, urlsplit

from drivers.errors import UriError

SCHEMES = ("serial", "ble")
SERIAL_BAUD_RATES = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)


@dataclass(frozen=True, slots=True)
class DeviceUri:
    """A parsed device URI."""

    scheme: str
    target: str  # serial: absolute device path; ble: MAC address
    params: Mapping[str, str]

    @classmethod
    def parse(cls, text: str) -> DeviceUri:
        """Parse and check a device URI; UriError says what is wrong and what was expected."""
        parts = urlsplit(text)
        if parts.scheme not in SCHEMES:
            raise UriError(
                f"unknown scheme {parts.scheme!r} in {text!r}: expected one of "
                + ", ".join(f"{s}://" for s in SCHEMES)
            )
        pairs = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=False)
        params: dict[str, str] = {}
        for key, value in pairs:
            if key in params:
                raise UriError(f"parameter {key!r} given twice in {text!r}")
            params[key] = value
        if parts.scheme == "serial":
            if parts.netloc:
                raise UriError(
                    f"serial URI {text!r} has a host part {parts.netloc!r}: expected "
                    "serial:///absolute/path (three slashes)"
                )
            path = unquote(parts.path)
            if not path.startswith("/"):
                raise UriError(f"serial URI {text!r}: expected an absolute device path")
            baud = params.get("baud", "9600")
            if not baud.isdigit() or int(baud) not in SERIAL_BAUD_RATES:
                raise UriError(
                    f"serial URI {text!r}: baud {baud!r} is not a standard rate "
                    f"(expected one of {', '.join(map(str, SERIAL_BAUD_RATES))})"
                )
            if params.get("parity", "none") not in ("none", "odd", "even"):
                raise UriError(
                    f"serial URI {text!r}: parity {params['parity']!r} is not none, odd or even"
                )
            if not params.get("codec"):
                raise UriError(f"serial URI {text!r}: expected ?codec=NAME (for example nonin2)")
            return cls("serial", path, MappingProxyType(params))
        address = parts.netloc.upper()
        octets = address.split(":")
        if len(octets) != 6 or not all(
            len(o) == 2 and all(c in "0123456789ABCDEF" for c in o) for o in octets
        ):
            raise UriError(f"ble URI {text!r}: expected ble://AA:BB:CC:DD:EE:FF")
        return cls("ble", address, MappingProxyType(params))

    @property
    def baudrate(self) -> int:
        """Serial baud rate (9600 unless the URI says otherwise)."""
        return int(self.params.get("baud", "9600"))

    @property
    def parity(self) -> str:
        """Serial parity: none (default), odd or even."""
        return self.params.get("parity", "none")

    @property
    def codec(self) -> str | None:
        """The codec parameter, if any."""
        return self.params.get("codec")

    def __str__(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.params.items())
        return f"{self.scheme}://{self.target}" + (f"?{query}" if query else "")
