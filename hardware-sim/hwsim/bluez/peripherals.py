"""Simulated BLE health peripherals: the common part, the thermometer and the weight scale.

A peripheral declares its GATT services (:mod:`hwsim.bluez.gatt`) and what it advertises; the
daemon (:mod:`hwsim.bluez.daemon`) exports them on D-Bus while a client is connected and runs
:meth:`SimPeripheral.session` for the length of the connection. Values come from an optional
:class:`hwsim.patient_api.PatientSource`, or from built-in constant vital signs.

Every peripheral has Battery (0x180F) and Device Information (0x180A). Measurements taken while
no client listens are stored (bounded) and indicated once the client enables indications,
oldest first, as the SIG profiles (HTP, WSP, BLP) describe for stored measurements.
"""

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import ClassVar, Final, Protocol

from hwsim.bluez import encoders as enc
from hwsim.bluez.faults import FaultCounters, PeripheralFaults
from hwsim.bluez.gatt import (
    ATT_CCCD_IMPROPERLY_CONFIGURED,
    Characteristic,
    GattError,
    Service,
    uuid16,
)
from hwsim.errors import CommandError
from hwsim.patient_api import PatientSource, VitalSigns

STORE_MAX: Final = 100  # stored measurements kept (oldest dropped)
JOBS_MAX: Final = 16
RECORD_GAP_S: Final = 0.01  # between indications of a stored-record burst (one conn. interval)
CONTINUOUS_PERIOD_S: Final = 1.0
FLOOD_MAX: Final = 100_000

DEFAULT_VITALS: Final = VitalSigns(
    hr_bpm=72.0,
    spo2_pct=97.0,
    perfusion_index_pct=5.2,
    systolic_mmhg=120.0,
    diastolic_mmhg=80.0,
    temperature_c=36.8,
    resp_rate_bpm=14.0,
    weight_kg=72.5,
    rhythm="sinus",
)


class PeripheralHost(Protocol):
    """What a peripheral needs from the simulated bluetoothd."""

    def notify(self, peripheral: "SimPeripheral", char: Characteristic, value: bytes) -> None:
        """Send a notification/indication of `char` (the caller checked it is enabled)."""
        ...

    def drop_link(self, peripheral: "SimPeripheral", *, after_queued: bool = False) -> None:
        """The link is lost (unsolicited); `after_queued`: once what was sent has gone out."""
        ...

    def range_changed(self, peripheral: "SimPeripheral") -> None:
        """`peripheral` went out of range or came back."""
        ...


class SimPeripheral:
    """Base of every simulated peripheral: identity, advertising, DIS, battery, faults."""

    kind: ClassVar[str] = "generic"
    advertised: ClassVar[tuple[int, ...]] = ()
    company_id: ClassVar[int] = 0xFFFF  # "reserved for testing" in the SIG company list

    def __init__(
        self,
        id: str,
        address: str,
        *,
        name: str,
        patient: PatientSource | None = None,
        vitals: VitalSigns = DEFAULT_VITALS,
        seed: int = 0,
        rssi_dbm: int = -60,
        battery_pct: int = 90,
        serial: str = "SIM0001",
        t0_monotonic: float | None = None,
    ) -> None:
        if len(address.split(":")) != 6:
            raise CommandError(f"peripheral {id!r}: address {address!r} is not AA:BB:CC:DD:EE:FF")
        self.id = id
        self.address = address.upper()
        self.name = name
        self.patient = patient
        self.builtin = vitals
        self.rssi_dbm = rssi_dbm
        self.faults = PeripheralFaults(seed)
        self.in_range = True
        self.connected = False
        self.serial = serial
        self._t0 = time.monotonic() if t0_monotonic is None else t0_monotonic
        self._host: PeripheralHost | None = None
        self._jobs: collections.deque[Callable[[], Awaitable[None]]] = collections.deque(
            maxlen=JOBS_MAX
        )
        self._job_ready = asyncio.Event()
        self._stored: collections.deque[bytes] = collections.deque(maxlen=STORE_MAX)
        self.notifications_sent = 0
        self.jobs_dropped = 0  # work scheduled faster than the link could carry it
        self.battery = Characteristic(
            uuid16(0x2A19), ("read", "notify"), enc.battery_level(battery_pct)
        )
        self.services: list[Service] = [
            *self.build_services(),
            Service(uuid16(0x180F), [self.battery]),
            self._device_information(),
        ]

    # --- to override ------------------------------------------------------------------------

    def build_services(self) -> Sequence[Service]:
        """The profile's own services."""
        return ()

    async def run_connected(self) -> None:
        """What the peripheral does by itself while connected (default: nothing)."""
        await asyncio.Event().wait()

    def manufacturer_data(self) -> dict[int, bytes]:
        """Advertised manufacturer-specific data (company id -> bytes)."""
        return {self.company_id: b"hwsim"}

    def flood_char(self) -> Characteristic:
        """The characteristic a notification flood is sent on."""
        return self.battery

    # --- identity -----------------------------------------------------------------------------

    model: ClassVar[str] = "Sim"

    def _device_information(self) -> Service:
        def ro(short: int, value: bytes) -> Characteristic:
            return Characteristic(uuid16(short), ("read",), value)

        return Service(
            uuid16(0x180A),
            [
                ro(0x2A29, b"Helserom Sim"),
                ro(0x2A24, self.model.encode()),
                ro(0x2A25, self.serial.encode()),
                ro(0x2A26, b"1.0.0"),
                ro(0x2A27, b"rev-A"),
                ro(0x2A28, b"hwsim-bluez"),
                ro(0x2A23, enc.system_id(0x0000000001, 0x00A0B1)),
            ],
        )

    @property
    def advertised_uuids(self) -> list[str]:
        """Full 128-bit service UUIDs in the advertisement."""
        return [uuid16(u) for u in self.advertised]

    def vitals(self) -> VitalSigns:
        """The patient's vital signs now (from the patient source, else the built-ins)."""
        if self.patient is not None:
            return self.patient.vitals(self.t_s())
        return self.builtin

    def t_s(self) -> float:
        """Seconds since the room (or this peripheral) started."""
        return time.monotonic() - self._t0

    def now(self) -> datetime:
        """The peripheral's own wall clock."""
        return datetime.now().replace(microsecond=0)

    def set_vitals(self, **changes: float | str) -> None:
        """Change built-in vital signs (fields of VitalSigns)."""
        try:
            self.builtin = replace(self.builtin, **changes)  # type: ignore[arg-type]
        except TypeError as exc:
            raise CommandError(f"peripheral {self.id!r}: {exc}") from exc

    def set_battery(self, percent: int) -> None:
        """Set the battery level (notified if the client listens)."""
        self.battery.value = enc.battery_level(percent)
        self.send(self.battery, self.battery.value)

    # --- connection lifecycle (called by the daemon) ----------------------------------------

    def attach(self, host: PeripheralHost | None) -> None:
        """Give the peripheral the daemon it lives in (None: detached)."""
        self._host = host

    def on_connect(self) -> None:
        """The link is up."""
        self.connected = True

    def on_disconnect(self) -> None:
        """The link is gone: the client's subscriptions and pending jobs go with it."""
        self.connected = False
        self._jobs.clear()
        for service in self.services:
            for char in service.characteristics:
                char.notifying = False

    async def session(self) -> None:
        """Runs while connected; cancelled by the daemon at disconnect."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self._run_jobs())
            await self.run_connected()

    async def _run_jobs(self) -> None:
        while True:
            await self._job_ready.wait()
            self._job_ready.clear()
            while self._jobs:
                job = self._jobs.popleft()
                await job()

    def schedule(self, job: Callable[[], Awaitable[None]]) -> None:
        """Run `job` in the connection's session (dropped if the link goes first)."""
        if self.connected:
            if len(self._jobs) == self._jobs.maxlen:
                self.jobs_dropped += 1
            self._jobs.append(job)
            self._job_ready.set()

    def send(self, char: Characteristic, value: bytes) -> bool:
        """Notify or indicate `value` if the client enabled it; applies armed faults."""
        if not self.connected or not char.notifying or self._host is None:
            return False
        char.value = value
        self._host.notify(self, char, self.faults.payload(value))
        self.notifications_sent += 1
        if self.faults.sent_one():
            self.faults.counters.link_losses += 1
            self._host.drop_link(self, after_queued=True)
        return True

    def require_indications(self, *chars: Characteristic) -> None:
        """A control point refuses work whose answers could not be delivered (ATT 0xFD)."""
        if not all(c.notifying for c in chars):
            raise GattError(ATT_CCCD_IMPROPERLY_CONFIGURED)

    @property
    def stored_count(self) -> int:
        """Measurements waiting for a client."""
        return len(self._stored)

    # --- faults -------------------------------------------------------------------------------

    @property
    def fault_counters(self) -> FaultCounters:
        """What was injected so far."""
        return self.faults.counters

    def fail_next_connect(self, error: str = "InProgress") -> None:
        """The next Connect fails with org.bluez.Error.<error>."""
        self.faults.arm_connect_error(error)

    def link_loss(self) -> None:
        """The link drops now (supervision timeout)."""
        if self.connected and self._host is not None:
            self.faults.counters.link_losses += 1
            self._host.drop_link(self)

    def link_loss_after(self, n: int) -> None:
        """The link drops right after the n-th next notification or indication."""
        self.faults.arm_link_loss_after(n)

    def out_of_range(self) -> None:
        """Walk away: link lost, advertising unheard, BlueZ forgets the device."""
        if self.in_range:
            self.in_range = False
            self.faults.counters.out_of_range += 1
            if self._host is not None:
                self._host.range_changed(self)

    def back_in_range(self) -> None:
        """Come back: advertising is heard again."""
        if not self.in_range:
            self.in_range = True
            if self._host is not None:
                self._host.range_changed(self)

    def garbage(self, n: int = 1) -> None:
        """The next n notifications carry random bytes."""
        self.faults.arm_garbage(n)

    def flood(self, n: int) -> int:
        """Send n notifications at once on :meth:`flood_char`; returns how many went out."""
        if not 1 <= n <= FLOOD_MAX:
            raise CommandError(f"flood needs 1 <= n <= {FLOOD_MAX}, got {n}")
        char = self.flood_char()
        sent = 0
        for k in range(n):
            sent += self.send(char, (k & 0xFFFFFFFF).to_bytes(4, "little"))
        self.faults.counters.flood_notifications += sent
        return sent


class StoringPeripheral(SimPeripheral):
    """A peripheral whose measurements are indicated, or stored until indications are enabled."""

    def measurement_char(self) -> Characteristic:
        """The indicated measurement characteristic."""
        raise NotImplementedError

    def deliver(self, value: bytes) -> None:
        """Indicate `value` now if possible, else store it."""
        if not self.send(self.measurement_char(), value):
            self._stored.append(value)

    def on_measurement_subscribed(self, on: bool) -> None:
        """Indications were enabled: flush the stored measurements, oldest first."""
        if on and self._stored:
            self.schedule(self._flush)

    async def _flush(self) -> None:
        char = self.measurement_char()
        while self._stored and char.notifying:
            value = self._stored.popleft()
            self.send(char, value)
            await asyncio.sleep(RECORD_GAP_S)


class SimThermometer(StoringPeripheral):
    """Health Thermometer (0x1809): Temperature Measurement indicated, Temperature Type read."""

    kind = "ble-thermometer"
    advertised = (0x1809,)
    model = "Sim Thermometer"

    def build_services(self) -> Sequence[Service]:
        self.temperature = Characteristic(
            uuid16(0x2A1C), ("indicate",), on_subscribe=self.on_measurement_subscribed
        )
        site = Characteristic(uuid16(0x2A1D), ("read",), bytes([enc.TemperatureType.EAR]))
        return [Service(uuid16(0x1809), [self.temperature, site])]

    def measurement_char(self) -> Characteristic:
        return self.temperature

    def measure(self) -> bytes:
        """Take one temperature reading (indicated or stored); returns its bytes."""
        value = enc.temperature_measurement(
            self.vitals().temperature_c, timestamp=self.now(), kind=None
        )
        self.deliver(value)
        return value


class SimWeightScale(StoringPeripheral):
    """Weight Scale (0x181D): Weight Measurement indicated, Weight Scale Feature read."""

    kind = "ble-weight-scale"
    advertised = (0x181D,)
    model = "Sim Scale"

    def build_services(self) -> Sequence[Service]:
        self.weight = Characteristic(
            uuid16(0x2A9D), ("indicate",), on_subscribe=self.on_measurement_subscribed
        )
        feature = Characteristic(
            uuid16(0x2A9E),
            ("read",),
            enc.weight_scale_feature(timestamp=True, weight_resolution=7),
        )
        return [Service(uuid16(0x181D), [self.weight, feature])]

    def measurement_char(self) -> Characteristic:
        return self.weight

    def measure(self) -> bytes:
        """Weigh the patient once (indicated or stored); returns its bytes."""
        value = enc.weight_measurement(self.vitals().weight_kg, timestamp=self.now())
        self.deliver(value)
        return value
