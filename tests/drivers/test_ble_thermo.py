"""Temperature Measurement (0x2A1C): °C and °F FLOAT, timestamp, temperature type, NaN, errors."""

from __future__ import annotations

import pytest

from drivers.codecs.ble_thermo import TemperatureMeasurement, TemperatureType, describe
from drivers.codecs.ble_types import DateTime, Special
from drivers.errors import CodecError


def test_celsius_with_timestamp_and_type() -> None:
    m = TemperatureMeasurement.from_bytes(bytes.fromhex("06 6e0100ff ea070b170a0000 06"))
    assert (m.temperature.value, m.unit, m.celsius) == (36.6, "Cel", 36.6)
    assert m.timestamp == DateTime(2026, 11, 23, 10, 0, 0)
    assert m.temperature_type is TemperatureType.MOUTH
    assert m.warnings == ()


@pytest.mark.parametrize(
    ("raw", "fahrenheit", "celsius"),
    [("01 da0300ff", 98.6, 37.0), ("01 e40300ff", 99.6, 37.56), ("01 2c0100ff", 30.0, -1.11)],
)
def test_fahrenheit_is_converted(raw: str, fahrenheit: float, celsius: float) -> None:
    m = TemperatureMeasurement.from_bytes(bytes.fromhex(raw))
    assert (m.unit, m.temperature.value, m.celsius) == ("[degF]", fahrenheit, celsius)
    d = describe(bytes.fromhex(raw))
    assert (d["unit_sent"], d["temperature_sent"], d["temperature_c"]) == ("F", fahrenheit, celsius)


@pytest.mark.parametrize("code", list(TemperatureType))
def test_every_temperature_type(code: TemperatureType) -> None:
    m = TemperatureMeasurement.from_bytes(bytes.fromhex("04 6e0100ff") + bytes((code,)))
    assert m.temperature_type is code


def test_reserved_type_nan_and_out_of_range() -> None:
    m = TemperatureMeasurement.from_bytes(bytes.fromhex("04 6e0100ff 0a"))
    assert m.temperature_type == 10
    assert m.warnings == ("reserved_type: temperature type 10 is reserved",)
    assert describe(bytes.fromhex("04 6e0100ff 0a"))["temperature_type"] == 10
    m = TemperatureMeasurement.from_bytes(bytes.fromhex("00 ffff7f00"))
    assert m.temperature.special is Special.NAN and m.all_nan and m.celsius is None
    m = TemperatureMeasurement.from_bytes(bytes.fromhex("00 00008000"))
    assert m.temperature.special is Special.NRES and m.all_nan
    m = TemperatureMeasurement.from_bytes(bytes.fromhex("00 c80100ff"))  # 45.6 C
    assert m.warnings == ("out_of_range: 45.6 °C outside 25..45 °C for a body temperature",)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            "00 6e0100",
            "ble.temperature: offset 1: temperature needs 4 byte(s), 3 left (payload is 4 bytes)",
        ),
        (
            "02 6e0100ff ea070b",
            "ble.temperature: offset 5: timestamp needs 7 byte(s), 3 left (payload is 8 bytes)",
        ),
        (
            "04 6e0100ff",
            "ble.temperature: offset 5: temperature type needs 1 byte(s), 0 left "
            "(payload is 5 bytes)",
        ),
    ],
)
def test_errors_exact(raw: str, message: str) -> None:
    with pytest.raises(CodecError) as exc:
        TemperatureMeasurement.from_bytes(bytes.fromhex(raw))
    assert str(exc.value) == message
