"""Nonin serial data format #2 (pulse oximeter, 9600 baud 8N1): frames, packets, decoder.

Frame (5 bytes, 75 per second)::

    0x01 | STATUS (bit 7 = 1) | PLETH | byte 4 | CHK = (sum of the 4 bytes before) mod 256

Packet: 25 frames (1/3 s), SYNC set on the first; byte 4 carries a different field in each
frame (`FIELD_FRAMES`). HR is 9 bits (511 = no value), SpO2 7 bits (127 = no value).
Full byte table, flags and a decoded packet: ``docs/protocols/nonin2.md``.

`describe` turns bytes into a JSON-ready dict for ``helserom decode serial.nonin2 HEX``.
"""

from __future__ import annotations

from drivers.codecs.nonin2_decoder import Nonin2Decoder
from drivers.codecs.nonin2_frame import (
    FIELD_FRAMES,
    FRAME_LEN,
    FRAMES_PER_PACKET,
    FRAMES_PER_S,
    HR_MISSING,
    SPO2_MISSING,
    Nonin2Frame,
    Nonin2Packet,
    Nonin2Status,
    Perfusion,
    frame_valid,
    status_names,
    status_quality,
    worst_perfusion,
)
from drivers.codecs.nonin_describe import describe_stream, flag_warnings, latest
from drivers.errors import CodecError

__all__ = [
    "FIELD_FRAMES",
    "FRAMES_PER_PACKET",
    "FRAMES_PER_S",
    "FRAME_LEN",
    "HR_MISSING",
    "SPO2_MISSING",
    "Nonin2Decoder",
    "Nonin2Frame",
    "Nonin2Packet",
    "Nonin2Status",
    "Perfusion",
    "describe",
    "frame_valid",
    "status_names",
    "status_quality",
    "worst_perfusion",
]

CODEC_NAME = "serial.nonin2"
_RAW_KEYS = ("firmware_revision", "timer_ticks", "stat2")

# describe() key -> packet attribute; pulse is what the oximeter measures (HR in Nonin's table).
_BYTE4_MEANING_SYNC = "HR MSB (frame 1 of its packet)"
_BYTE4_MEANING_OTHER = "set by the frame's place in its packet (unknown for a lone frame)"


def describe(data: bytes) -> dict[str, object]:
    """Decode one frame, one packet or a longer stream into a JSON-ready dict.

    Raises CodecError (one line) when ``data`` holds no valid frame; a 5-byte input is read
    as one frame and its exact fault is reported.
    """
    if len(data) == FRAME_LEN:
        return _describe_frame(Nonin2Frame.from_bytes(data))
    decoder = Nonin2Decoder()
    packets = decoder.feed(data) + decoder.flush()
    if decoder.frames_ok == 0:
        raise CodecError(
            f"no valid nonin2 frame in {len(data)} bytes (a frame is 01, status with bit 7 "
            "set, pleth, byte 4, checksum = sum of the first 4 bytes mod 256)"
        )
    return _describe_stream(decoder, packets)


def _describe_frame(frame: Nonin2Frame) -> dict[str, object]:
    status = int(frame.status)
    return {
        "codec": CODEC_NAME,
        "kind": "frame",
        "frames": 1,
        "packets": 0,
        "status": status_names(status),
        "status_byte": status,
        "perfusion": frame.perfusion.value,
        "pleth": frame.pleth,
        "byte4": frame.byte4,
        "byte4_meaning": _BYTE4_MEANING_SYNC if frame.sync else _BYTE4_MEANING_OTHER,
        "checksum": bytes(frame)[4],
        "quality": status_quality(status).names(),
        "warnings": flag_warnings([status]),
    }


def _describe_stream(decoder: Nonin2Decoder, packets: list[Nonin2Packet]) -> dict[str, object]:
    result, _union = describe_stream(
        CODEC_NAME, decoder, packets, _RAW_KEYS, "start byte, status bit 7 or checksum"
    )
    timer_source = latest(packets, "timer_ticks")
    result["timer_s"] = None if timer_source is None else timer_source.timer_s
    return result
