"""`helserom scan`: what is in range, recognised by advertised service, with a URI to paste."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from hwsim.bluez import SimBpCuff, SimChestStrap, SimThermometer

from tests.hwsim.bluez.conftest import SimFactory, sim_bluez  # noqa: F401 (fixture)


async def test_scan_lists_kinds_rssi_and_uris(sim_bluez: SimFactory) -> None:  # noqa: F811
    peripherals = [
        SimBpCuff("cuff", "C0:FF:EE:00:00:02", name="BPM", rssi_dbm=-55),
        SimThermometer("t", "C0:FF:EE:00:00:03", name="HTP", rssi_dbm=-70),
        SimChestStrap("s", "C0:FF:EE:00:00:05", name="Polar H10 SIM", rssi_dbm=-62),
    ]
    async with sim_bluez(peripherals) as bz:
        env = {**os.environ, "DBUS_SYSTEM_BUS_ADDRESS": bz.bus_address}
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway", "scan", "--seconds", "2", "--json",
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    rows = [json.loads(line) for line in out.decode().splitlines()]
    by_address = {r["address"]: r for r in rows}
    assert by_address["C0:FF:EE:00:00:02"]["kind"] == "bp"
    assert by_address["C0:FF:EE:00:00:02"]["uri"] == "ble://C0:FF:EE:00:00:02?profile=bp"
    assert by_address["C0:FF:EE:00:00:03"]["kind"] == "thermometer"
    assert by_address["C0:FF:EE:00:00:05"]["kind"] == "hr"
    assert rows[0]["address"] == "C0:FF:EE:00:00:02"  # strongest first
    assert abs(by_address["C0:FF:EE:00:00:02"]["rssi_dbm"] - (-55)) <= 3  # sim jitters RSSI
