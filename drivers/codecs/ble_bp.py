"""Blood Pressure Service: Measurement (0x2A35), Intermediate Cuff Pressure (0x2A36), Feature
(0x2A49). Sans-IO: bytes in, frozen dataclasses out.

Measurement: flags, systolic, diastolic, MAP (SFLOAT, mmHg or kPa by flag bit 0), then
Timestamp, Pulse Rate, User ID, Measurement Status when their flags say so. Intermediate Cuff
Pressure has the same layout; the current cuff pressure is in the systolic field and
diastolic and MAP are NaN. Byte table: ``docs/protocols/ble-bp.md``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final, TypeVar

from drivers.codecs.ble_quirks import Quirk
from drivers.codecs.ble_types import (
    DateTime,
    Numeric,
    Reader,
    absent_fields,
    decode_sfloat,
    reserved_flags,
)
from drivers.model import QualityFlag

BPM_CODEC: Final = "ble.bpm"
ICP_CODEC: Final = "ble.icp"
MMHG_PER_KPA: Final = 7.500616827  # 1 mmHg = 133.322387415 Pa (ISO 80000-4)
USER_UNKNOWN: Final = 0xFF  # User ID 255: unknown user


class BpFlags(enum.IntFlag):
    """Flags (byte 0) of 0x2A35 / 0x2A36 (BLS 1.0, GATT Specification Supplement)."""

    KPA = 0x01  # 0 = mmHg, 1 = kPa
    TIMESTAMP = 0x02
    PULSE_RATE = 0x04
    USER_ID = 0x08
    MEASUREMENT_STATUS = 0x10


_KNOWN_FLAGS: Final = 0x1F
_BP_OPTIONAL: Final = (
    (BpFlags.TIMESTAMP, "timestamp", 7),
    (BpFlags.PULSE_RATE, "pulse rate", 2),
    (BpFlags.USER_ID, "user id", 1),
    (BpFlags.MEASUREMENT_STATUS, "measurement status", 2),
)


class PulseRateRange(enum.Enum):
    """Measurement Status bits 3-4."""

    IN_RANGE = 0
    ABOVE_UPPER_LIMIT = 1
    BELOW_LOWER_LIMIT = 2
    RESERVED = 3


@dataclass(frozen=True, slots=True)
class BpStatus:
    """Measurement Status (uint16): what the cuff detected during the measurement."""

    raw: int

    @property
    def body_movement(self) -> bool:
        """Bit 0: body movement during the measurement."""
        return bool(self.raw & 0x0001)

    @property
    def cuff_too_loose(self) -> bool:
        """Bit 1: cuff fit too loose."""
        return bool(self.raw & 0x0002)

    @property
    def irregular_pulse(self) -> bool:
        """Bit 2: irregular pulse detected."""
        return bool(self.raw & 0x0004)

    @property
    def pulse_rate_range(self) -> PulseRateRange:
        """Bits 3-4: pulse rate within, above or below the device's range."""
        return PulseRateRange((self.raw >> 3) & 0x03)

    @property
    def improper_position(self) -> bool:
        """Bit 5: improper measurement position."""
        return bool(self.raw & 0x0020)

    @property
    def reserved_bits(self) -> int:
        """Bits 6-15 (reserved for future use)."""
        return self.raw & 0xFFC0


class BpFeature(enum.IntFlag):
    """Blood Pressure Feature (0x2A49, uint16): what the cuff can detect."""

    BODY_MOVEMENT = 0x0001
    CUFF_FIT = 0x0002
    IRREGULAR_PULSE = 0x0004
    PULSE_RATE_RANGE = 0x0008
    MEASUREMENT_POSITION = 0x0010
    MULTIPLE_BONDS = 0x0020


def decode_bp_feature(data: bytes) -> BpFeature:
    """Decode the 2-byte Blood Pressure Feature value (reserved bits are kept)."""
    return BpFeature(Reader(data, "ble.bp-feature").u16("features"))


@dataclass(frozen=True, slots=True)
class BloodPressureMeasurement:
    """One 0x2A35 (or 0x2A36) value. Pressures are in ``unit`` as sent ("mmHg" or "kPa")."""

    flags: int
    unit: str
    systolic: Numeric
    diastolic: Numeric
    mean_arterial: Numeric
    timestamp: DateTime | None
    pulse_rate: Numeric | None
    user_id: int | None  # 255 = unknown user (describe() shows null)
    status: BpStatus | None
    warnings: tuple[str, ...]

    @classmethod
    def from_bytes(cls, data: bytes, quirks: Quirk = Quirk.NONE) -> BloodPressureMeasurement:
        """Decode a Blood Pressure Measurement; CodecError when a field is cut short."""
        return _decode(data, BPM_CODEC, quirks, cls)

    def to_mmhg(self, value: Numeric) -> float | None:
        """``value`` (one of the pressures) in mmHg rounded to 0.1, None when not a number."""
        if self.unit == "kPa":
            return value.or_none(MMHG_PER_KPA, 1)
        return value.or_none()

    @property
    def all_nan(self) -> bool:
        """True when no pressure is a number: an error record, never to be shown as valid."""
        return not (self.systolic.valid or self.diastolic.valid or self.mean_arterial.valid)

    def quality(self) -> QualityFlag:
        """MISSING for an error record, ARTIFACT for body movement, CUFF_FIT for a loose cuff
        or a wrong position, IRREGULAR_PULSE, DEVICE_CLOCK_NOT_SET for an unknown timestamp.
        (A pulse rate outside the device's range is the pulse's own flag: ``pulse_quality``.)"""
        flags = QualityFlag.MISSING if self.all_nan else QualityFlag.NONE
        if self.status is not None:
            if self.status.body_movement:
                flags |= QualityFlag.ARTIFACT
            if self.status.cuff_too_loose or self.status.improper_position:
                flags |= QualityFlag.CUFF_FIT
            if self.status.irregular_pulse:
                flags |= QualityFlag.IRREGULAR_PULSE
        if self.timestamp is not None and self.timestamp.unknown:
            flags |= QualityFlag.DEVICE_CLOCK_NOT_SET
        return flags

    def pulse_quality(self) -> QualityFlag:
        """The reading's flags, plus OUT_OF_RANGE when the cuff says the pulse is outside its
        range, plus MISSING when there is no pulse value."""
        flags = self.quality() & ~QualityFlag.MISSING
        if self.pulse_rate is None or not self.pulse_rate.valid:
            flags |= QualityFlag.MISSING
        if self.status is not None and self.status.pulse_rate_range in (
            PulseRateRange.ABOVE_UPPER_LIMIT,
            PulseRateRange.BELOW_LOWER_LIMIT,
        ):
            flags |= QualityFlag.OUT_OF_RANGE
        return flags


@dataclass(frozen=True, slots=True)
class IntermediateCuffPressure(BloodPressureMeasurement):
    """One 0x2A36 value: the cuff pressure while inflating/deflating (in ``systolic``)."""

    @classmethod
    def from_bytes(cls, data: bytes, quirks: Quirk = Quirk.NONE) -> IntermediateCuffPressure:
        """Decode an Intermediate Cuff Pressure; warns when diastolic or MAP is not NaN."""
        return _decode(data, ICP_CODEC, quirks, cls)

    @property
    def cuff_pressure(self) -> Numeric:
        """The current cuff pressure (the systolic field)."""
        return self.systolic

    @property
    def all_nan(self) -> bool:
        """True when the cuff pressure is not a number."""
        return not self.systolic.valid


_M = TypeVar("_M", bound=BloodPressureMeasurement)


def _decode(data: bytes, codec: str, quirks: Quirk, cls: type[_M]) -> _M:
    r = Reader(data, codec)
    flags = r.u8("flags")
    reserved_flags(r, flags, _KNOWN_FLAGS)
    unit = "kPa" if flags & BpFlags.KPA else "mmHg"
    first = "cuff pressure" if codec == ICP_CODEC else "systolic"
    systolic = r.sfloat(first)
    diastolic = r.sfloat("diastolic")
    mean = r.sfloat("mean arterial pressure")
    timestamp = r.date_time("timestamp") if flags & BpFlags.TIMESTAMP else None
    swap = bool(quirks & Quirk.BPM_PULSE_STATUS_BIG_ENDIAN)
    pulse = None
    if flags & BpFlags.PULSE_RATE:
        if swap:
            pulse = decode_sfloat(int.from_bytes(r.take(2, "pulse rate"), "big"))
        else:
            pulse = r.sfloat("pulse rate")
    user = r.u8("user id") if flags & BpFlags.USER_ID else None
    status = None
    if flags & BpFlags.MEASUREMENT_STATUS:
        raw = r.take(2, "measurement status")
        status = BpStatus(int.from_bytes(raw, "big" if swap else "little"))
    if swap and (pulse is not None or status is not None):
        r.warn("quirk", "pulse rate and measurement status read big-endian (device quirk)")
    r.finish(absent_fields(flags, _BP_OPTIONAL))
    if status is not None:
        if status.reserved_bits:
            r.warn(
                "reserved_status",
                f"measurement status 0x{status.raw:04x} sets reserved bits 6-15",
            )
        if status.pulse_rate_range is PulseRateRange.RESERVED:
            r.warn("reserved_status", "pulse rate range 3 is reserved")
    if codec == ICP_CODEC:
        for name, value in (("diastolic", diastolic), ("mean arterial pressure", mean)):
            if value.special is None:
                r.warn("icp_not_nan", f"{name} should be NaN in a cuff pressure, got {value.value}")
        if not systolic.valid:
            r.warn("all_nan", "the cuff pressure is not a number")
    elif not (systolic.valid or diastolic.valid or mean.valid):
        r.warn("all_nan", "systolic, diastolic and MAP are all not numbers (error record)")
    _range_checks(r, unit, (systolic, diastolic, mean), pulse)
    return cls(
        flags, unit, systolic, diastolic, mean, timestamp, pulse, user, status, tuple(r.warnings)
    )


_MMHG_RANGE: Final = (0.0, 300.0)  # what oscillometric cuffs measure (ISO 81060-2 range)
_PULSE_RANGE: Final = (20.0, 300.0)


def _range_checks(
    r: Reader, unit: str, pressures: tuple[Numeric, Numeric, Numeric], pulse: Numeric | None
) -> None:
    systolic, diastolic, mean = pressures
    scale = MMHG_PER_KPA if unit == "kPa" else 1.0
    lo, hi = _MMHG_RANGE
    for name, value in (("systolic", systolic), ("diastolic", diastolic), ("MAP", mean)):
        if value.valid and not lo <= value.value * scale <= hi:
            r.warn("out_of_range", f"{name} {value.value} {unit} outside 0..300 mmHg")
    if pulse is not None and pulse.valid and not _PULSE_RANGE[0] <= pulse.value <= _PULSE_RANGE[1]:
        r.warn("out_of_range", f"pulse rate {pulse.value} outside 20..300 /min")


def _status_keys(status: BpStatus | None) -> dict[str, object]:
    if status is None:
        return {
            "body_movement": None,
            "cuff_too_loose": None,
            "irregular_pulse": None,
            "pulse_rate_range": None,
            "improper_position": None,
        }
    return {
        "body_movement": status.body_movement,
        "cuff_too_loose": status.cuff_too_loose,
        "irregular_pulse": status.irregular_pulse,
        "pulse_rate_range": status.pulse_rate_range.name.lower(),
        "improper_position": status.improper_position,
    }


def _common(m: BloodPressureMeasurement, codec: str) -> dict[str, object]:
    return {
        "codec": codec,
        "unit_sent": m.unit,
        "timestamp": None if m.timestamp is None else m.timestamp.iso(),
        "pulse_bpm": None if m.pulse_rate is None else m.pulse_rate.or_none(),
        "user_id": None if m.user_id == USER_UNKNOWN else m.user_id,
    }


def describe_bpm(data: bytes) -> dict[str, object]:
    """``helserom decode ble.bpm HEX``: pressures in mmHg (kPa converted), NaN as null."""
    m = BloodPressureMeasurement.from_bytes(data)
    return {
        **_common(m, BPM_CODEC),
        "systolic_mmhg": m.to_mmhg(m.systolic),
        "diastolic_mmhg": m.to_mmhg(m.diastolic),
        "map_mmhg": m.to_mmhg(m.mean_arterial),
        **_status_keys(m.status),
        "all_nan": m.all_nan,
        "warnings": list(m.warnings),
    }


def describe_icp(data: bytes) -> dict[str, object]:
    """``helserom decode ble.icp HEX``: the cuff pressure in mmHg."""
    m = IntermediateCuffPressure.from_bytes(data)
    return {
        **_common(m, ICP_CODEC),
        "cuff_pressure_mmhg": m.to_mmhg(m.cuff_pressure),
        **_status_keys(m.status),
        "all_nan": m.all_nan,
        "warnings": list(m.warnings),
    }
