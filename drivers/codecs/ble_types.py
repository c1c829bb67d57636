"""Shared Bluetooth SIG field types: IEEE 11073-20601 SFLOAT/FLOAT, Date Time, Current Time.

SFLOAT (16 bit) is a 4-bit signed exponent over a 12-bit signed mantissa, FLOAT (32 bit) an
8-bit exponent over a 24-bit mantissa; value = mantissa * 10**exponent, little-endian. Five
mantissas are special values (IEEE 11073-20601 §F.8, GATT Specification Supplement §2.2):
NaN, NRes (not at this resolution), +INF, -INF and one reserved. They decode to float NaN or
±inf plus a `Special` reason. Date Time (0x2A08) and Current Time (0x2A2B) carry a clock with
no time zone. `Reader` walks a payload and raises `CodecError` naming the field, the offset and
the bytes missing. Byte tables: ``docs/protocols/ble-types.md``.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, TypeVar

from drivers.errors import CodecError


class Special(enum.Enum):
    """IEEE 11073-20601 special values of SFLOAT and FLOAT."""

    NAN = "nan"  # not a number: the device has no value
    NRES = "nres"  # not at this resolution: the value does not fit the format
    POS_INF = "+inf"
    NEG_INF = "-inf"
    RESERVED = "reserved"  # reserved for future use; read as NaN


# mantissa -> special, for the 12-bit and the 24-bit mantissa
SFLOAT_SPECIALS: Final = {
    0x07FF: Special.NAN,
    0x0800: Special.NRES,
    0x07FE: Special.POS_INF,
    0x0802: Special.NEG_INF,
    0x0801: Special.RESERVED,
}
FLOAT_SPECIALS: Final = {
    0x7FFFFF: Special.NAN,
    0x800000: Special.NRES,
    0x7FFFFE: Special.POS_INF,
    0x800002: Special.NEG_INF,
    0x800001: Special.RESERVED,
}
SFLOAT_NAN: Final = 0x07FF  # the raw SFLOAT a device sends for "no value"
_SFLOAT_MAX_MANTISSA: Final = 2045  # ±2046..±2048 are taken by the special values
_FLOAT_MAX_MANTISSA: Final = 2**23 - 3
_SPECIAL_FLOAT: Final = {
    Special.NAN: math.nan,
    Special.NRES: math.nan,
    Special.RESERVED: math.nan,
    Special.POS_INF: math.inf,
    Special.NEG_INF: -math.inf,
}


@dataclass(frozen=True, slots=True)
class Numeric:
    """One SFLOAT or FLOAT: its value (NaN or ±inf for a special value) and why."""

    value: float
    special: Special | None = None
    raw: int = 0  # the 16- or 32-bit word as sent, for round trips and debugging

    @property
    def valid(self) -> bool:
        """True for an ordinary finite number."""
        return self.special is None and math.isfinite(self.value)

    def or_none(self, scale: float = 1.0, ndigits: int | None = None) -> float | None:
        """The value times ``scale`` (rounded), or None when it is not a finite number (JSON)."""
        if not self.valid:
            return None
        scaled = self.value * scale
        return scaled if ndigits is None else round(scaled, ndigits)


_E = TypeVar("_E", bound=enum.IntEnum)


def enum_or_int(cls: type[_E], value: int) -> _E | int:
    """``cls(value)`` when it is a known code, else the int (unknown codes are kept, not raised)."""
    return cls(value) if value in cls._value2member_map_ else value


def _ten_pow(mantissa: int, exponent: int) -> float:
    # Divide by an exact power of ten so 365e-1 gives 36.5, not 36.500000000000004.
    if exponent >= 0:
        return float(mantissa * 10**exponent)
    return mantissa / int(10**-exponent)


def _signed(value: int, bits: int) -> int:
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


def _decode(raw: int, exp_bits: int, man_bits: int, specials: dict[int, Special]) -> Numeric:
    mantissa_u = raw & ((1 << man_bits) - 1)
    special = specials.get(mantissa_u)
    if special is not None:
        return Numeric(_SPECIAL_FLOAT[special], special, raw)
    exponent = _signed(raw >> man_bits, exp_bits)
    return Numeric(_ten_pow(_signed(mantissa_u, man_bits), exponent), None, raw)


def decode_sfloat(raw: int) -> Numeric:
    """Decode a 16-bit SFLOAT word (already assembled from its two little-endian bytes)."""
    return _decode(raw & 0xFFFF, 4, 12, SFLOAT_SPECIALS)


def decode_float(raw: int) -> Numeric:
    """Decode a 32-bit FLOAT word."""
    return _decode(raw & 0xFFFFFFFF, 8, 24, FLOAT_SPECIALS)


def _special_raw(value: Special, specials: dict[int, Special]) -> int:
    return next(m for m, s in specials.items() if s is value)


def _encode(value: float | Special, exponent: int, exp_bits: int, man_bits: int) -> int:
    specials = SFLOAT_SPECIALS if man_bits == 12 else FLOAT_SPECIALS
    name = "SFLOAT" if man_bits == 12 else "FLOAT"
    if isinstance(value, Special):
        return _special_raw(value, specials)  # exponent 0, as IEEE 11073-20601 defines them
    if math.isnan(value):
        return _special_raw(Special.NAN, specials)
    if math.isinf(value):
        return _special_raw(Special.POS_INF if value > 0 else Special.NEG_INF, specials)
    limit = 1 << (exp_bits - 1)
    if not -limit <= exponent < limit:
        raise CodecError(f"{name}: exponent {exponent} is outside {-limit}..{limit - 1}")
    scaled = value * int(10**-exponent) if exponent <= 0 else value / int(10**exponent)
    mantissa = round(scaled)
    max_mantissa = _SFLOAT_MAX_MANTISSA if man_bits == 12 else _FLOAT_MAX_MANTISSA
    if abs(mantissa) > max_mantissa:
        raise CodecError(
            f"{name}: {value} needs mantissa {mantissa} at exponent {exponent}, "
            f"outside -{max_mantissa}..{max_mantissa}"
        )
    return ((exponent & ((1 << exp_bits) - 1)) << man_bits) | (mantissa & ((1 << man_bits) - 1))


def encode_sfloat(value: float | Special, exponent: int = 0) -> int:
    """The 16-bit SFLOAT word for ``value`` at ``exponent``; NaN/±inf become special values."""
    return _encode(value, exponent, 4, 12)


def encode_float(value: float | Special, exponent: int = 0) -> int:
    """The 32-bit FLOAT word for ``value`` at ``exponent``."""
    return _encode(value, exponent, 8, 24)


# --- Date Time (0x2A08) and Current Time (0x2A2B) -------------------------------------------

DATE_TIME_LEN: Final = 7


@dataclass(frozen=True, slots=True)
class DateTime:
    """Date Time (0x2A08): year 1582..9999, month, day; 0 in any of them means "not known".

    Out-of-range values are kept (a device sent them); `problems()` lists them and
    `to_datetime()` is None then. The field has no time zone: it is the device's wall clock.
    """

    year: int
    month: int
    day: int
    hours: int
    minutes: int
    seconds: int

    @classmethod
    def from_bytes(cls, data: bytes) -> DateTime:
        """Decode exactly 7 bytes."""
        if len(data) != DATE_TIME_LEN:
            raise CodecError(f"date time: expected {DATE_TIME_LEN} bytes, got {len(data)}")
        return cls(int.from_bytes(data[0:2], "little"), *data[2:7])

    @classmethod
    def from_datetime(cls, when: datetime) -> DateTime:
        """The Date Time of a datetime (its wall-clock fields; the zone is dropped)."""
        return cls(when.year, when.month, when.day, when.hour, when.minute, when.second)

    def __bytes__(self) -> bytes:
        return self.year.to_bytes(2, "little") + bytes(
            (self.month, self.day, self.hours, self.minutes, self.seconds)
        )

    @property
    def unknown(self) -> bool:
        """True when year, month or day is 0 ("not known")."""
        return 0 in (self.year, self.month, self.day)

    def problems(self) -> list[str]:
        """Fields outside their range (not counting 0 = not known in year, month, day)."""
        out = []
        if self.year != 0 and not 1582 <= self.year <= 9999:
            out.append(f"year {self.year} outside 1582..9999")
        for name, value, top in (("month", self.month, 12), ("day", self.day, 31)):
            if value > top:
                out.append(f"{name} {value} outside 1..{top}")
        for name, value, top in (
            ("hours", self.hours, 23),
            ("minutes", self.minutes, 59),
            ("seconds", self.seconds, 59),
        ):
            if value > top:
                out.append(f"{name} {value} outside 0..{top}")
        return out

    def to_datetime(self) -> datetime | None:
        """A naive datetime (device wall clock), or None when unknown or impossible."""
        if self.unknown or self.problems():
            return None
        try:
            return datetime(self.year, self.month, self.day, self.hours, self.minutes, self.seconds)
        except ValueError:  # 31 February and alike
            return None

    def iso(self) -> str | None:
        """ISO 8601 without a zone offset (the device clock has none), or None."""
        when = self.to_datetime()
        return None if when is None else when.isoformat()


class AdjustReason(enum.IntFlag):
    """Current Time Adjust Reason (0x2A2B byte 9)."""

    NONE = 0
    MANUAL = 0x01  # manual time update
    EXTERNAL_REFERENCE = 0x02  # external reference time update
    TIME_ZONE = 0x04  # change of time zone
    DST = 0x08  # change of daylight saving time


CURRENT_TIME_LEN: Final = 10


@dataclass(frozen=True, slots=True)
class CurrentTime:
    """Current Time (0x2A2B): Date Time, day of week (1 = Monday, 0 = unknown), 1/256 s,
    adjust reason. The gateway writes it to set a cuff's clock (CTS, Current Time Service)."""

    date_time: DateTime
    day_of_week: int
    fractions256: int
    adjust_reason: AdjustReason = AdjustReason.NONE
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        for name, value, top in (
            ("day_of_week", self.day_of_week, 255),
            ("fractions256", self.fractions256, 255),
            ("adjust_reason", int(self.adjust_reason), 255),
        ):
            if not 0 <= value <= top:
                raise CodecError(f"current time: {name} {value} is outside 0..{top}")

    @classmethod
    def from_datetime(
        cls, when: datetime, reason: AdjustReason = AdjustReason.MANUAL
    ) -> CurrentTime:
        """What to write to a device so its clock shows ``when`` (its wall-clock fields)."""
        return cls(
            DateTime.from_datetime(when),
            when.isoweekday(),
            when.microsecond * 256 // 1_000_000,
            reason,
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> CurrentTime:
        """Decode 10 bytes; more are ignored with a warning, fewer raise CodecError."""
        reader = Reader(data, "current time")
        when = reader.date_time("date time")
        dow = reader.u8("day of week")
        fractions = reader.u8("fractions256")
        reason = reader.u8("adjust reason")
        if dow > 7:
            reader.warn("day_of_week", f"day of week {dow} outside 0..7")
        if reason & 0xF0:
            reader.warn("reserved_bits", f"adjust reason 0x{reason:02x} sets reserved bits 4-7")
        reader.finish()
        return cls(when, dow, fractions, AdjustReason(reason), tuple(reader.warnings))

    def __bytes__(self) -> bytes:
        return bytes(self.date_time) + bytes(
            (self.day_of_week, self.fractions256, int(self.adjust_reason))
        )


# --- payload reader ------------------------------------------------------------------------


class Reader:
    """Reads little-endian fields in order; a short payload raises an exact CodecError.

    Non-fatal findings go to ``warnings`` as ``"code: text"`` strings (the code before the
    colon is stable for programs, the text is for people).
    """

    def __init__(self, data: bytes, codec: str) -> None:
        self.data = bytes(data)
        self.codec = codec
        self.offset = 0
        self.warnings: list[str] = []

    @property
    def remaining(self) -> int:
        """Bytes not yet read."""
        return len(self.data) - self.offset

    def warn(self, code: str, text: str) -> None:
        """Record a tolerable deviation."""
        self.warnings.append(f"{code}: {text}")

    def take(self, n: int, name: str) -> bytes:
        """The next ``n`` bytes of field ``name``."""
        if self.remaining < n:
            raise CodecError(
                f"{self.codec}: offset {self.offset}: {name} needs {n} byte(s), "
                f"{self.remaining} left (payload is {len(self.data)} bytes)"
            )
        out = self.data[self.offset : self.offset + n]
        self.offset += n
        return out

    def uint(self, n: int, name: str) -> int:
        """An unsigned little-endian integer of ``n`` bytes."""
        return int.from_bytes(self.take(n, name), "little")

    def u8(self, name: str) -> int:
        """uint8."""
        return self.uint(1, name)

    def u16(self, name: str) -> int:
        """uint16."""
        return self.uint(2, name)

    def sfloat(self, name: str) -> Numeric:
        """An SFLOAT; a special value with a non-zero exponent is read but warned about."""
        at = self.offset
        value = decode_sfloat(self.uint(2, name))
        if value.special is not None and value.raw >> 12:
            self.warn(
                "special_exponent",
                f"{name} at offset {at}: {value.special.value} sent with exponent "
                f"{_signed(value.raw >> 12, 4)} (0x{value.raw:04x}; the spec uses exponent 0)",
            )
        return value

    def float32(self, name: str) -> Numeric:
        """A FLOAT (32-bit IEEE 11073)."""
        at = self.offset
        value = decode_float(self.uint(4, name))
        if value.special is not None and value.raw >> 24:
            self.warn(
                "special_exponent",
                f"{name} at offset {at}: {value.special.value} sent with exponent "
                f"{_signed(value.raw >> 24, 8)} (0x{value.raw:08x}; the spec uses exponent 0)",
            )
        return value

    def date_time(self, name: str) -> DateTime:
        """A Date Time; out-of-range fields are warned about, not raised."""
        when = DateTime.from_bytes(self.take(DATE_TIME_LEN, name))
        for problem in when.problems():
            self.warn("bad_time", f"{name}: {problem}")
        if when.unknown and not when.problems():
            self.warn("time_unknown", f"{name}: year, month or day is 0 (not known)")
        return when

    def finish(self, absent: Sequence[tuple[str, int]] = ()) -> None:
        """Warn about bytes after the last field (tolerated: the spec may grow).

        ``absent`` lists the optional fields (name, size) the flags left out: when the extra
        bytes are exactly one of them, the warning says so (a field sent without its flag).
        They are never decoded as that field: the flags are what the device declared.
        """
        if not self.remaining:
            return
        text = (
            f"{self.remaining} byte(s) after the last field at offset {self.offset} "
            f"ignored: {self.data[self.offset :].hex(' ')}"
        )
        match = [name for name, size in absent if size == self.remaining]
        if match:
            self.warn(
                "unflagged_field",
                f"{text}; the size of {' or '.join(match)}, which the flags leave out "
                "(a field sent without its flag?)",
            )
        else:
            self.warn("trailing_bytes", text)


def reserved_flags(reader: Reader, flags: int, known_mask: int, name: str = "flags") -> None:
    """Warn when ``flags`` sets bits outside ``known_mask`` (reserved for future use)."""
    extra = flags & ~known_mask
    if extra:
        reader.warn("reserved_flags", f"{name} 0x{flags:02x} sets reserved bit(s) 0x{extra:02x}")


def absent_fields(flags: int, optional: Sequence[tuple[int, str, int]]) -> list[tuple[str, int]]:
    """(name, size) of the optional fields (flag bit, name, size) that ``flags`` leaves out."""
    return [(name, size) for bit, name, size in optional if not flags & bit]
