"""Bytes of the simulated BLE health peripherals, written from the Bluetooth SIG specifications.

Pure functions (values in, bytes out), so every layout can be checked on its own. Sources:

- IEEE 11073-20601 SFLOAT (16 bit: 4-bit exponent, 12-bit mantissa) and FLOAT (32 bit: 8-bit
  exponent, 24-bit mantissa), two's complement, value = mantissa * 10**exponent; the special
  values NaN / NRes / +INF / -INF as the GATT Specification Supplement lists them.
- GATT Specification Supplement (GSS): Date Time, Current Time (Exact Time 256 + Adjust
  Reason), Blood Pressure Measurement, Intermediate Cuff Pressure, Blood Pressure Feature, Heart
  Rate Measurement, Temperature Measurement / Type, Weight Measurement, Weight Scale Feature,
  PLX Spot-Check / Continuous Measurement, PLX Features, Record Access Control Point; Pulse
  Oximeter Service 1.0.1 (RACP behaviour); Core Specification Supplement Part B §1.2 (common
  ATT error codes 0xFD/0xFE).
- Polar Measurement Data (PMD) for 3rd party (polar-ble-sdk/technical_documentation): control
  point responses ``F0 op type status more``, ECG data frame ``type ts(u64 ns) frame_type
  samples(3-byte signed µV)``.
"""

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, IntFlag
from typing import Final

from hwsim.errors import EncodeError

SFLOAT_NAN: Final = 0x07FF
SFLOAT_NRES: Final = 0x0800
SFLOAT_POS_INF: Final = 0x07FE
SFLOAT_NEG_INF: Final = 0x0802
FLOAT_NAN: Final = 0x007FFFFF
SFLOAT_MANTISSA_MAX: Final = 2045  # 0x07FD; 0x07FE.. are the special values
FLOAT_MANTISSA_MAX: Final = 0x007FFFFD


def sfloat(value: float, exponent: int) -> bytes:
    """IEEE 11073 16-bit SFLOAT of `value` at a fixed decimal `exponent` (NaN -> NaN)."""
    if math.isnan(value):
        return SFLOAT_NAN.to_bytes(2, "little")
    if not -8 <= exponent <= 7:
        raise EncodeError(f"SFLOAT exponent {exponent} outside -8..7")
    mantissa = round(value / 10.0**exponent)
    if abs(mantissa) > SFLOAT_MANTISSA_MAX:
        raise EncodeError(f"SFLOAT cannot carry {value} at exponent {exponent}")
    raw = ((exponent & 0xF) << 12) | (mantissa & 0x0FFF)
    return raw.to_bytes(2, "little")


def float32(value: float, exponent: int) -> bytes:
    """IEEE 11073 32-bit FLOAT of `value` at a fixed decimal `exponent` (NaN -> NaN)."""
    if math.isnan(value):
        return FLOAT_NAN.to_bytes(4, "little")
    if not -128 <= exponent <= 127:
        raise EncodeError(f"FLOAT exponent {exponent} outside -128..127")
    mantissa = round(value / 10.0**exponent)
    if abs(mantissa) > FLOAT_MANTISSA_MAX:
        raise EncodeError(f"FLOAT cannot carry {value} at exponent {exponent}")
    raw = ((exponent & 0xFF) << 24) | (mantissa & 0x00FFFFFF)
    return raw.to_bytes(4, "little")


def date_time(t: datetime) -> bytes:
    """GSS Date Time: year u16, month, day, hours, minutes, seconds (7 bytes)."""
    if not 1582 <= t.year <= 9999:
        raise EncodeError(f"Date Time year {t.year} outside 1582..9999")
    return struct.pack("<HBBBBB", t.year, t.month, t.day, t.hour, t.minute, t.second)


def current_time(t: datetime, adjust_reason: int = 0) -> bytes:
    """Current Time 0x2A2B: Exact Time 256 (date time, weekday 1..7, 1/256 s) + adjust reason."""
    fractions256 = t.microsecond * 256 // 1_000_000
    return date_time(t) + bytes([t.isoweekday(), fractions256, adjust_reason & 0xFF])


def parse_current_time(data: bytes) -> datetime:
    """The moment a Current Time write carries (10 bytes)."""
    if len(data) != 10:
        raise EncodeError(f"Current Time is 10 bytes, got {len(data)}")
    year, month, day, hour, minute, second = struct.unpack_from("<HBBBBB", data)
    micro = data[8] * 1_000_000 // 256
    try:
        return datetime(year, month, day, hour, minute, second, micro)
    except ValueError as exc:
        raise EncodeError(f"Current Time {data.hex()} is not a valid date: {exc}") from exc


# ---- Pulse oximeter (PLXS) -------------------------------------------------------------------


class PlxSpotFlags(IntFlag):
    """PLX Spot-Check Measurement flags."""

    TIMESTAMP = 0x01
    MEASUREMENT_STATUS = 0x02
    DEVICE_SENSOR_STATUS = 0x04
    PULSE_AMPLITUDE_INDEX = 0x08
    DEVICE_CLOCK_NOT_SET = 0x10


class PlxContinuousFlags(IntFlag):
    """PLX Continuous Measurement flags."""

    SPO2PR_FAST = 0x01
    SPO2PR_SLOW = 0x02
    MEASUREMENT_STATUS = 0x04
    DEVICE_SENSOR_STATUS = 0x08
    PULSE_AMPLITUDE_INDEX = 0x10


class PlxFeatures(IntFlag):
    """PLX Features supported-features field."""

    MEASUREMENT_STATUS = 0x0001
    DEVICE_SENSOR_STATUS = 0x0002
    SPOT_CHECK_STORAGE = 0x0004
    SPOT_CHECK_TIMESTAMP = 0x0008
    SPO2PR_FAST = 0x0010
    SPO2PR_SLOW = 0x0020
    PULSE_AMPLITUDE_INDEX = 0x0040
    MULTIPLE_BONDS = 0x0080


def plx_spot_check(
    spo2_pct: float, pr_bpm: float, *, timestamp: datetime | None, pai_pct: float | None = None
) -> bytes:
    """PLX Spot-Check Measurement 0x2A5E; SpO2 and PR at exponent 0, PAI at exponent -1."""
    flags = PlxSpotFlags(0)
    body = sfloat(spo2_pct, 0) + sfloat(pr_bpm, 0)
    if timestamp is not None:
        flags |= PlxSpotFlags.TIMESTAMP
        body += date_time(timestamp)
    if pai_pct is not None:
        flags |= PlxSpotFlags.PULSE_AMPLITUDE_INDEX
        body += sfloat(pai_pct, -1)
    return bytes([flags]) + body


def plx_continuous(spo2_pct: float, pr_bpm: float, *, pai_pct: float | None = None) -> bytes:
    """PLX Continuous Measurement 0x2A5F with the normal SpO2PR pair (and PAI if given)."""
    flags = PlxContinuousFlags(0)
    body = sfloat(spo2_pct, 0) + sfloat(pr_bpm, 0)
    if pai_pct is not None:
        flags |= PlxContinuousFlags.PULSE_AMPLITUDE_INDEX
        body += sfloat(pai_pct, -1)
    return bytes([flags]) + body


def plx_features(features: PlxFeatures) -> bytes:
    """PLX Features 0x2A60 (no optional status-support fields: those bits stay clear)."""
    if features & (PlxFeatures.MEASUREMENT_STATUS | PlxFeatures.DEVICE_SENSOR_STATUS):
        raise EncodeError("status support fields are not simulated")
    return int(features).to_bytes(2, "little")


class RacpOpcode(IntEnum):
    """Record Access Control Point op codes."""

    REPORT_STORED_RECORDS = 1
    DELETE_STORED_RECORDS = 2
    ABORT = 3
    REPORT_NUMBER_OF_RECORDS = 4
    NUMBER_OF_RECORDS_RESPONSE = 5
    RESPONSE_CODE = 6


class RacpOperator(IntEnum):
    """RACP operators."""

    NULL = 0
    ALL = 1
    LESS_OR_EQUAL = 2
    GREATER_OR_EQUAL = 3
    WITHIN_RANGE = 4
    FIRST = 5
    LAST = 6


class RacpResponse(IntEnum):
    """RACP response code values."""

    SUCCESS = 1
    OPCODE_NOT_SUPPORTED = 2
    INVALID_OPERATOR = 3
    OPERATOR_NOT_SUPPORTED = 4
    INVALID_OPERAND = 5
    NO_RECORDS_FOUND = 6
    ABORT_UNSUCCESSFUL = 7
    PROCEDURE_NOT_COMPLETED = 8
    OPERAND_NOT_SUPPORTED = 9


def racp_response(request_opcode: int, code: RacpResponse) -> bytes:
    """RACP Response Code indication: 06 00 <request op code> <response code>."""
    return bytes([RacpOpcode.RESPONSE_CODE, RacpOperator.NULL, request_opcode & 0xFF, code])


def racp_number_of_records(count: int) -> bytes:
    """RACP Number of Stored Records response: 05 00 <u16 count>."""
    return bytes([RacpOpcode.NUMBER_OF_RECORDS_RESPONSE, RacpOperator.NULL]) + struct.pack(
        "<H", count
    )


# ---- Blood pressure (BLS) --------------------------------------------------------------------


class BpFlags(IntFlag):
    """Blood Pressure Measurement / Intermediate Cuff Pressure flags."""

    UNITS_KPA = 0x01
    TIMESTAMP = 0x02
    PULSE_RATE = 0x04
    USER_ID = 0x08
    MEASUREMENT_STATUS = 0x10


class BpStatus(IntFlag):
    """Blood Pressure Measurement Status bits."""

    BODY_MOVEMENT = 0x0001
    CUFF_TOO_LOOSE = 0x0002
    IRREGULAR_PULSE = 0x0004
    PULSE_RATE_EXCEEDS_UPPER = 0x0008
    PULSE_RATE_BELOW_LOWER = 0x0010
    IMPROPER_POSITION = 0x0020


def bp_measurement(
    systolic_mmhg: float,
    diastolic_mmhg: float,
    map_mmhg: float,
    *,
    timestamp: datetime | None,
    pulse_bpm: float | None,
    user_id: int | None = None,
    status: BpStatus | None = None,
) -> bytes:
    """Blood Pressure Measurement 0x2A35 (and the ICP 0x2A36 layout), mmHg at exponent 0."""
    flags = BpFlags(0)
    body = sfloat(systolic_mmhg, 0) + sfloat(diastolic_mmhg, 0) + sfloat(map_mmhg, 0)
    if timestamp is not None:
        flags |= BpFlags.TIMESTAMP
        body += date_time(timestamp)
    if pulse_bpm is not None:
        flags |= BpFlags.PULSE_RATE
        body += sfloat(pulse_bpm, 0)
    if user_id is not None:
        flags |= BpFlags.USER_ID
        body += bytes([user_id & 0xFF])
    if status is not None:
        flags |= BpFlags.MEASUREMENT_STATUS
        body += int(status).to_bytes(2, "little")
    return bytes([flags]) + body


def intermediate_cuff_pressure(cuff_mmhg: float) -> bytes:
    """Intermediate Cuff Pressure 0x2A36: current pressure in the systolic field, others NaN."""
    return bp_measurement(cuff_mmhg, math.nan, math.nan, timestamp=None, pulse_bpm=None)


class BpFeature(IntFlag):
    """Blood Pressure Feature 0x2A49 bits."""

    BODY_MOVEMENT = 0x0001
    CUFF_FIT = 0x0002
    IRREGULAR_PULSE = 0x0004
    PULSE_RATE_RANGE = 0x0008
    MEASUREMENT_POSITION = 0x0010
    MULTIPLE_BOND = 0x0020


# ---- Thermometer (HTS) -----------------------------------------------------------------------


class TemperatureType(IntEnum):
    """Temperature Type 0x2A1D values."""

    ARMPIT = 1
    BODY = 2
    EAR = 3
    FINGER = 4
    GI_TRACT = 5
    MOUTH = 6
    RECTUM = 7
    TOE = 8
    TYMPANUM = 9


def temperature_measurement(
    temperature_c: float, *, timestamp: datetime | None, kind: TemperatureType | None
) -> bytes:
    """Temperature Measurement 0x2A1C in Celsius, FLOAT at exponent -2."""
    flags = 0
    body = float32(temperature_c, -2)
    if timestamp is not None:
        flags |= 0x02
        body += date_time(timestamp)
    if kind is not None:
        flags |= 0x04
        body += bytes([kind])
    return bytes([flags]) + body


# ---- Weight scale (WSS) ----------------------------------------------------------------------

WEIGHT_SI_RESOLUTION_KG: Final = 0.005
WEIGHT_MEASUREMENT_UNSUCCESSFUL: Final = 0xFFFF


def weight_measurement(weight_kg: float, *, timestamp: datetime | None) -> bytes:
    """Weight Measurement 0x2A9D in SI units (0.005 kg steps); NaN -> 0xFFFF (unsuccessful)."""
    flags = 0
    if math.isnan(weight_kg):
        raw = WEIGHT_MEASUREMENT_UNSUCCESSFUL
    else:
        raw = round(weight_kg / WEIGHT_SI_RESOLUTION_KG)
        if not 0 <= raw < WEIGHT_MEASUREMENT_UNSUCCESSFUL:
            raise EncodeError(f"weight {weight_kg} kg outside 0..327.67 kg")
    body = struct.pack("<H", raw)
    if timestamp is not None:
        flags |= 0x02
        body += date_time(timestamp)
    return bytes([flags]) + body


def weight_scale_feature(*, timestamp: bool, weight_resolution: int) -> bytes:
    """Weight Scale Feature 0x2A9E u32: bit 0 time stamp, bits 3..6 weight resolution."""
    if not 0 <= weight_resolution <= 7:
        raise EncodeError(f"weight resolution code {weight_resolution} outside 0..7")
    return struct.pack("<I", int(timestamp) | (weight_resolution << 3))


# ---- Heart rate (HRS) ------------------------------------------------------------------------

RR_UNITS_PER_S: Final = 1024


def heart_rate_measurement(
    hr_bpm: int, rr_intervals_ms: Sequence[float], *, contact: bool | None
) -> bytes:
    """Heart Rate Measurement 0x2A37: u8 (or u16) bpm, sensor contact, RR in 1/1024 s."""
    flags = 0
    body = b""
    if hr_bpm > 255:
        flags |= 0x01
        body += struct.pack("<H", hr_bpm)
    else:
        body += bytes([max(hr_bpm, 0)])
    if contact is not None:
        flags |= 0x04 | (0x02 if contact else 0)
    if rr_intervals_ms:
        flags |= 0x10
        for rr_ms in rr_intervals_ms:
            body += struct.pack("<H", min(round(rr_ms * RR_UNITS_PER_S / 1000.0), 0xFFFF))
    return bytes([flags]) + body


BODY_SENSOR_CHEST: Final = 1


def battery_level(percent: int) -> bytes:
    """Battery Level 0x2A19: one byte, 0..100 %."""
    if not 0 <= percent <= 100:
        raise EncodeError(f"battery level {percent} outside 0..100 %")
    return bytes([percent])


def system_id(manufacturer_id: int, oui: int) -> bytes:
    """System ID 0x2A23: 40-bit manufacturer-defined identifier then the 24-bit OUI, LE."""
    return manufacturer_id.to_bytes(5, "little") + oui.to_bytes(3, "little")


# ---- Polar PMD -------------------------------------------------------------------------------

PMD_TYPE_ECG: Final = 0x00
PMD_FRAME_TYPE_ECG0: Final = 0x00  # 3-byte signed µV samples, uncompressed
PMD_RESPONSE: Final = 0xF0
PMD_SETTING_SAMPLE_RATE: Final = 0x00
PMD_SETTING_RESOLUTION: Final = 0x01
ECG_FS_HZ: Final = 130
ECG_RESOLUTION_BITS: Final = 14
ECG_SAMPLES_PER_FRAME: Final = 73  # what an H10 sends at the default MTU of 232


class PmdOpcode(IntEnum):
    """PMD control point op codes."""

    GET_SETTINGS = 0x01
    START = 0x02
    STOP = 0x03


class PmdStatus(IntEnum):
    """PMD control point error codes."""

    SUCCESS = 0
    INVALID_OP_CODE = 1
    INVALID_MEASUREMENT_TYPE = 2
    NOT_SUPPORTED = 3
    INVALID_LENGTH = 4
    INVALID_PARAMETER = 5
    ALREADY_IN_STATE = 6
    INVALID_RESOLUTION = 7
    INVALID_SAMPLE_RATE = 8
    INVALID_STATE = 12


def pmd_features_ecg_only() -> bytes:
    """PMD control point read value: 0x0F then the measurement-type bitmap (bit 0 = ECG)."""
    return bytes([0x0F, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00])


def pmd_ecg_settings() -> bytes:
    """ECG settings TLVs: sample rate 130 Hz, resolution 14 bit (one value each)."""
    return (
        bytes([PMD_SETTING_SAMPLE_RATE, 1])
        + struct.pack("<H", ECG_FS_HZ)
        + bytes([PMD_SETTING_RESOLUTION, 1])
        + struct.pack("<H", ECG_RESOLUTION_BITS)
    )


def pmd_response(opcode: int, mtype: int, status: PmdStatus, params: bytes = b"") -> bytes:
    """Control point response: F0 op type status more_frames(0) params."""
    return bytes([PMD_RESPONSE, opcode & 0xFF, mtype & 0xFF, status, 0]) + params


ECG_UV_MAX: Final = 2**23 - 1


@dataclass(frozen=True, slots=True)
class PmdFrame:
    """One PMD data notification (the last sample's timestamp, as the H10 stamps it)."""

    timestamp_ns: int
    samples_uv: tuple[int, ...]


def pmd_ecg_frame(frame: PmdFrame) -> bytes:
    """PMD ECG data: 00 <u64 ns> 00 then 3-byte little-endian two's complement µV samples."""
    out = bytearray([PMD_TYPE_ECG])
    out += struct.pack("<Q", frame.timestamp_ns)
    out.append(PMD_FRAME_TYPE_ECG0)
    for uv in frame.samples_uv:
        if not -ECG_UV_MAX - 1 <= uv <= ECG_UV_MAX:
            raise EncodeError(f"ECG sample {uv} µV does not fit 24 bits")
        out += (uv & 0xFFFFFF).to_bytes(3, "little")
    return bytes(out)
