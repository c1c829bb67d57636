"""Seeded synthetic ECG noise for stress tests: EMG, motion, baseline wander, mains.

The noise shapes follow the MIT-BIH Noise Stress Test Database idea (Moody, Muldrow & Mark,
Computers in Cardiology 1984): noise is scaled to a stated SNR against the ECG's own power.
"""

from __future__ import annotations

import enum

import numpy as np
from numpy.typing import NDArray
from scipy import signal

ECG_BAND_HZ = (0.5, 40.0)  # band in which ECG signal power is measured for the SNR.
EMG_BAND_HZ = (20.0, 150.0)  # surface EMG band (upper edge clipped below fs/2).
WANDER_BAND_HZ = (0.1, 0.5)  # respiration / electrode drift.
MOTION_BURST_S = (0.3, 1.5)  # duration range of motion bursts.
MOTION_RATE_PER_MIN = 6.0  # mean number of motion bursts per minute.


class NoiseKind(enum.Enum):
    EMG = "emg"
    MOTION = "motion"
    WANDER = "wander"
    MAINS = "mains"
    MIXED = "mixed"


def _band_power(x: NDArray[np.float64], fs_hz: float, band_hz: tuple[float, float]) -> float:
    sos = signal.butter(4, band_hz, "bandpass", fs=fs_hz, output="sos")
    return float(np.mean(signal.sosfiltfilt(sos, x) ** 2))


def _unit(x: NDArray[np.float64]) -> NDArray[np.float64]:
    return x / float(np.sqrt(np.mean(x * x)))


def _emg(n: int, fs_hz: float, rng: np.random.Generator) -> NDArray[np.float64]:
    hi = min(EMG_BAND_HZ[1], 0.45 * fs_hz)
    sos = signal.butter(4, (EMG_BAND_HZ[0], hi), "bandpass", fs=fs_hz, output="sos")
    return _unit(signal.sosfilt(sos, rng.standard_normal(n)))


def _motion(n: int, fs_hz: float, rng: np.random.Generator) -> NDArray[np.float64]:
    out = np.zeros(n)
    n_bursts = max(1, rng.poisson(MOTION_RATE_PER_MIN * n / fs_hz / 60.0))
    sos = signal.butter(2, (0.5, 8.0), "bandpass", fs=fs_hz, output="sos")
    for _ in range(n_bursts):
        length = round(rng.uniform(*MOTION_BURST_S) * fs_hz)
        start = int(rng.integers(0, max(1, n - length)))
        burst = signal.sosfilt(sos, rng.standard_normal(length)) * np.hanning(length)
        out[start : start + length] += burst[: n - start]
    return _unit(out)


def _wander(n: int, fs_hz: float, rng: np.random.Generator) -> NDArray[np.float64]:
    t = np.arange(n) / fs_hz
    f = rng.uniform(*WANDER_BAND_HZ, size=3)
    ph = rng.uniform(0, 2 * np.pi, size=3)
    return _unit(np.sum(np.sin(2 * np.pi * f[:, None] * t + ph[:, None]), axis=0))


def _mains(n: int, fs_hz: float, rng: np.random.Generator) -> NDArray[np.float64]:
    t = np.arange(n) / fs_hz
    return _unit(np.sin(2 * np.pi * 50.0 * t + rng.uniform(0, 2 * np.pi)))


_MAKERS = {
    NoiseKind.EMG: _emg,
    NoiseKind.MOTION: _motion,
    NoiseKind.WANDER: _wander,
    NoiseKind.MAINS: _mains,
}


def add_noise(
    x_mv: NDArray[np.float64], fs_hz: float, kind: NoiseKind, snr_db: float, seed: int
) -> NDArray[np.float64]:
    """Return ``x_mv`` plus noise of ``kind`` scaled to ``snr_db`` against 0.5-40 Hz ECG power."""
    x = np.asarray(x_mv, dtype=np.float64)
    rng = np.random.default_rng(seed)
    if kind is NoiseKind.MIXED:
        noise = _unit(
            sum((make(x.size, fs_hz, rng) for make in _MAKERS.values()), start=np.zeros(x.size))
        )
    else:
        noise = _MAKERS[kind](x.size, fs_hz, rng)
    p_ecg = _band_power(x, fs_hz, ECG_BAND_HZ)
    scale = float(np.sqrt(p_ecg / 10.0 ** (snr_db / 10.0)))
    noisy: NDArray[np.float64] = x + scale * noise
    return noisy
