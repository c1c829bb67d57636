"""Pulse Oximeter Service (PLXS 1.0): Spot-check (0x2A5E), Continuous (0x2A5F) and Features
(0x2A60). Sans-IO: bytes in, frozen dataclasses out.

Spot-check: flags, SpO2, PR (SFLOAT), then Timestamp, Measurement Status (uint16), Device and
Sensor Status (uint24), Pulse Amplitude Index (SFLOAT) by flag. Continuous: flags, SpO2PR-Normal,
then SpO2PR-Fast, SpO2PR-Slow, the two statuses and PAI by flag. A record whose every value is
NaN is an error record: `all_nan` is True and the gateway must not show it as a reading.
Byte table: ``docs/protocols/ble-plx.md``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from drivers.codecs.ble_types import DateTime, Numeric, Reader, absent_fields, reserved_flags
from drivers.model import QualityFlag

SPOT_CODEC: Final = "ble.plx-spot"
CONTINUOUS_CODEC: Final = "ble.plx-continuous"


class SpotFlags(enum.IntFlag):
    """Flags of 0x2A5E."""

    TIMESTAMP = 0x01
    MEASUREMENT_STATUS = 0x02
    DEVICE_SENSOR_STATUS = 0x04
    PULSE_AMPLITUDE_INDEX = 0x08
    DEVICE_CLOCK_NOT_SET = 0x10


class ContinuousFlags(enum.IntFlag):
    """Flags of 0x2A5F."""

    FAST = 0x01  # SpO2PR-Fast present
    SLOW = 0x02  # SpO2PR-Slow present
    MEASUREMENT_STATUS = 0x04
    DEVICE_SENSOR_STATUS = 0x08
    PULSE_AMPLITUDE_INDEX = 0x10


class MeasurementStatus(enum.IntFlag):
    """PLX Measurement Status (uint16); bits 0-4 are reserved."""

    MEASUREMENT_ONGOING = 1 << 5
    EARLY_ESTIMATED_DATA = 1 << 6
    VALIDATED_DATA = 1 << 7
    FULLY_QUALIFIED_DATA = 1 << 8
    DATA_FROM_MEASUREMENT_STORAGE = 1 << 9
    DATA_FOR_DEMONSTRATION = 1 << 10
    DATA_FOR_TESTING = 1 << 11
    CALIBRATION_ONGOING = 1 << 12
    MEASUREMENT_UNAVAILABLE = 1 << 13
    QUESTIONABLE_MEASUREMENT_DETECTED = 1 << 14
    INVALID_MEASUREMENT_DETECTED = 1 << 15


class DeviceSensorStatus(enum.IntFlag):
    """PLX Device and Sensor Status (uint24); bits 16-23 are reserved."""

    EXTENDED_DISPLAY_UPDATE_ONGOING = 1 << 0
    EQUIPMENT_MALFUNCTION_DETECTED = 1 << 1
    SIGNAL_PROCESSING_IRREGULARITY_DETECTED = 1 << 2
    INADEQUATE_SIGNAL_DETECTED = 1 << 3
    POOR_SIGNAL_DETECTED = 1 << 4
    LOW_PERFUSION_DETECTED = 1 << 5
    ERRATIC_SIGNAL_DETECTED = 1 << 6
    NONPULSATILE_SIGNAL_DETECTED = 1 << 7
    QUESTIONABLE_PULSE_DETECTED = 1 << 8
    SIGNAL_ANALYSIS_ONGOING = 1 << 9
    SENSOR_INTERFERENCE_DETECTED = 1 << 10
    SENSOR_UNCONNECTED_TO_USER = 1 << 11
    UNKNOWN_SENSOR_CONNECTED = 1 << 12
    SENSOR_DISPLACED = 1 << 13
    SENSOR_MALFUNCTIONING = 1 << 14
    SENSOR_DISCONNECTED = 1 << 15


_SPOT_OPTIONAL: Final = (
    (SpotFlags.TIMESTAMP, "timestamp", 7),
    (SpotFlags.MEASUREMENT_STATUS, "measurement status", 2),
    (SpotFlags.DEVICE_SENSOR_STATUS, "device and sensor status", 3),
    (SpotFlags.PULSE_AMPLITUDE_INDEX, "pulse amplitude index", 2),
)
_CONTINUOUS_OPTIONAL: Final = (
    (ContinuousFlags.FAST, "SpO2PR-Fast", 4),
    (ContinuousFlags.SLOW, "SpO2PR-Slow", 4),
    (ContinuousFlags.MEASUREMENT_STATUS, "measurement status", 2),
    (ContinuousFlags.DEVICE_SENSOR_STATUS, "device and sensor status", 3),
    (ContinuousFlags.PULSE_AMPLITUDE_INDEX, "pulse amplitude index", 2),
)
_MS_KNOWN: Final = 0xFFE0
_DSS_KNOWN: Final = 0x00FFFF
# Statuses after which a value must not be shown as a valid reading.
MEASUREMENT_INVALID: Final = (
    MeasurementStatus.MEASUREMENT_UNAVAILABLE | MeasurementStatus.INVALID_MEASUREMENT_DETECTED
)


# Status bits -> the gateway's quality flags. Poor/inadequate signal read as Nonin's
# yellow/red perfusion (marginal / low or no pulse signal); the rest by their names.
_DSS_QUALITY: Final = (
    (
        DeviceSensorStatus.SENSOR_DISCONNECTED
        | DeviceSensorStatus.SENSOR_UNCONNECTED_TO_USER
        | DeviceSensorStatus.SENSOR_DISPLACED,
        QualityFlag.SENSOR_DISCONNECTED,
    ),
    (
        DeviceSensorStatus.EQUIPMENT_MALFUNCTION_DETECTED
        | DeviceSensorStatus.SENSOR_MALFUNCTIONING
        | DeviceSensorStatus.UNKNOWN_SENSOR_CONNECTED,
        QualityFlag.SENSOR_ALARM,
    ),
    (
        DeviceSensorStatus.LOW_PERFUSION_DETECTED | DeviceSensorStatus.INADEQUATE_SIGNAL_DETECTED,
        QualityFlag.LOW_PERFUSION,
    ),
    (DeviceSensorStatus.POOR_SIGNAL_DETECTED, QualityFlag.MARGINAL_PERFUSION),
    (
        DeviceSensorStatus.ERRATIC_SIGNAL_DETECTED
        | DeviceSensorStatus.SENSOR_INTERFERENCE_DETECTED
        | DeviceSensorStatus.QUESTIONABLE_PULSE_DETECTED
        | DeviceSensorStatus.NONPULSATILE_SIGNAL_DETECTED
        | DeviceSensorStatus.SIGNAL_PROCESSING_IRREGULARITY_DETECTED,
        QualityFlag.ARTIFACT,
    ),
)


# Not patient data now: the device says so, or it is demo/test data.
_MS_INVALID: Final = (
    MEASUREMENT_INVALID
    | MeasurementStatus.DATA_FOR_DEMONSTRATION
    | MeasurementStatus.DATA_FOR_TESTING
)
# A value, but the device doubts it or has not finished.
_MS_QUESTIONABLE: Final = (
    MeasurementStatus.QUESTIONABLE_MEASUREMENT_DETECTED
    | MeasurementStatus.EARLY_ESTIMATED_DATA
    | MeasurementStatus.CALIBRATION_ONGOING
)


def status_quality(ms: MeasurementStatus | None, dss: DeviceSensorStatus | None) -> QualityFlag:
    """What the two PLX status fields say, as the gateway's quality flags."""
    flags = QualityFlag.NONE
    if dss is not None:
        for bits, flag in _DSS_QUALITY:
            if dss & bits:
                flags |= flag
    if ms is not None:
        if ms & _MS_INVALID:
            flags |= QualityFlag.DEVICE_INVALID
        if ms & _MS_QUESTIONABLE:
            flags |= QualityFlag.DEVICE_QUESTIONABLE
        if ms & MeasurementStatus.DATA_FROM_MEASUREMENT_STORAGE:
            flags |= QualityFlag.STORED
    return flags


class PlxFeature(enum.IntFlag):
    """PLX Features (0x2A60) Supported Features (uint16)."""

    MEASUREMENT_STATUS = 1 << 0
    DEVICE_SENSOR_STATUS = 1 << 1
    SPOT_CHECK_STORAGE = 1 << 2
    SPOT_CHECK_TIMESTAMP = 1 << 3
    SPO2PR_FAST = 1 << 4
    SPO2PR_SLOW = 1 << 5
    PULSE_AMPLITUDE_INDEX = 1 << 6
    MULTIPLE_BONDS = 1 << 7


@dataclass(frozen=True, slots=True)
class PlxFeatures:
    """PLX Features: supported features, and the status bits the device can set."""

    supported: PlxFeature
    measurement_status_support: MeasurementStatus | None
    device_sensor_status_support: DeviceSensorStatus | None
    warnings: tuple[str, ...]

    @classmethod
    def from_bytes(cls, data: bytes) -> PlxFeatures:
        """Decode 0x2A60 (2, 4, 5 or 7 bytes by its feature bits)."""
        r = Reader(data, "ble.plx-features")
        supported = PlxFeature(r.u16("supported features"))
        ms = dss = None
        if supported & PlxFeature.MEASUREMENT_STATUS:
            ms = MeasurementStatus(r.u16("measurement status support"))
        if supported & PlxFeature.DEVICE_SENSOR_STATUS:
            dss = DeviceSensorStatus(r.uint(3, "device and sensor status support"))
        r.finish()
        return cls(supported, ms, dss, tuple(r.warnings))


@dataclass(frozen=True, slots=True)
class SpO2PR:
    """One SpO2 / pulse-rate pair."""

    spo2: Numeric  # %
    pulse_rate: Numeric  # beats per minute


def _pair(r: Reader, name: str) -> SpO2PR:
    return SpO2PR(r.sfloat(f"{name} SpO2"), r.sfloat(f"{name} PR"))


def _statuses(
    r: Reader, ms_present: bool, dss_present: bool
) -> tuple[MeasurementStatus | None, DeviceSensorStatus | None]:
    ms = MeasurementStatus(r.u16("measurement status")) if ms_present else None
    dss = DeviceSensorStatus(r.uint(3, "device and sensor status")) if dss_present else None
    if ms is not None and int(ms) & ~_MS_KNOWN:
        r.warn("reserved_status", f"measurement status 0x{int(ms):04x} sets reserved bits 0-4")
    if dss is not None and int(dss) & ~_DSS_KNOWN:
        r.warn(
            "reserved_status",
            f"device and sensor status 0x{int(dss):06x} sets reserved bits 16-23",
        )
    if ms is not None and ms & MEASUREMENT_INVALID:
        r.warn("invalid_measurement", "measurement status says unavailable or invalid")
    return ms, dss


_SPO2_RANGE: Final = (0.0, 100.0)
_PR_RANGE: Final = (0.0, 350.0)


def _range_checks(r: Reader, name: str, pair: SpO2PR) -> None:
    if pair.spo2.valid and not _SPO2_RANGE[0] <= pair.spo2.value <= _SPO2_RANGE[1]:
        r.warn("out_of_range", f"{name} SpO2 {pair.spo2.value} outside 0..100 %")
    if pair.pulse_rate.valid and not _PR_RANGE[0] <= pair.pulse_rate.value <= _PR_RANGE[1]:
        r.warn("out_of_range", f"{name} PR {pair.pulse_rate.value} outside 0..350 /min")


@dataclass(frozen=True, slots=True)
class PlxSpotCheck:
    """One PLX Spot-check Measurement (0x2A5E)."""

    flags: int
    reading: SpO2PR
    timestamp: DateTime | None
    measurement_status: MeasurementStatus | None
    device_sensor_status: DeviceSensorStatus | None
    pulse_amplitude_index: Numeric | None  # %
    warnings: tuple[str, ...]

    @classmethod
    def from_bytes(cls, data: bytes) -> PlxSpotCheck:
        """Decode; CodecError when a field its flags announce is cut short."""
        r = Reader(data, SPOT_CODEC)
        flags = r.u8("flags")
        reserved_flags(r, flags, 0x1F)
        reading = _pair(r, "spot-check")
        timestamp = r.date_time("timestamp") if flags & SpotFlags.TIMESTAMP else None
        ms, dss = _statuses(
            r,
            bool(flags & SpotFlags.MEASUREMENT_STATUS),
            bool(flags & SpotFlags.DEVICE_SENSOR_STATUS),
        )
        pai = r.sfloat("pulse amplitude index") if flags & SpotFlags.PULSE_AMPLITUDE_INDEX else None
        r.finish(absent_fields(flags, _SPOT_OPTIONAL))
        if flags & SpotFlags.DEVICE_CLOCK_NOT_SET:
            r.warn("clock_not_set", "device clock is not set: the timestamp cannot be trusted")
        _range_checks(r, "spot-check", reading)
        if not (reading.spo2.valid or reading.pulse_rate.valid):
            r.warn("all_nan", "SpO2 and PR are both not numbers (error record)")
        return cls(flags, reading, timestamp, ms, dss, pai, tuple(r.warnings))

    @property
    def device_clock_set(self) -> bool:
        """False when the device says its clock is not set."""
        return not self.flags & SpotFlags.DEVICE_CLOCK_NOT_SET

    @property
    def all_nan(self) -> bool:
        """True when neither SpO2 nor PR is a number: never show it as a reading."""
        return not (self.reading.spo2.valid or self.reading.pulse_rate.valid)

    def quality(self) -> QualityFlag:
        """Status bits, NaN values and an unset clock as quality flags."""
        flags = status_quality(self.measurement_status, self.device_sensor_status)
        if not (self.reading.spo2.valid and self.reading.pulse_rate.valid):
            flags |= QualityFlag.MISSING
        if not self.device_clock_set or (self.timestamp is not None and self.timestamp.unknown):
            flags |= QualityFlag.DEVICE_CLOCK_NOT_SET
        return flags


@dataclass(frozen=True, slots=True)
class PlxContinuous:
    """One PLX Continuous Measurement (0x2A5F)."""

    flags: int
    normal: SpO2PR
    fast: SpO2PR | None
    slow: SpO2PR | None
    measurement_status: MeasurementStatus | None
    device_sensor_status: DeviceSensorStatus | None
    pulse_amplitude_index: Numeric | None
    warnings: tuple[str, ...]

    @classmethod
    def from_bytes(cls, data: bytes) -> PlxContinuous:
        """Decode; CodecError when a field its flags announce is cut short."""
        r = Reader(data, CONTINUOUS_CODEC)
        flags = r.u8("flags")
        reserved_flags(r, flags, 0x1F)
        normal = _pair(r, "normal")
        fast = _pair(r, "fast") if flags & ContinuousFlags.FAST else None
        slow = _pair(r, "slow") if flags & ContinuousFlags.SLOW else None
        ms, dss = _statuses(
            r,
            bool(flags & ContinuousFlags.MEASUREMENT_STATUS),
            bool(flags & ContinuousFlags.DEVICE_SENSOR_STATUS),
        )
        pai = (
            r.sfloat("pulse amplitude index")
            if flags & ContinuousFlags.PULSE_AMPLITUDE_INDEX
            else None
        )
        r.finish(absent_fields(flags, _CONTINUOUS_OPTIONAL))
        pairs = [("normal", normal), ("fast", fast), ("slow", slow)]
        for name, pair in pairs:
            if pair is not None:
                _range_checks(r, name, pair)
        if not any(p.spo2.valid or p.pulse_rate.valid for _, p in pairs if p is not None):
            r.warn("all_nan", "every SpO2 and PR value is not a number (error record)")
        return cls(flags, normal, fast, slow, ms, dss, pai, tuple(r.warnings))

    @property
    def all_nan(self) -> bool:
        """True when no SpO2 or PR value is a number: never show it as a reading."""
        pairs = (p for p in (self.normal, self.fast, self.slow) if p is not None)
        return not any(p.spo2.valid or p.pulse_rate.valid for p in pairs)

    def quality(self) -> QualityFlag:
        """Status bits and NaN normal values as quality flags."""
        flags = status_quality(self.measurement_status, self.device_sensor_status)
        if not (self.normal.spo2.valid and self.normal.pulse_rate.valid):
            flags |= QualityFlag.MISSING
        return flags


def _flag_keys(
    ms: MeasurementStatus | None, dss: DeviceSensorStatus | None
) -> dict[str, bool | None]:
    out: dict[str, bool | None] = {}
    for bit in MeasurementStatus:
        out[str(bit.name).lower()] = None if ms is None else bool(ms & bit)
    for sbit in DeviceSensorStatus:
        out[str(sbit.name).lower()] = None if dss is None else bool(dss & sbit)
    return out


def _pai(value: Numeric | None) -> float | None:
    return None if value is None else value.or_none()


def describe_spot(data: bytes) -> dict[str, object]:
    """``helserom decode ble.plx-spot HEX``."""
    m = PlxSpotCheck.from_bytes(data)
    return {
        "codec": SPOT_CODEC,
        "spo2_pct": m.reading.spo2.or_none(),
        "pulse_bpm": m.reading.pulse_rate.or_none(),
        "pulse_amplitude_index_pct": _pai(m.pulse_amplitude_index),
        "timestamp": None if m.timestamp is None else m.timestamp.iso(),
        "device_clock_not_set": not m.device_clock_set,
        **_flag_keys(m.measurement_status, m.device_sensor_status),
        "all_nan": m.all_nan,
        "warnings": list(m.warnings),
    }


def describe_continuous(data: bytes) -> dict[str, object]:
    """``helserom decode ble.plx-continuous HEX``."""
    m = PlxContinuous.from_bytes(data)
    out: dict[str, object] = {
        "codec": CONTINUOUS_CODEC,
        "spo2_pct": m.normal.spo2.or_none(),
        "pulse_bpm": m.normal.pulse_rate.or_none(),
    }
    for name, pair in (("fast", m.fast), ("slow", m.slow)):
        out[f"spo2_{name}_pct"] = None if pair is None else pair.spo2.or_none()
        out[f"pulse_{name}_bpm"] = None if pair is None else pair.pulse_rate.or_none()
    out["pulse_amplitude_index_pct"] = _pai(m.pulse_amplitude_index)
    out.update(_flag_keys(m.measurement_status, m.device_sensor_status))
    out["all_nan"] = m.all_nan
    out["warnings"] = list(m.warnings)
    return out
