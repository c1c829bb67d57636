"""Simulated blood-pressure cuff (BLS 0x1810) with a Current Time Service the gateway sets.

A measurement is commanded (:meth:`SimBpCuff.start_measurement`): while a client is connected
the cuff inflates, notifying Intermediate Cuff Pressure (0x2A36) at ``icp_hz`` as the pressure
rises past systolic, deflates, then indicates the Blood Pressure Measurement (0x2A35). Without
a client the result is stored and indicated, oldest first, when a client next enables
indications.

Its clock is *not set* until a client writes Current Time (0x2A2B): until then it counts from
2000-01-01 00:00:00 (the cuff's power-on default), so timestamps of measurements taken before
the clock was set carry year 2000 — that is how a gateway tells them apart.
"""

import asyncio
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Final

from hwsim.bluez import encoders as enc
from hwsim.bluez.gatt import Characteristic, GattError, Service, uuid16
from hwsim.bluez.peripherals import StoringPeripheral
from hwsim.errors import CommandError, EncodeError

CLOCK_DEFAULT: Final = datetime(2000, 1, 1)
ATT_VALUE_NOT_ALLOWED: Final = 0x13
ICP_OVERSHOOT_MMHG: Final = 30.0  # inflate this far above systolic
ICP_UNDERSHOOT_MMHG: Final = 10.0  # deflate this far below diastolic before deciding


class SimBpCuff(StoringPeripheral):
    """Blood pressure cuff: BLS 0x1810 + Current Time 0x1805."""

    kind = "ble-bp-cuff"
    advertised = (0x1810,)
    model = "Sim BP Cuff"
    inflate_s = 3.0
    deflate_s = 3.0
    icp_hz = 8.0

    def configure_timing(self, *, inflate_s: float, deflate_s: float, icp_hz: float) -> None:
        """Change how long a measurement takes (tests use short ones)."""
        if inflate_s <= 0 or deflate_s <= 0 or not 1.0 <= icp_hz <= 50.0:
            raise CommandError("inflate_s and deflate_s must be > 0 and icp_hz within 1..50")
        self.inflate_s, self.deflate_s, self.icp_hz = inflate_s, deflate_s, icp_hz

    def build_services(self) -> Sequence[Service]:
        self._clock_base: datetime | None = None
        self._clock_set_mono = 0.0
        self._power_on_mono = time.monotonic()
        self.measuring = False
        self.measurement = Characteristic(
            uuid16(0x2A35), ("indicate",), on_subscribe=self.on_measurement_subscribed
        )
        self.icp = Characteristic(uuid16(0x2A36), ("notify",))
        feature = Characteristic(
            uuid16(0x2A49),
            ("read",),
            int(enc.BpFeature.BODY_MOVEMENT | enc.BpFeature.IRREGULAR_PULSE).to_bytes(2, "little"),
        )
        self.current_time = Characteristic(
            uuid16(0x2A2B),
            ("read", "write", "notify"),
            on_read=lambda: enc.current_time(self.now_precise()),
            on_write=self._write_time,
        )
        return [
            Service(uuid16(0x1810), [self.measurement, self.icp, feature]),
            Service(uuid16(0x1805), [self.current_time]),
        ]

    def measurement_char(self) -> Characteristic:
        return self.measurement

    def flood_char(self) -> Characteristic:
        return self.icp

    @property
    def clock_set(self) -> bool:
        """Whether a client has set the cuff's clock."""
        return self._clock_base is not None

    def now_precise(self) -> datetime:
        """The cuff's clock, with fractions of a second."""
        if self._clock_base is None:
            return CLOCK_DEFAULT + timedelta(seconds=time.monotonic() - self._power_on_mono)
        return self._clock_base + timedelta(seconds=time.monotonic() - self._clock_set_mono)

    def now(self) -> datetime:
        return self.now_precise().replace(microsecond=0)

    def _write_time(self, data: bytes) -> None:
        try:
            moment = enc.parse_current_time(data)
        except EncodeError as exc:
            code = 0x0D if len(data) != 10 else ATT_VALUE_NOT_ALLOWED
            raise GattError(code) from exc
        self._clock_base = moment
        self._clock_set_mono = time.monotonic()

    def _result(self) -> bytes:
        v = self.vitals()
        sys_mmhg, dia_mmhg = round(v.systolic_mmhg), round(v.diastolic_mmhg)
        map_mmhg = round(dia_mmhg + (sys_mmhg - dia_mmhg) / 3.0)
        return enc.bp_measurement(
            sys_mmhg, dia_mmhg, map_mmhg, timestamp=self.now(), pulse_bpm=round(v.hr_bpm)
        )

    def start_measurement(self) -> bytes | None:
        """Press start: measured live if a client is connected, else stored at once.

        Returns the stored measurement's bytes, or None when measuring live.
        """
        if self.measuring:
            raise CommandError(f"cuff {self.id!r} is already measuring")
        if not self.connected:
            value = self._result()
            self._stored.append(value)
            return value
        self.measuring = True
        self.schedule(self._measure_live)
        return None

    async def _measure_live(self) -> None:
        try:
            v = self.vitals()
            top = v.systolic_mmhg + ICP_OVERSHOOT_MMHG
            bottom = max(v.diastolic_mmhg - ICP_UNDERSHOOT_MMHG, 0.0)
            step_s = 1.0 / self.icp_hz
            n_up = max(2, round(self.inflate_s * self.icp_hz))
            n_down = max(2, round(self.deflate_s * self.icp_hz))
            pressures = [top * (k + 1) / n_up for k in range(n_up)] + [
                top - (top - bottom) * (k + 1) / n_down for k in range(n_down)
            ]
            start = time.monotonic()
            for k, cuff_mmhg in enumerate(pressures):
                self.send(self.icp, enc.intermediate_cuff_pressure(round(cuff_mmhg)))
                await asyncio.sleep(max(0.0, start + (k + 1) * step_s - time.monotonic()))
            self.deliver(self._result())
        finally:
            self.measuring = False

    def on_disconnect(self) -> None:
        super().on_disconnect()
        self.measuring = False
