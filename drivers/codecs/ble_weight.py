"""Weight Scale Service: Weight Measurement (0x2A9D) and Weight Scale Feature (0x2A9E).
Sans-IO: bytes in, frozen dataclasses out.

Weight is a uint16 in 0.005 kg (SI) or 0.01 lb (imperial) whatever the scale's precision;
0xFFFF means "measurement unsuccessful". The Feature characteristic says how fine the scale
really measures (0.5 kg .. 0.005 kg); `decode(data, feature)` reports that resolution and
warns when a value is finer than it. Byte table: ``docs/protocols/ble-weight.md``.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Final

from drivers.codecs.ble_types import DateTime, Reader, absent_fields, reserved_flags
from drivers.model import QualityFlag

CODEC_NAME: Final = "ble.weight"
KG_PER_LB: Final = 0.45359237  # exact, international pound
M_PER_IN: Final = 0.0254
WEIGHT_UNSUCCESSFUL: Final = 0xFFFF
USER_UNKNOWN: Final = 0xFF
_SI_KG: Final = 0.005  # kg per unit of the weight field (SI)
_IMP_LB: Final = 0.01  # lb per unit (imperial)
_SI_M: Final = 0.001  # m per unit of the height field (SI)
_IMP_IN: Final = 0.1  # inch per unit (imperial)

# Weight Scale Feature bits 3-6 -> (kg, lb); bits 7-9 -> (m, inch). 0 = not specified.
WEIGHT_RESOLUTIONS: Final = {
    1: (0.5, 1.0),
    2: (0.2, 0.5),
    3: (0.1, 0.2),
    4: (0.05, 0.1),
    5: (0.02, 0.05),
    6: (0.01, 0.02),
    7: (0.005, 0.01),
}
HEIGHT_RESOLUTIONS: Final = {1: (0.01, 1.0), 2: (0.005, 0.5), 3: (0.001, 0.1)}


class WeightFlags(enum.IntFlag):
    """Flags of 0x2A9D."""

    IMPERIAL = 0x01
    TIMESTAMP = 0x02
    USER_ID = 0x04
    BMI_HEIGHT = 0x08


_OPTIONAL: Final = (
    (WeightFlags.TIMESTAMP, "timestamp", 7),
    (WeightFlags.USER_ID, "user id", 1),
    (WeightFlags.BMI_HEIGHT, "BMI and height", 4),
)


@dataclass(frozen=True, slots=True)
class WeightScaleFeature:
    """Weight Scale Feature (0x2A9E, uint32)."""

    raw: int

    @classmethod
    def from_bytes(cls, data: bytes) -> WeightScaleFeature:
        """Decode the 4-byte feature value."""
        return cls(Reader(data, "ble.weight-feature").uint(4, "features"))

    @property
    def timestamp_supported(self) -> bool:
        """Bit 0."""
        return bool(self.raw & 0x01)

    @property
    def multiple_users(self) -> bool:
        """Bit 1."""
        return bool(self.raw & 0x02)

    @property
    def bmi_supported(self) -> bool:
        """Bit 2."""
        return bool(self.raw & 0x04)

    @property
    def weight_resolution_code(self) -> int:
        """Bits 3-6 (0 = not specified, 8-15 reserved)."""
        return (self.raw >> 3) & 0x0F

    @property
    def height_resolution_code(self) -> int:
        """Bits 7-9 (0 = not specified, 4-7 reserved)."""
        return (self.raw >> 7) & 0x07

    def weight_resolution(self, imperial: bool) -> float | None:
        """Resolution in kg (or lb when ``imperial``), None when not specified or reserved."""
        pair = WEIGHT_RESOLUTIONS.get(self.weight_resolution_code)
        return None if pair is None else pair[1 if imperial else 0]


@dataclass(frozen=True, slots=True)
class WeightMeasurement:
    """One 0x2A9D value; raw fields as sent plus converted SI values (NaN when missing)."""

    flags: int
    weight_raw: int
    timestamp: DateTime | None
    user_id: int | None
    bmi_raw: int | None
    height_raw: int | None
    resolution: float | None  # kg or lb (per ``imperial``) from the Feature characteristic
    warnings: tuple[str, ...]

    @classmethod
    def from_bytes(
        cls, data: bytes, feature: WeightScaleFeature | None = None
    ) -> WeightMeasurement:
        """Decode; CodecError when a field its flags announce is cut short."""
        r = Reader(data, CODEC_NAME)
        flags = r.u8("flags")
        reserved_flags(r, flags, 0x0F)
        weight = r.u16("weight")
        timestamp = r.date_time("timestamp") if flags & WeightFlags.TIMESTAMP else None
        user = r.u8("user id") if flags & WeightFlags.USER_ID else None
        bmi = height = None
        if flags & WeightFlags.BMI_HEIGHT:
            bmi = r.u16("BMI")
            height = r.u16("height")
        r.finish(absent_fields(flags, _OPTIONAL))
        imperial = bool(flags & WeightFlags.IMPERIAL)
        resolution = None if feature is None else feature.weight_resolution(imperial)
        if weight == WEIGHT_UNSUCCESSFUL:
            r.warn("all_nan", "weight 0xFFFF: measurement unsuccessful")
            if bmi is not None:
                r.warn("unexpected_field", "BMI and height sent with an unsuccessful weight")
        elif resolution is not None:
            step = _IMP_LB if imperial else _SI_KG
            units = round(resolution / step)
            if units > 1 and weight % units:
                r.warn(
                    "finer_than_resolution",
                    f"weight {weight * step:g} is not a multiple of the scale's "
                    f"resolution {resolution:g} {'lb' if imperial else 'kg'}",
                )
        return cls(flags, weight, timestamp, user, bmi, height, resolution, tuple(r.warnings))

    @property
    def imperial(self) -> bool:
        """True when the scale sent lb and inches."""
        return bool(self.flags & WeightFlags.IMPERIAL)

    @property
    def weight_sent(self) -> float:
        """Weight in the unit sent (kg or lb); NaN when unsuccessful."""
        if self.weight_raw == WEIGHT_UNSUCCESSFUL:
            return math.nan
        return round(self.weight_raw * (_IMP_LB if self.imperial else _SI_KG), 3)

    @property
    def weight_kg(self) -> float:
        """Weight in kg (lb converted, rounded to 1 g); NaN when unsuccessful."""
        value = self.weight_sent
        return round(value * KG_PER_LB, 3) if self.imperial else value

    @property
    def height_m(self) -> float:
        """Height in metres; NaN when not sent."""
        if self.height_raw is None:
            return math.nan
        if self.imperial:
            return round(self.height_raw * _IMP_IN * M_PER_IN, 4)
        return round(self.height_raw * _SI_M, 3)

    @property
    def bmi_kg_m2(self) -> float:
        """BMI in kg/m² (0.1 resolution); NaN when not sent."""
        return math.nan if self.bmi_raw is None else round(self.bmi_raw * 0.1, 1)

    @property
    def all_nan(self) -> bool:
        """True when the scale says the measurement was unsuccessful."""
        return self.weight_raw == WEIGHT_UNSUCCESSFUL

    def quality(self) -> QualityFlag:
        """MISSING when there is no value, DEVICE_CLOCK_NOT_SET for an unknown timestamp."""
        flags = QualityFlag.MISSING if self.all_nan else QualityFlag.NONE
        if self.timestamp is not None and self.timestamp.unknown:
            flags |= QualityFlag.DEVICE_CLOCK_NOT_SET
        return flags


def _none(value: float) -> float | None:
    return None if math.isnan(value) else value


def describe(data: bytes) -> dict[str, object]:
    """``helserom decode ble.weight HEX``: lb and inches converted to kg and m."""
    m = WeightMeasurement.from_bytes(data)
    return {
        "codec": CODEC_NAME,
        "weight_kg": _none(m.weight_kg),
        "unit_sent": "lb" if m.imperial else "kg",
        "weight_sent": _none(m.weight_sent),
        "bmi_kg_m2": _none(m.bmi_kg_m2),
        "height_m": _none(m.height_m),
        "user_id": None if m.user_id in (None, USER_UNKNOWN) else m.user_id,
        "timestamp": None if m.timestamp is None else m.timestamp.iso(),
        "measurement_unsuccessful": m.all_nan,
        "all_nan": m.all_nan,
        "warnings": list(m.warnings),
    }
