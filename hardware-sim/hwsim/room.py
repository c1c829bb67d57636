"""The simulated room: devices from specs, each streaming in its own task, one patient for all.

    specs = [DeviceSpec("oximeter-1", NONIN2_KIND, "/run/hwsim/serial/by-id/usb-Nonin…", seed=1)]
    patient = Patient(builtin_scenario("stable-copd"), seed=1)
    async with SimRoom(specs, patient=patient, control_socket="/run/hwsim/control.sock") as room:
        print(room.uris)                  # {"oximeter-1": "serial:///run/hwsim/…?codec=nonin2&baud=9600"}
        room.devices["oximeter-1"].unplug()

With a patient, every device samples the same simulated person (the oximeter's pulse follows the
ECG's beats); without one, each device runs its own built-in generator. Leaving the block (or
cancellation) stops every device task, removes every link, pty and the control socket. A device
task that fails cancels the block, as an asyncio.TaskGroup does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, Self

from hwsim.bluez import BlePeripheralSpec, SimBluez, make_peripheral
from hwsim.bluez.commands import ADAPTER_COMMANDS
from hwsim.bluez.commands import handle as ble_handle
from hwsim.control import ControlServer, RoomHandler
from hwsim.errors import HwsimError
from hwsim.kinds import KINDS, DeviceSpec, SimDevice, default_link_path
from hwsim.patient import Patient
from hwsim.patient_api import PatientSource
from hwsim.scenario import ScenarioError, builtin_scenario, load_scenario

__all__ = [
    "BLE_PROFILES",
    "KINDS",
    "BlePeripheralSpec",
    "DeviceSpec",
    "SimRoom",
    "default_link_path",
    "make_device",
]

# simulated BLE kind -> the ?profile= of the gateway's ble:// URI
BLE_PROFILES = {
    "ble-pulse-oximeter": "plx",
    "ble-bp-cuff": "bp",
    "ble-thermometer": "thermometer",
    "ble-weight-scale": "weight",
    "ble-chest-strap": "hr",
}


def make_device(spec: DeviceSpec, patient: PatientSource | None = None) -> SimDevice:
    """Build the simulated device a spec describes."""
    return KINDS[spec.kind].make(spec, patient)


class SimRoom:
    """An async context manager that runs a room of simulated devices."""

    def __init__(
        self,
        specs: Sequence[DeviceSpec],
        *,
        patient: PatientSource | None = None,
        control_socket: str | os.PathLike[str] | None = None,
        ble: Sequence[BlePeripheralSpec] = (),
    ) -> None:
        ids = [spec.id for spec in specs] + [spec.id for spec in ble]
        if len(set(ids)) != len(ids):
            raise HwsimError(f"device ids must be unique, got {ids}")
        self.patient = patient
        self.devices: dict[str, SimDevice] = {spec.id: make_device(spec, patient) for spec in specs}
        self.control: ControlServer | None = (
            None
            if control_socket is None
            else ControlServer(self.devices, control_socket, room=self)
        )
        self.started_monotonic_s = time.monotonic()
        self.ble_specs = tuple(ble)
        self.bluez: SimBluez | None = None
        self._stack = contextlib.AsyncExitStack()
        self._group: asyncio.TaskGroup | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def uris(self) -> dict[str, str]:
        """Device id -> URI to put in the gateway's room config."""
        uris = {device_id: device.uri for device_id, device in self.devices.items()}
        for spec in self.ble_specs:
            uris[spec.id] = f"ble://{spec.address}?profile={BLE_PROFILES[spec.kind]}"
        return uris

    @property
    def bus_address(self) -> str | None:
        """The simulated bluetoothd's D-Bus (DBUS_SYSTEM_BUS_ADDRESS for bleak), if any."""
        return None if self.bluez is None else self.bluez.bus_address

    @property
    def time_s(self) -> float:
        """Seconds since the room started (the patient's clock)."""
        return time.monotonic() - self.started_monotonic_s

    def room_commands(self) -> dict[str, tuple[frozenset[str], RoomHandler]]:
        """Device-less control commands: switch the scenario; the Bluetooth adapter."""
        commands: dict[str, tuple[frozenset[str], RoomHandler]] = {
            "scenario": (frozenset({"name", "path"}), self._switch_scenario)
        }
        if self.bluez is not None:
            for name in ADAPTER_COMMANDS:
                if name != "status":
                    commands[f"bluetooth_{name}"] = (frozenset(), self._adapter(name))
        return commands

    def _adapter(self, name: str) -> RoomHandler:
        async def run(args: Mapping[str, Any]) -> dict[str, Any]:
            assert self.bluez is not None
            return await self._ble({"command": name})

        return run

    async def delegate(self, request: Mapping[str, Any]) -> dict[str, Any] | None:
        """Handle a command for a BLE peripheral (None: not one of ours)."""
        device = request.get("device")
        if self.bluez is None or device not in self.bluez.peripherals:
            return None
        return await self._ble(request)

    async def _ble(self, request: Mapping[str, Any]) -> dict[str, Any]:
        assert self.bluez is not None
        reply = await ble_handle(self.bluez, request)
        if not reply.pop("ok", False):
            raise HwsimError(str(reply.get("error")))
        return reply

    def _switch_scenario(self, args: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(self.patient, Patient):
            raise HwsimError("this room has no scenario-driven patient to switch")
        name, path = args.get("name"), args.get("path")
        if (name is None) == (path is None):
            raise HwsimError("scenario needs one of 'name' (built-in) or 'path' (a TOML file)")
        try:
            scenario = builtin_scenario(str(name)) if name is not None else load_scenario(str(path))
        except ScenarioError as exc:
            raise HwsimError(str(exc)) from exc
        at_s = self.time_s
        self.patient.switch(scenario, at_s)
        return {"scenario": name or str(path), "at_s": round(at_s, 3)}

    async def __aenter__(self) -> Self:
        async with contextlib.AsyncExitStack() as stack:
            if self.ble_specs:
                now = time.monotonic()
                peripherals = [make_peripheral(s, self.patient, now) for s in self.ble_specs]
                self.bluez = await stack.enter_async_context(SimBluez(peripherals))
            for device in self.devices.values():
                await stack.enter_async_context(device)
            if self.control is not None:
                await stack.enter_async_context(self.control)
            group = asyncio.TaskGroup()
            await group.__aenter__()
            self._group = group
            self._stack = stack.pop_all()
        self.started_monotonic_s = time.monotonic()
        for device_id, device in self.devices.items():
            self._tasks.append(group.create_task(device.run(), name=f"hwsim:{device_id}"))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for task in self._tasks:
            task.cancel()
        self._tasks.clear()
        try:
            if self._group is not None:
                group, self._group = self._group, None
                if exc_type is None or issubclass(exc_type, asyncio.CancelledError):
                    await group.__aexit__(exc_type, exc, tb)
                else:
                    # Let the block's own error propagate as itself, not in an ExceptionGroup.
                    await group.__aexit__(None, None, None)
        finally:
            await self._stack.aclose()
            self.bluez = None
