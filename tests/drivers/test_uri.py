"""Device URIs."""

from __future__ import annotations

import pytest

from drivers.errors import UriError
from drivers.transports.uri import DeviceUri


def test_serial_uri() -> None:
    uri = DeviceUri.parse("serial:///dev/serial/by-id/usb-Nonin%20X-if00?codec=nonin2&baud=19200")
    assert (uri.scheme, uri.target, uri.codec, uri.baudrate) == (
        "serial",
        "/dev/serial/by-id/usb-Nonin X-if00",
        "nonin2",
        19200,
    )


def test_default_baud_and_round_trip() -> None:
    text = "serial:///dev/ttyUSB0?codec=nonin2"
    uri = DeviceUri.parse(text)
    assert uri.baudrate == 9600
    assert str(uri) == text


def test_ble_uri_upper_cases_address() -> None:
    uri = DeviceUri.parse("ble://aa:bb:cc:dd:ee:ff?profile=plx")
    assert (uri.target, uri.params["profile"]) == ("AA:BB:CC:DD:EE:FF", "plx")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("usb:///x", "unknown scheme 'usb' in 'usb:///x': expected one of serial://, ble://"),
        ("serial:///x", "serial URI 'serial:///x': expected ?codec=NAME (for example nonin2)"),
        (
            "serial:///x?codec=a&codec=b",
            "parameter 'codec' given twice in 'serial:///x?codec=a&codec=b'",
        ),
        (
            "serial:///x?codec=a&baud=9601",
            "serial URI 'serial:///x?codec=a&baud=9601': baud '9601' is not a standard rate",
        ),
        ("ble://AA:BB", "ble URI 'ble://AA:BB': expected ble://AA:BB:CC:DD:EE:FF"),
    ],
)
def test_bad_uris(text: str, message: str) -> None:
    with pytest.raises(UriError) as err:
        DeviceUri.parse(text)
    assert str(err.value).startswith(message)


def test_parity_parameter() -> None:
    assert (
        DeviceUri.parse("serial:///dev/ttyUSB0?codec=cms50&baud=19200&parity=odd").parity == "odd"
    )
    assert DeviceUri.parse("serial:///dev/ttyUSB0?codec=cms50").parity == "none"
    with pytest.raises(UriError, match="parity 'mark' is not none, odd or even"):
        DeviceUri.parse("serial:///dev/ttyUSB0?codec=cms50&parity=mark")


def test_legacy_cms50_defaults_to_odd_parity() -> None:
    from drivers.devices.cms50 import Cms50Oximeter

    legacy = DeviceUri.parse("serial:///dev/x?codec=cms50&baud=19200&protocol=legacy")
    assert Cms50Oximeter("c", legacy).parity == "odd"
    v7 = DeviceUri.parse("serial:///dev/x?codec=cms50&baud=115200")
    assert Cms50Oximeter("c", v7).parity == "none"
