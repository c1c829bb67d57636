"""Polar PMD: control point requests and responses, the features read, ECG data frames
(3-byte signed µV samples, ns timestamp since 2000-01-01) and their exact errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from drivers.codecs.polar_pmd import (
    PmdEcgFrame,
    PmdOp,
    PmdRequest,
    PmdResponse,
    PmdSetting,
    PmdStatus,
    PmdType,
    describe,
    settings_request,
    start_ecg_request,
    stop_request,
    supported_types,
)
from drivers.errors import CodecError


def test_requests_match_the_bytes_h10_clients_send() -> None:
    # the start command every H10 client writes (README: provenance)
    assert start_ecg_request() == bytes.fromhex("02 00 00 01 82 00 01 01 0e 00")
    assert stop_request() == bytes.fromhex("03 00")
    assert settings_request() == bytes.fromhex("01 00")
    req = PmdRequest.from_bytes(bytes.fromhex("02 00 00 01 82 00 01 01 0e 00"))
    assert (req.op, req.measurement) == (PmdOp.START, PmdType.ECG)
    assert req.settings == {PmdSetting.SAMPLE_RATE: (130,), PmdSetting.RESOLUTION: (14,)}


def test_settings_response() -> None:
    raw = bytes.fromhex("f0 01 00 00 00 00 01 82 00 01 01 0e 00")
    resp = PmdResponse.from_bytes(raw)
    assert (resp.op, resp.measurement, resp.status, resp.more) == (
        PmdOp.GET_SETTINGS,
        PmdType.ECG,
        PmdStatus.SUCCESS,
        False,
    )
    assert resp.settings == {0: (130,), 1: (14,)}
    assert resp.ok and bytes(resp) == raw


def test_start_responses_ok_and_refused() -> None:
    assert PmdResponse.from_bytes(bytes.fromhex("f0 02 00 00 00")).ok
    refused = PmdResponse.from_bytes(bytes.fromhex("f0 02 00 06 00"))
    assert refused.status is PmdStatus.ALREADY_IN_STATE and not refused.ok
    short = PmdResponse.from_bytes(bytes.fromhex("f0 03 00 00"))  # no more-frames byte
    assert short.ok and not short.more
    unknown = PmdResponse.from_bytes(bytes.fromhex("f0 02 09 63"))
    assert (unknown.measurement, unknown.status) == (9, 99)


def test_settings_with_several_values_channels_and_factor() -> None:
    raw = bytes.fromhex("f0 01 02 00 00 00 02 34 00 c8 00 02 01 08 00 04 01 03 05 01 0000803f")
    resp = PmdResponse.from_bytes(raw)
    assert resp.settings == {0: (52, 200), 2: (8,), 4: (3,), 5: (1.0,)}
    assert bytes(resp) == raw


def test_response_errors_exact() -> None:
    with pytest.raises(CodecError) as exc:
        PmdResponse.from_bytes(bytes.fromhex("0f 05 00"))
    assert str(exc.value) == "polar.pmd-response: offset 0: response code must be 0xf0, got 0x0f"
    with pytest.raises(CodecError) as exc:
        PmdResponse.from_bytes(bytes.fromhex("f0 01 00 00 00 00 01 82"))
    assert str(exc.value) == (
        "polar.pmd-response: offset 7: setting 0 value 0 needs 2 byte(s), 1 left "
        "(payload is 8 bytes)"
    )


def test_features_read() -> None:
    assert supported_types(bytes.fromhex("0f 05 00")) == [PmdType.ECG, PmdType.ACC]
    assert supported_types(bytes.fromhex("0f 6f 00")) == [
        PmdType.ECG,
        PmdType.PPG,
        PmdType.ACC,
        PmdType.PPI,
        PmdType.GYRO,
        PmdType.MAG,
    ]
    with pytest.raises(CodecError) as exc:
        supported_types(bytes.fromhex("f0 05"))
    assert str(exc.value) == "polar.pmd-features: offset 0: must be 0x0f, got 0xf0"


def test_ecg_frame_from_polar_sdk_test() -> None:
    raw = bytes.fromhex("00 0094357700000000 00 0280ff 028000")
    frame = PmdEcgFrame.from_bytes(raw)
    assert frame.samples_uv == (-32766, 32770)
    assert frame.timestamp_ns == 2_000_000_000
    assert frame.timestamp == datetime(2000, 1, 1, 0, 0, 2, tzinfo=UTC)
    assert bytes(frame) == raw


def test_ecg_extremes_and_round_trip() -> None:
    frame = PmdEcgFrame(123_456_789_000, (-(2**23), 2**23 - 1, 0, -1))
    assert bytes(frame)[10:].hex(" ") == "00 00 80 ff ff 7f 00 00 00 ff ff ff"
    assert PmdEcgFrame.from_bytes(bytes(frame)) == frame


def test_ecg_deviations_warned() -> None:
    frame = PmdEcgFrame.from_bytes(bytes.fromhex("00 0000000000000000 00 680000 01 02"))
    assert frame.samples_uv == (104,)
    assert frame.warnings == (
        "trailing_bytes: 2 byte(s) after the last field at offset 13 ignored: 01 02",
    )
    empty = describe(bytes.fromhex("00 0000000000000000 00"))
    assert empty["ecg_uv"] == [] and empty["warnings"] == [
        "no_samples: the frame carries no samples"
    ]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            "",
            "polar.pmd-ecg: offset 0: measurement type needs 1 byte(s), 0 left "
            "(payload is 0 bytes)",
        ),
        (
            "02 0000000000000000 01",
            "polar.pmd-ecg: offset 0: measurement type 0x02 (acc) is not ECG (0x00)",
        ),
        (
            "00 00000000",
            "polar.pmd-ecg: offset 1: timestamp needs 8 byte(s), 4 left (payload is 5 bytes)",
        ),
        (
            "00 0000000000000000",
            "polar.pmd-ecg: offset 9: frame type needs 1 byte(s), 0 left (payload is 9 bytes)",
        ),
        (
            "00 0000000000000000 80 0000",
            "polar.pmd-ecg: offset 9: frame type 0x80 not supported (only 0x00: uncompressed "
            "3-byte µV samples)",
        ),
    ],
)
def test_ecg_errors_exact(raw: str, message: str) -> None:
    with pytest.raises(CodecError) as exc:
        PmdEcgFrame.from_bytes(bytes.fromhex(raw))
    assert str(exc.value) == message
