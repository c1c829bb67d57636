"""IEEE 11073-20601 SFLOAT/FLOAT (every special value, both ways), Date Time, Current Time and
the payload reader's exact errors. Expected words are written out from the standard's table."""

from __future__ import annotations

import math
from datetime import datetime

import pytest

from drivers.codecs.ble_types import (
    AdjustReason,
    CurrentTime,
    DateTime,
    Reader,
    Special,
    decode_float,
    decode_sfloat,
    encode_float,
    encode_sfloat,
)
from drivers.errors import CodecError

# (special, SFLOAT word, FLOAT word, float value) — IEEE 11073-20601 Annex F.8
SPECIALS = [
    (Special.NAN, 0x07FF, 0x007FFFFF, math.nan),
    (Special.NRES, 0x0800, 0x00800000, math.nan),
    (Special.POS_INF, 0x07FE, 0x007FFFFE, math.inf),
    (Special.NEG_INF, 0x0802, 0x00800002, -math.inf),
    (Special.RESERVED, 0x0801, 0x00800001, math.nan),
]


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.mark.parametrize(("special", "sword", "fword", "value"), SPECIALS)
def test_every_special_value_round_trips(
    special: Special, sword: int, fword: int, value: float
) -> None:
    s = decode_sfloat(sword)
    f = decode_float(fword)
    assert (s.special, f.special) == (special, special)
    assert same(s.value, value) and same(f.value, value)
    assert not s.valid and not f.valid
    assert s.or_none() is None and f.or_none() is None
    assert encode_sfloat(special) == sword
    assert encode_float(special) == fword
    assert decode_sfloat(encode_sfloat(special)).special is special
    assert decode_float(encode_float(special)).special is special


def test_python_nan_and_inf_encode_to_the_special_words() -> None:
    assert encode_sfloat(math.nan) == 0x07FF
    assert encode_sfloat(math.inf) == 0x07FE
    assert encode_sfloat(-math.inf) == 0x0802
    assert encode_float(math.nan) == 0x007FFFFF
    assert encode_float(-math.inf) == 0x00800002


@pytest.mark.parametrize(
    ("word", "value"),
    [
        (0x0000, 0.0),
        (0x0078, 120.0),  # exponent 0, mantissa 120
        (0xF16E, 36.6),  # exponent -1, mantissa 366
        (0xF0A0, 16.0),  # 160e-1
        (0x0FFF, -1.0),  # mantissa -1
        (0x07FD, 2045.0),  # the largest ordinary mantissa
        (0x0803 | 0x0000, -2045.0),  # the smallest
        (0x2001, 100.0),  # 1e2
        (0x8001, 1e-8),  # exponent -8
        (0x7005, 5e7),  # exponent 7
    ],
)
def test_sfloat_values(word: int, value: float) -> None:
    got = decode_sfloat(word)
    assert got.special is None
    assert got.value == pytest.approx(value, rel=1e-12)
    assert got.raw == word


@pytest.mark.parametrize(
    ("word", "value"),
    [
        (0xFF00016E, 36.6),
        (0xFF0003DA, 98.6),
        (0x00000000, 0.0),
        (0xFE000001, 0.01),
        (0x02FFFFFF, -100.0),  # mantissa -1, exponent 2
        (0x007FFFFD, 8388605.0),
    ],
)
def test_float_values(word: int, value: float) -> None:
    got = decode_float(word)
    assert got.special is None
    assert got.value == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize(("value", "exponent"), [(36.6, -1), (120, 0), (-0.05, -2), (300, 1)])
def test_encode_decode_round_trip(value: float, exponent: int) -> None:
    assert decode_sfloat(encode_sfloat(value, exponent)).value == pytest.approx(value)
    assert decode_float(encode_float(value, exponent)).value == pytest.approx(value)


def test_encode_errors_are_exact() -> None:
    with pytest.raises(CodecError) as exc:
        encode_sfloat(2046)
    assert str(exc.value) == "SFLOAT: 2046 needs mantissa 2046 at exponent 0, outside -2045..2045"
    with pytest.raises(CodecError) as exc:
        encode_sfloat(1, exponent=8)
    assert str(exc.value) == "SFLOAT: exponent 8 is outside -8..7"
    with pytest.raises(CodecError) as exc:
        encode_float(1, exponent=-129)
    assert str(exc.value) == "FLOAT: exponent -129 is outside -128..127"


def test_special_mantissa_with_an_exponent_is_read_and_warned() -> None:
    r = Reader(bytes.fromhex("fff7"), "test")
    value = r.sfloat("spo2")
    assert value.special is Special.NAN
    assert r.warnings == [
        "special_exponent: spo2 at offset 0: nan sent with exponent -1 "
        "(0xf7ff; the spec uses exponent 0)"
    ]


# --- Date Time -------------------------------------------------------------------------------


def test_date_time_round_trip_and_fields() -> None:
    raw = bytes.fromhex("ea070b17081e05")
    when = DateTime.from_bytes(raw)
    assert when == DateTime(2026, 11, 23, 8, 30, 5)
    assert bytes(when) == raw
    assert when.to_datetime() == datetime(2026, 11, 23, 8, 30, 5)
    assert when.iso() == "2026-11-23T08:30:05"
    assert DateTime.from_datetime(datetime(2026, 11, 23, 8, 30, 5)) == when


@pytest.mark.parametrize(
    "raw",
    ["00000b17081e05", "ea070017081e05", "ea070b00081e05", "00000000000000"],
)
def test_date_time_zero_means_unknown(raw: str) -> None:
    when = DateTime.from_bytes(bytes.fromhex(raw))
    assert when.unknown
    assert when.problems() == []
    assert when.to_datetime() is None and when.iso() is None


def test_date_time_out_of_range_is_kept_with_problems() -> None:
    when = DateTime.from_bytes(bytes.fromhex("2d060d201840ff"))  # 1581-13-32 24:64:255
    assert when.problems() == [
        "year 1581 outside 1582..9999",
        "month 13 outside 1..12",
        "day 32 outside 1..31",
        "hours 24 outside 0..23",
        "minutes 64 outside 0..59",
        "seconds 255 outside 0..59",
    ]
    assert when.to_datetime() is None
    assert DateTime(2026, 2, 31, 0, 0, 0).to_datetime() is None  # in range, impossible


def test_date_time_length_error() -> None:
    with pytest.raises(CodecError) as exc:
        DateTime.from_bytes(b"\x00" * 6)
    assert str(exc.value) == "date time: expected 7 bytes, got 6"


# --- Current Time ----------------------------------------------------------------------------


def test_current_time_from_datetime_is_what_the_gateway_writes() -> None:
    ct = CurrentTime.from_datetime(datetime(2026, 11, 23, 12, 45, 3, 500_000))
    # 2026-11-23 is a Monday (1); 0.5 s = 128/256; reason: manual update
    assert bytes(ct).hex(" ") == "ea 07 0b 17 0c 2d 03 01 80 01"
    back = CurrentTime.from_bytes(bytes(ct))
    assert back == ct
    assert back.warnings == ()
    assert back.date_time.to_datetime() == datetime(2026, 11, 23, 12, 45, 3)


def test_current_time_external_reference_and_warnings() -> None:
    raw = bytes.fromhex("ea070b170c2d03 09 00 f2 ff")
    ct = CurrentTime.from_bytes(raw)
    assert ct.adjust_reason == AdjustReason.EXTERNAL_REFERENCE | 0xF0
    assert ct.warnings == (
        "day_of_week: day of week 9 outside 0..7",
        "reserved_bits: adjust reason 0xf2 sets reserved bits 4-7",
        "trailing_bytes: 1 byte(s) after the last field at offset 10 ignored: ff",
    )


def test_current_time_errors_exact() -> None:
    with pytest.raises(CodecError) as exc:
        CurrentTime.from_bytes(bytes.fromhex("ea070b170c2d0301"))
    assert str(exc.value) == (
        "current time: offset 8: fractions256 needs 1 byte(s), 0 left (payload is 8 bytes)"
    )
    with pytest.raises(CodecError) as exc:
        CurrentTime(DateTime(2026, 1, 1, 0, 0, 0), 1, 256)
    assert str(exc.value) == "current time: fractions256 256 is outside 0..255"


# --- Reader ----------------------------------------------------------------------------------


def test_reader_error_names_field_offset_and_bytes() -> None:
    r = Reader(bytes.fromhex("0102"), "ble.test")
    assert r.u8("flags") == 1
    with pytest.raises(CodecError) as exc:
        r.u16("systolic")
    assert str(exc.value) == (
        "ble.test: offset 1: systolic needs 2 byte(s), 1 left (payload is 2 bytes)"
    )
