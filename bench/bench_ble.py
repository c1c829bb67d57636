"""BLE through the real pipeline: notification -> Measurement latency, and reconnect time.

Everything runs in one event loop: hwsim's simulated bluetoothd (on a private dbus-daemon),
bleak's real BlueZ backend, the gateway's BleDevice, and a real Pipeline (SQLite store on a temp
file with synchronous=FULL, LiveHub with one subscriber). Run from the repository root::

    .venv/bin/python bench/bench_ble.py            # about 3.5 min
    .venv/bin/python bench/bench_ble.py --notes 60 --cycles 3 --short-cycles 1 --hold-s 0.5

1. Latency: a PLX oximeter notifies Continuous Measurement at a steady rate (50 Hz by default,
   no flood); each value carries a sequence number in its pulse rate, and the simulated
   peripheral stamps time.monotonic() when it sends it (so the simulated bluetoothd's queue and
   D-Bus hop are included, as a real bluetoothd's would be). Reported, in ms from that stamp:
   the gateway's bleak callback (BleLink), BleDevice yielding the Measurement, and the LiveHub
   subscriber getting it after the SQLite commit (fsync). Peer in the same run: a bare
   BleakClient.start_notify callback on the same characteristic (no gateway code), the floor.
2. Reconnect: per fault (out of range, adapter power off/on, bluetoothd restart and crash),
   inject it, wait until the pipeline marks the device disconnected, keep it for --hold-s,
   clear it, and time until the LiveHub subscriber gets the first new (stored) Measurement. A
   crash sends no signal, so there bluetoothd comes back after --hold-s whether or not the
   pipeline noticed. Default PipelineSettings (restart backoff 0.25 s doubling to 1 s). The
   oximeter runs at its real 1 Hz, and (like the simulator) starts its 1 s cadence at connect.
   The simulator's timestamps split each reconnect into: undetected (fault over, old link still
   held), backoff (pipeline asleep, no discovery), scan (until the device object appears),
   connect (until Connect returns), setup (DIS/battery reads until the continuous value is
   subscribed), tick (waiting for the device's next 1 Hz value), deliver (stored, published).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from bleak import BleakClient, BleakScanner
from bleak.backends.characteristic import BleakGATTCharacteristic
from hwsim.bluez import SimBluez, SimPulseOximeter
from hwsim.bluez import encoders as enc
from hwsim.bluez.gatt import Service
from hwsim.bluez.objects import Device1
from hwsim.bluez.peripherals import SimPeripheral

from drivers.devices.ble import BleDevice
from drivers.model import DeviceEvent, Measurement, Quantity
from drivers.transports.uri import DeviceUri
from gateway.live import LiveHub, Message
from gateway.pipeline import DeviceSlot, Pipeline
from gateway.settings import PipelineSettings
from gateway.store import Store

ADDRESS = "C0:FF:EE:00:00:B1"
CONTINUOUS = "00002a5f-0000-1000-8000-00805f9b34fb"
PR_MIN = 30  # pulse rate carries the sequence number: PR_MIN + seq % PR_SPAN
PR_SPAN = 200
WARMUP = 20  # notifications skipped after subscribing
WAIT_S = 30.0
GOAL_P95_S = 3.0
PHASES = ("undetected", "backoff", "scan", "connect", "setup", "tick", "deliver")


def now() -> float:
    return time.monotonic()


class BenchOximeter(SimPulseOximeter):
    """The simulated oximeter at a settable rate, stamping each continuous value it sends."""

    def __init__(self, period_s: float) -> None:
        super().__init__("ox", ADDRESS, name="PLX bench")
        self.period_s = period_s
        self.seq = 0
        self.sent_at: dict[int, float] = {}  # pulse rate -> when the latest value with it went
        self.sends: list[float] = []
        self.subscribed: list[float] = []

    def build_services(self) -> Sequence[Service]:
        services = super().build_services()
        self.continuous.on_subscribe = self._subscribed
        return services

    def _subscribed(self, on: bool) -> None:
        if on:
            self.subscribed.append(now())

    async def run_connected(self) -> None:
        next_t = now()
        while True:
            pr = PR_MIN + self.seq % PR_SPAN
            value = enc.plx_continuous(97, pr, pai_pct=5.2)
            t = now()
            if self.send(self.continuous, value):
                self.sent_at[pr] = t
                self.sends.append(t)
                self.seq += 1
            next_t += self.period_s
            await asyncio.sleep(max(0.0, next_t - now()))

    def latency_s(self, pr: float, t: float) -> float:
        """Seconds since the value with pulse rate `pr` was sent (NaN if unknown)."""
        return t - self.sent_at.get(round(pr), math.nan)


class TimedBluez(SimBluez):
    """The simulated bluetoothd, noting when discovery starts, the device appears, links come up."""

    def __init__(self, peripherals: Sequence[SimPeripheral]) -> None:
        super().__init__(peripherals)
        self.discovery_started: list[float] = []
        self.discovery_flips: list[tuple[float, bool]] = []
        self.found: list[float] = []
        self.connected_at: list[float] = []

    def start_discovery(self) -> None:
        super().start_discovery()
        self.discovery_started.append(now())
        self._flip()

    def stop_discovery(self) -> None:
        super().stop_discovery()
        self._flip()

    def _adapter_changed(self, changes: dict[str, Any]) -> None:
        super()._adapter_changed(changes)
        self._flip()

    async def _stop_daemon(self, *, crash: bool = False) -> None:
        await super()._stop_daemon(crash=crash)
        self._flip()

    def _flip(self) -> None:
        if not self.discovery_flips or self.discovery_flips[-1][1] != self.discovering:
            self.discovery_flips.append((now(), self.discovering))

    def discovering_at(self, t: float) -> bool:
        """Whether discovery was on at time `t`."""
        on = False
        for at, state in self.discovery_flips:
            if at > t:
                break
            on = state
        return on

    def _add_device(self, p: SimPeripheral) -> Device1:
        self.found.append(now())
        return super()._add_device(p)

    async def connect(self, dev: Device1) -> None:
        await super().connect(dev)
        self.connected_at.append(now())


class TimedBleDevice(BleDevice):
    """The gateway's BleDevice, noting when it yields each pulse-rate Measurement."""

    def __init__(self, ox: BenchOximeter) -> None:
        super().__init__(ox.id, DeviceUri.parse(f"ble://{ADDRESS}?profile=plx"))
        self.ox = ox
        self.recording = False
        self.callback_ms: list[float] = []
        self.yield_ms: list[float] = []

    async def stream(self) -> AsyncIterator[DeviceEvent]:
        async for event in super().stream():
            pr = isinstance(event, Measurement) and event.quantity is Quantity.PULSE_RATE
            if self.recording and pr:
                assert isinstance(event, Measurement)
                t = now()
                self.callback_ms.append(
                    1e3 * self.ox.latency_s(event.value, event.received.monotonic_s)
                )
                self.yield_ms.append(1e3 * self.ox.latency_s(event.value, t))
            yield event


@dataclass
class Subscriber:
    """A LiveHub client: when each pulse-rate message arrived, and its latency if recording."""

    ox: BenchOximeter
    recording: bool = False
    stored_ms: list[float] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)

    async def run(self, hub: LiveHub) -> None:
        key = Quantity.PULSE_RATE.spec.key
        with hub.subscribe() as queue:
            while True:
                for msg in await queue.get_batch(256):
                    if msg["type"] == "measurement" and msg["quantity"] == key:
                        self._got(msg)

    def _got(self, msg: Message) -> None:
        t = now()
        self.arrivals.append(t)
        if self.recording:
            self.stored_ms.append(1e3 * self.ox.latency_s(msg["value"], t))


async def until(pred: Callable[[], bool], what: str, timeout_s: float = WAIT_S) -> None:
    try:
        async with asyncio.timeout(timeout_s):
            # several parts own the state polled here (pipeline slot, subscriber, simulator)
            while not pred():  # noqa: ASYNC110
                await asyncio.sleep(0.005)
    except TimeoutError:
        raise SystemExit(
            f"bench_ble: timed out after {timeout_s:.0f} s waiting for {what}"
        ) from None


def pct(xs: Sequence[float], q: float) -> float:
    finite = [x for x in xs if math.isfinite(x)]
    return float(np.percentile(finite, q)) if finite else math.nan


# --- 1. latency ------------------------------------------------------------------------------


async def floor_run(ox: BenchOximeter, n: int) -> list[float]:
    """A bare BleakClient: start_notify callback latency, no gateway code."""
    latencies: list[float] = []
    seen = 0

    def on_value(_char: BleakGATTCharacteristic, data: bytearray) -> None:
        nonlocal seen
        t = now()
        seen += 1
        if seen > WARMUP:
            pr = int.from_bytes(data[3:5], "little") & 0x0FFF  # SFLOAT, exponent 0
            latencies.append(1e3 * ox.latency_s(pr, t))

    device = await BleakScanner.find_device_by_address(ADDRESS, timeout=10.0)
    if device is None:
        raise SystemExit("bench_ble: the simulated oximeter was not found by scanning")
    async with BleakClient(device) as client:
        await client.start_notify(CONTINUOUS, on_value)
        await until(
            lambda: len(latencies) >= n, "the bare client's values", WAIT_S + 2 * n * ox.period_s
        )
        await client.stop_notify(CONTINUOUS)
    return latencies[:n]


async def pipeline_latency(
    device: TimedBleDevice, sub: Subscriber, n: int
) -> tuple[list[float], list[float], list[float]]:
    """Latency to the gateway's bleak callback, to BleDevice's yield, and to the subscriber."""
    start = len(sub.arrivals)
    await until(lambda: len(sub.arrivals) >= start + WARMUP, "the pipeline's first values")
    device.recording = sub.recording = True
    await until(
        lambda: len(sub.stored_ms) >= n,
        "the pipeline's values",
        WAIT_S + 2 * n * device.ox.period_s,
    )
    device.recording = sub.recording = False
    return device.callback_ms[:n], device.yield_ms[:n], sub.stored_ms[:n]


def print_latency(rows: list[tuple[str, list[float]]], rate_hz: float) -> None:
    n = len(rows[0][1])
    print(f"notification -> Measurement latency, PLX continuous at {rate_hz:.0f} Hz, n={n}, ms")
    floor_p50 = pct(rows[0][1], 50)
    for name, xs in rows:
        print(
            f"  {name:44s} p50 {pct(xs, 50):7.2f}  p95 {pct(xs, 95):7.2f}  p99 {pct(xs, 99):7.2f}"
            f"  max {max(xs):7.2f}  p50 ratio vs floor {pct(xs, 50) / floor_p50:6.2f}x"
        )


# --- 2. reconnect ----------------------------------------------------------------------------


@dataclass
class Cycle:
    """One fault cycle: seconds from the fault clearing to the first new stored Measurement."""

    detect_s: float  # fault injected -> pipeline marks the device disconnected
    total_s: float
    phases_s: dict[str, float]


def _first_after(times: list[float], t: float) -> float:
    return next((x for x in times if x >= t), math.nan)


def breakdown(
    bz: TimedBluez, ox: BenchOximeter, cleared: float, detected: float, stored: float
) -> dict[str, float]:
    """Split clear -> stored with the simulator's timestamps (NaN where a step was not seen).

    `undetected`: the fault was over but the pipeline still held the old link (a bluetoothd
    crash sends no signal); zero when the pipeline saw the fault before it cleared.
    """
    start = max(cleared, detected)
    scan = start if bz.discovering_at(start) else _first_after(bz.discovery_started, start)
    found = _first_after(bz.found, cleared)
    linked = _first_after(bz.connected_at, found)
    subscribed = _first_after(ox.subscribed, linked)
    sent = _first_after(ox.sends, subscribed)
    marks = [cleared, start, scan, found, linked, subscribed, sent, stored]
    return {name: b - a for name, a, b in zip(PHASES, marks[:-1], marks[1:], strict=True)}


@dataclass
class Rig:
    """The parts a fault cycle works on."""

    bz: TimedBluez
    ox: BenchOximeter
    slot: DeviceSlot
    sub: Subscriber
    hold_s: float


async def fault_cycle(fault: str, rig: Rig) -> Cycle:
    """Inject `fault`, let the pipeline notice, hold, clear; time until data is stored again.

    A bluetoothd crash is the exception: nothing tells the pipeline, so the daemon comes back
    after hold_s whether or not the pipeline has noticed yet.
    """
    bz, ox, sub = rig.bz, rig.ox, rig.sub
    count = len(sub.arrivals)
    await until(lambda: len(sub.arrivals) > count, "data flowing before the fault")
    injected = now()
    restart: asyncio.Task[None] | None = None
    if fault == "out_of_range":
        ox.out_of_range()
    elif fault == "power":
        bz.power_off()
    else:  # stopped now, started again after hold_s
        restart = asyncio.create_task(bz.restart(down_s=rig.hold_s, crash=fault == "crash"))
    if fault != "crash":
        await until(lambda: not rig.slot.port_open, f"the pipeline to see {fault}")
    detected = now()
    if restart is not None:
        await restart
    else:
        await asyncio.sleep(rig.hold_s)
    if fault == "out_of_range":
        ox.back_in_range()
    elif fault == "power":
        bz.power_on()
    cleared = now()
    if fault == "crash":
        await until(lambda: not rig.slot.port_open, "the pipeline to see the crash")
        detected = now()
    await until(lambda: bool(sub.arrivals) and sub.arrivals[-1] > cleared, f"data after {fault}")
    stored = _first_after(sub.arrivals, cleared)
    return Cycle(
        detected - injected, stored - cleared, breakdown(bz, ox, cleared, detected, stored)
    )


def print_reconnect(results: dict[str, list[Cycle]], hold_s: float) -> None:
    print(
        f"reconnect: fault cleared -> first new Measurement stored, s (fault held {hold_s:.1f} s "
        "after the pipeline marked the device disconnected; crash: bluetoothd down that long, "
        "the pipeline not told; oximeter at 1 Hz)"
    )
    names = {
        "out_of_range": "out_of_range/back_in_range",
        "power": "adapter power_off/power_on",
        "restart": "bluetoothd restart(crash=False)",
        "crash": "bluetoothd restart(crash=True)",
    }
    for fault, cycles in results.items():
        if not cycles:
            continue
        total = [c.total_s for c in cycles]
        verdict = "yes" if pct(total, 95) <= GOAL_P95_S else "NO"
        print(
            f"  {names[fault]:32s} n={len(cycles):2d}  p50 {pct(total, 50):5.2f}"
            f"  p95 {pct(total, 95):5.2f}  max {max(total):5.2f}"
            f"  p95 <= {GOAL_P95_S:.0f} s: {verdict}"
            f"  (detect p50 {pct([c.detect_s for c in cycles], 50):4.2f})"
        )
        gateway = [c.total_s - c.phases_s["tick"] for c in cycles]
        print(
            f"      without the device's own tick: p50 {pct(gateway, 50):5.2f}"
            f"  p95 {pct(gateway, 95):5.2f}  max {max(gateway):5.2f}"
        )
        parts = "  ".join(f"{p} {pct([c.phases_s[p] for c in cycles], 50):4.2f}" for p in PHASES)
        print(f"      p50 split: {parts}")


# --- main ------------------------------------------------------------------------------------


@dataclass
class Options:
    notes: int
    rate_hz: float
    cycles: int
    short_cycles: int
    crash_cycles: int
    hold_s: float


async def run(opts: Options) -> None:
    ox = BenchOximeter(1.0 / opts.rate_hz)
    async with TimedBluez([ox]) as bz:
        assert bz._private is not None
        pid = bz._private.pid
        os.environ["DBUS_SYSTEM_BUS_ADDRESS"] = bz.bus_address
        floor = await floor_run(ox, opts.notes)
        with tempfile.TemporaryDirectory() as d:
            async with Store(Path(d) / "bench.sqlite3") as store:
                await _with_pipeline(opts, bz, ox, store, floor)
    if pid is not None and _alive(pid):
        raise SystemExit(f"bench_ble: dbus-daemon {pid} outlived the simulator")
    print(f"  private dbus-daemon (pid {pid}) stopped")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"  # a zombie is gone for our purpose
    except FileNotFoundError:
        return False


async def _with_pipeline(
    opts: Options, bz: TimedBluez, ox: BenchOximeter, store: Store, floor: list[float]
) -> None:
    device = TimedBleDevice(ox)
    await store.register_device(device.device_id, device.kind, str(device.uri), time.time())
    settings = PipelineSettings()
    hub = LiveHub(settings.live_queue_size)
    slot = DeviceSlot(device)
    pipeline = Pipeline(settings, store, hub, [slot])
    sub = Subscriber(ox)
    tasks: list[asyncio.Task[Any]] = [asyncio.create_task(sub.run(hub))]
    tasks += [
        asyncio.create_task(coro)
        for coro in (pipeline.run_writer(), pipeline.run_status(), pipeline.run_device(slot))
    ]
    try:
        callback, yielded, stored = await pipeline_latency(device, sub, opts.notes)
        print_latency(
            [
                ("bare bleak start_notify callback (floor)", floor),
                ("gateway: BleLink's bleak callback", callback),
                ("gateway: BleDevice yields Measurement", yielded),
                ("gateway: LiveHub subscriber (after fsync)", stored),
            ],
            opts.rate_hz,
        )
        ox.period_s = 1.0
        rig = Rig(bz, ox, slot, sub, opts.hold_s)
        results: dict[str, list[Cycle]] = {}
        for fault, n in (
            ("out_of_range", opts.cycles),
            ("power", opts.short_cycles),
            ("restart", opts.short_cycles),
            ("crash", opts.crash_cycles),
        ):
            results[fault] = [await fault_cycle(fault, rig) for _ in range(n)]
        print_reconnect(results, opts.hold_s)
        print(
            f"  pipeline: {pipeline.stats.events_written} events in "
            f"{pipeline.stats.batches_written} commits, {slot.reconnects} reconnects, "
            f"{pipeline.stats.device_restarts} device restarts, hub drops {hub.dropped}"
        )
    finally:
        for task in reversed(tasks):  # device first, the writer drains, the subscriber last
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--notes", type=int, default=1000, help="notifications per latency run")
    parser.add_argument("--rate-hz", type=float, default=50.0, help="oximeter rate, latency run")
    parser.add_argument("--cycles", type=int, default=20, help="out-of-range cycles")
    parser.add_argument("--short-cycles", type=int, default=5, help="power and restart cycles")
    parser.add_argument("--crash-cycles", type=int, default=3, help="bluetoothd crash cycles")
    parser.add_argument("--hold-s", type=float, default=2.0, help="how long each fault lasts")
    parser.add_argument("--log", default="ERROR", help="log level (WARNING shows each link loss)")
    a = parser.parse_args(argv)
    logging.basicConfig(
        level=a.log.upper(), format="%(relativeCreated)8.0f ms %(name)s: %(message)s"
    )
    started = now()
    asyncio.run(
        run(Options(a.notes, a.rate_hz, a.cycles, a.short_cycles, a.crash_cycles, a.hold_s))
    )
    print(f"bench took {now() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
