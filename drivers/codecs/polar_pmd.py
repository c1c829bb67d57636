"""Polar Measurement Data (PMD) service: control point frames and ECG data frames (sans-IO).

Service FB005C80-02E7-F387-1CAD-8ACD2D8DF0C8; control point ...5C81 (write + indicate),
data ...5C82 (notify). A client writes ``02 00 00 01 82 00 01 01 0e 00`` (start ECG: sample
rate 130 Hz, resolution 14 bit) and gets ``f0 02 00 00 …`` back, then ECG data frames:
measurement type 0x00, a uint64 timestamp in ns since 2000-01-01 (Polar epoch, of the last
sample), frame type 0x00 and 3-byte signed samples in µV. All little-endian.
Source: polarofficial/polar-ble-sdk technical_documentation (Polar_Measurement_Data_
Specification.pdf; issues #35, #150, #691). Byte table: ``docs/protocols/polar-pmd.md``.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from drivers.codecs.ble_types import Reader, enum_or_int
from drivers.errors import CodecError

CODEC_NAME: Final = "polar.pmd-ecg"
PMD_SERVICE_UUID: Final = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
PMD_CONTROL_POINT_UUID: Final = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA_UUID: Final = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"
POLAR_EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)
RESPONSE_CODE: Final = 0xF0  # first byte of a control point response
FEATURES_CODE: Final = 0x0F  # first byte of a control point read (supported types)
ECG_HEADER_LEN: Final = 10
ECG_SAMPLE_LEN: Final = 3
H10_ECG_FS_HZ: Final = 130
H10_ECG_RESOLUTION_BITS: Final = 14


class PmdOp(enum.IntEnum):
    """Control point op codes."""

    GET_SETTINGS = 0x01
    START = 0x02
    STOP = 0x03


class PmdType(enum.IntEnum):
    """Measurement types (bit n of the features byte is type n)."""

    ECG = 0
    PPG = 1
    ACC = 2
    PPI = 3
    GYRO = 5
    MAG = 6


class PmdStatus(enum.IntEnum):
    """Control point response status."""

    SUCCESS = 0
    INVALID_OP_CODE = 1
    INVALID_MEASUREMENT_TYPE = 2
    NOT_SUPPORTED = 3
    INVALID_LENGTH = 4
    INVALID_PARAMETER = 5
    ALREADY_IN_STATE = 6
    INVALID_RESOLUTION = 7
    INVALID_SAMPLE_RATE = 8
    INVALID_RANGE = 9
    INVALID_MTU = 10
    INVALID_NUMBER_OF_CHANNELS = 11
    INVALID_STATE = 12
    DEVICE_IN_CHARGER = 13


class PmdSetting(enum.IntEnum):
    """Setting types in settings responses and start requests."""

    SAMPLE_RATE = 0  # Hz, uint16
    RESOLUTION = 1  # bits, uint16
    RANGE = 2  # uint16
    RANGE_MILLIUNIT = 3  # uint32 (no longer used, polar-ble-sdk #691)
    CHANNELS = 4  # uint8
    FACTOR = 5  # float32


_SETTING_SIZE: Final = {0: 2, 1: 2, 2: 2, 3: 4, 4: 1, 5: 4}

Settings = dict[int, tuple[float, ...]]
"""Setting type -> the values offered (settings response) or chosen (start request)."""


def _name(value: enum.IntEnum | int) -> str:
    return value.name.lower() if isinstance(value, enum.IntEnum) else f"0x{value:02x}"


def encode_settings(settings: Settings) -> bytes:
    """Settings as sent in a start request: type, count, values."""
    out = bytearray()
    for kind, values in settings.items():
        size = _SETTING_SIZE.get(kind)
        if size is None:
            raise CodecError(f"polar pmd: unknown setting type {kind}; its size is not known")
        out += bytes((kind, len(values)))
        for v in values:
            out += (
                struct.pack("<f", v)
                if kind == PmdSetting.FACTOR
                else int(v).to_bytes(size, "little")
            )
    return bytes(out)


def _parse_settings(r: Reader) -> Settings:
    settings: Settings = {}
    while r.remaining:
        kind = r.u8("setting type")
        size = _SETTING_SIZE.get(kind)
        if size is None:
            r.warn(
                "unknown_setting", f"setting type {kind} unknown; {r.remaining} byte(s) left unread"
            )
            r.offset = len(r.data)
            break
        count = r.u8(f"setting {kind} count")
        values: list[float] = []
        for i in range(count):
            raw = r.take(size, f"setting {kind} value {i}")
            values.append(
                struct.unpack("<f", raw)[0]
                if kind == PmdSetting.FACTOR
                else int.from_bytes(raw, "little")
            )
        settings[kind] = tuple(values)
    return settings


@dataclass(frozen=True, slots=True)
class PmdRequest:
    """A control point write: op code, measurement type, settings (start only)."""

    op: PmdOp | int
    measurement: PmdType | int
    settings: Settings = field(default_factory=dict)

    def __bytes__(self) -> bytes:
        return bytes((int(self.op), int(self.measurement))) + encode_settings(self.settings)

    @classmethod
    def from_bytes(cls, data: bytes) -> PmdRequest:
        """Decode a control point write (for the simulator's side and for logs)."""
        r = Reader(data, "polar.pmd-request")
        op = enum_or_int(PmdOp, r.u8("op code"))
        kind = enum_or_int(PmdType, r.u8("measurement type"))
        return cls(op, kind, _parse_settings(r))


def start_ecg_request(
    sample_rate_hz: int = H10_ECG_FS_HZ, resolution_bits: int = H10_ECG_RESOLUTION_BITS
) -> bytes:
    """``02 00 00 01 82 00 01 01 0e 00`` for the H10 defaults (130 Hz, 14 bit)."""
    settings: Settings = {
        PmdSetting.SAMPLE_RATE: (sample_rate_hz,),
        PmdSetting.RESOLUTION: (resolution_bits,),
    }
    return bytes(PmdRequest(PmdOp.START, PmdType.ECG, settings))


def stop_request(measurement: PmdType = PmdType.ECG) -> bytes:
    """``03 00`` to stop the ECG stream."""
    return bytes(PmdRequest(PmdOp.STOP, measurement))


def settings_request(measurement: PmdType = PmdType.ECG) -> bytes:
    """``01 00``: ask which ECG settings the device offers."""
    return bytes(PmdRequest(PmdOp.GET_SETTINGS, measurement))


@dataclass(frozen=True, slots=True)
class PmdResponse:
    """A control point indication: ``f0``, op code, type, status, more-frames, parameters."""

    op: PmdOp | int
    measurement: PmdType | int
    status: PmdStatus | int
    more: bool
    settings: Settings
    warnings: tuple[str, ...] = ()

    @classmethod
    def from_bytes(cls, data: bytes) -> PmdResponse:
        """Decode; settings are parsed for a settings response with status success."""
        r = Reader(data, "polar.pmd-response")
        code = r.u8("response code")
        if code != RESPONSE_CODE:
            raise CodecError(
                f"polar.pmd-response: offset 0: response code must be 0xf0, got 0x{code:02x}"
            )
        op = enum_or_int(PmdOp, r.u8("op code"))
        kind = enum_or_int(PmdType, r.u8("measurement type"))
        status = enum_or_int(PmdStatus, r.u8("status"))
        more = bool(r.u8("more frames")) if r.remaining else False
        settings: Settings = {}
        if op == PmdOp.GET_SETTINGS and status == PmdStatus.SUCCESS:
            settings = _parse_settings(r)
        r.finish()
        return cls(op, kind, status, more, settings, tuple(r.warnings))

    @property
    def ok(self) -> bool:
        """True when the device accepted the request."""
        return self.status == PmdStatus.SUCCESS

    def __bytes__(self) -> bytes:
        head = bytes((RESPONSE_CODE, int(self.op), int(self.measurement), int(self.status)))
        return head + bytes((int(self.more),)) + encode_settings(self.settings)


def supported_types(data: bytes) -> list[PmdType | int]:
    """The measurement types in a control point read (``0f 05 00`` = ECG and ACC on an H10)."""
    r = Reader(data, "polar.pmd-features")
    if r.u8("features code") != FEATURES_CODE:
        raise CodecError(f"polar.pmd-features: offset 0: must be 0x0f, got 0x{data[0]:02x}")
    bits = r.uint(r.remaining, "feature bits")
    return [enum_or_int(PmdType, n) for n in range(bits.bit_length()) if bits >> n & 1]


@dataclass(frozen=True, slots=True)
class PmdEcgFrame:
    """One ECG data notification: timestamp (ns since 2000-01-01, last sample) and µV samples."""

    timestamp_ns: int
    samples_uv: tuple[int, ...]
    warnings: tuple[str, ...] = ()

    @classmethod
    def from_bytes(cls, data: bytes) -> PmdEcgFrame:
        """Decode; CodecError for another measurement type, a compressed frame or a short header."""
        r = Reader(data, CODEC_NAME)
        kind = r.u8("measurement type")
        if kind != PmdType.ECG:
            raise CodecError(
                f"{CODEC_NAME}: offset 0: measurement type 0x{kind:02x} "
                f"({_name(enum_or_int(PmdType, kind))}) is not ECG (0x00)"
            )
        timestamp = r.uint(8, "timestamp")
        frame_type = r.u8("frame type")
        if frame_type != 0:
            raise CodecError(
                f"{CODEC_NAME}: offset 9: frame type 0x{frame_type:02x} not supported "
                "(only 0x00: uncompressed 3-byte µV samples)"
            )
        samples = []
        while r.remaining >= ECG_SAMPLE_LEN:
            samples.append(int.from_bytes(r.take(3, "sample"), "little", signed=True))
        r.finish()
        if not samples:
            r.warn("no_samples", "the frame carries no samples")
        return cls(timestamp, tuple(samples), tuple(r.warnings))

    def __bytes__(self) -> bytes:
        head = bytes((PmdType.ECG,)) + self.timestamp_ns.to_bytes(8, "little") + b"\x00"
        return head + b"".join(s.to_bytes(3, "little", signed=True) for s in self.samples_uv)

    @property
    def timestamp(self) -> datetime:
        """The timestamp as a UTC datetime (Polar epoch; the device clock may be unset)."""
        return POLAR_EPOCH + timedelta(microseconds=self.timestamp_ns // 1000)


def describe(data: bytes) -> dict[str, object]:
    """``helserom decode polar.pmd-ecg HEX``: one ECG data frame."""
    frame = PmdEcgFrame.from_bytes(data)
    return {
        "codec": CODEC_NAME,
        "ecg_uv": list(frame.samples_uv),
        "sample_count": len(frame.samples_uv),
        "timestamp_ns": frame.timestamp_ns,
        "timestamp": frame.timestamp.isoformat(),
        "warnings": list(frame.warnings),
    }
