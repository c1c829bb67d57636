"""What a device's status says in each link state (the nurse reads last_error)."""

from __future__ import annotations

import time

from drivers.devices import open_device
from gateway.pipeline import DeviceSlot

URI = "serial:///dev/serial/by-id/usb-Nonin_test-if00-port0?codec=nonin2"


def _slot() -> DeviceSlot:
    return DeviceSlot(open_device("oximeter-1", URI), label="Pulsoksymeter")


def test_open_and_fresh_is_connected_without_error() -> None:
    slot = _slot()
    slot.port_open, slot.last_error = True, "old problem"
    slot.device.counters.last_rx_monotonic_s = time.monotonic()
    status = slot.status(silence_timeout_s=2.0)
    assert status.connected and status.last_error is None


def test_open_but_silent_says_for_how_long() -> None:
    slot = _slot()
    slot.port_open = True
    slot.device.counters.last_rx_monotonic_s = time.monotonic() - 7.2
    status = slot.status(silence_timeout_s=2.0)
    assert not status.connected
    assert status.last_error == "link open, no data for 7 s"


def test_open_before_any_byte() -> None:
    slot = _slot()
    slot.port_open = True
    status = slot.status(silence_timeout_s=2.0)
    assert not status.connected and status.last_error == "link open, no data yet"


def test_closed_shows_the_transport_error() -> None:
    slot = _slot()
    slot.last_error = "/dev/x: no such port; is the device plugged in and switched on?"
    slot.device.counters.last_rx_monotonic_s = time.monotonic()  # data just before it went
    status = slot.status(silence_timeout_s=2.0)
    assert not status.connected and status.last_error == slot.last_error


def test_a_device_that_speaks_only_when_measuring_is_up_while_its_link_is() -> None:
    # a BLE thermometer is silent between measurements; keep-alive reads guard its link
    slot = DeviceSlot(open_device("thermo-1", "ble://C0:FF:EE:00:00:03?profile=thermometer"))
    assert not slot.device.streams
    slot.port_open = True
    slot.device.counters.last_rx_monotonic_s = time.monotonic() - 600
    status = slot.status(silence_timeout_s=2.0)
    assert status.connected and status.last_error is None
    slot.port_open = False
    assert not slot.status(silence_timeout_s=2.0).connected
