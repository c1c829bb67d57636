"""ECG signal-quality indices and a second, independent QRS detector (for bSQI).

SQI definitions follow Li, Mark & Clifford, "Robust heart rate estimation from multiple
asynchronous noisy sources using signal quality indices and a Kalman filter",
Physiol. Meas. 29 (2008) 15-32, and Behar et al., "ECG signal quality during arrhythmia and
its application to false alarm reduction", IEEE TBME 60(6) 2013.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import signal, stats

# --- Second detector (Elgendi-style two moving averages, batch, zero-phase) -------------
# Elgendi, Jonkman & DeBoer, "Frequency bands effects on QRS detection", BIOSIGNALS 2010:
# band 8-20 Hz, W1 = 97 ms (QRS), W2 = 611 ms (beat), offset beta = 0.08.
ELGENDI_BAND_HZ = (8.0, 20.0)
ELGENDI_W_QRS_S = 0.097
ELGENDI_W_BEAT_S = 0.611
ELGENDI_BETA = 0.08
ELGENDI_REFRACTORY_S = 0.250  # merge blocks closer than this (one QRS can split in two).

MATCH_TOLERANCE_S = 0.150  # beat-matching window, ANSI/AAMI EC57:2012 sec. 3.3.

# --- Spectral bands, Li et al. 2008 sec. 2.3 --------------------------------------------
PSQI_NUM_HZ = (5.0, 15.0)
PSQI_DEN_HZ = (5.0, 40.0)
BASSQI_NUM_HZ = (0.0, 1.0)
BASSQI_DEN_HZ = (0.0, 40.0)


def elgendi_qrs(x_mv: NDArray[np.float64], fs_hz: float) -> NDArray[np.int64]:
    """Batch QRS detector (blocks of interest from two moving averages); R-peak indices."""
    x = np.asarray(x_mv, dtype=np.float64)
    if x.size < round(2 * ELGENDI_W_BEAT_S * fs_hz):
        return np.zeros(0, dtype=np.int64)
    sos = signal.butter(3, ELGENDI_BAND_HZ, "bandpass", fs=fs_hz, output="sos")
    y = signal.sosfiltfilt(sos, x)
    energy = y * y
    w1 = max(1, round(ELGENDI_W_QRS_S * fs_hz))
    w2 = max(1, round(ELGENDI_W_BEAT_S * fs_hz))
    ma_qrs = np.convolve(energy, np.full(w1, 1.0 / w1), mode="same")
    ma_beat = np.convolve(energy, np.full(w2, 1.0 / w2), mode="same")
    inside = ma_qrs > ma_beat + ELGENDI_BETA * float(np.mean(energy))
    edges = np.diff(inside.astype(np.int8), prepend=0, append=0)
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1)
    peaks: list[int] = []
    refractory = round(ELGENDI_REFRACTORY_S * fs_hz)
    for a, b in zip(starts, stops, strict=True):
        if b - a < w1:
            continue
        k = int(a + np.argmax(np.abs(y[a:b])))
        if peaks and k - peaks[-1] < refractory:
            if abs(y[k]) > abs(y[peaks[-1]]):
                peaks[-1] = k
            continue
        peaks.append(k)
    return np.asarray(peaks, dtype=np.int64)


def match_beats(
    ref: NDArray[np.int64], test: NDArray[np.int64], tol_samples: int
) -> tuple[int, int, int]:
    """Greedy one-to-one matching of sorted beat indices: (true pos., false neg., false pos.)."""
    r = np.sort(np.asarray(ref, dtype=np.int64))
    t = np.sort(np.asarray(test, dtype=np.int64))
    i = j = tp = 0
    while i < r.size and j < t.size:
        d = int(t[j]) - int(r[i])
        if abs(d) <= tol_samples:
            tp += 1
            i += 1
            j += 1
        elif d < 0:
            j += 1
        else:
            i += 1
    return tp, int(r.size) - tp, int(t.size) - tp


def bsqi(peaks_a: NDArray[np.int64], peaks_b: NDArray[np.int64], fs_hz: float) -> float:
    """Agreement of two detectors: matched / (N_a + N_b - matched); NaN if neither found a beat."""
    tp, fn, fp = match_beats(peaks_a, peaks_b, round(MATCH_TOLERANCE_S * fs_hz))
    total = tp + fn + fp
    return float("nan") if total == 0 else tp / total


def ksqi(x_mv: NDArray[np.float64]) -> float:
    """Pearson kurtosis (normal = 3); clean ECG is strongly peaked (> 5)."""
    x = np.asarray(x_mv, dtype=np.float64)
    if x.size < 4 or float(np.std(x)) == 0.0:
        return float("nan")
    return float(stats.kurtosis(x, fisher=False))


def _band_powers(
    x_mv: NDArray[np.float64], fs_hz: float, bands: list[tuple[float, float]]
) -> list[float]:
    nperseg = min(x_mv.size, round(4 * fs_hz))
    f, pxx = signal.welch(x_mv, fs=fs_hz, nperseg=nperseg)
    return [float(np.sum(pxx[(f >= lo) & (f <= hi)])) for lo, hi in bands]


def psqi(x_mv: NDArray[np.float64], fs_hz: float) -> float:
    """Relative QRS power: P(5-15 Hz) / P(5-40 Hz)."""
    num, den = _band_powers(np.asarray(x_mv, dtype=np.float64), fs_hz, [PSQI_NUM_HZ, PSQI_DEN_HZ])
    return float("nan") if den <= 0.0 else num / den


def bas_sqi(x_mv: NDArray[np.float64], fs_hz: float) -> float:
    """Baseline-wander index: 1 - P(0-1 Hz) / P(0-40 Hz)."""
    num, den = _band_powers(
        np.asarray(x_mv, dtype=np.float64), fs_hz, [BASSQI_NUM_HZ, BASSQI_DEN_HZ]
    )
    return float("nan") if den <= 0.0 else 1.0 - num / den


def rail_fraction(x_mv: NDArray[np.float64], fs_hz: float, min_run_s: float) -> float:
    """Fraction of samples stuck at the signal's own extreme for at least ``min_run_s``."""
    x = np.asarray(x_mv, dtype=np.float64)
    if x.size == 0 or float(np.ptp(x)) == 0.0:
        return 0.0
    min_run = max(2, round(min_run_s * fs_hz))
    stuck = 0
    for level in (float(np.max(x)), float(np.min(x))):
        at = (x == level).astype(np.int8)
        edges = np.diff(at, prepend=0, append=0)
        runs = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
        stuck += int(np.sum(runs[runs >= min_run]))
    return stuck / x.size
