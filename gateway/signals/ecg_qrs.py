"""Streaming QRS detector: causal IIR filters with carried state and adaptive thresholds.

Own implementation of the ideas in Pan & Tompkins, "A real-time QRS detection algorithm",
IEEE TBME 32(3), 1985 (band-pass, derivative, squaring, moving-window integration,
two adaptive thresholds, search-back) and Hamilton & Tompkins, IEEE TBME 33(12), 1986
(refractory period, T-wave slope test). Not a port of either: the decision logic runs on
local maxima of the integrated signal with a fixed look-ahead so that results do not
depend on how the stream is cut into blocks.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import signal

# --- Filter design -----------------------------------------------------------------------
BASELINE_CUTOFF_HZ = 0.5  # baseline-wander high-pass; AHA diagnostic lower limit is 0.05 Hz,
# monitoring-grade 0.5 Hz is the usual compromise (IEC 60601-2-27 "monitoring" band 0.5-40 Hz).
LOWPASS_CUTOFF_HZ = 40.0  # upper edge of the monitoring band (IEC 60601-2-27).
MAINS_HZ = 50.0  # Norwegian mains frequency.
NOTCH_Q = 30.0  # notch width ≈ 1.7 Hz: removes mains, spares the QRS spectrum.
QRS_BAND_HZ = (8.0, 25.0)  # QRS band: Elgendi et al. 2013 (PLoS ONE 8(9) e73557) found
# 8-20 Hz best; upper edge widened to 25 Hz (measured: fewer motion false positives).
# Pan & Tompkins 1985 used 5-15 Hz.
MWI_WINDOW_S = 0.150  # integration window ≈ widest normal QRS, Pan & Tompkins 1985 sec. II-E.

# --- Decision rules ------------------------------------------------------------------------
MIN_FS_HZ = 100.0  # below this the 40 Hz band and the QRS slopes are not resolved.
REFRACTORY_S = 0.200  # physiological refractory period, Pan & Tompkins 1985 sec. II-F.
T_WAVE_WINDOW_S = 0.360  # a peak closer than this may be a T wave (slope test), same source.
LOOKAHEAD_S = 0.110  # a candidate must be the largest peak this far ahead: bounds latency.
LEARN_S = 2.0  # learning phase for the initial thresholds, Pan & Tompkins 1985 sec. II-F.
MISSED_BEAT_RR_FACTOR = 1.66  # search back after 166 % of the mean RR, same source.
SEARCHBACK_HORIZON_S = 2.5  # never search back further than this (bounded memory/latency).
LOCATE_HALF_WINDOW_S = 0.050  # R peak search window around the estimate (± 50 ms).
RELEARN_S = 3.0  # no beat for this long: re-learn the thresholds (signal gain may have
# changed). A true 3-s pause is itself alarm-worthy; the quality layer flags flat lines.
BUFFER_S = 4.0  # history kept for search-back and peak location.
RR_HISTORY_BEATS = 8  # running RR average over 8 beats, Pan & Tompkins 1985 sec. II-F.
DEFAULT_RR_S = 1.0  # RR assumed until two beats are seen.


def _group_delay_samples(
    b: NDArray[np.float64], a: NDArray[np.float64], f_hz: float, fs_hz: float
) -> float:
    _, gd = signal.group_delay((b, a), w=[f_hz], fs=fs_hz)
    return float(np.asarray(gd, dtype=np.float64)[0])


class QrsDetector:
    """Feed blocks of one ECG lead in mV; get back R-peak sample indices as they are confirmed."""

    def __init__(self, fs_hz: float, mains_hz: float = MAINS_HZ) -> None:
        if not np.isfinite(fs_hz) or fs_hz < MIN_FS_HZ:
            raise ValueError(f"fs_hz must be ≥ {MIN_FS_HZ} Hz, got {fs_hz}")
        self.fs_hz = float(fs_hz)
        nyq = fs_hz / 2.0
        sections = [
            signal.butter(2, BASELINE_CUTOFF_HZ, "highpass", fs=fs_hz, output="sos"),
            signal.butter(
                2, min(LOWPASS_CUTOFF_HZ, 0.45 * fs_hz), "lowpass", fs=fs_hz, output="sos"
            ),
        ]
        if mains_hz < 0.95 * nyq:
            b, a = signal.iirnotch(mains_hz, NOTCH_Q, fs=fs_hz)
            sections.append(signal.tf2sos(b, a))
        self._sos_clean: NDArray[np.float64] = np.vstack(sections)
        self._sos_band: NDArray[np.float64] = signal.butter(
            2, QRS_BAND_HZ, "bandpass", fs=fs_hz, output="sos"
        )
        # Five-point derivative (Pan & Tompkins eq. 3), scaled to mV/s.
        self._h_deriv = np.array([1.0, 2.0, 0.0, -2.0, -1.0]) * (fs_hz / 8.0)
        self._n_mwi = max(1, round(MWI_WINDOW_S * fs_hz))
        self._h_mwi = np.full(self._n_mwi, 1.0 / self._n_mwi)

        # Delays of the chain at 10 Hz (centre of the QRS band), to map MWI peaks back to R.
        b_c, a_c = signal.sos2tf(self._sos_clean)
        b_b, a_b = signal.sos2tf(self._sos_band)
        self._delay_clean = _group_delay_samples(b_c, a_c, 10.0, fs_hz)
        delay_band = _group_delay_samples(b_b, a_b, 10.0, fs_hz)
        self._mwi_to_clean = round(delay_band + 2.0 + (self._n_mwi - 1) / 2.0)

        self._zi_clean = np.zeros((self._sos_clean.shape[0], 2))
        self._zi_band = np.zeros((self._sos_band.shape[0], 2))
        self._zi_deriv = np.zeros(len(self._h_deriv) - 1)
        self._zi_mwi = np.zeros(self._n_mwi - 1)
        self._started = False
        self._last_x = 0.0

        self._n_seen = 0  # samples fed so far
        self._base = 0  # absolute index of buffer element 0
        self._clean = np.zeros(0)
        self._slope = np.zeros(0)
        self._mwi = np.zeros(0)
        self._next_i = 1  # next MWI index to examine

        self._learned = False
        self._last_learn = 0  # index at which the thresholds were last (re)learnt
        self._spk = 0.0  # running signal-peak level (SPKI)
        self._npk = 0.0  # running noise-peak level (NPKI)
        self._last_qrs_i: int | None = None  # MWI index of the last accepted QRS
        self._last_slope = 0.0
        self._rr_samples: list[int] = []
        self._noise_cands: list[tuple[int, float]] = []
        self._searched_until = -1  # trigger point of the last unsuccessful search-back

    def _s(self, seconds: float) -> int:
        """Seconds to a whole number of samples."""
        return round(seconds * self.fs_hz)

    @property
    def threshold1(self) -> float:
        return self._npk + 0.25 * (self._spk - self._npk)

    @property
    def latency_s(self) -> float:
        """Worst-case delay from an R peak to its report (excluding search-back beats)."""
        worst = (
            self._mwi_to_clean
            + self._s(LOCATE_HALF_WINDOW_S)
            + round(self._delay_clean)
            + self._s(LOOKAHEAD_S)
            + 1
        )
        return worst / self.fs_hz

    def feed(self, block_mv: NDArray[np.float64]) -> NDArray[np.int64]:
        """Process one block; return absolute 0-based indices of R peaks confirmed by it."""
        x = np.asarray(block_mv, dtype=np.float64).ravel()
        if x.size == 0:
            return np.zeros(0, dtype=np.int64)
        # Hold the last finite value over NaN gaps so the IIR state is never poisoned.
        if not np.all(np.isfinite(x)):
            x = _hold_last(np.where(np.isfinite(x), x, np.nan), self._last_x)
        if not self._started:
            self._zi_clean = signal.sosfilt_zi(self._sos_clean) * x[0]
            self._started = True
        self._last_x = float(x[-1])
        y, self._zi_clean = signal.sosfilt(self._sos_clean, x, zi=self._zi_clean)
        band, self._zi_band = signal.sosfilt(self._sos_band, y, zi=self._zi_band)
        deriv, self._zi_deriv = signal.lfilter(self._h_deriv, 1.0, band, zi=self._zi_deriv)
        mwi, self._zi_mwi = signal.lfilter(self._h_mwi, 1.0, deriv * deriv, zi=self._zi_mwi)
        self._clean = np.concatenate([self._clean, y])
        self._slope = np.concatenate([self._slope, np.abs(deriv)])
        self._mwi = np.concatenate([self._mwi, mwi])
        self._n_seen += x.size
        found = self._decide()
        self._trim()
        return np.asarray(sorted(found), dtype=np.int64)

    def flush(self) -> NDArray[np.int64]:
        """End of recording: confirm peaks still waiting for their look-ahead."""
        if not self._started:
            return np.zeros(0, dtype=np.int64)
        n_real = self._n_seen
        pad = np.full(self._s(LOOKAHEAD_S) + self._mwi_to_clean + 2, self._last_x)
        peaks = self.feed(pad)
        return peaks[peaks < n_real]

    # --- decision logic -----------------------------------------------------------------
    def _decide(self) -> list[int]:
        found: list[int] = []
        if not self._learned:
            if self._n_seen < self._s(LEARN_S):
                return found
            # Exactly the first LEARN_S (not the whole first block: block-size invariance),
            # skipping the filter start-up transient.
            learn = self._mwi[self._s(0.3) : self._s(LEARN_S)]
            self._spk = float(np.max(learn)) / 3.0
            self._npk = float(np.mean(learn)) / 2.0
            self._learned = True
            self._last_learn = self._s(LEARN_S)
        lookahead = self._s(LOOKAHEAD_S)
        end = self._n_seen - lookahead - 1  # last index whose look-ahead is complete
        if end <= self._next_i:
            return found
        b = self._base
        m = self._mwi
        lo = self._next_i
        seg = m[lo - 1 - b : end + 1 - b]
        is_max = (seg[1:-1] > seg[:-2]) & (seg[1:-1] >= seg[2:])
        for i in (np.flatnonzero(is_max) + lo).tolist():
            self._search_back(i, found)
            self._relearn_if_silent(i)
            value = float(m[i - b])
            if float(np.max(m[i + 1 - b : i + lookahead + 1 - b])) > value:
                continue  # a larger peak follows within the look-ahead: decide on that one
            self._classify(i, value, found)
        self._search_back(end, found)
        self._relearn_if_silent(end)
        self._next_i = end
        return found

    def _relearn_if_silent(self, pos: int) -> None:
        """No beat for RELEARN_S (e.g. gain dropped after a lead change): learn levels anew.

        The re-learning point is fixed by the last event, not by ``pos``, so the result
        does not depend on where blocks end.
        """
        while True:
            t = max(self._last_qrs_i or 0, self._last_learn) + self._s(RELEARN_S)
            if pos < t:
                return
            window = self._mwi[t - self._s(LEARN_S) - self._base : t - self._base]
            self._spk = float(np.max(window)) / 3.0
            self._npk = float(np.mean(window)) / 2.0
            self._last_learn = t

    def _classify(self, i: int, value: float, found: list[int]) -> None:
        refractory = self._s(REFRACTORY_S)
        last = self._last_qrs_i
        if last is not None and i - last < refractory:
            return
        if value > self.threshold1:
            slope = self._max_slope(i)
            if (
                last is not None
                and i - last < self._s(T_WAVE_WINDOW_S)
                and slope < 0.5 * self._last_slope
            ):
                self._npk = 0.125 * value + 0.875 * self._npk  # T wave: count as noise
                return
            self._spk = 0.125 * value + 0.875 * self._spk
            self._accept(i, slope, found)
        else:
            self._npk = 0.125 * value + 0.875 * self._npk
            self._noise_cands.append((i, value))

    def _search_back(self, pos: int, found: list[int]) -> None:
        while self._last_qrs_i is not None:
            rr = self._rr_samples
            mean_rr = sum(rr) / len(rr) if rr else self._s(DEFAULT_RR_S)
            # Trigger point fixed by the last beat (not by pos): block-size invariance.
            t = self._last_qrs_i + int(MISSED_BEAT_RR_FACTOR * mean_rr) + 1
            if pos < t or t <= self._searched_until:
                return
            floor = max(self._last_qrs_i + self._s(REFRACTORY_S), t - self._s(SEARCHBACK_HORIZON_S))
            cands = [(v, i) for i, v in self._noise_cands if floor <= i < t]
            thr2 = 0.5 * self.threshold1
            if not cands or max(cands)[0] <= thr2:
                self._searched_until = t  # one search per gap; re-learning takes over
                self._noise_cands = [(i, v) for i, v in self._noise_cands if i >= floor]
                return
            value, i = max(cands)
            self._spk = 0.25 * value + 0.75 * self._spk  # Pan & Tompkins: faster adaptation
            self._accept(i, self._max_slope(i), found)

    def _accept(self, i: int, slope: float, found: list[int]) -> None:
        if self._last_qrs_i is not None:
            self._rr_samples.append(i - self._last_qrs_i)
            del self._rr_samples[:-RR_HISTORY_BEATS]
        self._last_qrs_i = i
        self._last_slope = slope
        self._noise_cands = [(j, v) for j, v in self._noise_cands if j > i]
        found.append(self._locate(i))

    def _max_slope(self, i: int) -> float:
        b = self._base
        window = self._slope[max(i - self._n_mwi - b, 0) : max(i + 1 - b, 0)]
        return float(np.max(window)) if window.size else 0.0

    def _locate(self, i: int) -> int:
        """R peak: max |amplitude| of the cleaned lead within ±50 ms of the expected place."""
        b = self._base
        centre = i - self._mwi_to_clean
        half = self._s(LOCATE_HALF_WINDOW_S)
        lo = max(centre - half - b, 0)
        hi = min(centre + half + 1 - b, self._clean.size)
        if hi <= lo:
            return max(centre - round(self._delay_clean), 0)
        k = lo + int(np.argmax(np.abs(self._clean[lo:hi])))
        return max(k + b - round(self._delay_clean), 0)

    def _trim(self) -> None:
        # Keep what search-back (horizon + integration window + locate window) can reach.
        new_base = self._next_i - self._s(BUFFER_S)
        drop = new_base - self._base
        if drop > self._s(1.0):
            self._clean = self._clean[drop:]
            self._slope = self._slope[drop:]
            self._mwi = self._mwi[drop:]
            self._base += drop


def _hold_last(x: NDArray[np.float64], initial: float) -> NDArray[np.float64]:
    """Replace NaN with the last finite value before it (``initial`` at the start)."""
    idx = np.where(np.isnan(x), 0, np.arange(x.size))
    np.maximum.accumulate(idx, out=idx)
    out: NDArray[np.float64] = x[idx]
    out[np.isnan(out)] = initial
    return out


def detect_qrs(x_mv: NDArray[np.float64], fs_hz: float, block_s: float = 0.25) -> NDArray[np.int64]:
    """Run :class:`QrsDetector` over a whole recording in blocks of ``block_s`` seconds."""
    det = QrsDetector(fs_hz)
    step = max(1, round(block_s * fs_hz))
    x = np.asarray(x_mv, dtype=np.float64).ravel()
    parts = [det.feed(x[k : k + step]) for k in range(0, x.size, step)]
    parts.append(det.flush())
    return np.concatenate(parts)
