"""PLX Spot-check (0x2A5E), Continuous (0x2A5F), Features (0x2A60) and the Record Access Control
Point (0x2A52) for stored records: every flag and status bit, all-NaN records, exact errors."""

from __future__ import annotations

import pytest

from drivers.codecs import ble_racp
from drivers.codecs.ble_plx import (
    DeviceSensorStatus,
    MeasurementStatus,
    PlxContinuous,
    PlxFeature,
    PlxFeatures,
    PlxSpotCheck,
    describe_continuous,
    describe_spot,
)
from drivers.codecs.ble_racp import (
    RacpOp,
    RacpOperator,
    RacpRequest,
    RacpResponse,
    RacpResponseCode,
)
from drivers.codecs.ble_types import DateTime, Special
from drivers.errors import CodecError

SPOT_FULL = bytes.fromhex("0f 6100 4000 ea070b17090f1e 8001 200000 17f0")


def test_spot_every_field() -> None:
    m = PlxSpotCheck.from_bytes(SPOT_FULL)
    assert (m.reading.spo2.value, m.reading.pulse_rate.value) == (97.0, 64.0)
    assert m.timestamp == DateTime(2026, 11, 23, 9, 15, 30)
    assert m.measurement_status == (
        MeasurementStatus.VALIDATED_DATA | MeasurementStatus.FULLY_QUALIFIED_DATA
    )
    assert m.device_sensor_status == DeviceSensorStatus.LOW_PERFUSION_DETECTED
    assert m.pulse_amplitude_index is not None and m.pulse_amplitude_index.value == 2.3
    assert m.device_clock_set and not m.all_nan and m.warnings == ()


@pytest.mark.parametrize("bit", list(MeasurementStatus))
def test_each_measurement_status_bit(bit: MeasurementStatus) -> None:
    data = bytes.fromhex("02 6100 4000") + int(bit).to_bytes(2, "little")
    m = PlxSpotCheck.from_bytes(data)
    assert m.measurement_status == bit
    d = describe_spot(data)
    assert [k for k in (str(b.name).lower() for b in MeasurementStatus) if d[k]] == [
        str(bit.name).lower()
    ]


@pytest.mark.parametrize("bit", list(DeviceSensorStatus))
def test_each_device_sensor_status_bit(bit: DeviceSensorStatus) -> None:
    data = bytes.fromhex("04 6100 4000") + int(bit).to_bytes(3, "little")
    m = PlxSpotCheck.from_bytes(data)
    assert m.device_sensor_status == bit
    d = describe_spot(data)
    assert [k for k in (str(b.name).lower() for b in DeviceSensorStatus) if d[k]] == [
        str(bit.name).lower()
    ]


def test_spot_status_bit_positions_from_the_spec() -> None:
    assert int(MeasurementStatus.MEASUREMENT_ONGOING) == 0x0020
    assert int(MeasurementStatus.INVALID_MEASUREMENT_DETECTED) == 0x8000
    assert int(DeviceSensorStatus.SENSOR_DISCONNECTED) == 0x8000
    assert int(DeviceSensorStatus.EXTENDED_DISPLAY_UPDATE_ONGOING) == 0x0001


def test_spot_error_record_and_clock_not_set() -> None:
    m = PlxSpotCheck.from_bytes(bytes.fromhex("02 ff07 ff07 0020"))
    assert m.all_nan
    assert m.warnings == (
        "invalid_measurement: measurement status says unavailable or invalid",
        "all_nan: SpO2 and PR are both not numbers (error record)",
    )
    m = PlxSpotCheck.from_bytes(bytes.fromhex("11 5f00 4b00 00000000000000"))
    assert not m.device_clock_set
    assert m.timestamp is not None and m.timestamp.unknown
    assert describe_spot(bytes.fromhex("11 5f00 4b00 00000000000000"))["timestamp"] is None


def test_spot_reserved_bits_and_range() -> None:
    m = PlxSpotCheck.from_bytes(bytes.fromhex("e6 6500 4000 1f00 000001"))
    assert m.reading.spo2.value == 101.0
    assert m.warnings == (
        "reserved_flags: flags 0xe6 sets reserved bit(s) 0xe0",
        "reserved_status: measurement status 0x001f sets reserved bits 0-4",
        "reserved_status: device and sensor status 0x010000 sets reserved bits 16-23",
        "out_of_range: spot-check SpO2 101.0 outside 0..100 %",
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "ble.plx-spot: offset 0: flags needs 1 byte(s), 0 left (payload is 0 bytes)"),
        (
            "00 6100 40",
            "ble.plx-spot: offset 3: spot-check PR needs 2 byte(s), 1 left (payload is 4 bytes)",
        ),
        (
            "01 6100 4000 ea07",
            "ble.plx-spot: offset 5: timestamp needs 7 byte(s), 2 left (payload is 7 bytes)",
        ),
        (
            "04 6100 4000 0000",
            "ble.plx-spot: offset 5: device and sensor status needs 3 byte(s), 2 left "
            "(payload is 7 bytes)",
        ),
        (
            "08 6100 4000",
            "ble.plx-spot: offset 5: pulse amplitude index needs 2 byte(s), 0 left "
            "(payload is 5 bytes)",
        ),
    ],
)
def test_spot_errors_exact(raw: str, message: str) -> None:
    with pytest.raises(CodecError) as exc:
        PlxSpotCheck.from_bytes(bytes.fromhex(raw))
    assert str(exc.value) == message


def test_continuous_every_field() -> None:
    data = bytes.fromhex("1f 6200 3c00 6100 3d00 6200 3b00 2000 100000 33f0")
    m = PlxContinuous.from_bytes(data)
    assert (m.normal.spo2.value, m.normal.pulse_rate.value) == (98.0, 60.0)
    assert m.fast is not None and (m.fast.spo2.value, m.fast.pulse_rate.value) == (97.0, 61.0)
    assert m.slow is not None and (m.slow.spo2.value, m.slow.pulse_rate.value) == (98.0, 59.0)
    assert m.measurement_status == MeasurementStatus.MEASUREMENT_ONGOING
    assert m.device_sensor_status == DeviceSensorStatus.POOR_SIGNAL_DETECTED
    assert m.pulse_amplitude_index is not None and m.pulse_amplitude_index.value == 5.1
    d = describe_continuous(data)
    assert (d["spo2_fast_pct"], d["pulse_slow_bpm"]) == (97.0, 59.0)


def test_continuous_only_slow_and_all_nan() -> None:
    m = PlxContinuous.from_bytes(bytes.fromhex("02 ff07 ff07 6000 3e00"))
    assert m.fast is None and m.slow is not None
    assert not m.all_nan  # the slow pair is valid
    m = PlxContinuous.from_bytes(bytes.fromhex("03 ff07 ff07 0008 0008 ff07 ff07"))
    assert m.all_nan
    assert m.fast is not None and m.fast.spo2.special is Special.NRES


def test_continuous_error_names_the_pair() -> None:
    with pytest.raises(CodecError) as exc:
        PlxContinuous.from_bytes(bytes.fromhex("01 6200 3c00 61"))
    assert str(exc.value) == (
        "ble.plx-continuous: offset 5: fast SpO2 needs 2 byte(s), 1 left (payload is 6 bytes)"
    )


def test_features() -> None:
    f = PlxFeatures.from_bytes(bytes.fromhex("0300 e0ff ffff00"))
    assert f.supported == PlxFeature.MEASUREMENT_STATUS | PlxFeature.DEVICE_SENSOR_STATUS
    assert f.measurement_status_support == MeasurementStatus(0xFFE0)
    assert f.device_sensor_status_support == DeviceSensorStatus(0xFFFF)
    f = PlxFeatures.from_bytes(bytes.fromhex("4c00"))
    assert f.supported == (
        PlxFeature.SPOT_CHECK_STORAGE
        | PlxFeature.SPOT_CHECK_TIMESTAMP
        | PlxFeature.PULSE_AMPLITUDE_INDEX
    )
    assert f.measurement_status_support is None
    with pytest.raises(CodecError) as exc:
        PlxFeatures.from_bytes(bytes.fromhex("0100"))
    assert str(exc.value) == (
        "ble.plx-features: offset 2: measurement status support needs 2 byte(s), 0 left "
        "(payload is 2 bytes)"
    )


# --- RACP ------------------------------------------------------------------------------------


def test_racp_request_builders() -> None:
    assert ble_racp.report_all() == b"\x01\x01"
    assert ble_racp.delete_all() == b"\x02\x01"
    assert ble_racp.count_all() == b"\x04\x01"
    assert ble_racp.abort() == b"\x03\x00"
    req = RacpRequest.from_bytes(bytes.fromhex("01 03 01 0a00"))  # >= sequence number 10
    assert req == RacpRequest(
        RacpOp.REPORT_STORED_RECORDS, RacpOperator.GREATER_OR_EQUAL, b"\x01\x0a\x00"
    )
    assert bytes(req) == bytes.fromhex("01 03 01 0a00")
    assert RacpRequest.from_bytes(b"\x09\x07").op == 9  # unknown codes are kept


def test_racp_responses() -> None:
    r = RacpResponse.from_bytes(bytes.fromhex("05 00 0c00"))
    assert (r.op, r.count, r.ok) == (RacpOp.NUMBER_OF_RECORDS_RESPONSE, 12, True)
    assert bytes(r) == bytes.fromhex("05 00 0c00")
    r = RacpResponse.from_bytes(bytes.fromhex("06 00 01 01"))
    assert (r.request_op, r.code, r.ok) == (
        RacpOp.REPORT_STORED_RECORDS,
        RacpResponseCode.SUCCESS,
        True,
    )
    r = RacpResponse.from_bytes(bytes.fromhex("06 00 01 06"))
    assert r.code is RacpResponseCode.NO_RECORDS_FOUND and not r.ok
    assert bytes(r) == bytes.fromhex("06 00 01 06")
    r = RacpResponse.from_bytes(bytes.fromhex("06 01 02 01 ff"))
    assert r.warnings == (
        "operator: operator 1 in a response (expected 0, null)",
        "trailing_bytes: 1 byte(s) after the last field at offset 4 ignored: ff",
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            "01 01",
            "ble.racp: offset 0: op code 1 is not a response (5 = number of records, "
            "6 = response code)",
        ),
        (
            "05 00 0c",
            "ble.racp: offset 2: number of records needs 2 byte(s), 1 left (payload is 3 bytes)",
        ),
        (
            "06 00 01",
            "ble.racp: offset 3: response code value needs 1 byte(s), 0 left (payload is 3 bytes)",
        ),
        ("06", "ble.racp: offset 1: operator needs 1 byte(s), 0 left (payload is 1 bytes)"),
    ],
)
def test_racp_errors_exact(raw: str, message: str) -> None:
    with pytest.raises(CodecError) as exc:
        RacpResponse.from_bytes(bytes.fromhex(raw))
    assert str(exc.value) == message


def test_stored_record_is_a_spot_check_from_storage() -> None:
    # after "01 01" the oximeter indicates stored records as 0x2A5E with bit 9 set
    m = PlxSpotCheck.from_bytes(bytes.fromhex("03 6000 4800 ea070b16173b00 0002"))
    assert m.measurement_status == MeasurementStatus.DATA_FROM_MEASUREMENT_STORAGE
    assert m.timestamp == DateTime(2026, 11, 22, 23, 59, 0)
