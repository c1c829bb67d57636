"""The gateway's data model: what every device driver produces.

Frozen dataclasses only; no I/O. Units are UCUM codes; NaN means "not computable"
or "the device said it has no value". Each quantity carries its LOINC code (when one
exists) and its IEEE 11073-10101 MDC code, so exports (FHIR, MQTT) never guess.
"""

from __future__ import annotations

import enum
import math
import time
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class QuantitySpec:
    """Codes and unit of one measured quantity."""

    key: str  # stable machine name, used in APIs and the store
    ucum: str  # UCUM unit code
    mdc_code: int | None  # IEEE 11073-10101 code: partition << 16 | term code (None: none)
    mdc_ref: str | None  # IEEE 11073-10101 reference id
    loinc: str | None  # LOINC code, None where LOINC has none
    label_nb: str
    label_en: str


class Quantity(enum.Enum):
    """Quantities the gateway knows. Values carry the codes (see QuantitySpec)."""

    # Pulse oximetry (IEEE 11073-10404 / LOINC 59408-5, 8889-8)
    SPO2 = QuantitySpec(
        "spo2",
        "%",
        150456,
        "MDC_PULS_OXIM_SAT_O2",
        "59408-5",
        "Oksygenmetning",
        "Oxygen saturation",
    )
    PULSE_RATE = QuantitySpec(
        "pulse_rate", "/min", 149530, "MDC_PULS_OXIM_PULS_RATE", "8889-8", "Puls", "Pulse rate"
    )
    PLETH = QuantitySpec(
        "pleth", "1", 150452, "MDC_PULS_OXIM_PLETH", None, "Pletysmogram", "Plethysmogram"
    )
    # Blood pressure (IEEE 11073-10407)
    BP_SYSTOLIC = QuantitySpec(
        "bp_systolic",
        "mm[Hg]",
        150021,
        "MDC_PRESS_BLD_NONINV_SYS",
        "8480-6",
        "Systolisk blodtrykk",
        "Systolic blood pressure",
    )
    BP_DIASTOLIC = QuantitySpec(
        "bp_diastolic",
        "mm[Hg]",
        150022,
        "MDC_PRESS_BLD_NONINV_DIA",
        "8462-4",
        "Diastolisk blodtrykk",
        "Diastolic blood pressure",
    )
    BP_MEAN = QuantitySpec(
        "bp_mean",
        "mm[Hg]",
        150023,
        "MDC_PRESS_BLD_NONINV_MEAN",
        "8478-0",
        "Middelblodtrykk",
        "Mean arterial pressure",
    )
    # ECG
    HEART_RATE = QuantitySpec(
        "heart_rate", "/min", 147842, "MDC_ECG_HEART_RATE", "8867-4", "Hjertefrekvens", "Heart rate"
    )
    # General
    BODY_TEMPERATURE = QuantitySpec(
        "body_temperature",
        "Cel",
        150364,
        "MDC_TEMP_BODY",
        "8310-5",
        "Kroppstemperatur",
        "Body temperature",
    )
    BODY_WEIGHT = QuantitySpec(
        "body_weight", "kg", 188736, "MDC_MASS_BODY_ACTUAL", "29463-7", "Kroppsvekt", "Body weight"
    )
    RESPIRATION_RATE = QuantitySpec(
        "respiration_rate",
        "/min",
        151562,
        "MDC_RESP_RATE",
        "9279-1",
        "Respirasjonsfrekvens",
        "Respiration rate",
    )

    # Observed by the nurse for NEWS2 (gateway.api_news2). 11073-10101 has no codes for them.
    # ACVPU as an ordinal: 0 alert, 1 new confusion, 2 voice, 3 pain, 4 unresponsive
    # (gateway.api_news2.ACVPU_CODES); LOINC 67775-7 "Level of responsiveness" (AVPU).
    CONSCIOUSNESS = QuantitySpec(
        "consciousness_acvpu",
        "1",
        None,
        None,
        "67775-7",
        "Bevissthetsnivå (ACVPU)",
        "Level of consciousness (ACVPU)",
    )
    # 1 on supplemental oxygen, 0 on air (NEWS2 "air or oxygen?"). LOINC's oxygen codes
    # are concentrations and flows (3150-0 FiO2, 3151-8 flow), not yes/no: no LOINC here.
    SUPPLEMENTAL_OXYGEN = QuantitySpec(
        "supplemental_oxygen",
        "1",
        None,
        None,
        None,
        "Tilført oksygen",
        "Supplemental oxygen",
    )

    PERFUSION_INDEX = QuantitySpec(
        "perfusion_index",
        "%",
        150488,
        "MDC_BLD_PERF_INDEX",
        "61006-3",
        "Perfusjonsindeks",
        "Perfusion index",
    )
    CUFF_PRESSURE = QuantitySpec(
        "cuff_pressure",
        "mm[Hg]",
        150300,
        "MDC_PRESS_CUFF",
        None,
        "Mansjettrykk",
        "Cuff pressure",
    )
    # ECG waveform (channels name the leads; MDC_ECG_ELEC_POTL is the lead-unspecific code)
    ECG = QuantitySpec("ecg", "uV", 131328, "MDC_ECG_ELEC_POTL", None, "EKG", "ECG")
    # Spirometry (IEEE 11073-10101 airway partition; LOINC spirometry panel)
    AIRWAY_FLOW = QuantitySpec(
        "airway_flow", "L/s", 151764, "MDC_FLOW_AWAY", None, "Luftstrøm", "Airway flow"
    )
    FEV1 = QuantitySpec(
        "fev1", "L", 152586, "MDC_VOL_AWAY_EXP_FORCED_1S", "20150-9", "FEV1", "FEV1"
    )
    FVC = QuantitySpec(
        "fvc", "L", 188928, "MDC_VOL_AWAY_EXP_FORCED_CAPACITY", "19868-9", "FVC", "FVC"
    )
    FEV1_FVC = QuantitySpec(
        "fev1_fvc",
        "1",
        188948,
        "MDC_RATIO_AWAY_EXP_FORCED_1S_FVC",
        "19926-5",
        "FEV1/FVC",
        "FEV1/FVC",
    )
    PEF = QuantitySpec(
        "pef", "L/s", 152584, "MDC_FLOW_AWAY_EXP_FORCED_PEAK", "19935-6", "PEF", "PEF"
    )
    FEF25_75 = QuantitySpec(
        "fef25_75",
        "L/s",
        188960,
        "MDC_FLOW_AWAY_EXP_FORCED_25_75_FVC",
        "19927-3",
        "FEF25–75",
        "FEF25–75",
    )

    @property
    def spec(self) -> QuantitySpec:
        """The codes and unit of this quantity."""
        return self.value

    @classmethod
    def from_key(cls, key: str) -> Quantity:
        """Look a quantity up by its stable key."""
        for q in cls:
            if q.spec.key == key:
                return q
        raise KeyError(key)


class QualityFlag(enum.IntFlag):
    """What the device (or the gateway) says about the trustworthiness of a value."""

    NONE = 0
    SENSOR_DISCONNECTED = 1 << 0  # sensor off the patient or unplugged
    ARTIFACT = 1 << 1  # motion or other artifact detected
    OUT_OF_TRACK = 1 << 2  # device lost the signal; value may be stale
    SENSOR_ALARM = 1 << 3  # device flags the sensor as not giving usable data
    LOW_PERFUSION = 1 << 4  # weak pulse signal (Nonin red perfusion)
    MARGINAL_PERFUSION = 1 << 5  # marginal pulse signal (Nonin yellow perfusion)
    MISSING = 1 << 6  # device sent its "no value" code; value is NaN
    DEVICE_CLOCK_NOT_SET = 1 << 7  # device timestamp cannot be trusted
    GAP_BEFORE = 1 << 8  # samples or frames were lost just before this value
    RAIL_SATURATION = 1 << 9  # a biopotential channel sits at its ADC rail (clipped)
    CUFF_FIT = 1 << 10  # BP device: cuff too loose or badly placed
    IRREGULAR_PULSE = 1 << 11  # BP device: irregular pulse during the measurement
    STORED = 1 << 12  # read back from the device's memory, not measured just now
    OUT_OF_RANGE = 1 << 13  # device says the value is outside its measuring range
    DEVICE_INVALID = 1 << 14  # device marks the value invalid (or demo/test data)
    DEVICE_QUESTIONABLE = 1 << 15  # device marks the value questionable or an early estimate

    def names(self) -> list[str]:
        """Lower-case names of the set flags, for JSON."""
        return [f.name.lower() for f in QualityFlag if f and f in self and f.name]


@dataclass(frozen=True, slots=True)
class ReceiveTime:
    """When the gateway received something: wall clock (for people) and monotonic (for maths)."""

    wall_s: float  # seconds since the Unix epoch
    monotonic_s: float  # time.monotonic()

    @classmethod
    def now(cls) -> ReceiveTime:
        """The current time on both clocks."""
        return cls(time.time(), time.monotonic())


@dataclass(frozen=True, slots=True)
class Measurement:
    """One numeric value from one device."""

    quantity: Quantity
    value: float  # NaN when the device sent its "no value" code
    unit: str  # UCUM
    device_id: str
    received: ReceiveTime
    device_time: datetime | None = None  # the device's own timestamp, if it sends one
    device_clock_set: bool = True  # False: device_time is from an unset clock
    quality: QualityFlag = QualityFlag.NONE

    def __post_init__(self) -> None:
        if self.unit != self.quantity.spec.ucum:
            raise ValueError(
                f"unit {self.unit!r} does not match {self.quantity.name} "
                f"(expected UCUM {self.quantity.spec.ucum!r})"
            )
        if self.device_time is not None and self.device_time.tzinfo is None:
            raise ValueError("device_time must be timezone-aware")

    @property
    def is_missing(self) -> bool:
        """True when there is no value (NaN)."""
        return math.isnan(self.value)


@dataclass(frozen=True, slots=True)
class SampleBlock:
    """A block of waveform samples: ``values[sample, channel]`` in ``unit``.

    ``first_index`` counts samples since the device stream started, so a gap between
    two blocks is visible (next.first_index > prev.first_index + prev.n_samples).
    """

    quantity: Quantity
    device_id: str
    channels: tuple[str, ...]
    fs_hz: float
    first_index: int
    values: NDArray[np.float64]
    unit: str
    received: ReceiveTime
    quality: QualityFlag = QualityFlag.NONE

    def __post_init__(self) -> None:
        if self.values.ndim != 2 or self.values.shape[1] != len(self.channels):
            raise ValueError(
                f"values shape {self.values.shape} does not fit {len(self.channels)} channels"
            )
        if not self.fs_hz > 0:
            raise ValueError(f"fs_hz must be > 0, got {self.fs_hz}")
        if self.first_index < 0:
            raise ValueError(f"first_index must be >= 0, got {self.first_index}")
        self.values.flags.writeable = False

    @property
    def n_samples(self) -> int:
        """Number of samples per channel."""
        return int(self.values.shape[0])


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """Bluetooth Device Information Service fields (or what a serial device tells)."""

    manufacturer: str | None = None
    model_number: str | None = None
    serial_number: str | None = None
    hardware_revision: str | None = None
    firmware_revision: str | None = None
    software_revision: str | None = None
    system_id: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        """All fields, for JSON."""
        return {name: getattr(self, name) for name in DeviceInfo.__slots__}


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """Connection and link health of one device, as the gateway sees it."""

    device_id: str
    kind: str
    uri: str
    connected: bool = False
    battery_pct: float = math.nan
    last_seen_wall_s: float = math.nan
    frames_ok: int = 0
    frames_dropped: int = 0
    bytes_dropped: int = 0
    reconnects: int = 0
    last_error: str | None = None
    info: DeviceInfo = field(default_factory=DeviceInfo)


DeviceEvent = Measurement | SampleBlock | DeviceInfo
"""What a device driver yields."""
