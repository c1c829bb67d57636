"""ECG signal-quality indices and a second, independent QRS detector (for bSQI).

SQI definitions follow Li, Mark & Clifford, "Robust heart rate estimation from multiple
asynchronous noisy sources using signal quality indices and a Kalman filter",
Physiol. Meas. 29 (2008) 15-32, and Behar et al., "ECG signal quality during arrhythmia and
its application to false alarm reduction", IEEE TBME 60(6) 2013.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.fft as sfft
from numpy.typing import NDArray
from scipy import signal

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


ELGENDI_ORDER = 3
ELGENDI_PAD_S = 0.5  # odd-symmetric extension at both ends against filter edge effects.


@functools.lru_cache(maxsize=16)
def _zero_phase_gain(fs_hz: float, n_fft: int) -> NDArray[np.float64]:
    """|H(f)|² of the Elgendi band-pass on the rFFT grid: forward-backward filtering gain."""
    sos = signal.butter(ELGENDI_ORDER, ELGENDI_BAND_HZ, "bandpass", fs=fs_hz, output="sos")
    _, h = signal.sosfreqz(sos, worN=np.fft.rfftfreq(n_fft, 1.0 / fs_hz), fs=fs_hz)
    gain: NDArray[np.float64] = np.abs(h) ** 2
    return gain


def _moving_average_same(x: NDArray[np.float64], w: int) -> NDArray[np.float64]:
    """``np.convolve(x, ones(w) / w, "same")`` in O(n) with a cumulative sum."""
    c = np.cumsum(np.concatenate((np.zeros(w // 2 + 1), x, np.zeros((w - 1) // 2))))
    out: NDArray[np.float64] = (c[w:] - c[:-w]) / w
    return out


def elgendi_qrs(x_mv: NDArray[np.float64], fs_hz: float) -> NDArray[np.int64]:
    """Batch QRS detector (blocks of interest from two moving averages); R-peak indices.

    Zero-phase band-pass by FFT (|H|² of the Butterworth band-pass, i.e. what forward-backward
    filtering does, without ``sosfiltfilt``'s per-call cost); moving averages by cumulative sums.
    """
    x = np.asarray(x_mv, dtype=np.float64)
    n = x.size
    if n < round(2 * ELGENDI_W_BEAT_S * fs_hz):
        return np.zeros(0, dtype=np.int64)
    pad = min(round(ELGENDI_PAD_S * fs_hz), n - 1)
    xp = np.concatenate((2.0 * x[0] - x[pad:0:-1], x, 2.0 * x[-1] - x[-2 : -pad - 2 : -1]))
    n_fft = sfft.next_fast_len(xp.size, real=True)
    spectrum = np.fft.rfft(xp, n_fft) * _zero_phase_gain(float(fs_hz), n_fft)
    y = np.fft.irfft(spectrum, n_fft)[pad : pad + n]
    energy = y * y
    w1 = max(1, round(ELGENDI_W_QRS_S * fs_hz))
    w2 = max(1, round(ELGENDI_W_BEAT_S * fs_hz))
    ma_qrs = _moving_average_same(energy, w1)
    ma_beat = _moving_average_same(energy, w2)
    inside = ma_qrs > ma_beat + ELGENDI_BETA * float(np.mean(energy))
    edges = np.diff(inside.astype(np.int8), prepend=0, append=0)
    starts = np.flatnonzero(edges == 1).tolist()
    stops = np.flatnonzero(edges == -1).tolist()
    peaks: list[int] = []
    refractory = round(ELGENDI_REFRACTORY_S * fs_hz)
    y_abs = np.abs(y)
    for a, b in zip(starts, stops, strict=True):
        if b - a < w1:
            continue
        k = a + int(y_abs[a:b].argmax())
        if peaks and k - peaks[-1] < refractory:
            if y_abs[k] > y_abs[peaks[-1]]:
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
    if x.size < 4:
        return float("nan")
    d = x - x.mean()
    d2 = d * d
    m2 = float(d2.mean())
    if m2 == 0.0:
        return float("nan")
    return float(np.dot(d2, d2)) / x.size / (m2 * m2)  # m4 / m2², as scipy.stats (biased)


def _welch_psd(
    x: NDArray[np.float64], fs_hz: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Welch PSD like ``scipy.signal.welch`` defaults, 4-s segments, in a few numpy calls.

    Hann window, 50 % overlap, constant detrend, one-sided; scaled only up to a constant
    factor (callers use power ratios).
    """
    nperseg = min(x.size, round(4 * fs_hz))
    step = nperseg - nperseg // 2
    n_seg = (x.size - nperseg) // step + 1
    segs = np.lib.stride_tricks.as_strided(
        x, shape=(n_seg, nperseg), strides=(step * x.strides[0], x.strides[0]), writeable=False
    )
    segs = (segs - segs.mean(axis=1, keepdims=True)) * _hann(nperseg)
    spec = np.fft.rfft(segs, axis=1)
    pxx = (spec.real**2 + spec.imag**2).mean(axis=0)
    pxx[1 : nperseg // 2 + (nperseg % 2)] *= 2.0  # one-sided: DC and Nyquist are not doubled
    f_hz = np.fft.rfftfreq(nperseg, 1.0 / fs_hz).astype(np.float64)
    return f_hz, pxx


@functools.lru_cache(maxsize=16)
def _hann(n: int) -> NDArray[np.float64]:
    window: NDArray[np.float64] = signal.get_window("hann", n)
    return window


@functools.lru_cache(maxsize=16)
def _band_slices(
    fs_hz: float, nperseg: int, bands: tuple[tuple[float, float], ...]
) -> tuple[slice, ...]:
    """Bins with lo <= f <= hi on the Welch grid, as slices (the grid is sorted)."""
    f = np.fft.rfftfreq(nperseg, 1.0 / fs_hz)
    return tuple(
        slice(int(np.searchsorted(f, lo, "left")), int(np.searchsorted(f, hi, "right")))
        for lo, hi in bands
    )


def _band_powers(
    x_mv: NDArray[np.float64], fs_hz: float, bands: tuple[tuple[float, float], ...]
) -> list[float]:
    _, pxx = _welch_psd(x_mv, fs_hz)
    nperseg = min(x_mv.size, round(4 * fs_hz))
    return [float(pxx[s].sum()) for s in _band_slices(float(fs_hz), nperseg, bands)]


def spectral_sqis(x_mv: NDArray[np.float64], fs_hz: float) -> tuple[float, float]:
    """(pSQI, basSQI) from one Welch spectrum."""
    x = np.asarray(x_mv, dtype=np.float64)
    p_num, p_den, b_num, b_den = _band_powers(
        x, fs_hz, (PSQI_NUM_HZ, PSQI_DEN_HZ, BASSQI_NUM_HZ, BASSQI_DEN_HZ)
    )
    nan = float("nan")
    return (nan if p_den <= 0.0 else p_num / p_den, nan if b_den <= 0.0 else 1.0 - b_num / b_den)


def psqi(x_mv: NDArray[np.float64], fs_hz: float) -> float:
    """Relative QRS power: P(5-15 Hz) / P(5-40 Hz)."""
    return spectral_sqis(x_mv, fs_hz)[0]


def bas_sqi(x_mv: NDArray[np.float64], fs_hz: float) -> float:
    """Baseline-wander index: 1 - P(0-1 Hz) / P(0-40 Hz)."""
    return spectral_sqis(x_mv, fs_hz)[1]


def rail_fraction(x_mv: NDArray[np.float64], fs_hz: float, min_run_s: float) -> float:
    """Fraction of samples stuck at the signal's own extreme for at least ``min_run_s``."""
    x = np.asarray(x_mv, dtype=np.float64)
    if x.size == 0 or float(np.ptp(x)) == 0.0:
        return 0.0
    min_run = max(2, round(min_run_s * fs_hz))
    stuck = 0
    for level in (float(np.max(x)), float(np.min(x))):
        at = x == level
        if int(np.count_nonzero(at)) < min_run:
            continue  # cannot hold a run this long (the usual case: one apex sample)
        edges = np.diff(at.astype(np.int8), prepend=0, append=0)
        runs = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
        stuck += int(np.sum(runs[runs >= min_run]))
    return stuck / x.size
