"""PPG (pleth) analysis: pulse rate, perfusion index, template-match SQI, motion, SpO2 verdicts.

The streaming pulse detector lives in :mod:`gateway.signals.ppg_pulse`; this module keeps a
bounded analysis window over it and turns its pulses into verdicts. The device's own status
bits arrive as :class:`drivers.model.QualityFlag` (``drivers.model`` is the one drivers module
signal code may import); they may be given as a plain ``int`` too.
"""

from __future__ import annotations

import enum
import itertools
import math
import statistics
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from drivers.model import QualityFlag
from gateway.signals.ppg_pulse import REFRACTORY_S, Pulse, PulseDetector, hold_last, usable
from gateway.signals.verdict import Assessed, Verdict

__all__ = [
    "PpgAnalyzer",
    "PpgReason",
    "PpgResult",
    "Pulse",
    "PulseDetector",
    "analyze_ppg",
    "spo2_verdict",
]

# --- Plausibility limits -------------------------------------------------------------------
# No plausibility check on the pulse rate: the detector measures only beats of 0.25-3 s
# (REFRACTORY_S, MAX_BEAT_S in ppg_pulse), so a rate is 20-240 bpm by construction.
MAX_RATE_BPM = 60.0 / REFRACTORY_S
MIN_IBIS = 2  # at least two clean inter-beat intervals before reporting a rate.
IBI_TRIM_REL = 0.30  # the rate averages IBIs within ±30 % of the median IBI (a missed beat
# doubles an IBI, an extra one halves it: both fall outside).
RATE_TOL_BPM = 5.0  # pleth vs device pulse rate: max(5 bpm, 10 %). Oximeter modules state
RATE_TOL_REL = 0.10  # PR accuracy ±3 bpm at rest and ±5 bpm with motion (Masimo and Mindray
# modules, Mindray iPM-9800 manual app. A); our trimmed-mean window rate and the device's
# few-beat average differ by more while the rate changes, hence 10 % at higher rates.
SPO2_ACCURACY_MIN_PCT = 70.0  # oximeters state SpO2 accuracy over 70-100 % only (ISO 9919 /
# ISO 80601-2-61 accuracy testing; e.g. Nonin 7500 manual "Testing Summary", Mindray iPM-9800
# "0 % to 69 %: not specified").

# --- Quality thresholds ------------------------------------------------------------------
WINDOW_SQI_MIN = 0.86  # mean template correlation below this: QUESTIONABLE. From Orphanidou
# et al., "Signal-quality indices for the electrocardiogram and photoplethysmogram", IEEE JBHI
# 19(3) 2015 (PPG acceptable at mean beat-template correlation ≥ 0.86) as we recall it; the
# number was not re-checked against the paper. Clean simulated pleth scores > 0.95.
MOTION_FRACTION = 0.05  # artifact beats / pulse loss covering ≥ 5 % of the window: MOTION.
NO_PULSE_S = 3.0  # no pulse for max(3 s, 2 x median IBI) while not flat: pulse lost.
FLAT_S = 2.0  # the last 2 s within flat_ptp: sensor off / finger out (Nonin draws flat 128).
FLAT_PTP_DEFAULT = 1.0  # input units; one step of an 8-bit pleth.
CLIP_MIN_RUN_S = 0.10  # a run this long at the window's extreme is clipping: a quantised
# systolic peak at 75 Hz stays on its top value for 2-3 samples (≤ 40 ms), not 8.
CLIP_FRACTION_BAD = 0.02  # > 2 % of the window clipped: QUESTIONABLE.
CLIP_FRACTION_INVALID = 0.20  # > 20 %: INVALID.
LOW_PI_PCT = 0.3  # perfusion index below 0.3 %: LOW_PERFUSION (QUESTIONABLE). Oximeters are
# tested for accuracy down to 0.3 % modulation (ISO 9919 low-perfusion test, Nonin 7500
# manual "Testing Summary"); below it accuracy is unspecified. Healthy adults are around 1.4 %
# at the finger (Lima et al., Crit. Care Med. 30(6) 2002).
BLOCK_S = 0.25  # analyze_ppg feeds the analyzer as the engine does: 0.25-s blocks.

# Device status bits and how much they cost a value derived from the same sensor.
_INVALID_FLAGS = (
    QualityFlag.SENSOR_DISCONNECTED,
    QualityFlag.OUT_OF_TRACK,
    QualityFlag.SENSOR_ALARM,
    QualityFlag.MISSING,
)
_QUESTIONABLE_FLAGS = (
    QualityFlag.ARTIFACT,
    QualityFlag.LOW_PERFUSION,
    QualityFlag.MARGINAL_PERFUSION,
)


class PpgReason(enum.Enum):
    """Why a pleth-derived value or an SpO2 is not VALID (codes are stable for JSON)."""

    # pleth quality
    FLAT = "flat"
    CLIPPED = "clipped"
    MOTION = "motion"
    LOW_TEMPLATE_MATCH = "low_template_match"
    LOW_PERFUSION = "low_perfusion"
    TOO_FEW_PULSES = "too_few_pulses"
    NOT_FINITE = "not_finite"
    RATE_MISMATCH_DEVICE = "rate_mismatch_device"
    NO_DC_REFERENCE = "no_dc_reference"  # auto-scaled pleth: AC/DC is not a perfusion index
    # device status bits (drivers.model.QualityFlag), one reason each
    DEVICE_SENSOR_DISCONNECTED = "device_sensor_disconnected"
    DEVICE_OUT_OF_TRACK = "device_out_of_track"
    DEVICE_SENSOR_ALARM = "device_sensor_alarm"
    DEVICE_MISSING = "device_missing"
    DEVICE_ARTIFACT = "device_artifact"
    DEVICE_LOW_PERFUSION = "device_low_perfusion"
    DEVICE_MARGINAL_PERFUSION = "device_marginal_perfusion"
    # SpO2 value
    IMPLAUSIBLE_SPO2 = "implausible_spo2"
    SPO2_BELOW_ACCURACY_RANGE = "spo2_below_accuracy_range"


_FLAG_REASON = {
    QualityFlag.SENSOR_DISCONNECTED: PpgReason.DEVICE_SENSOR_DISCONNECTED,
    QualityFlag.OUT_OF_TRACK: PpgReason.DEVICE_OUT_OF_TRACK,
    QualityFlag.SENSOR_ALARM: PpgReason.DEVICE_SENSOR_ALARM,
    QualityFlag.MISSING: PpgReason.DEVICE_MISSING,
    QualityFlag.ARTIFACT: PpgReason.DEVICE_ARTIFACT,
    QualityFlag.LOW_PERFUSION: PpgReason.DEVICE_LOW_PERFUSION,
    QualityFlag.MARGINAL_PERFUSION: PpgReason.DEVICE_MARGINAL_PERFUSION,
}

# Pleth findings that make an SpO2 from the same sensor QUESTIONABLE (FLAT makes it INVALID).
_SPO2_QUESTIONABLE_FROM_PLETH = (
    PpgReason.CLIPPED,
    PpgReason.MOTION,
    PpgReason.LOW_TEMPLATE_MATCH,
    PpgReason.LOW_PERFUSION,
    PpgReason.TOO_FEW_PULSES,
    PpgReason.RATE_MISMATCH_DEVICE,
)


@dataclass(frozen=True, slots=True)
class PpgResult:
    """One assessment of the analysis window (indices are absolute stream sample numbers)."""

    fs_hz: float
    window_start: int  # absolute index of the first sample of the window
    n_samples: int  # samples fed so far (the window ends here)
    pulses: NDArray[np.int64]  # systolic peaks in the window
    ibi_ms: NDArray[np.float64]  # clean inter-beat intervals used for the rate
    pulse_sqi: NDArray[np.float64]  # per-pulse template correlation (NaN: no template yet)
    pulse_rate_bpm: Assessed
    perfusion_index_pct: Assessed
    sqi: float  # mean template correlation over the window; NaN when no pulse has one
    motion: bool
    artifact_fraction: float  # share of the window covered by artifact beats / pulse loss
    clipped_fraction: float
    pulse_amplitude: float  # median beat amplitude, input units (a relative index)
    verdict: Verdict  # pleth quality (worst of the reasons below)
    reasons: tuple[PpgReason, ...]

    def reason_codes(self) -> list[str]:
        """Reasons as lower-case codes for JSON."""
        return [r.value for r in self.reasons]


def _device_reasons(device_quality: QualityFlag | int) -> tuple[Verdict, list[PpgReason]]:
    verdict, reasons = Verdict.VALID, list[PpgReason]()
    if not device_quality:
        return verdict, reasons  # fast path: IntFlag operations cost ~1 µs each
    flags = QualityFlag(int(device_quality))
    for flag in _INVALID_FLAGS:
        if flag in flags:
            verdict, reasons = Verdict.INVALID, [*reasons, _FLAG_REASON[flag]]
    for flag in _QUESTIONABLE_FLAGS:
        if flag in flags:
            verdict, reasons = verdict.worst(Verdict.QUESTIONABLE), [*reasons, _FLAG_REASON[flag]]
    return verdict, reasons


def _robust_mean_ibi_ms(ibis_ms: list[float]) -> float:
    """Mean of the IBIs within ±IBI_TRIM_REL of their median: robust to a missed or extra
    beat like the median, but not quantised to whole samples (at 30 Hz one sample is 6 bpm
    at 110 bpm; the mean of ~20 intervals resolves a fraction of that)."""
    med = statistics.median(ibis_ms)
    kept = [v for v in ibis_ms if abs(v - med) <= IBI_TRIM_REL * med]
    # With an even count the median may fall between two far-apart IBIs and keep none.
    return math.fsum(kept) / len(kept) if kept else med


def _clipped_fraction(x: NDArray[np.float64], min_run: int) -> float:
    """Share of samples in runs of ≥ min_run equal values at the window's max or min."""
    if x.size < min_run:
        return 0.0
    hi, lo = float(x.max()), float(x.min())
    if hi == lo:
        return 0.0  # a flat line is FLAT, not clipping
    at = np.empty(x.size + 2, dtype=np.int8)
    at[0] = at[-1] = 0
    np.logical_or(x == hi, x == lo, out=at[1:-1], casting="unsafe")
    edges = np.flatnonzero(at[1:] != at[:-1])  # alternating run starts and stops
    runs = edges[1::2] - edges[::2]
    return int(runs[runs >= min_run].sum()) / x.size


def _overlap(spans: deque[tuple[int, int]], lo: int, hi: int) -> int:
    """Samples of [lo, hi) covered by the union of sorted spans."""
    covered, reach = 0, lo
    for start, stop in spans:
        a, b = max(start, reach), min(stop, hi)
        if b > a:
            covered += b - a
            reach = b
    return covered


def spo2_verdict(
    spo2_pct: float, device_quality: QualityFlag | int, ppg: PpgResult | None
) -> Assessed:
    """Trust in the device's SpO2: its own status bits combined with the pleth's quality."""
    verdict, reasons = _device_reasons(device_quality)
    if not math.isfinite(spo2_pct):
        reasons = list(dict.fromkeys([*reasons, PpgReason.DEVICE_MISSING]))
        return Assessed(float("nan"), Verdict.INVALID, tuple(reasons))
    if not 0.0 <= spo2_pct <= 100.0:
        verdict, reasons = Verdict.INVALID, [*reasons, PpgReason.IMPLAUSIBLE_SPO2]
    elif spo2_pct < SPO2_ACCURACY_MIN_PCT:
        verdict = verdict.worst(Verdict.QUESTIONABLE)
        reasons.append(PpgReason.SPO2_BELOW_ACCURACY_RANGE)
    if ppg is not None:
        for r in ppg.reasons:
            if r is PpgReason.FLAT:
                verdict, reasons = Verdict.INVALID, [*reasons, r]
            elif r in _SPO2_QUESTIONABLE_FROM_PLETH:
                verdict, reasons = verdict.worst(Verdict.QUESTIONABLE), [*reasons, r]
    return Assessed(spo2_pct, verdict, tuple(dict.fromkeys(reasons)))


class PpgAnalyzer:
    """One pleth channel: feed blocks as they arrive, assess the last ``window_s`` on demand.

    ``has_dc``: the raw samples keep their DC level (photodiode counts), so AC/DC is a
    perfusion index. Oximeters that send an auto-scaled, centred pleth (Nonin format #2:
    0..255 around 128) have no meaningful DC: leave it False and the perfusion index is NaN
    (reason NO_DC_REFERENCE); ``pulse_amplitude`` is then only a relative index.
    ``flat_ptp``: peak-to-peak (input units) at or below which 2 s count as a flat line.
    """

    def __init__(
        self,
        fs_hz: float,
        window_s: float = 10.0,
        *,
        has_dc: bool = False,
        flat_ptp: float = FLAT_PTP_DEFAULT,
    ) -> None:
        if not math.isfinite(window_s) or window_s < 2.0 * NO_PULSE_S:
            raise ValueError(f"window_s must be ≥ {2.0 * NO_PULSE_S} s, got {window_s}")
        self._det = PulseDetector(fs_hz)
        self.fs_hz = self._det.fs_hz
        self.window_s = float(window_s)
        self.has_dc = has_dc
        self.flat_ptp = float(flat_ptp)
        self._n_win = round(window_s * self.fs_hz)
        max_pulses = math.ceil(window_s * MAX_RATE_BPM / 60.0) + 2
        self._pulses: deque[Pulse] = deque(maxlen=max_pulses)
        self._artifacts: deque[tuple[int, int]] = deque(maxlen=max_pulses)
        self._nonfinite: deque[tuple[int, int]] = deque(maxlen=max_pulses)
        # Ring of the last window of samples (unusable ones held at the last value): O(block)
        # per feed however long the window (analyze_ppg uses the whole recording as window).
        self._ring = np.zeros(self._n_win)
        self._written = 0
        self._last_x = float("nan")
        self._seg_start = 0  # absolute index after the last gap
        self._stats_n = -1  # n_samples at which _stats was computed
        self._stats = (False, 0.0)

    @property
    def n_samples(self) -> int:
        """Samples fed so far."""
        return self._det.n_samples

    def feed(self, block: NDArray[np.float64], *, gap_before: bool = False) -> None:
        """Add a block of raw pleth samples; ``gap_before``: samples were lost just before it."""
        x = np.asarray(block, dtype=np.float64).ravel()
        n0 = self._det.n_samples
        if gap_before:
            self._det.reset_segment()
            self._seg_start = n0
        bad = ~usable(x)
        held = x
        if bad.any():
            where = np.flatnonzero(bad)
            self._nonfinite.append((n0 + int(where[0]), n0 + int(where[-1]) + 1))
            initial = self._last_x
            if math.isnan(initial):
                initial = float(x[~bad][0]) if where.size < x.size else 0.0
            held = hold_last(x, initial)
        self._add(self._det.feed(x))
        if held.size:
            self._last_x = float(held[-1])
            self._write(held[-self._n_win :])

    def _write(self, x: NDArray[np.float64]) -> None:
        pos = self._written % self._n_win
        first = min(x.size, self._n_win - pos)
        self._ring[pos : pos + first] = x[:first]
        self._ring[: x.size - first] = x[first:]
        self._written += x.size

    def _window(self) -> NDArray[np.float64]:
        """The last window of samples, oldest first."""
        if self._written < self._n_win:
            return self._ring[: self._written]
        pos = self._written % self._n_win
        return np.concatenate([self._ring[pos:], self._ring[:pos]])

    def flush(self) -> None:
        """End of a recording: confirm the pulses still waiting for their look-ahead."""
        self._add(self._det.flush())

    def _add(self, pulses: list[Pulse]) -> None:
        for p in pulses:
            self._pulses.append(p)
            if p.artifact and p.foot >= 0:
                start = p.peak - round(p.ibi_s * self.fs_hz)
                self._artifacts.append((start, p.peak + 1))

    def assess(
        self,
        *,
        device_pulse_bpm: float = float("nan"),
        device_quality: QualityFlag | int = 0,
    ) -> PpgResult:
        """Verdicts over the last ``window_s``; cheap (touches only the window's pulses)."""
        n = self._det.n_samples
        lo = max(0, n - self._n_win)
        # Plain Python over the window's few dozen pulses: cheaper than numpy calls here.
        win = [p for p in self._pulses if p.peak >= lo]
        clean = [p for p in win if not p.artifact and p.foot >= 0]
        ibis_ms = [p.ibi_s * 1000.0 for p in clean]
        corrs = [p.corr for p in win if not math.isnan(p.corr)]
        reasons: list[PpgReason] = []
        verdict = Verdict.VALID

        def flag(reason: PpgReason, level: Verdict) -> None:
            nonlocal verdict
            reasons.append(reason)
            verdict = verdict.worst(level)

        flat, clipped = self._window_stats(n)
        artifact_fraction = self._artifact_fraction(lo, n, ibis_ms, flat)
        sqi = math.fsum(corrs) / len(corrs) if corrs else float("nan")
        motion = artifact_fraction >= MOTION_FRACTION
        if flat:
            flag(PpgReason.FLAT, Verdict.INVALID)
        if clipped > CLIP_FRACTION_BAD:
            bad = Verdict.INVALID if clipped > CLIP_FRACTION_INVALID else Verdict.QUESTIONABLE
            flag(PpgReason.CLIPPED, bad)
        if _overlap(self._nonfinite, lo, n):
            flag(PpgReason.NOT_FINITE, Verdict.QUESTIONABLE)
        if motion and not flat:
            flag(PpgReason.MOTION, Verdict.QUESTIONABLE)
        if sqi < WINDOW_SQI_MIN:
            flag(PpgReason.LOW_TEMPLATE_MATCH, Verdict.QUESTIONABLE)
        if len(ibis_ms) < MIN_IBIS:
            flag(PpgReason.TOO_FEW_PULSES, Verdict.INVALID)

        pi = self._perfusion_index(clean)
        if pi < LOW_PI_PCT:
            flag(PpgReason.LOW_PERFUSION, Verdict.QUESTIONABLE)
        dev_verdict, dev_reasons = _device_reasons(device_quality)
        for r in dev_reasons:
            flag(r, dev_verdict)

        if not self.has_dc:
            perfusion = Assessed(float("nan"), Verdict.INVALID, (PpgReason.NO_DC_REFERENCE,))
        elif math.isnan(pi) or flat:
            perfusion = Assessed(float("nan"), Verdict.INVALID, tuple(reasons))
        else:
            perfusion = Assessed(pi, verdict, tuple(reasons))
        rate = Assessed(float("nan"), Verdict.INVALID, tuple(reasons))
        if len(ibis_ms) >= MIN_IBIS and not flat:
            bpm = 60_000.0 / _robust_mean_ibi_ms(ibis_ms)
            if math.isfinite(device_pulse_bpm) and abs(bpm - device_pulse_bpm) > max(
                RATE_TOL_BPM, RATE_TOL_REL * device_pulse_bpm
            ):
                flag(PpgReason.RATE_MISMATCH_DEVICE, Verdict.QUESTIONABLE)
            rate = Assessed(bpm, verdict, tuple(reasons))
        amps = [p.amplitude for p in clean]
        return PpgResult(
            fs_hz=self.fs_hz,
            window_start=lo,
            n_samples=n,
            pulses=np.asarray([p.peak for p in win], dtype=np.int64),
            ibi_ms=np.asarray(ibis_ms, dtype=np.float64),
            pulse_sqi=np.asarray([p.corr for p in win], dtype=np.float64),
            pulse_rate_bpm=rate,
            perfusion_index_pct=perfusion,
            sqi=sqi,
            motion=motion,
            artifact_fraction=artifact_fraction,
            clipped_fraction=clipped,
            pulse_amplitude=statistics.median(amps) if amps else float("nan"),
            verdict=verdict,
            reasons=tuple(reasons),
        )

    def _window_stats(self, n: int) -> tuple[bool, float]:
        """(flat now, clipped fraction) of the raw window; recomputed only after new samples."""
        if self._stats_n != n:
            raw = self._window()
            n_flat = round(FLAT_S * self.fs_hz)
            tail = raw[-n_flat:]
            flat = raw.size >= n_flat and float(tail.max() - tail.min()) <= self.flat_ptp
            self._stats = (flat, _clipped_fraction(raw, round(CLIP_MIN_RUN_S * self.fs_hz)))
            self._stats_n = n
        return self._stats

    def _artifact_fraction(self, lo: int, n: int, ibis_ms: list[float], flat: bool) -> float:
        """Share of [lo, n) in artifact beats or in stretches without any pulse."""
        if n <= lo:
            return 0.0
        spans = deque(self._artifacts)
        if not flat:
            # Pulse loss: a stretch longer than max(NO_PULSE_S, 2 x median IBI) without a pulse,
            # measured up to what the detector can have confirmed by now.
            limit_s = NO_PULSE_S
            if ibis_ms:
                limit_s = max(limit_s, 2.0e-3 * statistics.median(ibis_ms))
            limit = round(limit_s * self.fs_hz)
            seen = n - round(self._det.latency_s * self.fs_hz)
            start = max(lo, self._seg_start + round(2.0 * self.fs_hz))  # after warm-up
            marks = [start] + [p.peak for p in self._pulses if p.peak >= start] + [seen]
            for a, b in itertools.pairwise(marks):
                if b - a > limit:
                    spans.append((a, b))
            spans = deque(sorted(spans))
        return _overlap(spans, lo, n) / (n - lo)

    def _perfusion_index(self, clean: list[Pulse]) -> float:
        if not self.has_dc:
            return float("nan")
        ratios = [100.0 * p.amplitude / p.dc for p in clean if p.dc > 0.0]
        return statistics.median(ratios) if ratios else float("nan")

    spo2_verdict = staticmethod(spo2_verdict)  # the engine may call it on an analyzer


def _json_float(v: float) -> float | None:
    return None if math.isnan(v) else v


def analyze_ppg(x: NDArray[Any], fs_hz: float, *, has_dc: bool = False) -> dict[str, Any]:
    """Whole-recording pleth analysis for the CLI, streamed in 0.25-s blocks; JSON-ready.

    ``has_dc``: the samples keep their DC level (see :class:`PpgAnalyzer`); a CSV of an
    oximeter's display pleth does not, so the perfusion index is then None.
    """
    t0 = time.perf_counter()
    data = np.asarray(x, dtype=np.float64).ravel()
    duration_s = data.size / fs_hz if fs_hz > 0 else 0.0
    ana = PpgAnalyzer(fs_hz, window_s=max(duration_s, 2.0 * NO_PULSE_S), has_dc=has_dc)
    step = max(1, round(BLOCK_S * fs_hz))
    for k in range(0, data.size, step):
        ana.feed(data[k : k + step])
    ana.flush()
    res = ana.assess()
    return {
        "fs_hz": fs_hz,
        "n_samples": int(data.size),
        "pulses": [int(i) for i in res.pulses],
        "pulse_rate_bpm": _json_float(res.pulse_rate_bpm.value),
        "pulse_rate_verdict": res.pulse_rate_bpm.verdict.value,
        "perfusion_index_pct": _json_float(res.perfusion_index_pct.value),
        "sqi": _json_float(res.sqi),
        "motion": res.motion,
        "artifact_fraction": res.artifact_fraction,
        "verdict": res.verdict.value,
        "reasons": res.reason_codes(),
        "compute_ms": (time.perf_counter() - t0) * 1000.0,
    }
