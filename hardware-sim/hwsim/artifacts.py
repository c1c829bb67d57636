"""Seeded artifacts for simulated ECG electrodes and pleth, addressable by time.

Every generator is a pure function of (seed, stream, sample index or time), so a device that
reads in blocks of any size gets the same noise as one reading in one go. White noise comes
from blocks of ``_BLOCK`` samples each seeded by (seed, stream, block); coloured noise is that
white noise through short FIR filters, computed with the samples just before the window.

Shapes follow the MIT-BIH Noise Stress Test Database (Moody, Muldrow & Mark, Computers in
Cardiology 11 (1984) 381): electrode motion, muscle (EMG) and baseline wander, plus 50 Hz
mains (Norway), lead-off (electrode at a DC offset with high-impedance noise), amplifier
saturation, and for the pleth a finger out of the probe and low perfusion. This module is
written independently of the gateway's own test noise (gateway.signals.ecg_noise).
"""

from __future__ import annotations

import functools
import math
from typing import Final

import numpy as np
from numpy.typing import NDArray

MAINS_HZ: Final = 50.0  # Norwegian grid
EMG_LOW_HZ: Final = 20.0  # surface EMG lies above ~20 Hz
MOTION_BURSTS_PER_MIN: Final = 8.0
MOTION_BURST_S: Final = (0.3, 1.5)
MOTION_BAND_HZ: Final = (0.5, 6.0)
WANDER_BAND_HZ: Final = (0.05, 0.5)
LEAD_OFF_OFFSET_MV: Final = 300.0  # a floating electrode drifts to a large DC offset
LEAD_OFF_NOISE_MV: Final = 0.5  # high-impedance input picks up broadband noise …
LEAD_OFF_MAINS_MV: Final = 1.0  # … and a lot of mains
FINGER_OUT_LEVEL: Final = 0.5  # pleth with no finger: mid-scale …
FINGER_OUT_NOISE: Final = 0.004  # … with only sensor noise
_BLOCK: Final = 4096
_MOTION_BLOCK_S: Final = 10.0


@functools.lru_cache(maxsize=256)  # bounded: 256 blocks of 32 kB; streaming reuses the last few
def _white_block(seed: int, stream: int, block: int) -> NDArray[np.float64]:
    out = np.random.default_rng([seed, stream, block + 2**31]).standard_normal(_BLOCK)
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=1024)
def _uniforms(seed: int, stream: int, tag: int, n: int) -> NDArray[np.float64]:
    """n seeded uniforms in [0, 1) for a stream's fixed parameters (frequencies, phases)."""
    out = np.random.default_rng([seed, stream, tag]).random(n)
    out.flags.writeable = False
    return out


def white(seed: int, stream: int, i0: int, n: int) -> NDArray[np.float64]:
    """Unit-variance white noise for samples i0 .. i0 + n - 1 of a stream (i0 may be < 0)."""
    out = np.empty(n)
    pos = 0
    while pos < n:
        index = i0 + pos
        block, offset = divmod(index, _BLOCK)
        chunk = _white_block(seed, stream, block)[offset : offset + n - pos]
        out[pos : pos + chunk.size] = chunk
        pos += chunk.size
    return out


def emg(seed: int, stream: int, i0: int, n: int, fs_hz: float) -> NDArray[np.float64]:
    """Unit-rms muscle noise: white noise minus its moving average over 1/EMG_LOW_HZ s."""
    m = max(2, round(fs_hz / EMG_LOW_HZ))
    x = white(seed, stream, i0 - m + 1, n + m - 1)
    c = np.concatenate(([0.0], np.cumsum(x)))
    mean = (c[m:] - c[:-m]) / m
    out: NDArray[np.float64] = (x[m - 1 :] - mean) / math.sqrt(1.0 - 1.0 / m)
    return out


def wander(seed: int, stream: int, t_s: NDArray[np.float64]) -> NDArray[np.float64]:
    """Unit-rms baseline wander: four slow sinusoids with seeded frequencies and phases."""
    u = _uniforms(seed, stream, 0x3A, 8)
    f = WANDER_BAND_HZ[0] + (WANDER_BAND_HZ[1] - WANDER_BAND_HZ[0]) * u[:4]
    ph = 2.0 * math.pi * u[4:]
    out: NDArray[np.float64] = np.sin(2.0 * math.pi * f * t_s[:, None] + ph).sum(axis=1)
    out /= math.sqrt(2.0)  # four unit sinusoids have rms sqrt(2)
    return out


def mains(seed: int, stream: int, t_s: NDArray[np.float64]) -> NDArray[np.float64]:
    """Unit-amplitude 50 Hz hum with a little third harmonic; the phase is seeded."""
    ph = 2.0 * math.pi * float(_uniforms(seed, stream, 0x50, 1)[0])
    w = 2.0 * math.pi * MAINS_HZ * t_s + ph
    out: NDArray[np.float64] = np.sin(w) + 0.1 * np.sin(3.0 * w)
    return out


def motion(seed: int, stream: int, t_s: NDArray[np.float64]) -> NDArray[np.float64]:
    """Motion bursts (Hann-windowed low-frequency oscillations at Poisson times), peak ~1."""
    out = np.zeros(t_s.size)
    if t_s.size == 0:
        return out
    first = math.floor((float(t_s.min()) - MOTION_BURST_S[1]) / _MOTION_BLOCK_S)
    last = math.floor(float(t_s.max()) / _MOTION_BLOCK_S)
    for block in range(first, last + 1):
        for start, length, f1, f2, p1, p2, size in _motion_bursts(seed, stream, block):
            sel = (t_s >= start) & (t_s < start + length)
            if not sel.any():
                continue
            tt = t_s[sel] - start
            window = np.sin(math.pi * tt / length) ** 2
            wave = 0.6 * np.sin(2 * math.pi * f1 * tt + p1) + 0.4 * np.sin(
                2 * math.pi * f2 * tt + p2
            )
            out[sel] += size * window * wave
    return out


@functools.lru_cache(maxsize=1024)
def _motion_bursts(
    seed: int, stream: int, block: int
) -> tuple[tuple[float, float, float, float, float, float, float], ...]:
    """(start, length, f1, f2, phase1, phase2, size) of the bursts in one 10 s block."""
    rng = np.random.default_rng([seed, stream, block + 2**31, 0x40])
    bursts = []
    for _ in range(rng.poisson(MOTION_BURSTS_PER_MIN * _MOTION_BLOCK_S / 60.0)):
        start = (block + rng.uniform()) * _MOTION_BLOCK_S
        length = rng.uniform(*MOTION_BURST_S)
        f1, f2 = rng.uniform(*MOTION_BAND_HZ, 2)
        p1, p2 = rng.uniform(0.0, 2.0 * math.pi, 2)
        bursts.append((start, length, f1, f2, p1, p2, rng.uniform(0.4, 1.0)))
    return tuple(
        (float(a), float(b), float(c), float(d), float(e), float(f), float(g))
        for a, b, c, d, e, f, g in bursts
    )


def lead_off(seed: int, stream: int, i0: int, t_s: NDArray[np.float64]) -> NDArray[np.float64]:
    """What a floating electrode reads (mV): a DC offset, high-impedance noise and mains."""
    noise = white(seed, stream, i0, t_s.size)
    out: NDArray[np.float64] = (
        LEAD_OFF_OFFSET_MV
        + LEAD_OFF_NOISE_MV * noise
        + LEAD_OFF_MAINS_MV * mains(seed, stream, t_s)
    )
    return out


def saturate(x: NDArray[np.float64], rail: float) -> NDArray[np.float64]:
    """Clip at ±rail, as an amplifier does when its input range is exceeded."""
    out: NDArray[np.float64] = np.clip(x, -rail, rail)
    return out


def finger_out(seed: int, stream: int, i0: int, n: int) -> NDArray[np.float64]:
    """Pleth with no finger in the probe: flat mid-scale with sensor noise."""
    out: NDArray[np.float64] = FINGER_OUT_LEVEL + FINGER_OUT_NOISE * white(seed, stream, i0, n)
    return out


def low_perfusion(
    pleth: NDArray[np.float64], factor: float, noise: NDArray[np.float64], noise_level: float
) -> NDArray[np.float64]:
    """Pulses shrunk by ``factor`` around mid-scale, with noise now comparable to them."""
    out: NDArray[np.float64] = np.clip(
        FINGER_OUT_LEVEL + factor * (pleth - FINGER_OUT_LEVEL) + noise_level * noise, 0.0, 1.0
    )
    return out


def rms_for_snr(signal_rms: float, snr_db: float) -> float:
    """Noise rms that gives ``snr_db`` against a signal of ``signal_rms``."""
    return float(signal_rms / 10.0 ** (snr_db / 20.0))


def add_at_snr(
    x: NDArray[np.float64], noise: NDArray[np.float64], snr_db: float
) -> NDArray[np.float64]:
    """x plus noise scaled to ``snr_db`` against x's own power (one-shot use: whole records)."""
    signal_rms = float(np.sqrt(np.mean((x - x.mean()) ** 2)))
    noise_rms = float(np.sqrt(np.mean(noise**2)))
    if noise_rms == 0.0:
        return x.copy()
    out: NDArray[np.float64] = x + noise * (rms_for_snr(signal_rms, snr_db) / noise_rms)
    return out
