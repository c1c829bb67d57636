"""Fixtures: a simulated bluetoothd on a private dbus-daemon, and bleak pointed at it.

The simulator runs in the test's own event loop (not a subprocess): one process holds both
sides, so /proc/self/fd and asyncio.all_tasks() count the simulator *and* bleak together, faults
are injected by plain method calls at an exact point of a test, and nothing needs a control
channel. bleak still goes through a real dbus-daemon (a child process), so every byte crosses a
real socket. The dbus-daemon is killed in the fixture's teardown and the test checks it is gone.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import pytest
from hwsim.bluez import SimBluez
from hwsim.bluez.peripherals import SimPeripheral

SimFactory = Callable[..., AbstractAsyncContextManager[SimBluez]]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); check its state
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split()[2] != "Z"


@pytest.fixture
def sim_bluez(monkeypatch: pytest.MonkeyPatch) -> SimFactory:
    """``async with sim_bluez([peripherals]) as bz``: bleak in this test talks to `bz`."""

    @asynccontextmanager
    async def factory(
        peripherals: Sequence[SimPeripheral], queue_max: int = 1024
    ) -> AsyncIterator[SimBluez]:
        bz = SimBluez(peripherals, queue_max=queue_max)
        async with bz:
            assert bz._private is not None
            pid = bz._private.pid
            monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", bz.bus_address)
            yield bz
        assert pid is not None
        assert not _pid_alive(pid), f"dbus-daemon {pid} outlived the simulator"

    return factory
