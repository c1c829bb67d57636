"""What Nonin formats #2 and #7 share in ``helserom decode``: a decoded stream as a JSON dict.

Both formats carry the same STATUS byte and the same 25-frame packet of numbers (byte 4 of each
frame), so a stream is described the same way: the latest value of each number, the union of
the status flags, the worst perfusion colour, and a warning for everything the decoder skipped.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Protocol, TypeVar

from drivers.codecs.nonin2_frame import (
    HR_MISSING,
    SPO2_MISSING,
    Nonin2Status,
    Perfusion,
    perfusion_of,
    status_names,
    worst_perfusion,
)
from drivers.model import QualityFlag

NUMERIC_KEYS = {  # JSON key -> packet attribute
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


class Packet(Protocol):
    """A decoded Nonin packet (#2 or #7), as far as describing it needs."""

    @property
    def complete(self) -> bool: ...
    @property
    def statuses(self) -> Sequence[int]: ...
    @property
    def pleth(self) -> Sequence[int]: ...
    def received(self, field: str) -> bool: ...
    def status_quality(self) -> QualityFlag: ...


class Decoder(Protocol):
    """A Nonin stream decoder's counters."""

    frames_ok: int
    packets_ok: int
    frames_dropped: int
    bytes_dropped: int
    frames_rejected: int
    sync_errors: int
    packets_incomplete: int

    @property
    def pending_bytes(self) -> int: ...


def flag_warnings(statuses: Sequence[int]) -> list[str]:
    """One warning per status flag or perfusion colour seen, with how many frames had it."""
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


P = TypeVar("P", bound=Packet)


def latest(packets: Sequence[P], field: str) -> P | None:
    """The last packet that carries ``field``."""
    for packet in reversed(packets):
        if packet.received(field):
            return packet
    return None


def describe_stream(
    codec: str,
    decoder: Decoder,
    packets: Sequence[Packet],
    raw_keys: Sequence[str],
    rejected_checks: str,
) -> tuple[dict[str, object], int]:
    """The stream as a JSON-ready dict, and the union of its STATUS bytes (for extra keys)."""
    result: dict[str, object] = {
        "codec": codec,
        "kind": "packet" if len(packets) == 1 and packets[0].complete else "stream",
        "frames": decoder.frames_ok,
        "packets": len(packets),
        "packets_complete": decoder.packets_ok,
        "frames_lost": decoder.frames_dropped,
        "bytes_skipped": decoder.bytes_dropped,
    }
    warnings: list[str] = []
    not_received: list[str] = []
    for key, attr in NUMERIC_KEYS.items():
        source = latest(packets, attr)
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
    for key in raw_keys:
        source = latest(packets, key)
        result[key] = None if source is None else getattr(source, key)
        if source is None:
            not_received.append(key)
    statuses = [int(s) for p in packets for s in p.statuses]
    union = 0
    for s in statuses:
        union |= s
    quality = QualityFlag.NONE
    for p in packets:
        quality |= p.status_quality()
    result["pleth"] = [v for p in packets for v in p.pleth]
    result["status"] = status_names(union)
    result["perfusion"] = worst_perfusion(statuses).value
    result["quality"] = quality.names()
    if decoder.bytes_dropped:
        warnings.append(f"{decoder.bytes_dropped} byte(s) skipped while looking for frames")
    if decoder.frames_rejected:
        warnings.append(
            f"{decoder.frames_rejected} frame(s) failed the {rejected_checks} check and were "
            "dropped"
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
    warnings.extend(flag_warnings(statuses))
    result["warnings"] = warnings
    return result, union
