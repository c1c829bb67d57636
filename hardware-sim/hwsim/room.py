"""The simulated room: devices from specs, each streaming in its own task.

    specs = [DeviceSpec("oximeter-1", NONIN2_KIND, "/run/hwsim/serial/by-id/usb-Nonin…", seed=1)]
    async with SimRoom(specs, control_socket="/run/hwsim/control.sock") as room:
        print(room.uris)                  # {"oximeter-1": "serial:///run/hwsim/…?codec=nonin2&baud=9600"}
        room.devices["oximeter-1"].unplug()

Leaving the block (or cancellation) stops every device task, removes every link, pty and the
control socket. A device task that fails cancels the block, as an asyncio.TaskGroup does.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from hwsim.control import ControlServer
from hwsim.devices import NONIN2_KIND, SimNoninOximeter
from hwsim.errors import HwsimError

KINDS = (NONIN2_KIND,)


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """One simulated device in the room."""

    id: str
    kind: str  # one of KINDS
    link_path: str  # where the gateway opens it, e.g. …/serial/by-id/usb-Nonin_…
    seed: int = 0
    hr_bpm: float = 72.0
    spo2_pct: float = 97.0
    perfusion: float = 0.6

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise HwsimError(
                f"device {self.id!r}: unknown kind {self.kind!r}, expected one of {KINDS}"
            )


def default_link_path(directory: str | os.PathLike[str], device_id: str) -> str:
    """A by-id style link for a simulated Nonin under `directory`."""
    name = f"usb-Nonin_Medical_Inc._OEM_III_Sim_{device_id}-if00-port0"
    return os.path.join(os.fspath(directory), "serial", "by-id", name)


def make_device(spec: DeviceSpec) -> SimNoninOximeter:
    """Build the simulated device a spec describes."""
    return SimNoninOximeter(
        spec.id,
        spec.link_path,
        seed=spec.seed,
        hr_bpm=spec.hr_bpm,
        spo2_pct=spec.spo2_pct,
        perfusion=spec.perfusion,
    )


class SimRoom:
    """An async context manager that runs a room of simulated devices."""

    def __init__(
        self,
        specs: Sequence[DeviceSpec],
        *,
        control_socket: str | os.PathLike[str] | None = None,
    ) -> None:
        ids = [spec.id for spec in specs]
        if len(set(ids)) != len(ids):
            raise HwsimError(f"device ids must be unique, got {ids}")
        self.devices: dict[str, SimNoninOximeter] = {spec.id: make_device(spec) for spec in specs}
        self.control: ControlServer | None = (
            None if control_socket is None else ControlServer(self.devices, control_socket)
        )
        self._stack = contextlib.AsyncExitStack()
        self._group: asyncio.TaskGroup | None = None
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def uris(self) -> dict[str, str]:
        """Device id -> URI to put in the gateway's room config."""
        return {device_id: device.uri for device_id, device in self.devices.items()}

    async def __aenter__(self) -> Self:
        async with contextlib.AsyncExitStack() as stack:
            for device in self.devices.values():
                await stack.enter_async_context(device)
            if self.control is not None:
                await stack.enter_async_context(self.control)
            group = asyncio.TaskGroup()
            await group.__aenter__()
            self._group = group
            self._stack = stack.pop_all()
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
