"""Simulated pulse oximeter (PLXS 0x1822) with stored spot-checks behind a RACP.

Pulse Oximeter Service 1.0.1: Spot-Check Measurement (0x2A5E) is indicated, Continuous
Measurement (0x2A5F) notified once a second, PLX Features (0x2A60) read. Every spot-check is
also stored (100 max); the Record Access Control Point (0x2A52, write + indicate) reports them
as spot-check indications followed by a response code, counts or deletes them. Only the "all
records" operator is supported (features do not claim more); others answer "operator not
supported". RACP needs indications enabled on itself (and, to report, on 0x2A5E): otherwise the
write fails with ATT error 0xFD, as CSS Part B §1.2 prescribes.
"""

import asyncio
import collections
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta

from hwsim.bluez import encoders as enc
from hwsim.bluez.gatt import ATT_INVALID_VALUE_LENGTH, Characteristic, GattError, Service, uuid16
from hwsim.bluez.peripherals import CONTINUOUS_PERIOD_S, RECORD_GAP_S, STORE_MAX, SimPeripheral
from hwsim.patient_api import VitalSigns

ATT_PROCEDURE_IN_PROGRESS = 0xFE  # CSS Part B §1.2


class SimPulseOximeter(SimPeripheral):
    """Pulse Oximeter (PLXS 0x1822): spot-check, continuous, features, RACP over stored records."""

    kind = "ble-pulse-oximeter"
    advertised = (0x1822,)
    model = "Sim PLX"
    features = (
        enc.PlxFeatures.SPOT_CHECK_STORAGE
        | enc.PlxFeatures.SPOT_CHECK_TIMESTAMP
        | enc.PlxFeatures.PULSE_AMPLITUDE_INDEX
    )

    def build_services(self) -> Sequence[Service]:
        self._records: collections.deque[bytes] = collections.deque(maxlen=STORE_MAX)
        self._racp_busy = False
        self._racp_abort = False
        self.spot = Characteristic(uuid16(0x2A5E), ("indicate",))
        self.continuous = Characteristic(uuid16(0x2A5F), ("notify",))
        feats = Characteristic(uuid16(0x2A60), ("read",), enc.plx_features(self.features))
        self.racp = Characteristic(uuid16(0x2A52), ("write", "indicate"), on_write=self._racp)
        return [Service(uuid16(0x1822), [self.spot, self.continuous, feats, self.racp])]

    def flood_char(self) -> Characteristic:
        return self.continuous

    @property
    def record_count(self) -> int:
        """Stored spot-check records."""
        return len(self._records)

    def load_records(self, values: Sequence[bytes]) -> None:
        """Put earlier spot-check records (encoded) in the store, oldest first."""
        self._records.extend(values)

    def _pai(self, v: VitalSigns) -> float:
        return round(v.perfusion_index_pct, 1)

    def spot_check(self) -> bytes:
        """Take one spot-check: stored, and indicated if the client listens; returns its bytes."""
        v = self.vitals()
        value = enc.plx_spot_check(
            round(v.spo2_pct), round(v.hr_bpm), timestamp=self.now(), pai_pct=self._pai(v)
        )
        self._records.append(value)
        self.send(self.spot, value)
        return value

    async def run_connected(self) -> None:
        next_t = time.monotonic()
        while True:
            v = self.vitals()
            value = enc.plx_continuous(round(v.spo2_pct), round(v.hr_bpm), pai_pct=self._pai(v))
            self.send(self.continuous, value)
            next_t += CONTINUOUS_PERIOD_S
            await asyncio.sleep(max(0.0, next_t - time.monotonic()))

    def _racp(self, data: bytes) -> None:
        if len(data) < 2:
            raise GattError(ATT_INVALID_VALUE_LENGTH)
        self.require_indications(self.racp)
        opcode, operator = data[0], data[1]
        if opcode == enc.RacpOpcode.ABORT:
            self._racp_abort = True
            self.schedule(self._respond(opcode, enc.RacpResponse.SUCCESS))
            return
        if self._racp_busy:
            raise GattError(ATT_PROCEDURE_IN_PROGRESS)
        if opcode not in (
            enc.RacpOpcode.REPORT_STORED_RECORDS,
            enc.RacpOpcode.DELETE_STORED_RECORDS,
            enc.RacpOpcode.REPORT_NUMBER_OF_RECORDS,
        ):
            self.schedule(self._respond(opcode, enc.RacpResponse.OPCODE_NOT_SUPPORTED))
        elif operator == enc.RacpOperator.NULL or operator > enc.RacpOperator.LAST:
            self.schedule(self._respond(opcode, enc.RacpResponse.INVALID_OPERATOR))
        elif operator != enc.RacpOperator.ALL:
            self.schedule(self._respond(opcode, enc.RacpResponse.OPERATOR_NOT_SUPPORTED))
        elif opcode == enc.RacpOpcode.REPORT_NUMBER_OF_RECORDS:
            self.schedule(self._indicate(enc.racp_number_of_records(len(self._records))))
        elif opcode == enc.RacpOpcode.DELETE_STORED_RECORDS:
            self._records.clear()
            self.schedule(self._respond(opcode, enc.RacpResponse.SUCCESS))
        else:
            self.require_indications(self.spot)
            self._racp_busy = True
            self._racp_abort = False
            self.schedule(self._report)

    def _respond(self, opcode: int, code: enc.RacpResponse) -> Callable[[], Awaitable[None]]:
        return self._indicate(enc.racp_response(opcode, code))

    def _indicate(self, value: bytes) -> Callable[[], Awaitable[None]]:
        async def job() -> None:
            self.send(self.racp, value)

        return job

    async def _report(self) -> None:
        try:
            records = list(self._records)
            if not records:
                self.send(self.racp, enc.racp_response(1, enc.RacpResponse.NO_RECORDS_FOUND))
                return
            for value in records:
                if self._racp_abort or not self.connected:
                    return
                self.send(self.spot, value)
                await asyncio.sleep(RECORD_GAP_S)
            self.send(self.racp, enc.racp_response(1, enc.RacpResponse.SUCCESS))
        finally:
            self._racp_busy = False

    def on_disconnect(self) -> None:
        super().on_disconnect()
        self._racp_busy = False


def spot_check_at(spo2_pct: int, pr_bpm: int, when: datetime, pai_pct: float) -> bytes:
    """A spot-check record for a stored measurement taken at `when` (for seeding a store)."""
    return enc.plx_spot_check(spo2_pct, pr_bpm, timestamp=when, pai_pct=pai_pct)


def seed_records(oximeter: SimPulseOximeter, n: int, *, start: datetime) -> list[bytes]:
    """Put n earlier spot-checks (one a minute from `start`) in the oximeter's store."""
    values = [
        spot_check_at(95 + k % 4, 60 + k, start + timedelta(minutes=k), 4.0 + k / 10)
        for k in range(n)
    ]
    oximeter._records.extend(values)
    return values
