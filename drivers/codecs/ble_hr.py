"""Heart Rate Service: Heart Rate Measurement (0x2A37). Sans-IO: bytes in, a frozen dataclass out.

Flags: bit 0 value format (uint8 / uint16), bits 1-2 sensor contact (bit 2 = supported,
bit 1 = detected), bit 3 Energy Expended (uint16 kJ), bit 4 RR-Intervals (uint16 each, in
1/1024 s, filling the rest of the payload). Byte table: ``docs/protocols/ble-heart-rate.md``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from drivers.codecs.ble_types import Reader, reserved_flags
from drivers.model import QualityFlag

CODEC_NAME: Final = "ble.hr"
RR_UNITS_PER_S: Final = 1024


class HrFlags(enum.IntFlag):
    """Flags of 0x2A37."""

    UINT16 = 0x01
    CONTACT_DETECTED = 0x02
    CONTACT_SUPPORTED = 0x04
    ENERGY_EXPENDED = 0x08
    RR_INTERVALS = 0x10


class SensorContact(enum.Enum):
    """Sensor Contact Status (flag bits 2..1)."""

    NOT_SUPPORTED = "not_supported"  # 00 or 01
    NOT_DETECTED = "not_detected"  # 10: poor or no skin contact
    DETECTED = "detected"  # 11


@dataclass(frozen=True, slots=True)
class HeartRateMeasurement:
    """One 0x2A37 value."""

    flags: int
    heart_rate_bpm: int
    contact: SensorContact
    energy_expended_kj: int | None
    rr_intervals_1024: tuple[int, ...]  # in 1/1024 s, oldest first
    warnings: tuple[str, ...]

    @classmethod
    def from_bytes(cls, data: bytes) -> HeartRateMeasurement:
        """Decode; CodecError when the value or energy field is cut short.

        An odd byte at the end of the RR list is ignored with a warning.
        """
        r = Reader(data, CODEC_NAME)
        flags = r.u8("flags")
        reserved_flags(r, flags, 0x1F)
        hr = r.u16("heart rate (uint16)") if flags & HrFlags.UINT16 else r.u8("heart rate")
        if not flags & HrFlags.CONTACT_SUPPORTED:
            contact = SensorContact.NOT_SUPPORTED
        elif flags & HrFlags.CONTACT_DETECTED:
            contact = SensorContact.DETECTED
        else:
            contact = SensorContact.NOT_DETECTED
            r.warn("no_contact", "sensor contact not detected: the heart rate is not reliable")
        energy = r.u16("energy expended") if flags & HrFlags.ENERGY_EXPENDED else None
        rr: list[int] = []
        if flags & HrFlags.RR_INTERVALS:
            if r.remaining < 2:
                r.take(2, "RR-interval")  # the flag promises at least one: exact error
            while r.remaining >= 2:
                rr.append(r.u16(f"RR-interval {len(rr)}"))
            if r.remaining:
                r.warn(
                    "rr_odd_byte",
                    f"a lone byte 0x{r.data[r.offset]:02x} after {len(rr)} RR-interval(s) at "
                    f"offset {r.offset} ignored (half an interval: the value was cut?)",
                )
                r.offset += 1
        r.finish()
        if rr and 0 in rr:
            r.warn("out_of_range", "an RR-interval of 0 (not a beat interval)")
        if hr == 0:
            r.warn("out_of_range", "heart rate 0")
        return cls(flags, hr, contact, energy, tuple(rr), tuple(r.warnings))

    def quality(self) -> QualityFlag:
        """SENSOR_DISCONNECTED when the strap reports no skin contact."""
        if self.contact is SensorContact.NOT_DETECTED:
            return QualityFlag.SENSOR_DISCONNECTED
        return QualityFlag.NONE

    @property
    def rr_intervals_ms(self) -> tuple[float, ...]:
        """RR-intervals in milliseconds (1/1024 s units converted, rounded to 0.001 ms)."""
        return tuple(round(v * 1000 / RR_UNITS_PER_S, 3) for v in self.rr_intervals_1024)


def describe(data: bytes) -> dict[str, object]:
    """``helserom decode ble.hr HEX``."""
    m = HeartRateMeasurement.from_bytes(data)
    supported = m.contact is not SensorContact.NOT_SUPPORTED
    return {
        "codec": CODEC_NAME,
        "heart_rate_bpm": m.heart_rate_bpm,
        "sensor_contact": m.contact.value,
        "sensor_contact_supported": supported,
        "sensor_contact_detected": (m.contact is SensorContact.DETECTED) if supported else None,
        "energy_expended_kj": m.energy_expended_kj,
        "rr_intervals_ms": list(m.rr_intervals_ms),
        "rr_intervals_1024": list(m.rr_intervals_1024),
        "warnings": list(m.warnings),
    }
