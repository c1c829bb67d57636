"""Bluetooth LE devices through a real gateway process: bleak -> simulated bluetoothd -> pipeline.

The gateway runs config/rooms/sim.toml's kind of room (its own copy, private directories); its
[sim] section starts the simulated bluetoothd on a private dbus-daemon inside the gateway
process. Faults are injected over the room's control socket, as an engineer would by hand.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.gatewayproc import GatewayProcess, start_gateway, wait_for

BLE = {
    # id: (sim kind, address, profile)
    "ox-ble": ("ble-pulse-oximeter", "C0:FF:EE:00:00:01", "plx"),
    "cuff-1": ("ble-bp-cuff", "C0:FF:EE:00:00:02", "bp"),
    "thermo-1": ("ble-thermometer", "C0:FF:EE:00:00:03", "thermometer"),
    "scale-1": ("ble-weight-scale", "C0:FF:EE:00:00:04", "weight"),
    "strap-1": ("ble-chest-strap", "C0:FF:EE:00:00:05", "hr"),
}


def _config() -> str:
    parts = [
        '[gateway]\nsite = "test-site"\nroom = "ble-room"\nstate_dir = "{root}/state"\n'
        "[server]\nport = 0\n"
    ]
    for device_id, (_kind, address, profile) in BLE.items():
        parts.append(
            f'[[devices]]\nid = "{device_id}"\nuri = "ble://{address}?profile={profile}"\n'
        )
    parts.append('[sim]\nenabled = true\ndir = "{root}/sim"\nscenario = "stable-copd"\n')
    for device_id, (kind, address, _profile) in BLE.items():
        parts.append(
            f'[[sim.devices]]\nid = "{device_id}"\nkind = "{kind}"\naddress = "{address}"\n'
        )
    return "".join(parts)


@pytest.fixture(scope="module")
def gw() -> Iterator[GatewayProcess]:
    gateway = start_gateway(config_text=_config())
    try:
        wait_for(lambda: all(gateway.device(d)["connected"] for d in BLE), 30.0)
        yield gateway
        gateway.stop_cleanly()
    finally:
        gateway.stop()
        gateway.remove()


def _measurements(messages: list[dict[str, Any]], device: str, q: str) -> list[dict[str, Any]]:
    return [
        m
        for m in messages
        if m["type"] == "measurement" and m["device_id"] == device and m["quantity"] == q
    ]


def test_devices_connect_with_info_and_battery(gw: GatewayProcess) -> None:
    for device_id in BLE:
        d = gw.device(device_id)
        assert d["connected"], d
        assert d["info"]["manufacturer"] == "Helserom Sim" and d["info"]["serial_number"], d
        assert d["battery_pct"] is not None and 0 < d["battery_pct"] <= 100, d


def test_blood_pressure_measurement_is_judged(gw: GatewayProcess) -> None:
    messages = gw.collect_live(
        40.0,
        lambda ms: bool(_measurements(ms, "cuff-1", "bp_mean")),
        lambda: gw.sim("start_measurement", device="cuff-1"),
    )
    cuff = _measurements(messages, "cuff-1", "cuff_pressure")
    assert len(cuff) >= 5 and max(m["value"] for m in cuff) > 120
    sys_m = _measurements(messages, "cuff-1", "bp_systolic")[-1]
    dia_m = _measurements(messages, "cuff-1", "bp_diastolic")[-1]
    assert sys_m["verdict"] == "valid" and dia_m["verdict"] == "valid", (sys_m, dia_m)
    assert sys_m["device_clock_set"] and sys_m["device_time"]  # the gateway set the clock


def test_thermometer_scale_oximeter_and_strap(gw: GatewayProcess) -> None:
    def measure() -> None:
        gw.sim("measure", device="thermo-1")
        gw.sim("measure", device="scale-1")

    def done(ms: list[dict[str, Any]]) -> bool:
        return all(
            (
                _measurements(ms, "thermo-1", "body_temperature"),
                _measurements(ms, "scale-1", "body_weight"),
                _measurements(ms, "ox-ble", "spo2"),
                [m for m in ms if m["type"] == "derived" and m["device_id"] == "strap-1"],
            )
        )

    messages = gw.collect_live(30.0, done, measure)
    seen = {(m["type"], m.get("device_id"), m.get("quantity") or m.get("key")) for m in messages}
    assert done(messages), sorted(seen)
    t = _measurements(messages, "thermo-1", "body_temperature")[-1]
    assert 35 < t["value"] < 39 and t["verdict"] == "valid"
    hr = [
        m
        for m in messages
        if m["type"] == "derived" and m["device_id"] == "strap-1" and m["key"] == "heart_rate"
    ]
    assert hr, "no heart rate from the strap's ECG"


@pytest.mark.parametrize(
    ("fault", "clear"),
    [
        (
            {"device": "ox-ble", "command": "out_of_range"},
            {"device": "ox-ble", "command": "back_in_range"},
        ),
        ({"command": "bluetooth_power_off"}, {"command": "bluetooth_power_on"}),
        ({"command": "bluetooth_restart"}, None),
        ({"device": "ox-ble", "command": "link_loss"}, None),
    ],
    ids=["out-of-range", "adapter-off", "bluetoothd-restart", "link-loss"],
)
def test_faults_recover(
    gw: GatewayProcess, fault: dict[str, Any], clear: dict[str, Any] | None
) -> None:
    fault, clear = dict(fault), (dict(clear) if clear is not None else None)
    name = fault["command"]
    frames = gw.device("ox-ble")["frames_ok"]
    gw.sim(fault.pop("command"), device=fault.get("device"))
    if clear is not None:
        wait_for(lambda: not gw.device("ox-ble")["connected"], 15.0)
        gw.sim(clear.pop("command"), device=clear.get("device"))
    cleared = time.monotonic()
    wait_for(lambda: gw.device("ox-ble")["frames_ok"] > frames + 2, 30.0)
    print(f"{name}: data again {time.monotonic() - cleared:.2f} s after the fault cleared")
    wait_for(lambda: all(gw.device(d)["connected"] for d in BLE), 30.0)
