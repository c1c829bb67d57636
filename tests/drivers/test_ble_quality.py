"""Quality flags the BLE codecs derive for the gateway (drivers.model.QualityFlag)."""

from __future__ import annotations

import pytest

from drivers.codecs.ble_bp import BloodPressureMeasurement
from drivers.codecs.ble_hr import HeartRateMeasurement
from drivers.codecs.ble_plx import (
    DeviceSensorStatus,
    PlxContinuous,
    PlxSpotCheck,
    status_quality,
)
from drivers.codecs.ble_thermo import TemperatureMeasurement
from drivers.codecs.ble_weight import WeightMeasurement
from drivers.model import QualityFlag as Q

D = DeviceSensorStatus


@pytest.mark.parametrize(
    ("dss", "flag"),
    [
        (D.SENSOR_DISCONNECTED, Q.SENSOR_DISCONNECTED),
        (D.SENSOR_UNCONNECTED_TO_USER, Q.SENSOR_DISCONNECTED),
        (D.SENSOR_DISPLACED, Q.SENSOR_DISCONNECTED),
        (D.EQUIPMENT_MALFUNCTION_DETECTED, Q.SENSOR_ALARM),
        (D.SENSOR_MALFUNCTIONING, Q.SENSOR_ALARM),
        (D.UNKNOWN_SENSOR_CONNECTED, Q.SENSOR_ALARM),
        (D.LOW_PERFUSION_DETECTED, Q.LOW_PERFUSION),
        (D.INADEQUATE_SIGNAL_DETECTED, Q.LOW_PERFUSION),
        (D.POOR_SIGNAL_DETECTED, Q.MARGINAL_PERFUSION),
        (D.ERRATIC_SIGNAL_DETECTED, Q.ARTIFACT),
        (D.SENSOR_INTERFERENCE_DETECTED, Q.ARTIFACT),
        (D.QUESTIONABLE_PULSE_DETECTED, Q.ARTIFACT),
        (D.NONPULSATILE_SIGNAL_DETECTED, Q.ARTIFACT),
        (D.SIGNAL_PROCESSING_IRREGULARITY_DETECTED, Q.ARTIFACT),
        (D.EXTENDED_DISPLAY_UPDATE_ONGOING, Q.NONE),
        (D.SIGNAL_ANALYSIS_ONGOING, Q.NONE),
    ],
)
def test_device_sensor_status_quality(dss: DeviceSensorStatus, flag: Q) -> None:
    assert status_quality(None, dss) == flag
    data = bytes.fromhex("04 6100 4000") + int(dss).to_bytes(3, "little")
    assert PlxSpotCheck.from_bytes(data).quality() == flag


def test_plx_missing_invalid_and_clock() -> None:
    error = PlxSpotCheck.from_bytes(bytes.fromhex("02 ff07 ff07 0020"))
    assert error.quality() == Q.MISSING | Q.DEVICE_INVALID
    questionable = PlxSpotCheck.from_bytes(bytes.fromhex("02 6100 4000 0040"))
    assert questionable.quality() == Q.DEVICE_QUESTIONABLE
    stored = PlxSpotCheck.from_bytes(bytes.fromhex("02 6100 4000 0002"))
    assert stored.quality() == Q.STORED
    demo = PlxSpotCheck.from_bytes(bytes.fromhex("02 6100 4000 0004"))
    assert demo.quality() == Q.DEVICE_INVALID
    clock = PlxSpotCheck.from_bytes(bytes.fromhex("11 5f00 4b00 00000000000000"))
    assert clock.quality() == Q.DEVICE_CLOCK_NOT_SET
    cont = PlxContinuous.from_bytes(bytes.fromhex("08 6100 ff07 008000"))
    assert cont.quality() == Q.MISSING | Q.SENSOR_DISCONNECTED


def test_bp_hr_temperature_weight_quality() -> None:
    ok = BloodPressureMeasurement.from_bytes(bytes.fromhex("10 7800 5000 5d00 0000"))
    assert ok.quality() == Q.NONE
    moved = BloodPressureMeasurement.from_bytes(bytes.fromhex("10 7800 5000 5d00 0300"))
    assert moved.quality() == Q.ARTIFACT | Q.CUFF_FIT
    irregular = BloodPressureMeasurement.from_bytes(bytes.fromhex("14 7800 5000 5d00 4800 2400"))
    assert irregular.quality() == Q.IRREGULAR_PULSE | Q.CUFF_FIT
    assert irregular.pulse_quality() == Q.IRREGULAR_PULSE | Q.CUFF_FIT
    fast = BloodPressureMeasurement.from_bytes(bytes.fromhex("14 7800 5000 5d00 b400 0800"))
    assert fast.pulse_quality() == Q.OUT_OF_RANGE and fast.quality() == Q.NONE
    error = BloodPressureMeasurement.from_bytes(
        bytes.fromhex("16 ff07 ff07 ff07 e80706170e230a ff07 0000")  # derdilla #80 "Err"
    )
    assert error.quality() == Q.MISSING
    no_clock = BloodPressureMeasurement.from_bytes(
        bytes.fromhex("02 7800 5000 5d00 00000000000000")
    )
    assert no_clock.quality() == Q.DEVICE_CLOCK_NOT_SET
    assert (
        HeartRateMeasurement.from_bytes(bytes.fromhex("04 50")).quality() == Q.SENSOR_DISCONNECTED
    )
    assert HeartRateMeasurement.from_bytes(bytes.fromhex("06 50")).quality() == Q.NONE
    assert TemperatureMeasurement.from_bytes(bytes.fromhex("00 ffff7f00")).quality() == Q.MISSING
    assert TemperatureMeasurement.from_bytes(bytes.fromhex("00 6e0100ff")).quality() == Q.NONE
    assert WeightMeasurement.from_bytes(bytes.fromhex("00 ffff")).quality() == Q.MISSING
    assert WeightMeasurement.from_bytes(bytes.fromhex("00 a438")).quality() == Q.NONE
