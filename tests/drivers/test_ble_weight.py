"""Weight Measurement (0x2A9D) and Weight Scale Feature (0x2A9E): SI and imperial, BMI and
height, unsuccessful measurements, resolution from the feature, exact errors."""

from __future__ import annotations

import math

import pytest

from drivers.codecs.ble_types import DateTime
from drivers.codecs.ble_weight import WeightMeasurement, WeightScaleFeature, describe
from drivers.errors import CodecError


def test_si_every_field() -> None:
    m = WeightMeasurement.from_bytes(bytes.fromhex("0e a438 ea070b17072d00 02 ed00 d606"))
    assert (m.weight_raw, m.weight_kg, m.imperial) == (14500, 72.5, False)
    assert m.timestamp == DateTime(2026, 11, 23, 7, 45, 0)
    assert (m.user_id, m.bmi_kg_m2, m.height_m) == (2, 23.7, 1.75)
    assert m.warnings == ()


def test_imperial_is_converted() -> None:
    m = WeightMeasurement.from_bytes(bytes.fromhex("09 703e ed00 b102"))
    assert m.weight_sent == 159.84  # lb
    assert m.weight_kg == round(159.84 * 0.45359237, 3) == 72.502
    assert m.height_m == round(68.9 * 0.0254, 4)


def test_unsuccessful_measurement() -> None:
    m = WeightMeasurement.from_bytes(bytes.fromhex("00 ffff"))
    assert m.all_nan and math.isnan(m.weight_kg)
    assert describe(bytes.fromhex("00 ffff"))["weight_kg"] is None
    m = WeightMeasurement.from_bytes(bytes.fromhex("08 ffff ed00 d606"))
    assert m.warnings == (
        "all_nan: weight 0xFFFF: measurement unsuccessful",
        "unexpected_field: BMI and height sent with an unsuccessful weight",
    )


def test_feature_bits_and_resolution() -> None:
    # timestamp, multiple users, BMI; weight resolution 4 (0.05 kg / 0.1 lb); height 3 (1 mm)
    f = WeightScaleFeature.from_bytes((0x07 | 4 << 3 | 3 << 7).to_bytes(4, "little"))
    assert (f.timestamp_supported, f.multiple_users, f.bmi_supported) == (True, True, True)
    assert (f.weight_resolution_code, f.height_resolution_code) == (4, 3)
    assert (f.weight_resolution(False), f.weight_resolution(True)) == (0.05, 0.1)
    ok = WeightMeasurement.from_bytes(bytes.fromhex("00 a438"), f)  # 72.5 kg
    assert ok.resolution == 0.05 and ok.warnings == ()
    odd = WeightMeasurement.from_bytes(bytes.fromhex("00 a538"), f)  # 72.505 kg
    assert odd.warnings == (
        "finer_than_resolution: weight 72.505 is not a multiple of the scale's resolution 0.05 kg",
    )
    unspecified = WeightScaleFeature.from_bytes(bytes(4))
    assert unspecified.weight_resolution(False) is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("00 a4", "ble.weight: offset 1: weight needs 2 byte(s), 1 left (payload is 2 bytes)"),
        ("04 a438", "ble.weight: offset 3: user id needs 1 byte(s), 0 left (payload is 3 bytes)"),
        (
            "08 a438 ed00",
            "ble.weight: offset 5: height needs 2 byte(s), 0 left (payload is 5 bytes)",
        ),
    ],
)
def test_errors_exact(raw: str, message: str) -> None:
    with pytest.raises(CodecError) as exc:
        WeightMeasurement.from_bytes(bytes.fromhex(raw))
    assert str(exc.value) == message
    with pytest.raises(CodecError) as exc:
        WeightScaleFeature.from_bytes(b"\x01\x00")
    assert str(exc.value) == (
        "ble.weight-feature: offset 0: features needs 4 byte(s), 2 left (payload is 2 bytes)"
    )
