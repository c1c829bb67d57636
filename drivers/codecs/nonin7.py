"""Nonin serial data format #7 (pulse oximeter, 9600 baud 8N1): frames, packets, decoder.

Frame (5 bytes, 75 per second)::

    STATUS (bit 7 = 1) | PLETH MSB | PLETH LSB | byte 4 | CHK = (sum of the 4 bytes before) mod 256

Packet: 25 frames (1/3 s), SYNC set on the first; byte 4 carries a different field in each
frame (`FIELD_FRAMES`). HR is 9 bits (511 = no value), SpO2 7 bits (127 = no value); pleth is
16 bits. Full byte table, flags and a decoded packet: ``docs/protocols/nonin7-8.md``.

`describe` turns bytes into a JSON-ready dict for ``helserom decode serial.nonin7 HEX``.
"""

from __future__ import annotations

import math
from collections import Counter

from drivers.codecs.nonin2_frame import (
    HR_MISSING,
    SPO2_MISSING,
    Nonin2Status,
    Perfusion,
    perfusion_of,
    status_names,
    status_quality,
    worst_perfusion,
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
from drivers.errors import CodecError
from drivers.model import QualityFlag

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

_NUMERIC_KEYS = {
    "spo2_pct": "spo2_pct",
    "pulse_bpm": "hr_bpm",
    "spo2_display_pct": "spo2_display_pct",
    "spo2_fast_pct": "spo2_fast_pct",
    "spo2_beat_pct": "spo2_beat_pct",
    "spo2_extended_pct": "spo2_extended_pct",
    "spo2_display_extended_pct": "spo2_display_extended_pct",
    "pulse_extended_bpm": "hr_extended_bpm",
    "pulse_display_bpm": "hr_display_bpm",
    "pulse_display_extended_bpm": "hr_display_extended_bpm",
}
_RAW_KEYS = ("firmware_revision", "stat2")

_FLAG_WARNINGS = (
    (Nonin2Status.SNSD, "sensor disconnected (SNSD)"),
    (Nonin2Status.SNSA, "sensor alarm (SNSA, unusable data)"),
    (Nonin2Status.OOT, "out of track (OOT, no consecutive good pulses)"),
    (Nonin2Status.ARTF, "artifact (ARTF)"),
)
_PERFUSION_WARNINGS = (
    (Perfusion.RED, "red perfusion (low or no pulse signal)"),
    (Perfusion.YELLOW, "yellow perfusion (marginal pulse signal)"),
)


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


def _flag_warnings(statuses: list[int]) -> list[str]:
    warnings = []
    total = len(statuses)
    for bit, text in _FLAG_WARNINGS:
        count = sum(1 for s in statuses if s & bit)
        if count:
            warnings.append(f"{text} in {count} of {total} frame(s)")
    colours = Counter(perfusion_of(s) for s in statuses)
    for colour, text in _PERFUSION_WARNINGS:
        if colours[colour]:
            warnings.append(f"{text} in {colours[colour]} of {total} frame(s)")
    return warnings


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
        "warnings": _flag_warnings([status]),
    }


def _latest(packets: list[Nonin7Packet], field: str) -> Nonin7Packet | None:
    for packet in reversed(packets):
        if packet.received(field):
            return packet
    return None


def _describe_stream(decoder: Nonin7Decoder, packets: list[Nonin7Packet]) -> dict[str, object]:
    result: dict[str, object] = {
        "codec": CODEC_NAME,
        "kind": "packet" if len(packets) == 1 and packets[0].complete else "stream",
        "frames": decoder.frames_ok,
        "packets": len(packets),
        "packets_complete": decoder.packets_ok,
        "frames_lost": decoder.frames_dropped,
        "bytes_skipped": decoder.bytes_dropped,
    }
    warnings: list[str] = []
    not_received: list[str] = []
    for key, attr in _NUMERIC_KEYS.items():
        source = _latest(packets, attr)
        if source is None:
            result[key] = None
            not_received.append(key)
            continue
        value = getattr(source, attr)
        if math.isnan(value):
            result[key] = None
            code = HR_MISSING if attr.startswith("hr") else SPO2_MISSING
            warnings.append(f"{key}: the device sent {code} (no value)")
        else:
            result[key] = int(value)
    for key in _RAW_KEYS:
        source = _latest(packets, key)
        result[key] = None if source is None else getattr(source, key)
        if source is None:
            not_received.append(key)
    stat2_source = _latest(packets, "stat2")
    result["smartpoint"] = None if stat2_source is None else stat2_source.smartpoint
    statuses = [int(s) for p in packets for s in p.statuses]
    union = 0
    for s in statuses:
        union |= s
    quality = QualityFlag.NONE
    for p in packets:
        quality |= p.status_quality()
    result["pleth"] = [v for p in packets for v in p.pleth]
    result["status"] = status_names(union)
    result.update(_flags(union))
    result["perfusion"] = worst_perfusion(statuses).value
    result["quality"] = quality.names()
    if decoder.bytes_dropped:
        warnings.append(f"{decoder.bytes_dropped} byte(s) skipped while looking for frames")
    if decoder.frames_rejected:
        warnings.append(
            f"{decoder.frames_rejected} frame(s) failed the status bit 7 or checksum check "
            "and were dropped"
        )
    if decoder.frames_dropped:
        warnings.append(f"about {decoder.frames_dropped} frame(s) lost in gaps")
    if decoder.sync_errors:
        warnings.append(f"SYNC early or missing {decoder.sync_errors} time(s)")
    if decoder.packets_incomplete:
        warnings.append(
            f"{decoder.packets_incomplete} incomplete packet(s) (fewer than 25 frames in order)"
        )
    if not_received:
        warnings.append("not received (their frames are missing): " + ", ".join(not_received))
    if decoder.pending_bytes:
        warnings.append(f"{decoder.pending_bytes} trailing byte(s) do not make a valid frame")
    warnings.extend(_flag_warnings(statuses))
    result["warnings"] = warnings
    return result
