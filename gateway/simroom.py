"""Adapter from the ``[sim]`` settings to hwsim's simulated room."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from hwsim.patient import Patient
from hwsim.room import BlePeripheralSpec, DeviceSpec, SimRoom
from hwsim.scenario import Scenario, builtin_scenario, load_scenario

from gateway.settings import SimSettings

logger = logging.getLogger(__name__)

CONTROL_SOCKET = "control.sock"
DBUS_ENV = "DBUS_SYSTEM_BUS_ADDRESS"


def sim_link_path(settings: SimSettings, link: str) -> str:
    """Where the simulator puts a device's link: ``<dir>/by-id/<link>``."""
    return str(settings.dir / "by-id" / link)


def scenario_of(name_or_path: str) -> Scenario:
    """A built-in scenario by name, or a scenario file by path (ends in .toml)."""
    if name_or_path.endswith(".toml"):
        return load_scenario(name_or_path)
    return builtin_scenario(name_or_path)


@asynccontextmanager
async def start_sim_room(settings: SimSettings) -> AsyncIterator[SimRoom]:
    """The simulated room of the ``[sim]`` section; removes the directories it made."""
    specs = [
        DeviceSpec(
            id=d.id,
            kind=d.kind,
            link_path=sim_link_path(settings, d.link),
            seed=d.seed,
            hr_bpm=d.hr_bpm,
            spo2_pct=d.spo2_pct,
            options=dict(d.options),
        )
        for d in settings.devices
        if d.link is not None
    ]
    ble = [
        BlePeripheralSpec(d.id, d.kind, d.address, d.name or d.id, seed=d.seed)
        for d in settings.devices
        if d.address is not None
    ]
    patient = None
    if settings.scenario is not None:
        patient = Patient(scenario_of(settings.scenario), seed=settings.seed)
    made = not settings.dir.exists()
    settings.dir.mkdir(parents=True, exist_ok=True)
    control = str(settings.dir / CONTROL_SOCKET)
    try:
        async with SimRoom(specs, patient=patient, control_socket=control, ble=ble) as room:
            if room.bus_address is not None:
                # bleak finds BlueZ on the system bus: here, the simulated bluetoothd's
                os.environ[DBUS_ENV] = room.bus_address
                logger.info("simulated bluetoothd on %s", room.bus_address)
            yield room
    finally:
        for path in (settings.dir / "by-id", settings.dir):
            if path == settings.dir and not made:
                break
            with contextlib.suppress(OSError):  # not empty: something else lives there
                path.rmdir()


async def run_sim_forever(settings: SimSettings) -> None:
    """Run only the simulated room until cancelled (``helserom sim``)."""
    async with start_sim_room(settings) as room:
        for device_id, uri in room.uris.items():
            print(f"{device_id} {uri}", flush=True)
        print(f"control {settings.dir / CONTROL_SOCKET}", flush=True)
        if room.bus_address is not None:
            print(f"{DBUS_ENV}={room.bus_address}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
