"""Blood Pressure Measurement (0x2A35), Intermediate Cuff Pressure (0x2A36), BP Feature (0x2A49):
every field, kPa, the status bits, exact errors, tolerated deviations and the Beurer quirk."""

from __future__ import annotations

import pytest

from drivers.codecs.ble_bp import (
    MMHG_PER_KPA,
    BloodPressureMeasurement,
    BpFeature,
    IntermediateCuffPressure,
    PulseRateRange,
    decode_bp_feature,
    describe_bpm,
    describe_icp,
)
from drivers.codecs.ble_quirks import Quirk
from drivers.codecs.ble_types import DateTime, Special
from drivers.errors import CodecError

FULL_KPA = bytes.fromhex("1f a0f0 6bf0 7df0 ea070b17081e00 4800 01 0f00")


def test_every_field_kpa() -> None:
    m = BloodPressureMeasurement.from_bytes(FULL_KPA)
    assert m.unit == "kPa"
    assert (m.systolic.value, m.diastolic.value, m.mean_arterial.value) == (16.0, 10.7, 12.5)
    assert m.timestamp == DateTime(2026, 11, 23, 8, 30, 0)
    assert m.pulse_rate is not None and m.pulse_rate.value == 72.0
    assert m.user_id == 1
    assert m.status is not None
    s = m.status
    assert (s.body_movement, s.cuff_too_loose, s.irregular_pulse, s.improper_position) == (
        True,
        True,
        True,
        False,
    )
    assert s.pulse_rate_range is PulseRateRange.ABOVE_UPPER_LIMIT
    assert m.warnings == ()
    # describe() converts kPa to mmHg: 16.0 kPa = 120.0 mmHg (1 kPa = 7.500617 mmHg)
    d = describe_bpm(FULL_KPA)
    assert (d["systolic_mmhg"], d["diastolic_mmhg"], d["map_mmhg"]) == (120.0, 80.3, 93.8)
    assert d["unit_sent"] == "kPa"
    assert pytest.approx(1000 / 133.322387415) == MMHG_PER_KPA


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (0x0000, (False, False, False, PulseRateRange.IN_RANGE, False)),
        (0x0001, (True, False, False, PulseRateRange.IN_RANGE, False)),
        (0x0002, (False, True, False, PulseRateRange.IN_RANGE, False)),
        (0x0004, (False, False, True, PulseRateRange.IN_RANGE, False)),
        (0x0008, (False, False, False, PulseRateRange.ABOVE_UPPER_LIMIT, False)),
        (0x0010, (False, False, False, PulseRateRange.BELOW_LOWER_LIMIT, False)),
        (0x0018, (False, False, False, PulseRateRange.RESERVED, False)),
        (0x0020, (False, False, False, PulseRateRange.IN_RANGE, True)),
    ],
)
def test_each_status_bit(status: int, expected: tuple[object, ...]) -> None:
    data = bytes.fromhex("10 7800 5000 5d00") + status.to_bytes(2, "little")
    m = BloodPressureMeasurement.from_bytes(data)
    assert m.status is not None
    s = m.status
    got = (s.body_movement, s.cuff_too_loose, s.irregular_pulse)
    assert (*got, s.pulse_rate_range, s.improper_position) == expected
    d = describe_bpm(data)
    keys = ("body_movement", "cuff_too_loose", "irregular_pulse", "improper_position")
    assert tuple(d[k] for k in keys) == (*expected[:3], expected[4])
    assert d["pulse_rate_range"] == s.pulse_rate_range.name.lower()


def test_mmhg_minimal_and_user_unknown() -> None:
    m = BloodPressureMeasurement.from_bytes(bytes.fromhex("08 7800 5000 5d00 ff"))
    assert m.unit == "mmHg" and m.user_id == 255
    assert describe_bpm(bytes.fromhex("08 7800 5000 5d00 ff"))["user_id"] is None
    assert m.timestamp is None and m.pulse_rate is None and m.status is None


def test_a_field_sent_without_its_flag_is_named_not_decoded() -> None:
    m = BloodPressureMeasurement.from_bytes(bytes.fromhex("00 7800 5000 5d00 ea070b17081e00"))
    assert m.timestamp is None  # the flags are what the device declared
    assert m.warnings == (
        "unflagged_field: 7 byte(s) after the last field at offset 7 ignored: "
        "ea 07 0b 17 08 1e 00; the size of timestamp, which the flags leave out "
        "(a field sent without its flag?)",
    )
    m = BloodPressureMeasurement.from_bytes(bytes.fromhex("02 7800 5000 5d00 ea070b17081e00 4800"))
    assert m.warnings[0].endswith(
        "the size of pulse rate or measurement status, which the flags leave out "
        "(a field sent without its flag?)"
    )


def test_all_nan_error_record_is_flagged() -> None:
    m = BloodPressureMeasurement.from_bytes(bytes.fromhex("00 ff07 ff07 ff07"))
    assert m.all_nan
    assert m.systolic.special is Special.NAN
    assert m.warnings == (
        "all_nan: systolic, diastolic and MAP are all not numbers (error record)",
    )
    # one valid pressure is enough not to be an error record
    assert not BloodPressureMeasurement.from_bytes(bytes.fromhex("00 7800 ff07 ff07")).all_nan


def test_tolerated_deviations_give_warnings() -> None:
    # reserved flag bit 7, MAP out of range (400 mmHg), status reserved bits, trailing bytes
    data = bytes.fromhex("90 7800 5000 9001 4000 999897")
    m = BloodPressureMeasurement.from_bytes(data)
    assert m.warnings == (
        "reserved_flags: flags 0x90 sets reserved bit(s) 0x80",
        "trailing_bytes: 3 byte(s) after the last field at offset 9 ignored: 99 98 97",
        "reserved_status: measurement status 0x0040 sets reserved bits 6-15",
        "out_of_range: MAP 400.0 mmHg outside 0..300 mmHg",
    )
    assert m.mean_arterial.value == 400.0


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "ble.bpm: offset 0: flags needs 1 byte(s), 0 left (payload is 0 bytes)"),
        ("00 7800 50", "ble.bpm: offset 3: diastolic needs 2 byte(s), 1 left (payload is 4 bytes)"),
        (
            "02 7800 5000 5d00 ea07",
            "ble.bpm: offset 7: timestamp needs 7 byte(s), 2 left (payload is 9 bytes)",
        ),
        (
            "04 7800 5000 5d00",
            "ble.bpm: offset 7: pulse rate needs 2 byte(s), 0 left (payload is 7 bytes)",
        ),
        (
            "08 7800 5000 5d00",
            "ble.bpm: offset 7: user id needs 1 byte(s), 0 left (payload is 7 bytes)",
        ),
        (
            "10 7800 5000 5d00 01",
            "ble.bpm: offset 7: measurement status needs 2 byte(s), 1 left (payload is 8 bytes)",
        ),
    ],
)
def test_errors_exact(raw: str, message: str) -> None:
    with pytest.raises(CodecError) as exc:
        BloodPressureMeasurement.from_bytes(bytes.fromhex(raw))
    assert str(exc.value) == message


def test_beurer_quirk_reads_pulse_and_status_big_endian() -> None:
    # pulse 72 = SFLOAT 0x0048 and status 0x0001 (body movement), both sent big-endian
    data = bytes.fromhex("14 7800 5000 5d00 0048 0001")
    plain = BloodPressureMeasurement.from_bytes(data)
    # read by the spec, the pulse word is 0x4800: mantissa 0x800 = NRes; status bit 8 (reserved)
    assert plain.pulse_rate is not None and plain.pulse_rate.special is Special.NRES
    assert plain.status is not None and plain.status.raw == 0x0100
    fixed = BloodPressureMeasurement.from_bytes(data, Quirk.BPM_PULSE_STATUS_BIG_ENDIAN)
    assert fixed.pulse_rate is not None and fixed.pulse_rate.value == 72.0
    assert fixed.status is not None and fixed.status.body_movement
    assert "quirk: pulse rate and measurement status read big-endian (device quirk)" in (
        fixed.warnings
    )


def test_intermediate_cuff_pressure() -> None:
    m = IntermediateCuffPressure.from_bytes(bytes.fromhex("04 9600 ff07 ff07 4a00"))
    assert m.cuff_pressure.value == 150.0
    assert m.pulse_rate is not None and m.pulse_rate.value == 74.0
    assert m.warnings == ()
    assert not m.all_nan
    d = describe_icp(bytes.fromhex("01 8cf0 ff07 ff07"))
    assert d["cuff_pressure_mmhg"] == 105.0  # 14.0 kPa
    assert d["codec"] == "ble.icp"


def test_icp_diastolic_not_nan_is_warned_and_errors_name_cuff_pressure() -> None:
    m = IntermediateCuffPressure.from_bytes(bytes.fromhex("00 9600 5000 ff07"))
    assert m.warnings == ("icp_not_nan: diastolic should be NaN in a cuff pressure, got 80.0",)
    with pytest.raises(CodecError) as exc:
        IntermediateCuffPressure.from_bytes(bytes.fromhex("00 96"))
    assert str(exc.value) == (
        "ble.icp: offset 1: cuff pressure needs 2 byte(s), 1 left (payload is 2 bytes)"
    )


def test_bp_feature() -> None:
    f = decode_bp_feature(bytes.fromhex("2700"))
    assert f == (
        BpFeature.BODY_MOVEMENT
        | BpFeature.CUFF_FIT
        | BpFeature.IRREGULAR_PULSE
        | BpFeature.MULTIPLE_BONDS
    )
    assert BpFeature.PULSE_RATE_RANGE not in f
    with pytest.raises(CodecError) as exc:
        decode_bp_feature(b"\x27")
    assert str(exc.value) == (
        "ble.bp-feature: offset 0: features needs 2 byte(s), 1 left (payload is 1 bytes)"
    )
