"""Health Thermometer Service: Temperature Measurement (0x2A1C; Intermediate Temperature
0x2A1E has the same layout). Sans-IO: bytes in, a frozen dataclass out.

Flags (bit 0: 0 = °C, 1 = °F; bit 1: Timestamp; bit 2: Temperature Type), temperature as
a 32-bit IEEE 11073 FLOAT, then the optional fields.
Byte table: ``docs/protocols/ble-thermometer.md``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from drivers.codecs.ble_types import DateTime, Numeric, Reader, absent_fields, reserved_flags
from drivers.model import QualityFlag

CODEC_NAME: Final = "ble.temperature"


class TempFlags(enum.IntFlag):
    """Flags of 0x2A1C."""

    FAHRENHEIT = 0x01
    TIMESTAMP = 0x02
    TEMPERATURE_TYPE = 0x04


class TemperatureType(enum.IntEnum):
    """Temperature Type (0x2A1D): where on the body it was measured (0, 10-255 reserved)."""

    ARMPIT = 1
    BODY = 2  # general
    EAR = 3  # usually ear lobe
    FINGER = 4
    GASTROINTESTINAL = 5
    MOUTH = 6
    RECTUM = 7
    TOE = 8
    TYMPANUM = 9  # ear drum


_OPTIONAL: Final = (
    (TempFlags.TIMESTAMP, "timestamp", 7),
    (TempFlags.TEMPERATURE_TYPE, "temperature type", 1),
)
_BODY_RANGE_C: Final = (25.0, 45.0)  # outside it a body temperature is implausible


@dataclass(frozen=True, slots=True)
class TemperatureMeasurement:
    """One 0x2A1C value; ``temperature`` is in ``unit`` as sent ("Cel" or "[degF]")."""

    flags: int
    temperature: Numeric
    unit: str
    timestamp: DateTime | None
    temperature_type: TemperatureType | int | None  # int: a reserved code, kept
    warnings: tuple[str, ...]

    @classmethod
    def from_bytes(cls, data: bytes) -> TemperatureMeasurement:
        """Decode; CodecError when a field its flags announce is cut short."""
        r = Reader(data, CODEC_NAME)
        flags = r.u8("flags")
        reserved_flags(r, flags, 0x07)
        temperature = r.float32("temperature")
        unit = "[degF]" if flags & TempFlags.FAHRENHEIT else "Cel"
        timestamp = r.date_time("timestamp") if flags & TempFlags.TIMESTAMP else None
        kind: TemperatureType | int | None = None
        if flags & TempFlags.TEMPERATURE_TYPE:
            code = r.u8("temperature type")
            if code in TemperatureType._value2member_map_:
                kind = TemperatureType(code)
            else:
                kind = code
                r.warn("reserved_type", f"temperature type {code} is reserved")
        r.finish(absent_fields(flags, _OPTIONAL))
        m = cls(flags, temperature, unit, timestamp, kind, ())
        celsius = m.celsius
        if celsius is None:
            r.warn("all_nan", "the temperature is not a number")
        elif not _BODY_RANGE_C[0] <= celsius <= _BODY_RANGE_C[1]:
            r.warn("out_of_range", f"{celsius} °C outside 25..45 °C for a body temperature")
        return cls(flags, temperature, unit, timestamp, kind, tuple(r.warnings))

    @property
    def celsius(self) -> float | None:
        """The temperature in °C (rounded to 0.01), None when not a number."""
        value = self.temperature.or_none()
        if value is None:
            return None
        if self.unit == "[degF]":
            value = (value - 32.0) * 5.0 / 9.0
        return round(value, 2)

    @property
    def all_nan(self) -> bool:
        """True when the temperature is not a number."""
        return not self.temperature.valid

    def quality(self) -> QualityFlag:
        """MISSING when there is no value, DEVICE_CLOCK_NOT_SET for an unknown timestamp."""
        flags = QualityFlag.MISSING if self.all_nan else QualityFlag.NONE
        if self.timestamp is not None and self.timestamp.unknown:
            flags |= QualityFlag.DEVICE_CLOCK_NOT_SET
        return flags


def describe(data: bytes) -> dict[str, object]:
    """``helserom decode ble.temperature HEX``: °F converted to °C, NaN as null."""
    m = TemperatureMeasurement.from_bytes(data)
    kind = m.temperature_type
    return {
        "codec": CODEC_NAME,
        "temperature_c": m.celsius,
        "unit_sent": "F" if m.unit == "[degF]" else "C",
        "temperature_sent": m.temperature.or_none(),
        "temperature_type": (kind.name.lower() if isinstance(kind, TemperatureType) else kind),
        "timestamp": None if m.timestamp is None else m.timestamp.iso(),
        "all_nan": m.all_nan,
        "warnings": list(m.warnings),
    }
