"""Streaming QRS detector: causal IIR filters with carried state and adaptive thresholds.

Own implementation of the ideas in Pan & Tompkins, "A real-time QRS detection algorithm",
IEEE TBME 32(3), 1985 (band-pass, derivative, squaring, moving-window integration,
two adaptive thresholds, search-back) and Hamilton & Tompkins, IEEE TBME 33(12), 1986
(refractory period, T-wave slope test). Not a port of either: the decision logic runs on
local maxima of the integrated signal with a fixed look-ahead so that results do not
depend on how the stream is cut into blocks.

Speed: all per-sample work is a handful of numpy calls per block (one matrix product for
the whole linear filter chain, one convolution for the integrator, a vectorised local-maximum
search); Python runs once per candidate peak. The linear chain is evaluated as a block
state-space product because ``scipy.signal.sosfilt``/``lfilter`` cost 45-65 µs of argument
checking per call (scipy 1.17, measured), more than the whole 21 µs budget of a 0.25-s block.
"""

from __future__ import annotations

import functools
from collections import deque
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import linalg, signal

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

# --- Block processing ----------------------------------------------------------------------
MAX_CHUNK = 256  # longer blocks are processed in pieces of this many samples (the filter
# matrix grows with the square of the piece length).
MATRIX_CACHE = 4  # per-detector cache of block matrices, one per distinct block length
# (a shared cache behind it serves all detectors of the same rate: one per ECG lead).
INPUT_LIMIT_MV = 1e6  # clip applied only to blocks that trip STATE_LIMIT; real ECG front ends
# span a few hundred mV at most (IEC 60601-2-27: ±300 mV electrode offset).
STATE_LIMIT = 1e9  # |first high-pass state| above this (or NaN): the block is clipped/held.
MAX_NOISE_CANDIDATES = 64  # bound on remembered sub-threshold peaks (long silences).


def _group_delay_samples(sos: NDArray[np.float64], f_hz: float, fs_hz: float) -> float:
    b, a = signal.sos2tf(sos)
    _, gd = signal.group_delay((b, a), w=[f_hz], fs=fs_hz)
    return float(np.asarray(gd, dtype=np.float64)[0])


@dataclass(frozen=True, slots=True)
class _Chain:
    """The linear filter chain as a state-space system, with powers precomputed.

    State ``s`` (length ``d``) is the concatenated second-order-section state of the
    cleaning filters and of the band-pass + derivative filters, in ``sosfilt``'s layout.
    Outputs: row 0 the cleaned lead (mV), row 1 the derivative of the QRS band (mV/s).
    """

    d: int
    n_clean_states: int
    zi_clean_unit: NDArray[np.float64]  # steady state of the cleaning filters for input 1
    obs: NDArray[np.float64]  # (2, MAX_CHUNK, d): C A^k
    impulse: NDArray[np.float64]  # (2, MAX_CHUNK): impulse responses of both outputs
    a_pow: NDArray[np.float64]  # (MAX_CHUNK + 1, d, d): A^k
    a_pow_b: NDArray[np.float64]  # (d, MAX_CHUNK): A^k B
    delay_clean: float  # group delay of the cleaning filters at 10 Hz, samples
    delay_band: float  # group delay of the band-pass at 10 Hz, samples


@functools.lru_cache(maxsize=8)
def _chain(fs_hz: float, mains_hz: float) -> _Chain:
    """Design the filters and derive their state-space form by probing ``sosfilt``."""
    nyq = fs_hz / 2.0
    sections = [
        signal.butter(2, BASELINE_CUTOFF_HZ, "highpass", fs=fs_hz, output="sos"),
        signal.butter(2, min(LOWPASS_CUTOFF_HZ, 0.45 * fs_hz), "lowpass", fs=fs_hz, output="sos"),
    ]
    if mains_hz < 0.95 * nyq:
        b, a = signal.iirnotch(mains_hz, NOTCH_Q, fs=fs_hz)
        sections.append(signal.tf2sos(b, a))
    sos_clean = np.vstack(sections)
    sos_band = signal.butter(2, QRS_BAND_HZ, "bandpass", fs=fs_hz, output="sos")
    # Five-point derivative (Pan & Tompkins eq. 3) in mV/s, factored into two FIR sections:
    # (1 + 2z⁻¹ − 2z⁻³ − z⁻⁴) = (1 − z⁻²)(1 + z⁻¹)².
    k = fs_hz / 8.0
    sos_deriv = np.array([[k, 0.0, -k, 1.0, 0.0, 0.0], [1.0, 2.0, 1.0, 1.0, 0.0, 0.0]])
    sos_bd = np.vstack([sos_band, sos_deriv])
    nc, nb = sos_clean.shape[0], sos_bd.shape[0]
    d = 2 * (nc + nb)

    # One step of the chain for d + 1 probes at once: unit states, then a unit input.
    probes = np.vstack([np.eye(d), np.zeros((1, d))])
    x = np.zeros((d + 1, 1))
    x[d, 0] = 1.0
    zc = probes[:, : 2 * nc].reshape(d + 1, nc, 2).transpose(1, 0, 2)
    zb = probes[:, 2 * nc :].reshape(d + 1, nb, 2).transpose(1, 0, 2)
    y, zc1 = signal.sosfilt(sos_clean, x, axis=-1, zi=zc)
    v, zb1 = signal.sosfilt(sos_bd, y, axis=-1, zi=zb)
    s1 = np.hstack(
        [zc1.transpose(1, 0, 2).reshape(d + 1, -1), zb1.transpose(1, 0, 2).reshape(d + 1, -1)]
    )
    a_mat, b_vec = s1[:d].T, s1[d]
    c_mat = np.vstack([y[:d, 0], v[:d, 0]])  # (2, d)
    d_vec = np.array([y[d, 0], v[d, 0]])

    n = MAX_CHUNK
    a_pow = np.empty((n + 1, d, d))
    a_pow[0] = np.eye(d)
    for i in range(n):
        a_pow[i + 1] = a_mat @ a_pow[i]
    obs = np.einsum("rd,kde->rke", c_mat, a_pow[:n])
    a_pow_b = np.einsum("kde,e->dk", a_pow[:n], b_vec)
    impulse = np.empty((2, n))
    impulse[:, 0] = d_vec
    impulse[:, 1:] = c_mat @ a_pow_b[:, : n - 1]
    return _Chain(
        d=d,
        n_clean_states=2 * nc,
        zi_clean_unit=signal.sosfilt_zi(sos_clean).ravel(),
        obs=obs,
        impulse=impulse,
        a_pow=a_pow,
        a_pow_b=a_pow_b,
        delay_clean=_group_delay_samples(sos_clean, 10.0, fs_hz),
        delay_band=_group_delay_samples(sos_band, 10.0, fs_hz),
    )


_Matrices = tuple[NDArray[np.float64], NDArray[np.float64]]


@functools.lru_cache(maxsize=32)
def _block_matrices(fs_hz: float, mains_hz: float, n: int) -> _Matrices:
    """Shared, read-only matrices for ``n``-sample blocks: ``C @ [s, x]`` = cleaned lead (n),
    ``M @ [s, x]`` = [slope (n), next state (d)]. Only M is applied to every block; the cleaned
    lead is recomputed around accepted beats (:meth:`QrsDetector._locate`)."""
    ch = _chain(fs_hz, mains_hz)
    d = ch.d
    clean, rest = np.empty((n, d + n)), np.empty((n + d, d + n))
    for out, row in ((clean, 0), (rest, 1)):
        out[:n, :d] = ch.obs[row, :n]
        out[:n, d:] = linalg.toeplitz(ch.impulse[row, :n], np.zeros(n))
    rest[n:, :d] = ch.a_pow[n]
    rest[n:, d:] = ch.a_pow_b[:, n - 1 :: -1]
    clean.setflags(write=False)
    rest.setflags(write=False)
    return clean, rest


class QrsDetector:
    """Feed blocks of one ECG lead in mV; get back R-peak sample indices as they are confirmed."""

    def __init__(self, fs_hz: float, mains_hz: float = MAINS_HZ) -> None:
        if not np.isfinite(fs_hz) or fs_hz < MIN_FS_HZ:
            raise ValueError(f"fs_hz must be ≥ {MIN_FS_HZ} Hz, got {fs_hz}")
        self.fs_hz = float(fs_hz)
        self._mains_hz = float(mains_hz)
        self._chain = _chain(self.fs_hz, self._mains_hz)
        self._matrices: dict[int, _Matrices] = {}
        self._n_mwi = max(1, round(MWI_WINDOW_S * fs_hz))
        self._h_mwi = np.full(self._n_mwi, 1.0 / self._n_mwi)
        self._delay_clean = round(self._chain.delay_clean)
        self._mwi_to_clean = round(self._chain.delay_band + 2.0 + (self._n_mwi - 1) / 2.0)
        # Durations in samples, computed once (the decision code runs per candidate peak).
        self._n_lookahead = self._s(LOOKAHEAD_S)
        self._n_refractory = self._s(REFRACTORY_S)
        self._n_t_wave = self._s(T_WAVE_WINDOW_S)
        self._n_learn = self._s(LEARN_S)
        self._n_relearn = self._s(RELEARN_S)
        self._n_horizon = self._s(SEARCHBACK_HORIZON_S)
        self._n_buffer = self._s(BUFFER_S)
        self._n_locate = self._s(LOCATE_HALF_WINDOW_S)
        self._n_default_rr = self._s(DEFAULT_RR_S)

        self._state = np.zeros(self._chain.d)
        self._started = False
        self._last_x = 0.0
        # Linear buffers (absolute index i lives at i - base); they start with n_mwi - 1
        # zeros "before" the stream so the integrator needs no separate state.
        cap = self._n_buffer + self._n_lookahead + self._n_mwi + 2 * MAX_CHUNK + 8
        self._n_seen = 0  # samples fed so far
        self._base = -(self._n_mwi - 1)
        # Inputs [state, x] of the recent blocks (as far back as the buffers reach), from which
        # the cleaned lead is recomputed where a beat is located.
        self._blocks: deque[tuple[int, NDArray[np.float64]]] = deque()
        self._sq = np.zeros(cap)  # squared slope of the QRS band, (mV/s)²
        self._mwi = np.zeros(cap)  # moving-window integral of _sq
        self._mwi_view = self._mwi.data  # fast scalar reads (Python floats)
        self._next_i = 1  # next MWI index to examine

        self._learned = False
        self._last_learn = 0  # index at which the thresholds were last (re)learnt
        self._spk = 0.0  # running signal-peak level (SPKI)
        self._npk = 0.0  # running noise-peak level (NPKI)
        self._last_qrs_i: int | None = None  # MWI index of the last accepted QRS
        self._last_slope_sq = 0.0
        self._rr_samples: list[int] = []
        self._noise_cands: list[tuple[int, float]] = []
        self._searched_until = -1  # trigger point of the last unsuccessful search-back
        # Next search-back / re-learning trigger points (fixed by past events).
        self._t_search = _NEVER
        self._t_learn = _NEVER
        self._t_event = _NEVER

    def _s(self, seconds: float) -> int:
        """Seconds to a whole number of samples."""
        return round(seconds * self.fs_hz)

    @property
    def threshold1(self) -> float:
        return self._npk + 0.25 * (self._spk - self._npk)

    @property
    def n_seen(self) -> int:
        """Samples fed so far (the absolute index of the next sample)."""
        return self._n_seen

    @property
    def latency_s(self) -> float:
        """Worst-case delay from an R peak to its report (excluding search-back beats)."""
        worst = self._mwi_to_clean + self._n_locate + self._delay_clean + self._n_lookahead + 1
        return worst / self.fs_hz

    def feed(self, block_mv: NDArray[np.float64]) -> NDArray[np.int64]:
        """Process one block; return absolute 0-based indices of R peaks confirmed by it."""
        x = np.asarray(block_mv, dtype=np.float64)
        if x.ndim != 1:
            x = x.ravel()
        if x.size == 0:
            return _NO_PEAKS
        if not self._started:
            x0 = float(_hold_last(np.where(np.isfinite(x[:1]), x[:1], np.nan), 0.0)[0])
            self._state[: self._chain.n_clean_states] = self._chain.zi_clean_unit * x0
            self._started = True
        found: list[int] = []
        if x.size <= MAX_CHUNK:
            self._filter(x)
            self._decide(found)
        else:
            for k in range(0, x.size, MAX_CHUNK):
                self._filter(x[k : k + MAX_CHUNK])
                self._decide(found)
        if not found:
            return _NO_PEAKS
        found.sort()
        return np.array(found, dtype=np.int64)

    def flush(self) -> NDArray[np.int64]:
        """End of recording: confirm peaks still waiting for their look-ahead."""
        if not self._started:
            return np.zeros(0, dtype=np.int64)
        n_real = self._n_seen
        pad = np.full(self._n_lookahead + self._mwi_to_clean + 2, self._last_x)
        peaks = self.feed(pad)
        return peaks[peaks < n_real]

    # --- per-sample work: a few numpy calls per block --------------------------------------
    def _filter(self, x: NDArray[np.float64]) -> None:
        n = x.size
        mats = self._matrices.get(n)
        if mats is None:
            if len(self._matrices) >= MATRIX_CACHE:
                del self._matrices[next(iter(self._matrices))]
            mats = self._matrices[n] = _block_matrices(self.fs_hz, self._mains_hz, n)
        v = np.concatenate((self._state, x))
        out = mats[1].dot(v)
        # Any NaN/inf input makes every state element non-finite (0 × NaN is NaN), and absurd
        # finite input (a decoder fault) makes the first high-pass state huge. Then hold the
        # last finite value over NaN gaps and clip, so the filter state is never poisoned.
        if not abs(out[n]) < STATE_LIMIT:
            x = _hold_last(np.where(np.isfinite(x), x, np.nan), self._last_x)
            x = np.clip(x, -INPUT_LIMIT_MV, INPUT_LIMIT_MV)
            v = np.concatenate((self._state, x))
            out = mats[1].dot(v)
        self._last_x = float(x[-1])
        self._state = out[n:]
        self._blocks.append((self._n_seen, v))
        w = self._n_seen - self._base
        if w + n > self._sq.size:
            w = self._compact()
        sq = self._sq
        np.square(out[:n], out=sq[w : w + n])
        # The window is symmetric, so correlation is the moving-window integral.
        self._mwi[w : w + n] = np.correlate(sq[w - self._n_mwi + 1 : w + n], self._h_mwi, "valid")
        self._n_seen += n

    def _compact(self) -> int:
        """Move the history still needed (search-back, location) to the buffer start."""
        keep_from = min(self._next_i - self._n_buffer, self._n_seen - self._n_mwi)
        drop = keep_from - self._base
        used = self._n_seen - self._base
        for buf in (self._sq, self._mwi):
            buf[: used - drop] = buf[drop:used]
        self._base += drop
        blocks = self._blocks
        while blocks and blocks[0][0] + blocks[0][1].size - self._chain.d <= self._base:
            blocks.popleft()
        return self._n_seen - self._base

    # --- decision logic: Python once per local maximum of the MWI ---------------------------
    def _decide(self, found: list[int]) -> None:
        b = self._base
        m = self._mwi
        if not self._learned:
            if self._n_seen < self._n_learn:
                return
            # Exactly the first LEARN_S (not the whole first block: block-size invariance),
            # skipping the filter start-up transient.
            self._learn_levels(self._s(0.3), self._n_learn)
            self._learned = True
        look = self._n_lookahead
        end = self._n_seen - look - 1  # last index whose look-ahead is complete
        lo = self._next_i
        if end <= lo:
            return
        # Local maxima (m[i] > m[i-1] and m[i] >= m[i+1]) up to the newest sample: those
        # beyond ``end`` are needed for the look-ahead test and are scanned again next time.
        seg = m[lo - 1 - b : self._n_seen - b]
        rising = seg[1:] > seg[:-1]
        off = lo - b
        peaks = (rising[:-1] > rising[1:]).nonzero()[0].tolist()
        mv = self._mwi_view
        n_peaks = len(peaks)
        stop = end - b
        for k in range(n_peaks):
            p = peaks[k] + off
            if p >= stop:
                break
            value = mv[p]
            # Skip if anything within the look-ahead is larger: the maximum of m over
            # (p, p + look] lies at a local maximum inside the window or at its end.
            limit = p + look
            if mv[limit] > value:
                continue
            j = k + 1
            while j < n_peaks and peaks[j] + off <= limit and mv[peaks[j] + off] <= value:
                j += 1
            if j < n_peaks and peaks[j] + off <= limit:
                continue  # a larger peak follows: decide on that one
            i = p + b
            if i >= self._t_event:
                self._run_triggers(i, found)
            self._classify(i, value, found)
        if end >= self._t_event:
            self._run_triggers(end, found)
        self._next_i = end

    def _learn_levels(self, start: int, stop: int) -> None:
        """(Re)learn the signal and noise levels from the MWI over [start, stop)."""
        window = self._mwi[start - self._base : stop - self._base]
        self._spk = float(window.max()) / 3.0
        self._npk = float(window.mean()) / 2.0
        self._last_learn = stop
        self._update_triggers()

    def _update_triggers(self) -> None:
        """Trigger points follow from the last beat / re-learning, never from block ends."""
        last = self._last_qrs_i
        self._t_learn = max(last or 0, self._last_learn) + self._n_relearn
        t_search = _NEVER
        if last is not None:
            rr = self._rr_samples
            mean_rr = sum(rr) / len(rr) if rr else self._n_default_rr
            t_search = last + int(MISSED_BEAT_RR_FACTOR * mean_rr) + 1
            if t_search <= self._searched_until:
                t_search = _NEVER
        self._t_search = t_search
        self._t_event = min(t_search, self._t_learn)

    def _run_triggers(self, pos: int, found: list[int]) -> None:
        """Search-back and re-learning events due up to ``pos``, in sample order."""
        while self._t_event <= pos:
            if self._t_search <= self._t_learn:
                self._search_back(self._t_search, found)
            else:
                # No beat for RELEARN_S (e.g. gain dropped after a lead change).
                self._learn_levels(self._t_learn - self._n_learn, self._t_learn)

    def _search_back(self, t: int, found: list[int]) -> None:
        assert self._last_qrs_i is not None
        floor = max(self._last_qrs_i + self._n_refractory, t - self._n_horizon)
        cands = [(v, i) for i, v in self._noise_cands if floor <= i < t]
        if not cands or max(cands)[0] <= 0.5 * self.threshold1:
            self._searched_until = t  # one search per gap; re-learning takes over
            self._noise_cands = [(i, v) for i, v in self._noise_cands if i >= floor]
            self._update_triggers()
            return
        value, i = max(cands)
        self._spk = 0.25 * value + 0.75 * self._spk  # Pan & Tompkins: faster adaptation
        self._accept(i, self._max_slope_sq(i), found)

    def _classify(self, i: int, value: float, found: list[int]) -> None:
        last = self._last_qrs_i
        if last is not None and i - last < self._n_refractory:
            return
        if value > self._npk + 0.25 * (self._spk - self._npk):  # threshold1
            slope_sq = self._max_slope_sq(i)
            if (
                last is not None
                and i - last < self._n_t_wave
                and slope_sq < 0.25 * self._last_slope_sq  # slope < half the last slope
            ):
                self._npk = 0.125 * value + 0.875 * self._npk  # T wave: count as noise
                return
            self._spk = 0.125 * value + 0.875 * self._spk
            self._accept(i, slope_sq, found)
        else:
            self._npk = 0.125 * value + 0.875 * self._npk
            cands = self._noise_cands
            cands.append((i, value))
            if len(cands) > MAX_NOISE_CANDIDATES:
                # Older than any search-back can reach (horizon < BUFFER_S).
                self._noise_cands = [c for c in cands if c[0] >= i - self._n_buffer]
                del self._noise_cands[:-MAX_NOISE_CANDIDATES]

    def _accept(self, i: int, slope_sq: float, found: list[int]) -> None:
        if self._last_qrs_i is not None:
            self._rr_samples.append(i - self._last_qrs_i)
            del self._rr_samples[:-RR_HISTORY_BEATS]
        self._last_qrs_i = i
        self._last_slope_sq = slope_sq
        if self._noise_cands:
            self._noise_cands = [(j, v) for j, v in self._noise_cands if j > i]
        self._update_triggers()
        found.append(self._locate(i))

    def _max_slope_sq(self, i: int) -> float:
        """Largest squared slope over the integration window ending at ``i``."""
        b = self._base
        window = self._sq[max(i - self._n_mwi - b, 0) : max(i + 1 - b, 0)]
        return float(_max(window)) if window.size else 0.0

    def _locate(self, i: int) -> int:
        """R peak: max |amplitude| of the cleaned lead within ±50 ms of the expected place."""
        centre = i - self._mwi_to_clean
        lo = max(centre - self._n_locate, self._base, 0)
        hi = min(centre + self._n_locate + 1, self._n_seen)
        if hi <= lo:
            return max(centre - self._delay_clean, 0)
        parts: list[NDArray[np.float64]] = []
        d = self._chain.d
        for start, v in reversed(self._blocks):
            n = v.size - d
            if start >= hi:
                continue
            if start + n <= lo:
                break
            mats = self._matrices.get(n) or _block_matrices(self.fs_hz, self._mains_hz, n)
            a, b = max(lo - start, 0), min(hi - start, n)
            parts.append(mats[0][a:b].dot(v))
        window = parts[0] if len(parts) == 1 else np.concatenate(parts[::-1])
        k = lo + int(np.abs(window).argmax())
        return max(k - self._delay_clean, 0)


_NEVER = 2**62  # a trigger point that is never reached
_NO_PEAKS = np.zeros(0, dtype=np.int64)
_NO_PEAKS.setflags(write=False)
_max = np.maximum.reduce  # skips the ndarray.max wrapper (per-candidate hot path)


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
