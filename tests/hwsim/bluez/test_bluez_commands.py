"""The JSON-lines command table, in process: every command does what it names."""

from __future__ import annotations

from typing import Any

from hwsim.bluez.catalog import default_peripherals
from hwsim.bluez.commands import handle

from .conftest import SimFactory


async def test_every_command(sim_bluez: SimFactory) -> None:
    async with sim_bluez(default_peripherals()) as bz:
        ok: list[dict[str, Any]] = [
            {"device": "ble-thermo", "command": "measure"},
            {"device": "ble-scale", "command": "measure"},
            {"device": "ble-spo2", "command": "spot_check"},
            {"device": "ble-bp", "command": "start_measurement"},
            {"device": "ble-strap", "command": "set_vitals", "hr_bpm": 55.0},
            {"device": "ble-strap", "command": "set_battery", "percent": 12},
            {"device": "ble-spo2", "command": "garbage", "n": 2},
            {"device": "ble-spo2", "command": "link_loss_after", "n": 3},
            {"device": "ble-spo2", "command": "fail_next_connect", "error": "Failed"},
            {"device": "ble-spo2", "command": "flood", "n": 5},  # nobody listens: none sent
            {"device": "ble-spo2", "command": "link_loss"},  # not connected: nothing happens
            {"device": "ble-spo2", "command": "out_of_range"},
            {"device": "ble-spo2", "command": "back_in_range"},
            {"command": "power_off"},
            {"command": "power_on"},
            {"command": "restart"},
            {"command": "status"},
        ]
        for request in ok:
            reply = await handle(bz, request)
            assert reply["ok"] is True, (request, reply)
        p = bz.peripherals
        assert p["ble-thermo"].stored_count == 1
        assert p["ble-scale"].stored_count == 1
        assert p["ble-bp"].stored_count == 1
        assert p["ble-strap"].builtin.hr_bpm == 55.0
        assert p["ble-strap"].battery.value == bytes([12])
        assert p["ble-spo2"].faults.garbage_remaining == 2
        assert p["ble-spo2"].faults.link_loss_after == 3
        assert p["ble-spo2"].fault_counters.out_of_range == 1
        assert bz.restarts == 1 and bz.powered
        status = await handle(bz, {"device": "ble-spo2", "command": "status"})
        assert status["status"]["in_range"] is True

        bad: dict[str, dict[str, Any]] = {
            "missing 'command'": {"device": "ble-spo2"},
            "unknown command 'fly', expected one of ": {"device": "ble-spo2", "command": "fly"},
            "unknown adapter command 'fly', expected one of ": {"command": "fly"},
            "missing parameter 'n'": {"device": "ble-spo2", "command": "flood"},
            "'ble-strap' (ble-chest-strap) has no measure command": {
                "device": "ble-strap",
                "command": "measure",
            },
            "link_loss_after needs n >= 1, got 0": {
                "device": "ble-spo2",
                "command": "link_loss_after",
                "n": 0,
            },
            "battery level 101 outside 0..100 %": {
                "device": "ble-spo2",
                "command": "set_battery",
                "percent": 101,
            },
        }
        for error, request in bad.items():
            reply = await handle(bz, request)
            assert reply["ok"] is False
            assert str(reply["error"]).startswith(error), reply
