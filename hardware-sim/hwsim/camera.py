"""A synthetic camera: a moving pattern with the capture time stamped into every frame.

The stamp is a strip of black/white blocks across the top of the frame: ``STAMP_BITS`` bits
(42 bits of epoch milliseconds, then a 6-bit checksum), most significant first, in
``STAMP_ROWS`` rows of ``STAMP_COLS`` blocks. Blocks are a 24th of the width and a 20th of the
height, so they survive H.264/VP8 at 640x480 and 1 Mbit/s; a reader samples each block's
centre and thresholds at mid-grey (``read_stamp``; the specialist page does the same on a
canvas to measure capture→display latency).
"""

from __future__ import annotations

import time

import numpy as np
from numpy.typing import NDArray

from hwsim.errors import CommandError

STAMP_ROWS = 2
STAMP_COLS = 24
STAMP_BITS = STAMP_ROWS * STAMP_COLS
MS_BITS = 42
CHECK_BITS = STAMP_BITS - MS_BITS
MIN_SIZE = (96, 96)

Image = NDArray[np.uint8]


def checksum(ms: int) -> int:
    """The 6-bit checksum of a 42-bit millisecond value (sum of its 7 six-bit groups)."""
    return sum((ms >> (6 * i)) & 0x3F for i in range(MS_BITS // 6)) & 0x3F


def _block(width: int, height: int, index: int) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) of stamp block ``index``."""
    bw, bh = width // STAMP_COLS, height // 20
    row, col = divmod(index, STAMP_COLS)
    return col * bw, row * bh, (col + 1) * bw, (row + 1) * bh


def stamp(img: Image, ms: int) -> None:
    """Write ``ms`` (epoch milliseconds, < 2**42) into the top strip of a BGR image in place."""
    if not 0 <= ms < 1 << MS_BITS:
        raise CommandError(f"stamp time {ms} ms is outside 0..2**{MS_BITS}")
    height, width = img.shape[:2]
    word = (ms << CHECK_BITS) | checksum(ms)
    for i in range(STAMP_BITS):
        x0, y0, x1, y1 = _block(width, height, i)
        bit = (word >> (STAMP_BITS - 1 - i)) & 1
        img[y0:y1, x0:x1] = 255 if bit else 0


def read_stamp(img: Image) -> int | None:
    """The millisecond stamp of a (possibly encoded and decoded) BGR image; None if unreadable."""
    height, width = img.shape[:2]
    grey = img.mean(axis=2) if img.ndim == 3 else img
    word = 0
    for i in range(STAMP_BITS):
        x0, y0, x1, y1 = _block(width, height, i)
        bit = grey[(y0 + y1) // 2, (x0 + x1) // 2] >= 128
        word = (word << 1) | int(bit)
    ms, check = word >> CHECK_BITS, word & ((1 << CHECK_BITS) - 1)
    return ms if checksum(ms) == check else None


class SyntheticCamera:
    """Frames of a moving colour pattern, each stamped with its capture time."""

    def __init__(self, width: int = 640, height: int = 480, fps: float = 30.0) -> None:
        if width < MIN_SIZE[0] or height < MIN_SIZE[1] or width % 2 or height % 2:
            raise CommandError(
                f"synthetic camera size {width}x{height}: expected even sizes, at least 96x96"
            )
        if not 0 < fps <= 120:
            raise CommandError(f"synthetic camera fps {fps}: expected 0 < fps <= 120")
        self.width, self.height, self.fps = width, height, fps
        self.frames = 0
        y, x = np.mgrid[0:height, 0:width]
        base = np.empty((height, width, 3), np.uint8)
        base[..., 0] = (x * 255 // max(1, width - 1)).astype(np.uint8)
        base[..., 1] = (y * 255 // max(1, height - 1)).astype(np.uint8)
        base[..., 2] = ((x + y) % 256).astype(np.uint8)
        self._base = base

    def frame(self, capture_ms: int | None = None) -> tuple[Image, int]:
        """The next frame (BGR, uint8) and the capture time stamped into it (epoch ms)."""
        ms = int(time.time() * 1000) if capture_ms is None else capture_ms
        shift = (self.frames * 4) % self.width
        img = np.roll(self._base, shift, axis=1)
        # a bar that moves down, so motion is visible to the eye and to the encoder
        bar = (self.frames * 3) % self.height
        img[bar : bar + 12, :, :] = (40, 40, 220)
        stamp(img, ms)
        self.frames += 1
        return img, ms
