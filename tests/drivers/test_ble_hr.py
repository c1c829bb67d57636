"""Heart Rate Measurement (0x2A37): 8/16-bit value, sensor contact, energy, RR in 1/1024 s."""

from __future__ import annotations

import pytest

from drivers.codecs.ble_hr import HeartRateMeasurement, SensorContact, describe
from drivers.errors import CodecError


@pytest.mark.parametrize(
    ("flags", "contact"),
    [
        (0x00, SensorContact.NOT_SUPPORTED),
        (0x02, SensorContact.NOT_SUPPORTED),  # 01: still "not supported"
        (0x04, SensorContact.NOT_DETECTED),
        (0x06, SensorContact.DETECTED),
    ],
)
def test_sensor_contact_bits(flags: int, contact: SensorContact) -> None:
    assert HeartRateMeasurement.from_bytes(bytes((flags, 60))).contact is contact


def test_every_field_uint16() -> None:
    m = HeartRateMeasurement.from_bytes(bytes.fromhex("1f 4800 2301 5503 4803"))
    assert (m.heart_rate_bpm, m.energy_expended_kj) == (72, 291)
    assert m.rr_intervals_1024 == (853, 840)
    assert m.rr_intervals_ms == (round(853 / 1.024, 3), round(840 / 1.024, 3))
    d = describe(bytes.fromhex("1f 4800 2301 5503 4803"))
    assert d["rr_intervals_ms"] == [833.008, 820.312]
    assert d["sensor_contact_detected"] is True


def test_real_capture_rr_agrees_with_heart_rate() -> None:
    # WebBluetoothCG/web-bluetooth#493: 62 /min and an RR of 945/1024 s (60/62 s = 968 ms)
    m = HeartRateMeasurement.from_bytes(bytes.fromhex("10 3e b103 de"))
    assert m.heart_rate_bpm == 62
    assert m.rr_intervals_ms == (922.852,)
    assert abs(60_000 / m.heart_rate_bpm - m.rr_intervals_ms[0]) < 100
    assert m.warnings[0].startswith("rr_odd_byte: a lone byte 0xde after 1 RR-interval(s)")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "ble.hr: offset 0: flags needs 1 byte(s), 0 left (payload is 0 bytes)"),
        ("00", "ble.hr: offset 1: heart rate needs 1 byte(s), 0 left (payload is 1 bytes)"),
        (
            "01 48",
            "ble.hr: offset 1: heart rate (uint16) needs 2 byte(s), 1 left (payload is 2 bytes)",
        ),
        (
            "08 48 23",
            "ble.hr: offset 2: energy expended needs 2 byte(s), 1 left (payload is 3 bytes)",
        ),
        ("10 48", "ble.hr: offset 2: RR-interval needs 2 byte(s), 0 left (payload is 2 bytes)"),
        ("10 48 01", "ble.hr: offset 2: RR-interval needs 2 byte(s), 1 left (payload is 3 bytes)"),
    ],
)
def test_errors_exact(raw: str, message: str) -> None:
    with pytest.raises(CodecError) as exc:
        HeartRateMeasurement.from_bytes(bytes.fromhex(raw))
    assert str(exc.value) == message


def test_deviations_warned() -> None:
    m = HeartRateMeasurement.from_bytes(bytes.fromhex("e0 00"))
    assert m.warnings == (
        "reserved_flags: flags 0xe0 sets reserved bit(s) 0xe0",
        "out_of_range: heart rate 0",
    )
