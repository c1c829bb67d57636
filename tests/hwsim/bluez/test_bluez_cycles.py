"""100 connect/disconnect cycles with real bleak leave fds, tasks and bus connections flat.

Simulator and bleak share this process and event loop, so the counts cover both sides:
file descriptors (/proc/self/fd), asyncio tasks (asyncio.all_tasks()) and connections on the
private bus (unique names from org.freedesktop.DBus.ListNames). The first cycle is a warm-up
(bleak opens its long-lived manager connection then).
"""

from __future__ import annotations

import asyncio
import os

from bleak import BleakClient
from dbus_fast import Message
from dbus_fast.aio import MessageBus
from hwsim.bluez import SimPulseOximeter

from ._bleak_helpers import find, sig
from .conftest import SimFactory

CYCLES = 100
LINK_LOSS_CYCLES = 20
SETTLE_ROUNDS = 200


async def _bus_connections(probe: MessageBus) -> int:
    reply = await probe.call(
        Message(
            destination="org.freedesktop.DBus",
            path="/org/freedesktop/DBus",
            interface="org.freedesktop.DBus",
            member="ListNames",
        )
    )
    assert reply is not None
    return sum(1 for name in reply.body[0] if name.startswith(":"))


async def _counts(probe: MessageBus) -> tuple[int, int, int]:
    return (
        len(os.listdir("/proc/self/fd")),
        len(asyncio.all_tasks()),
        await _bus_connections(probe),
    )


async def _settled(probe: MessageBus, baseline: tuple[int, int, int]) -> tuple[int, int, int]:
    """Counts once closing connections and finishing tasks have been processed (bounded wait)."""
    counts = await _counts(probe)
    for _ in range(SETTLE_ROUNDS):
        if all(c <= b for c, b in zip(counts, baseline, strict=True)):
            break
        await asyncio.sleep(0.01)
        counts = await _counts(probe)
    return counts


async def test_100_connect_disconnect_cycles_stay_flat(sim_bluez: SimFactory) -> None:
    oximeter = SimPulseOximeter("spo2", "C0:FF:EE:00:00:01", name="SIM PLX")
    async with sim_bluez([oximeter]) as bz:
        probe = await MessageBus(bus_address=bz.bus_address).connect()
        try:
            device = await find(oximeter.address)

            async def cycle() -> None:
                async with BleakClient(device) as client:
                    assert await client.read_gatt_char(sig(0x2A19)) == bytes([90])
                    got = asyncio.Event()
                    await client.start_notify(sig(0x2A5F), lambda c, d: got.set())
                    oximeter.set_battery(90)

            await cycle()
            baseline = await _settled(probe, (10**6, 10**6, 10**6))
            for _ in range(CYCLES):
                await cycle()
            after = await _settled(probe, baseline)

            # unsolicited disconnects: the client calls disconnect() before reconnecting
            for _ in range(LINK_LOSS_CYCLES):
                gone = asyncio.Event()

                def on_gone(_client: BleakClient, event: asyncio.Event = gone) -> None:
                    event.set()

                client = BleakClient(device, disconnected_callback=on_gone)
                await client.connect()
                oximeter.link_loss()
                async with asyncio.timeout(10):
                    await gone.wait()
                await client.disconnect()
            after_loss = await _settled(probe, baseline)
        finally:
            probe.disconnect()
            await probe.wait_for_disconnect()  # type: ignore[no-untyped-call]
    names = ("fds", "tasks", "bus connections")
    print()
    for name, b, a, c in zip(names, baseline, after, after_loss, strict=True):
        print(
            f"{name}: baseline {b}, after {CYCLES} cycles {a}, after {LINK_LOSS_CYCLES} losses {c}"
        )
    # a leak is growth; a count below the baseline is a transient the baseline caught (an fd
    # of the first cycle still closing), seen once in CI as fds 24 -> 22
    assert all(a <= b for a, b in zip(after, baseline, strict=True)), (after, baseline)
    assert all(c <= b for c, b in zip(after_loss, baseline, strict=True)), (after_loss, baseline)
    assert oximeter.fault_counters.link_losses == LINK_LOSS_CYCLES
