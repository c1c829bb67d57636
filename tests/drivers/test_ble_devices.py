"""The gateway's BLE devices (drivers.devices.ble) through bleak's real BlueZ backend.

bleak, unmodified, talks over a real private dbus-daemon to hwsim's simulated bluetoothd, in
this test's event loop (see tests/hwsim/bluez/conftest.py). Each profile is read end to end,
and each fault the issue lists is injected and must end in a clean reconnect, with nothing
partial ever shown as valid.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import datetime

import pytest
from dbus_fast.aio import MessageBus
from dbus_fast.constants import BusType
from hwsim.bluez import (
    SimBluez,
    SimBpCuff,
    SimChestStrap,
    SimPeripheral,
    SimPulseOximeter,
    SimThermometer,
    SimWeightScale,
)

from drivers.devices import open_device
from drivers.devices.ble import BleDevice
from drivers.errors import DriverError, PortGoneError
from drivers.model import DeviceEvent, DeviceInfo, Measurement, QualityFlag, Quantity, SampleBlock
from tests.hwsim.bluez.conftest import SimFactory, sim_bluez  # noqa: F401 (fixture)

WAIT_S = 15.0


class Run:
    """A device's stream() running in a task, its events collected."""

    def __init__(self, device: BleDevice) -> None:
        self.device = device
        self.events: list[DeviceEvent] = []
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        async for event in self.device.stream():
            self.events.append(event)

    def measurements(self, q: Quantity) -> list[Measurement]:
        return [e for e in self.events if isinstance(e, Measurement) and e.quantity is q]

    async def until(self, predicate: object, timeout_s: float = WAIT_S) -> None:
        assert callable(predicate)
        async with asyncio.timeout(timeout_s):
            while not predicate():
                if self.task.done():
                    self.task.result()  # raise what ended it
                    raise AssertionError("the stream ended")
                await asyncio.sleep(0.02)

    async def ended(self) -> BaseException | None:
        async with asyncio.timeout(WAIT_S):
            try:
                await self.task
            except DriverError as exc:
                return exc
        return None

    async def stop(self) -> None:
        self.task.cancel()
        with suppress(asyncio.CancelledError, DriverError):
            await self.task


@asynccontextmanager
async def running(device: BleDevice) -> AsyncIterator[Run]:
    run = Run(device)
    try:
        yield run
    finally:
        await run.stop()


def _device(p: SimPeripheral, profile: str) -> BleDevice:
    device = open_device(p.id, f"ble://{p.address}?profile={profile}")
    assert isinstance(device, BleDevice)
    return device


async def test_oximeter_continuous_info_and_battery(sim_bluez: SimFactory) -> None:  # noqa: F811
    ox = SimPulseOximeter("ox", "C0:FF:EE:00:00:01", name="PLX", battery_pct=77)
    async with sim_bluez([ox]):
        device = _device(ox, "plx")
        async with running(device) as run:
            await run.until(lambda: len(run.measurements(Quantity.SPO2)) >= 3)
            info = next(e for e in run.events if isinstance(e, DeviceInfo))
            assert info.model_number == "Sim PLX" and info.serial_number
            assert device.info == info and device.counters.battery_pct == 77.0
            spo2 = run.measurements(Quantity.SPO2)[-1]
            assert 90 <= spo2.value <= 100 and spo2.quality == QualityFlag.NONE
            ox.set_battery(41)
            await run.until(lambda: device.counters.battery_pct == 41.0)
            # stored spot-checks came through RACP at connect, flagged STORED
            ox.spot_check()
            await run.until(lambda: any(m.device_time for m in run.measurements(Quantity.SPO2)))


async def test_cuff_clock_set_pressure_rising_then_result(sim_bluez: SimFactory) -> None:  # noqa: F811
    cuff = SimBpCuff("cuff", "C0:FF:EE:00:00:02", name="BPM")
    async with sim_bluez([cuff]):
        device = _device(cuff, "bp")
        async with running(device) as run:
            await run.until(lambda: any(isinstance(e, DeviceInfo) for e in run.events))
            await asyncio.sleep(0.5)  # the clock is written before subscribing
            cuff.start_measurement()
            await run.until(lambda: bool(run.measurements(Quantity.BP_SYSTOLIC)), 30.0)
            cuff_p = [m.value for m in run.measurements(Quantity.CUFF_PRESSURE)]
            assert len(cuff_p) >= 5 and max(cuff_p) > 120
            sys_m = run.measurements(Quantity.BP_SYSTOLIC)[-1]
            dia_m = run.measurements(Quantity.BP_DIASTOLIC)[-1]
            assert 80 < sys_m.value < 200 and 40 < dia_m.value < sys_m.value
            # the gateway set the cuff's clock on connect: its timestamp is now, and trusted
            assert sys_m.device_time is not None and sys_m.device_clock_set
            skew_s = abs((sys_m.device_time - datetime.now().astimezone()).total_seconds())
            assert skew_s < 60, skew_s
            assert not sys_m.quality & (QualityFlag.STORED | QualityFlag.DEVICE_CLOCK_NOT_SET)
            # the three parts of one reading share one receive time (judged as one reading)
            assert sys_m.received == dia_m.received


async def test_thermometer_scale_and_strap(sim_bluez: SimFactory) -> None:  # noqa: F811
    thermo = SimThermometer("t", "C0:FF:EE:00:00:03", name="HTP")
    scale = SimWeightScale("w", "C0:FF:EE:00:00:04", name="WSP")
    strap = SimChestStrap("s", "C0:FF:EE:00:00:05", name="Polar H10 SIM")
    async with sim_bluez([thermo, scale, strap]):
        runs = [
            Run(_device(thermo, "thermometer")),
            Run(_device(scale, "weight")),
            Run(_device(strap, "hr")),
        ]
        try:
            for run in runs:
                await run.until(lambda r=run: any(isinstance(e, DeviceInfo) for e in r.events))
            await asyncio.sleep(0.5)
            thermo.measure()
            scale.measure()
            await runs[0].until(lambda: bool(runs[0].measurements(Quantity.BODY_TEMPERATURE)))
            await runs[1].until(lambda: bool(runs[1].measurements(Quantity.BODY_WEIGHT)))
            t = runs[0].measurements(Quantity.BODY_TEMPERATURE)[0]
            w = runs[1].measurements(Quantity.BODY_WEIGHT)[0]
            assert 35.0 < t.value < 39.0 and t.unit == "Cel"
            assert 30.0 < w.value < 200.0 and w.unit == "kg"
            strap_run = runs[2]
            await strap_run.until(
                lambda: (
                    sum(e.n_samples for e in strap_run.events if isinstance(e, SampleBlock))
                    >= 130 * 3
                )
            )
            blocks = [e for e in strap_run.events if isinstance(e, SampleBlock)]
            assert {b.fs_hz for b in blocks} == {130.0} and blocks[0].unit == "uV"
            for a, b in itertools.pairwise(blocks):
                assert b.first_index == a.first_index + a.n_samples
            assert strap_run.measurements(Quantity.HEART_RATE)
        finally:
            for run in runs:
                await run.stop()


async def test_link_loss_mid_measurement_shows_nothing_partial(sim_bluez: SimFactory) -> None:  # noqa: F811
    cuff = SimBpCuff("cuff", "C0:FF:EE:00:00:02", name="BPM")
    async with sim_bluez([cuff]):
        device = _device(cuff, "bp")
        run = Run(device)
        await run.until(lambda: any(isinstance(e, DeviceInfo) for e in run.events))
        await asyncio.sleep(0.5)
        cuff.link_loss_after(3)  # three cuff-pressure notifications, then the link drops
        cuff.start_measurement()
        error = await run.ended()
        assert isinstance(error, PortGoneError), error
        assert len(run.measurements(Quantity.CUFF_PRESSURE)) <= 3
        assert not run.measurements(Quantity.BP_SYSTOLIC)  # no half reading, valid or not
        # the gateway reconnects: a new stream works
        async with running(device) as again:
            await again.until(lambda: any(isinstance(e, DeviceInfo) for e in again.events))


async def test_garbage_and_flood_are_counted_not_fatal(sim_bluez: SimFactory) -> None:  # noqa: F811
    ox = SimPulseOximeter("ox", "C0:FF:EE:00:00:01", name="PLX")
    async with sim_bluez([ox]):
        device = _device(ox, "plx")
        async with running(device) as run:
            await run.until(lambda: bool(run.measurements(Quantity.SPO2)))
            seen = device.counters.frames_ok + device.counters.frames_dropped
            ox.garbage(5)  # random payloads: most do not decode (counted), none stops the stream
            await run.until(
                lambda: device.counters.frames_ok + device.counters.frames_dropped >= seen + 5
            )
            assert device.counters.frames_dropped >= 1
            # a flood (4-byte junk on the continuous characteristic; the simulator's own
            # bounded queue passes the newest 1024): every value that arrives is decoded,
            # counted as undecodable, or counted as dropped by the link's bounded queue
            seen = device.counters.frames_ok + device.counters.frames_dropped
            before = len(run.measurements(Quantity.SPO2))
            ox.flood(2000)
            await run.until(
                lambda: device.counters.frames_ok + device.counters.frames_dropped >= seen + 1000
            )
            await run.until(lambda: len(run.measurements(Quantity.SPO2)) > before + 2)
            assert not run.task.done()


@pytest.mark.parametrize("error", ["InProgress", "Failed"])
async def test_bluez_errors_on_connect_are_retried(sim_bluez: SimFactory, error: str) -> None:  # noqa: F811
    # bleak-retry-connector backs off and retries BlueZ's transient errors itself: the
    # stream comes up without the pipeline ever seeing the error.
    thermo = SimThermometer("t", "C0:FF:EE:00:00:03", name="HTP")
    async with sim_bluez([thermo]):
        device = _device(thermo, "thermometer")
        thermo.fail_next_connect(error)
        async with running(device) as run:
            await run.until(lambda: any(isinstance(e, DeviceInfo) for e in run.events))
        assert thermo.fault_counters.connect_errors == 1


async def test_out_of_range_adapter_off_and_bluetoothd_restart(sim_bluez: SimFactory) -> None:  # noqa: F811
    ox = SimPulseOximeter("ox", "C0:FF:EE:00:00:01", name="PLX")
    async with sim_bluez([ox]) as bz:
        device = _device(ox, "plx")

        async def recovers(fault: str) -> float:
            run = Run(device)
            await run.until(lambda: bool(run.measurements(Quantity.SPO2)))
            return await _lost_and_back(bz, run, device, ox, fault)

        for fault in ("out_of_range", "power", "restart"):
            took = await recovers(fault)
            print(f"{fault}: data again {took:.2f} s after the fault cleared")


async def _lost_and_back(
    bz: SimBluez, run: Run, device: BleDevice, ox: SimPulseOximeter, fault: str
) -> float:
    if fault == "out_of_range":
        ox.out_of_range()
    elif fault == "power":
        bz.power_off()
    else:
        await bz.restart(crash=True)
    error = await run.ended() if fault != "restart" else await _ended_or_stop(run)
    assert error is None or isinstance(error, DriverError)
    if fault == "out_of_range":
        ox.back_in_range()
    elif fault == "power":
        bz.power_on()
    cleared = time.monotonic()
    # the pipeline's loop, in small: retry with a short backoff until data flows again
    while True:
        again = Run(device)
        try:
            await again.until(lambda run=again: bool(run.measurements(Quantity.SPO2)), 10.0)
            return time.monotonic() - cleared
        except (DriverError, TimeoutError, AssertionError):
            await again.stop()
            await asyncio.sleep(0.25)
        finally:
            await again.stop()


async def _ended_or_stop(run: Run) -> BaseException | None:
    # After a bluetoothd crash bleak keeps "connected" until a call fails: the stream's
    # watchdog (silence) or the next GATT call ends it; here we stop it as the pipeline would.
    try:
        async with asyncio.timeout(3.0):
            return await run.ended()
    except TimeoutError:
        await run.stop()
        return None


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _bus_connections(address: str) -> int:
    bus = await MessageBus(bus_address=address, bus_type=BusType.SYSTEM).connect()
    try:
        reply = await bus.introspect("org.freedesktop.DBus", "/org/freedesktop/DBus")
        assert reply is not None
        from dbus_fast import Message

        msg = await bus.call(
            Message(
                destination="org.freedesktop.DBus",
                path="/org/freedesktop/DBus",
                interface="org.freedesktop.DBus",
                member="ListNames",
            )
        )
        assert msg is not None
        return sum(1 for name in msg.body[0] if name.startswith(":")) - 1  # minus this one
    finally:
        bus.disconnect()


async def test_100_disconnect_cycles_leave_nothing_behind(sim_bluez: SimFactory) -> None:  # noqa: F811
    thermo = SimThermometer("t", "C0:FF:EE:00:00:03", name="HTP")
    async with sim_bluez([thermo]) as bz:
        device = _device(thermo, "thermometer")

        async def cycle() -> None:
            run = Run(device)
            await run.until(lambda: any(isinstance(e, DeviceInfo) for e in run.events))
            thermo.link_loss()
            error = await run.ended()
            assert isinstance(error, PortGoneError), error

        await cycle()  # warm-up: bleak's manager and caches exist from here on
        await asyncio.sleep(0.2)
        before = (_fds(), len(asyncio.all_tasks()), await _bus_connections(bz.bus_address))
        started = time.monotonic()
        for _ in range(100):
            await cycle()
        await asyncio.sleep(0.5)
        after = (_fds(), len(asyncio.all_tasks()), await _bus_connections(bz.bus_address))
        took = time.monotonic() - started
        print(
            f"100 link-loss cycles in {took:.1f} s: fds/tasks/bus connections {before} -> {after}"
        )
        assert after == before
        assert math.isfinite(device.counters.last_rx_monotonic_s)


async def test_silent_device_after_bluetoothd_crash_is_noticed(
    sim_bluez: SimFactory,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # bleak reports no disconnect when bluetoothd dies; a thermometer sends nothing between
    # measurements. The keep-alive read turns the silence into a reconnect.
    import drivers.devices.ble as ble_module

    monkeypatch.setattr(ble_module, "KEEPALIVE_S", 0.5)
    thermo = SimThermometer("t", "C0:FF:EE:00:00:03", name="HTP")
    async with sim_bluez([thermo]) as bz:
        device = _device(thermo, "thermometer")
        run = Run(device)
        await run.until(lambda: any(isinstance(e, DeviceInfo) for e in run.events))
        await asyncio.sleep(1.0)  # keep-alive reads succeed: still running
        assert not run.task.done()
        await bz.restart(crash=True)
        error = await run.ended()
        assert isinstance(error, PortGoneError) and "keep-alive" in str(error), error
