"""Bluetooth LE profiles: which characteristics to use, and decoded values as model events.

Each profile maps the decoders' frozen dataclasses (drivers/codecs/ble_*.py) onto Measurements
and SampleBlocks with QualityFlags, so the engine can judge them:

* the decoders' own ``quality()`` (device status bits: DEVICE_INVALID, DEVICE_QUESTIONABLE,
  ARTIFACT, CUFF_FIT, … and DEVICE_CLOCK_NOT_SET) — one mapping, in the codec;
* MISSING (value NaN) for each value that is not a number, so a partial or all-NaN error
  record is never shown as valid;
* STORED for a record from device memory: a RACP report, or a BP/thermometer/scale reading
  timestamped more than STORED_AGE_S before the connection.

Device timestamps carry no zone: they are read as the gateway's local wall clock.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from typing import ClassVar, Protocol

import numpy as np

from drivers.codecs import ble_racp
from drivers.codecs.ble_bp import BloodPressureMeasurement, IntermediateCuffPressure
from drivers.codecs.ble_hr import HeartRateMeasurement
from drivers.codecs.ble_plx import (
    PlxContinuous,
    PlxFeature,
    PlxFeatures,
    PlxSpotCheck,
    SpO2PR,
)
from drivers.codecs.ble_quirks import Quirk
from drivers.codecs.ble_thermo import TemperatureMeasurement
from drivers.codecs.ble_types import CurrentTime, DateTime, Numeric
from drivers.codecs.ble_weight import WeightMeasurement, WeightScaleFeature
from drivers.codecs.polar_pmd import (
    PMD_CONTROL_POINT_UUID,
    PMD_DATA_UUID,
    PMD_SERVICE_UUID,
    PmdEcgFrame,
    PmdResponse,
    start_ecg_request,
)
from drivers.errors import CodecError, TransportError
from drivers.model import DeviceEvent, Measurement, QualityFlag, Quantity, ReceiveTime, SampleBlock
from drivers.transports.ble import uuid16

logger = logging.getLogger(__name__)

STORED_AGE_S = 120.0  # a timestamped reading older than this at arrival came from memory
PMD_ECG_FS_HZ = 130.0


class Link(Protocol):
    """What a profile needs of the transport (drivers.transports.ble.BleLink)."""

    def has_characteristic(self, uuid: str) -> bool: ...
    async def read(self, uuid: str) -> bytes: ...
    async def write(self, uuid: str, data: bytes, *, response: bool = True) -> None: ...
    async def subscribe(self, uuid: str) -> None: ...


class Profile:
    """Base: subscribe to ``NOTIFY`` characteristics; subclasses decode."""

    kind: ClassVar[str]
    service: ClassVar[str]  # the advertised service that identifies the kind in a scan
    streams: ClassVar[bool] = False  # True: values flow continuously (not only per measurement)
    NOTIFY: ClassVar[tuple[str, ...]] = ()

    def __init__(self, device_id: str) -> None:
        self.device_id = device_id
        self.quirks = Quirk.NONE
        self.connected_at = datetime.now().astimezone()

    async def setup(self, link: Link, received: ReceiveTime) -> list[DeviceEvent]:
        """Subscribe and configure; events the setup itself produced (usually none)."""
        self.connected_at = datetime.fromtimestamp(received.wall_s).astimezone()
        for uuid in self.NOTIFY:
            if link.has_characteristic(uuid):
                await link.subscribe(uuid)
        return []

    def decode(self, uuid: str, data: bytes, received: ReceiveTime) -> list[DeviceEvent]:
        """Model events for one notification; CodecError for bytes that do not decode."""
        raise NotImplementedError

    # --- shared helpers ---------------------------------------------------------------
    def _m(
        self,
        q: Quantity,
        value: float,
        received: ReceiveTime,
        flags: QualityFlag,
        device_time: datetime | None = None,
    ) -> Measurement:
        if not math.isfinite(value):
            value, flags = math.nan, flags | QualityFlag.MISSING
        return Measurement(
            q,
            value,
            q.spec.ucum,
            self.device_id,
            received,
            device_time=device_time,
            device_clock_set=QualityFlag.DEVICE_CLOCK_NOT_SET not in flags,
            quality=flags,
        )

    def _time(self, stamp: DateTime | None) -> tuple[datetime | None, QualityFlag]:
        """The device timestamp (local zone) and the flags it implies."""
        if stamp is None:
            return None, QualityFlag.NONE
        naive = stamp.to_datetime()
        if naive is None:
            return None, QualityFlag.DEVICE_CLOCK_NOT_SET
        when = naive.astimezone()
        if when < self.connected_at - timedelta(seconds=STORED_AGE_S):
            return when, QualityFlag.STORED
        return when, QualityFlag.NONE


def _value(n: Numeric | None) -> float:
    return n.value if n is not None and n.valid else math.nan


# --- pulse oximeter (PLX, 0x1822) -------------------------------------------------------
SPOT = uuid16(0x2A5E)
CONTINUOUS = uuid16(0x2A5F)
PLX_FEATURES = uuid16(0x2A60)
RACP = uuid16(0x2A52)


class PlxProfile(Profile):
    """Pulse oximeter: continuous SpO2/PR (notify), spot-checks (indicate), stored records."""

    kind = "ble-plx-oximeter"
    service = uuid16(0x1822)
    streams = True
    NOTIFY = (CONTINUOUS, SPOT)

    def __init__(self, device_id: str) -> None:
        super().__init__(device_id)
        self.reporting_stored = False  # between a RACP "report stored" request and its answer

    async def setup(self, link: Link, received: ReceiveTime) -> list[DeviceEvent]:
        await super().setup(link, received)
        if not (link.has_characteristic(PLX_FEATURES) and link.has_characteristic(RACP)):
            return []
        try:
            features = PlxFeatures.from_bytes(await link.read(PLX_FEATURES))
        except CodecError as exc:
            logger.warning("%s: PLX features unreadable: %s", self.device_id, exc)
            return []
        if features.supported & PlxFeature.SPOT_CHECK_STORAGE:
            await link.subscribe(RACP)
            self.reporting_stored = True
            await link.write(RACP, ble_racp.report_all())
        return []

    def decode(self, uuid: str, data: bytes, received: ReceiveTime) -> list[DeviceEvent]:
        if uuid == RACP:
            response = ble_racp.RacpResponse.from_bytes(data)
            self.reporting_stored = False
            if not response.ok:
                logger.info("%s: stored records: %s", self.device_id, response.code)
            return []
        if uuid == SPOT:
            spot = PlxSpotCheck.from_bytes(data)
            when, flags = self._time(spot.timestamp)
            flags |= spot.quality() & ~QualityFlag.MISSING
            if self.reporting_stored:
                flags |= QualityFlag.STORED
            return self._pair(spot.reading, spot.pulse_amplitude_index, received, flags, when)
        if uuid == CONTINUOUS:
            cont = PlxContinuous.from_bytes(data)
            flags = cont.quality() & ~QualityFlag.MISSING
            return self._pair(cont.normal, cont.pulse_amplitude_index, received, flags, None)
        return []

    def _pair(
        self,
        pair: SpO2PR,
        pai: Numeric | None,
        received: ReceiveTime,
        flags: QualityFlag,
        when: datetime | None,
    ) -> list[DeviceEvent]:
        events: list[DeviceEvent] = [
            self._m(Quantity.SPO2, _value(pair.spo2), received, flags, when),
            self._m(Quantity.PULSE_RATE, _value(pair.pulse_rate), received, flags, when),
        ]
        if pai is not None:
            events.append(self._m(Quantity.PERFUSION_INDEX, _value(pai), received, flags, when))
        return events


# --- blood pressure (0x1810) ------------------------------------------------------------
BPM = uuid16(0x2A35)
ICP = uuid16(0x2A36)
CURRENT_TIME = uuid16(0x2A2B)


class BpProfile(Profile):
    """BP cuff: result (indicate), cuff pressure while measuring, clock set on connect."""

    kind = "ble-bp-cuff"
    service = uuid16(0x1810)
    NOTIFY = (BPM, ICP)

    async def setup(self, link: Link, received: ReceiveTime) -> list[DeviceEvent]:
        # The clock first: a cuff stamps its readings with it.
        if link.has_characteristic(CURRENT_TIME):
            now = datetime.fromtimestamp(received.wall_s).astimezone()
            try:
                await link.write(CURRENT_TIME, bytes(CurrentTime.from_datetime(now)))
                logger.info("%s: cuff clock set to %s", self.device_id, now.isoformat())
            except TransportError as exc:
                logger.warning("%s: cannot set the cuff clock: %s", self.device_id, exc)
        return await super().setup(link, received)

    def decode(self, uuid: str, data: bytes, received: ReceiveTime) -> list[DeviceEvent]:
        if uuid == ICP:
            icp = IntermediateCuffPressure.from_bytes(data, self.quirks)
            value = icp.to_mmhg(icp.cuff_pressure)
            return [
                self._m(
                    Quantity.CUFF_PRESSURE,
                    math.nan if value is None else value,
                    received,
                    QualityFlag.NONE,
                )
            ]
        if uuid != BPM:
            return []
        bpm = BloodPressureMeasurement.from_bytes(data, self.quirks)
        when, time_flags = self._time(bpm.timestamp)
        flags = time_flags | (bpm.quality() & ~QualityFlag.MISSING)

        def mmhg(n: Numeric) -> float:
            v = bpm.to_mmhg(n)
            return math.nan if v is None else v

        events: list[DeviceEvent] = [
            self._m(Quantity.BP_SYSTOLIC, mmhg(bpm.systolic), received, flags, when),
            self._m(Quantity.BP_DIASTOLIC, mmhg(bpm.diastolic), received, flags, when),
            self._m(Quantity.BP_MEAN, mmhg(bpm.mean_arterial), received, flags, when),
        ]
        if bpm.pulse_rate is not None:
            events.append(
                self._m(
                    Quantity.PULSE_RATE,
                    _value(bpm.pulse_rate),
                    received,
                    time_flags | (bpm.pulse_quality() & ~QualityFlag.MISSING),
                    when,
                )
            )
        return events


# --- thermometer (0x1809) and weight scale (0x181D) -------------------------------------
TEMPERATURE = uuid16(0x2A1C)
WEIGHT = uuid16(0x2A9D)
WEIGHT_FEATURE = uuid16(0x2A9E)


class ThermometerProfile(Profile):
    """Health thermometer: one indicated temperature per measurement."""

    kind = "ble-thermometer"
    service = uuid16(0x1809)
    NOTIFY = (TEMPERATURE,)

    def decode(self, uuid: str, data: bytes, received: ReceiveTime) -> list[DeviceEvent]:
        if uuid != TEMPERATURE:
            return []
        m = TemperatureMeasurement.from_bytes(data)
        when, flags = self._time(m.timestamp)
        flags |= m.quality() & ~QualityFlag.MISSING
        celsius = m.celsius
        value = math.nan if celsius is None else celsius
        return [self._m(Quantity.BODY_TEMPERATURE, value, received, flags, when)]


class WeightProfile(Profile):
    """Weight scale: resolution from the Feature characteristic, one weight per step-on."""

    kind = "ble-weight-scale"
    service = uuid16(0x181D)
    NOTIFY = (WEIGHT,)

    def __init__(self, device_id: str) -> None:
        super().__init__(device_id)
        self.feature: WeightScaleFeature | None = None

    async def setup(self, link: Link, received: ReceiveTime) -> list[DeviceEvent]:
        if link.has_characteristic(WEIGHT_FEATURE):
            try:
                self.feature = WeightScaleFeature.from_bytes(await link.read(WEIGHT_FEATURE))
            except CodecError as exc:
                logger.warning("%s: weight scale feature unreadable: %s", self.device_id, exc)
        return await super().setup(link, received)

    def decode(self, uuid: str, data: bytes, received: ReceiveTime) -> list[DeviceEvent]:
        if uuid != WEIGHT:
            return []
        m = WeightMeasurement.from_bytes(data, self.feature)
        when, flags = self._time(m.timestamp)
        flags |= m.quality() & ~QualityFlag.MISSING
        return [self._m(Quantity.BODY_WEIGHT, m.weight_kg, received, flags, when)]


# --- chest strap: heart rate (0x180D) and Polar PMD ECG ---------------------------------
HEART_RATE = uuid16(0x2A37)


class HeartRateProfile(Profile):
    """Heart-rate strap; when it offers Polar's PMD service, also its 130 Hz ECG."""

    kind = "ble-hr-strap"
    service = uuid16(0x180D)
    streams = True
    NOTIFY = (HEART_RATE,)

    def __init__(self, device_id: str) -> None:
        super().__init__(device_id)
        self.next_index = 0  # ECG samples since the stream started (gaps included)
        self.last_stamp_ns: int | None = None

    async def setup(self, link: Link, received: ReceiveTime) -> list[DeviceEvent]:
        await super().setup(link, received)
        if link.has_characteristic(PMD_CONTROL_POINT_UUID) and link.has_characteristic(
            PMD_DATA_UUID
        ):
            await link.subscribe(PMD_CONTROL_POINT_UUID)
            await link.subscribe(PMD_DATA_UUID)
            await link.write(PMD_CONTROL_POINT_UUID, start_ecg_request())
        return []

    def decode(self, uuid: str, data: bytes, received: ReceiveTime) -> list[DeviceEvent]:
        if uuid == HEART_RATE:
            hr = HeartRateMeasurement.from_bytes(data)
            return [self._m(Quantity.HEART_RATE, float(hr.heart_rate_bpm), received, hr.quality())]
        if uuid == PMD_CONTROL_POINT_UUID:
            response = PmdResponse.from_bytes(data)
            if not response.ok:
                logger.warning("%s: PMD request refused: %s", self.device_id, response.status)
            return []
        if uuid == PMD_DATA_UUID:
            return self._ecg(PmdEcgFrame.from_bytes(data), received)
        return []

    def _ecg(self, frame: PmdEcgFrame, received: ReceiveTime) -> list[DeviceEvent]:
        n = len(frame.samples_uv)
        if n == 0:
            return []
        flags = QualityFlag.NONE
        if self.last_stamp_ns is not None:
            # The timestamp is the last sample's: the gap is what the clock says beyond n samples.
            elapsed = (frame.timestamp_ns - self.last_stamp_ns) / 1e9 * PMD_ECG_FS_HZ
            lost = round(elapsed) - n
            if lost > 0:
                flags |= QualityFlag.GAP_BEFORE
                self.next_index += lost
        self.last_stamp_ns = frame.timestamp_ns
        values = np.asarray(frame.samples_uv, dtype=np.float64).reshape(-1, 1)
        block = SampleBlock(
            Quantity.ECG,
            self.device_id,
            ("chest",),
            PMD_ECG_FS_HZ,
            self.next_index,
            values,
            Quantity.ECG.spec.ucum,
            received,
            flags,
        )
        self.next_index += n
        return [block]


PROFILES: dict[str, type[Profile]] = {
    "plx": PlxProfile,
    "bp": BpProfile,
    "thermometer": ThermometerProfile,
    "weight": WeightProfile,
    "hr": HeartRateProfile,
}
"""Profile name in a ``ble://…?profile=`` URI -> profile class."""

SERVICE_KINDS: dict[str, str] = {cls.service: name for name, cls in PROFILES.items()}
"""Advertised service UUID -> profile name (how ``helserom scan`` recognises a device)."""
SERVICE_KINDS[PMD_SERVICE_UUID] = "hr"
