"""Nonin serial data format #7 (pulse oximeter, 9600 baud 8N1): frames, packets, decoder.

Frame (5 bytes, 75 per second)::

    STATUS (bit 7 = 1) | PLETH MSB | PLETH LSB | byte 4 | CHK = (sum of the 4 bytes before) mod 256

Packet: 25 frames (1/3 s), SYNC set on the first; byte 4 carries a different field in each
frame (`FIELD_FRAMES`). HR is 9 bits (511 = no value), SpO2 7 bits (127 = no value); pleth is
16 bits. Full byte table, flags and a decoded packet: ``docs/protocols/nonin7-8.md``.

`describe` turns bytes into a JSON-ready dict for ``helserom decode serial.nonin7 HEX``.
"""

from __future__ import annotations

from drivers.codecs.nonin2_frame import (
    HR_MISSING,
    SPO2_MISSING,
    Nonin2Status,
    Perfusion,
    status_names,
    status_quality,
)
from drivers.codecs.nonin7_decoder import Nonin7Decoder
from drivers.codecs.nonin7_frame import (
    FIELD_FRAMES,
    FRAME_LEN,
    FRAMES_PER_PACKET,
    FRAMES_PER_S,
    Nonin7Frame,
    Nonin7Packet,
    frame_valid,
)
from drivers.codecs.nonin_describe import describe_stream, flag_warnings, latest
from drivers.errors import CodecError

__all__ = [
    "CODEC_NAME",
    "FIELD_FRAMES",
    "FRAMES_PER_PACKET",
    "FRAMES_PER_S",
    "FRAME_LEN",
    "HR_MISSING",
    "SPO2_MISSING",
    "Nonin2Status",
    "Nonin7Decoder",
    "Nonin7Frame",
    "Nonin7Packet",
    "Perfusion",
    "describe",
    "frame_valid",
]

CODEC_NAME = "serial.nonin7"
_RAW_KEYS = ("firmware_revision", "stat2")


def describe(data: bytes) -> dict[str, object]:
    """Decode one frame, one packet or a longer stream into a JSON-ready dict.

    Raises CodecError (one line) when ``data`` holds no valid frame; a 5-byte input is read
    as one frame and its exact fault is reported.
    """
    if len(data) == FRAME_LEN:
        return _describe_frame(Nonin7Frame.from_bytes(data))
    decoder = Nonin7Decoder()
    packets = decoder.feed(data) + decoder.flush()
    if decoder.frames_ok == 0:
        raise CodecError(
            f"no valid nonin7 frame in {len(data)} bytes (a frame is status with bit 7 set, "
            "pleth MSB, pleth LSB, byte 4, checksum = sum of the first 4 bytes mod 256)"
        )
    return _describe_stream(decoder, packets)


def _flags(status: int) -> dict[str, bool]:
    return {name.lower(): name in status_names(status) for name in ("SNSD", "SNSA", "OOT", "ARTF")}


def _describe_frame(frame: Nonin7Frame) -> dict[str, object]:
    status = int(frame.status)
    return {
        "codec": CODEC_NAME,
        "kind": "frame",
        "frames": 1,
        "packets": 0,
        "status": status_names(status),
        "status_byte": status,
        **_flags(status),
        "sync": frame.sync,
        "perfusion": frame.perfusion.value,
        "pleth": [frame.pleth],
        "byte4": frame.byte4,
        "checksum": bytes(frame)[4],
        "quality": status_quality(status).names(),
        "warnings": flag_warnings([status]),
    }


def _describe_stream(decoder: Nonin7Decoder, packets: list[Nonin7Packet]) -> dict[str, object]:
    result, union = describe_stream(
        CODEC_NAME, decoder, packets, _RAW_KEYS, "status bit 7 or checksum"
    )
    stat2_source = latest(packets, "stat2")
    result["smartpoint"] = None if stat2_source is None else stat2_source.smartpoint
    result.update(_flags(union))
    return result
