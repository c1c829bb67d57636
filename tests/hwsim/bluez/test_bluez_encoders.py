"""hwsim's BLE encoders against byte values worked out by hand from the SIG specifications."""

from __future__ import annotations

import math
from datetime import datetime

import pytest
from hwsim.bluez import encoders as enc
from hwsim.errors import EncodeError


@pytest.mark.parametrize(
    ("value", "exponent", "raw"),
    [
        (97.0, 0, "6100"),  # mantissa 97, exponent 0
        (5.2, -1, "34f0"),  # 52 x 10^-1: exponent nibble 0xF
        (-1.5, -1, "f1ff"),  # -15 = 0xFF1 (12-bit two's complement), exponent 0xF
        (2045.0, 0, "fd07"),  # largest finite mantissa
        (math.nan, 0, "ff07"),  # NaN
    ],
)
def test_sfloat(value: float, exponent: int, raw: str) -> None:
    assert enc.sfloat(value, exponent) == bytes.fromhex(raw)


def test_sfloat_errors() -> None:
    with pytest.raises(EncodeError, match=r"^SFLOAT cannot carry 2046.0 at exponent 0$"):
        enc.sfloat(2046.0, 0)
    with pytest.raises(EncodeError, match=r"^SFLOAT exponent 8 outside -8..7$"):
        enc.sfloat(1.0, 8)


def test_float32() -> None:
    assert enc.float32(36.8, -2) == bytes.fromhex("600e00fe")  # 3680 x 10^-2
    assert enc.float32(-0.5, -1) == bytes.fromhex("fbffffff")  # -5 x 10^-1
    assert enc.float32(math.nan, 0) == bytes.fromhex("ffff7f00")


def test_date_time_and_current_time() -> None:
    t = datetime(2026, 11, 23, 10, 20, 30, 500_000)  # a Monday
    assert enc.date_time(t) == bytes.fromhex("ea070b170a141e")
    assert enc.current_time(t, 1) == bytes.fromhex("ea070b170a141e018001")
    assert enc.parse_current_time(bytes.fromhex("ea070b170a141e018001")) == t
    with pytest.raises(EncodeError, match=r"^Current Time is 10 bytes, got 2$"):
        enc.parse_current_time(b"\x00\x00")
    with pytest.raises(EncodeError, match=r"^Current Time ea070d170a141e018001 is not a valid"):
        enc.parse_current_time(bytes.fromhex("ea070d170a141e018001"))  # month 13


def test_blood_pressure_and_icp() -> None:
    t = datetime(2026, 11, 23, 10, 20, 30)
    value = enc.bp_measurement(120, 80, 93, timestamp=t, pulse_bpm=72)
    assert value == bytes.fromhex("06780050005d00ea070b170a141e4800")
    assert enc.intermediate_cuff_pressure(150) == bytes.fromhex("009600ff07ff07")
    status = enc.BpStatus.IRREGULAR_PULSE
    value = enc.bp_measurement(
        120, 80, 93, timestamp=None, pulse_bpm=None, user_id=2, status=status
    )
    assert value == bytes.fromhex("18780050005d00020400")


def test_heart_rate() -> None:
    assert enc.heart_rate_measurement(60, [1000.0], contact=True) == bytes.fromhex("163c0004")
    assert enc.heart_rate_measurement(72, [], contact=False) == bytes.fromhex("0448")
    assert enc.heart_rate_measurement(300, [], contact=None) == bytes.fromhex("012c01")


def test_weight_temperature_plx() -> None:
    assert enc.weight_measurement(72.5, timestamp=None) == bytes.fromhex("00a438")
    assert enc.weight_measurement(math.nan, timestamp=None) == bytes.fromhex("00ffff")
    with pytest.raises(EncodeError, match=r"^weight 400.0 kg outside 0..327.67 kg$"):
        enc.weight_measurement(400.0, timestamp=None)
    assert enc.temperature_measurement(
        36.8, timestamp=None, kind=enc.TemperatureType.EAR
    ) == bytes.fromhex("04600e00fe03")
    assert enc.plx_continuous(97, 72, pai_pct=None) == bytes.fromhex("0061004800")
    assert enc.plx_features(enc.PlxFeatures.SPOT_CHECK_STORAGE) == bytes.fromhex("0400")


def test_racp_and_pmd() -> None:
    assert enc.racp_response(1, enc.RacpResponse.SUCCESS) == bytes.fromhex("06000101")
    assert enc.racp_number_of_records(258) == bytes.fromhex("05000201")
    assert enc.pmd_response(2, 0, enc.PmdStatus.SUCCESS) == bytes.fromhex("f002000000")
    frame = enc.pmd_ecg_frame(enc.PmdFrame(0x0102030405060708, (-1, 1, -8_388_608)))
    assert frame == bytes.fromhex("00080706050403020100ffffff010000000080")
    with pytest.raises(EncodeError, match=r"^ECG sample 8388608 µV does not fit 24 bits$"):
        enc.pmd_ecg_frame(enc.PmdFrame(0, (8_388_608,)))
