"""Streaming PPG pulse detector: systolic peaks, feet, amplitudes and template match per pulse.

Peak detection is our own streaming form of Elgendi et al., "Systolic peak detection in
acceleration photoplethysmograms measured from emergency responders in tropical conditions",
PLoS ONE 8(10) e76585, 2013: 2nd-order Butterworth band-pass 0.5-8 Hz, squared positive part,
two centred moving averages (111 ms "peak", 667 ms "beat"); a block of interest is where the
peak average exceeds the beat average plus an offset (beta = 0.02 times the mean of the
squared signal). Both averages scale with the pulse amplitude, so detection follows amplitude
changes within a beat or two. The mean for the offset is a trailing 3-s mean here (Elgendi
used the whole record, which a stream does not have).

Per-pulse template matching follows the "direct matching with linear resampling" index of
Li & Clifford, "Dynamic time warping and machine learning for signal quality assessment of
pulsatile signals", Physiol. Meas. 33 (2012) 1491: each beat (peak to peak) is resampled to a
fixed length and correlated with a template; our template is the point-wise median of the
previous beats (robust against the odd artifact beat entering it).

Decisions run in sample-index order with a fixed look-ahead, so the output does not depend on
how the stream is cut into blocks. Memory is bounded (a few seconds of buffers).
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import signal

# --- Filter and detector (Elgendi et al. 2013, sec. "Methods") -----------------------------
BAND_HZ = (0.5, 8.0)  # pulse fundamental (≥ 0.5 Hz = 30 bpm) to its 4th-5th harmonic.
FILTER_ORDER = 2
PEAK_WINDOW_S = 0.111  # W1: about the systolic peak width.
BEAT_WINDOW_S = 0.667  # W2: about one beat.
BETA = 0.02  # offset as a fraction of the mean squared signal.
OFFSET_MEAN_S = 3.0  # trailing window for that mean (stream stand-in for the whole record).
REFRACTORY_S = 0.25  # no two peaks closer than this: caps detection at 240 bpm (the brief
# asks 40-180 bpm; neurokit2's Elgendi port uses 0.3 s, which would clip at 200 bpm).
WARMUP_S = 1.0  # after a start or a gap, let the band-pass settle before deciding.
LOCATE_MARGIN_S = 0.06  # raw-signal search margin around the block of interest.
DELAY_REF_HZ = 1.5  # frequency at which the band-pass group delay is compensated.
MAX_BEAT_S = 3.0  # a "beat" longer than this (20 bpm) is not measured as a beat.
BUFFER_S = 6.0  # history kept: longest beat + offset window + margins.
MAX_ABS_VALUE = 1e9  # samples beyond this are treated like NaN: no pleth ADC gets near it,
# and its square (1e18) summed over the buffers stays far from float64 overflow.

# --- Template matching (Li & Clifford 2012) ---------------------------------------------------
TEMPLATE_POINTS = 32  # samples per resampled beat.
TEMPLATE_BEATS = 15  # beats in the running median template (≈ 15 s at 60 bpm; Li & Clifford
# averaged the beats of a 30-s window).
TEMPLATE_MIN_BEATS = 3  # template needs this many beats before pulses get a correlation.
PULSE_CORR_MIN = 0.80  # below this a beat is an artifact beat (shape outlier). Our choice,
# below Orphanidou et al. 2015's 0.86 window threshold because single beats scatter more.
AMPLITUDE_RATIO_MAX = 3.0  # beat amplitude outside [1/3, 3] x the median of recent beats:
# amplitude outlier (motion). Wide, because auto-scaling oximeters (Nonin) rescale in steps.
AMPLITUDE_BEATS = 8  # beats in the running median amplitude.


@dataclass(frozen=True, slots=True)
class Pulse:
    """One detected pulse; indices are absolute 0-based sample numbers of the stream."""

    peak: int  # systolic peak on the raw signal
    foot: int  # minimum before the peak (pulse onset); -1 for the first pulse of a segment
    amplitude: float  # raw[peak] - raw[foot], input units; NaN for the first pulse
    dc: float  # mean raw value from the previous peak to this one, input units; NaN first
    ibi_s: float  # time since the previous peak of the same segment; NaN for the first
    corr: float  # Pearson correlation with the template; NaN while there is no template
    artifact: bool  # shape or amplitude outlier


def usable(x: NDArray[np.float64]) -> NDArray[np.bool_]:
    """Finite and within ±MAX_ABS_VALUE (larger values would overflow the squared signal)."""
    return np.abs(x) <= MAX_ABS_VALUE  # False for NaN and ±inf too


def hold_last(x: NDArray[np.float64], initial: float) -> NDArray[np.float64]:
    """Replace unusable samples (see :func:`usable`) with the last usable value before them."""
    bad = ~usable(x)
    if not bad.any():
        return x
    idx = np.where(bad, 0, np.arange(x.size))
    np.maximum.accumulate(idx, out=idx)
    out: NDArray[np.float64] = x[idx]
    out[bad[idx]] = initial
    return out


def _odd(n: int) -> int:
    return n if n % 2 else n + 1


class PulseDetector:
    """Feed raw pleth blocks (any units); get back the pulses confirmed by each block."""

    def __init__(self, fs_hz: float) -> None:
        if not math.isfinite(fs_hz) or fs_hz < 20.0:
            raise ValueError(f"fs_hz must be ≥ 20 Hz for a 0.5-8 Hz pulse band, got {fs_hz}")
        self.fs_hz = float(fs_hz)
        hi = min(BAND_HZ[1], 0.45 * fs_hz)
        sos = signal.butter(FILTER_ORDER, (BAND_HZ[0], hi), "bandpass", fs=fs_hz, output="sos")
        # Transfer-function form: scipy's lfilter costs ~12 µs per small block against ~90 µs
        # for sosfilt, and for this 4th-order band-pass it matches sosfilt to 1e-10 (relative,
        # impulse response) from 25 Hz to 1 kHz.
        b, a = signal.sos2tf(sos)
        self._b: NDArray[np.float64] = b
        self._a: NDArray[np.float64] = a
        _, gd = signal.group_delay((b, a), w=[DELAY_REF_HZ], fs=fs_hz)
        self.delay = round(float(np.asarray(gd)[0]))  # samples from raw to band-passed
        self._h1 = _odd(round(PEAK_WINDOW_S * fs_hz)) // 2
        self._h2 = _odd(round(BEAT_WINDOW_S * fs_hz)) // 2
        # Trailing moving averages over W1, W2 and OFFSET_MEAN_S. Each output is one dot
        # product over the same input samples whatever the blocking, so values are identical
        # to the last bit however the stream is cut (a running sum would drift with it).
        self._h_ma = [
            np.full(n, 1.0 / n)
            for n in (2 * self._h1 + 1, 2 * self._h2 + 1, max(1, round(OFFSET_MEAN_S * fs_hz)))
        ]
        self._z_tail = np.zeros(max(h.size for h in self._h_ma) - 1)  # zeros before the start
        self._refractory = round(REFRACTORY_S * fs_hz)
        self._margin = round(LOCATE_MARGIN_S * fs_hz)
        self._max_beat = round(MAX_BEAT_S * fs_hz)
        self._keep = round(BUFFER_S * fs_hz)
        self._n = 0  # samples fed (absolute index of the next sample)
        self._base = 0  # absolute index of buffer element 0
        self._raw = np.zeros(0)
        self._y = np.zeros(0)
        # Trailing means of z = max(y, 0)^2 over W1, W2 and OFFSET_MEAN_S, ending at each sample.
        self._ma = np.zeros((3, 0))
        self._last_x = float("nan")
        self._templates: deque[NDArray[np.float64]] = deque(maxlen=TEMPLATE_BEATS)
        self._amplitudes: deque[float] = deque(maxlen=AMPLITUDE_BEATS)
        self._flushed = False
        self._start_segment()

    def _start_segment(self) -> None:
        self._zi: NDArray[np.float64] | None = None  # set from the first sample
        self._seg_start = self._n
        self._next_m = self._n + round(WARMUP_S * self.fs_hz)  # next index to decide
        self._in_block = False
        self._block_start = 0
        self._last_peak: int | None = None

    @property
    def latency_s(self) -> float:
        """Longest delay from a systolic peak to its report (a wide block plus look-ahead)."""
        return (self.delay + self._h2 + self._margin) / self.fs_hz + BEAT_WINDOW_S

    @property
    def n_samples(self) -> int:
        """Samples fed so far."""
        return self._n

    def reset_segment(self) -> None:
        """Samples were lost: restart the filter and do not measure a beat across the gap."""
        self._start_segment()

    def feed(self, block: NDArray[np.float64]) -> list[Pulse]:
        """Process one block of raw samples; return the pulses it confirmed, oldest first."""
        if self._flushed:
            raise RuntimeError("feed() after flush(): a flushed detector has ended its recording")
        x = np.asarray(block, dtype=np.float64).ravel()
        if x.size == 0:
            return []
        if not math.isfinite(self._last_x):
            finite = x[usable(x)]
            if finite.size == 0:
                self._append(np.zeros(x.size), np.zeros(x.size), real=True)
                return []
            self._last_x = float(finite[0])
        x = hold_last(x, self._last_x)
        self._last_x = float(x[-1])
        return self._filter_and_decide(x, real=True)

    def flush(self) -> list[Pulse]:
        """End of a recording: confirm pulses still waiting for their look-ahead."""
        if not math.isfinite(self._last_x) or self._zi is None:
            return []
        self._flushed = True
        n_real = self._n
        pad = np.full(self._h2 + self._margin + round(BEAT_WINDOW_S * self.fs_hz), self._last_x)
        pulses = self._filter_and_decide(pad, real=False)
        return [p for p in pulses if p.peak < n_real]

    # --- internals ---------------------------------------------------------------------------
    def _filter_and_decide(self, x: NDArray[np.float64], *, real: bool) -> list[Pulse]:
        if self._zi is None:
            self._zi = signal.lfilter_zi(self._b, self._a) * x[0]  # steady state: no step
        y, self._zi = signal.lfilter(self._b, self._a, x, zi=self._zi)
        self._append(x, y, real=real)
        pulses = self._decide()
        self._trim()
        return pulses

    def _append(self, x: NDArray[np.float64], y: NDArray[np.float64], *, real: bool) -> None:
        z = np.maximum(y, 0.0)
        z *= z
        self._raw = np.concatenate([self._raw, x])
        self._y = np.concatenate([self._y, y])
        zz = np.concatenate([self._z_tail, z])
        ma = np.empty((3, z.size))
        for i, h in enumerate(self._h_ma):
            ma[i] = np.convolve(zz[zz.size - z.size - h.size + 1 :], h, "valid")
        self._z_tail = zz[z.size :]
        self._ma = np.concatenate([self._ma, ma], axis=1)
        if real:
            self._n += x.size

    def _decide(self) -> list[Pulse]:
        b, h1, h2 = self._base, self._h1, self._h2
        end = b + self._y.size - 1 - h2  # last index whose beat window is complete
        lo = self._next_m
        if end < lo:
            return []
        i0, i1 = lo - b, end + 1 - b
        # Centred averages at m are the trailing ones at m + half-width.
        ma_peak = self._ma[0, i0 + h1 : i1 + h1]
        ma_beat = self._ma[1, i0 + h2 : i1 + h2]
        offset = BETA * self._ma[2, i0 + h2 : i1 + h2]
        inside = np.empty(i1 - i0 + 1, dtype=np.int8)
        inside[0] = self._in_block
        np.greater(ma_peak, ma_beat + offset, out=inside[1:], casting="unsafe")
        edges = inside[1:] - inside[:-1]
        pulses: list[Pulse] = []
        for k in np.flatnonzero(edges).tolist():
            if edges[k] > 0:
                self._in_block, self._block_start = True, lo + k
            else:
                self._in_block = False
                self._on_block(self._block_start, lo + k, pulses)
        self._next_m = end + 1
        return pulses

    def _on_block(self, start: int, stop: int, pulses: list[Pulse]) -> None:
        """A block of interest [start, stop) in band-passed time ended: find its peak."""
        if stop - start < 2 * self._h1 + 1:
            return  # narrower than the peak window: noise (Elgendi et al. 2013)
        b = self._base
        lo = max(start - self.delay - self._margin, self._seg_start, b)
        hi = min(stop - self.delay + self._margin, b + self._raw.size)
        if self._last_peak is not None:
            lo = max(lo, self._last_peak + self._refractory)
        if hi <= lo:
            return
        peak = lo + int(np.argmax(self._raw[lo - b : hi - b]))
        if self._last_peak is not None and peak - self._last_peak < self._refractory:
            return
        pulses.append(self._measure(peak))
        self._last_peak = peak

    def _measure(self, peak: int) -> Pulse:
        nan = float("nan")
        prev = self._last_peak
        if prev is None or peak - prev > self._max_beat:
            return Pulse(peak, -1, nan, nan, nan, nan, False)
        b = self._base
        beat = self._raw[prev - b : peak - b + 1]
        foot = prev + int(np.argmin(beat))
        amplitude = float(self._raw[peak - b] - self._raw[foot - b])
        dc = float(np.mean(beat))
        # The beat in band-passed time (delayed), resampled to a fixed length.
        seg = self._y[prev + self.delay - b : peak + self.delay - b + 1]
        shape = np.interp(
            np.linspace(0.0, seg.size - 1.0, TEMPLATE_POINTS), np.arange(seg.size), seg
        )
        shape = shape - shape.mean()
        norm = float(np.sqrt(np.dot(shape, shape)))
        corr = nan
        artifact = False
        if norm > 0.0:
            shape /= norm
            if len(self._templates) >= TEMPLATE_MIN_BEATS:
                tmpl = np.median(np.asarray(self._templates), axis=0)
                tmpl = tmpl - tmpl.mean()
                t_norm = float(np.sqrt(np.dot(tmpl, tmpl)))
                if t_norm > 0.0:
                    corr = float(np.dot(shape, tmpl) / t_norm)
                    artifact = corr < PULSE_CORR_MIN
            self._templates.append(shape)
        if self._amplitudes:
            ref = statistics.median(self._amplitudes)
            if (
                ref > 0.0
                and not 1.0 / AMPLITUDE_RATIO_MAX <= amplitude / ref <= AMPLITUDE_RATIO_MAX
            ):
                artifact = True
        self._amplitudes.append(amplitude)
        return Pulse(peak, foot, amplitude, dc, (peak - prev) / self.fs_hz, corr, artifact)

    def _trim(self) -> None:
        drop = self._next_m - self._keep - self._base
        if drop > round(self.fs_hz):
            self._raw = self._raw[drop:]
            self._y = self._y[drop:]
            self._ma = self._ma[:, drop:]
            self._base += drop
