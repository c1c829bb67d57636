"""Test-side helpers for hwsim tests: a tiny format #2 frame scanner written from the spec.

Deliberately independent of hwsim.nonin2 (and of the gateway's codec): it checks the
simulator's bytes against the documented rules, not against its own encoder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def is_frame(window: bytes) -> bool:
    """5 bytes: 0x01, STATUS with bit 7, PLETH, BYTE4, (sum of first four) mod 256."""
    return (
        len(window) == 5
        and window[0] == 0x01
        and window[1] & 0x80 == 0x80
        and (window[0] + window[1] + window[2] + window[3]) % 256 == window[4]
    )


@dataclass
class Scan:
    frames: list[bytes] = field(default_factory=list)
    skipped: int = 0  # bytes dropped after lock was first gained
    skipped_before_lock: int = 0
    resyncs: int = 0


def scan(data: bytes) -> Scan:
    """Find frames; lock on two consecutive good frames, then resync byte by byte."""
    out = Scan()
    i = 0
    locked = False
    in_gap = False
    while i + 5 <= len(data):
        if not locked:
            if is_frame(data[i : i + 5]) and is_frame(data[i + 5 : i + 10]):
                locked = True
                continue
            out.skipped_before_lock += 1
            i += 1
            continue
        window = data[i : i + 5]
        if is_frame(window):
            out.frames.append(window)
            in_gap = False
            i += 5
        else:
            out.resyncs += not in_gap  # one per run of dropped bytes
            in_gap = True
            out.skipped += 1
            i += 1
    return out


def packets(frames: list[bytes]) -> list[list[bytes]]:
    """Whole packets: 25 consecutive frames starting at a SYNC frame."""
    out: list[list[bytes]] = []
    current: list[bytes] | None = None
    for frame in frames:
        if frame[1] & 0x01:
            current = [frame]
            out.append(current)
        elif current is not None:
            current.append(frame)
    return [p for p in out if len(p) == 25]


def hr_of(packet: list[bytes], msb_frame: int = 1) -> int:
    """9-bit HR from byte 4 of frames msb_frame (bits 8..7) and msb_frame + 1 (bits 6..0)."""
    return ((packet[msb_frame - 1][3] & 0x03) << 7) | (packet[msb_frame][3] & 0x7F)


def open_fd_count() -> int:
    return len(os.listdir("/proc/self/fd"))


def lexists(path: str | os.PathLike[str]) -> bool:
    """Whether a path (or a dangling symlink) exists: an instant check on a local fs."""
    return os.path.lexists(path)


def entries(directory: str | os.PathLike[str]) -> list[str]:
    """What is left in a directory."""
    return sorted(os.listdir(directory))
