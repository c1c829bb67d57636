"""ECG analysis: R peaks, RR series, heart rate, irregular-rhythm indicator and signal quality.

The detector lives in :mod:`gateway.signals.ecg_qrs`, the quality indices in
:mod:`gateway.signals.ecg_quality`; this module combines them into verdicts.
"""

from __future__ import annotations

import enum
import itertools
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gateway.signals.ecg_qrs import QrsDetector, detect_qrs
from gateway.signals.ecg_quality import (
    MATCH_TOLERANCE_S,
    bsqi,
    elgendi_qrs,
    ksqi,
    match_beats,
    rail_fraction,
    spectral_sqis,
)
from gateway.signals.verdict import Assessed, Verdict

__all__ = [
    "EcgAnalyzer",
    "EcgQuality",
    "EcgReason",
    "EcgResult",
    "QrsDetector",
    "analyze_ecg",
    "analyze_ecg_cli",
    "detect_qrs",
    "match_beats",
]

# --- Plausibility limits -----------------------------------------------------------------
HR_MIN_BPM = 20.0  # below: not a perfusing rhythm we can trust; AAMI EC13 sec. 4.1.2.1
# requires monitors to cover at least 30-200 bpm (adult), we leave margin on both ends.
HR_MAX_BPM = 300.0  # above: beyond ventricular flutter rates; EC13 paediatric range is 250.
MIN_BEATS_FOR_HR = 3  # at least two RR intervals before reporting a rate.
MIN_RR_FOR_RHYTHM = 8  # irregularity needs a few intervals (Dash et al. 2009 used 128 beats;
# we accept fewer and mark the value QUESTIONABLE below RHYTHM_GOOD_RR).
RHYTHM_GOOD_RR = 32
IRREGULAR_NRMSSD = 0.10  # RMSSD / mean RR above this: irregular. Dash, Chon, Lu & Raeder,
# "Automatic real time detection of atrial fibrillation", Ann. Biomed. Eng. 37(9) 2009.

# --- Quality thresholds ----------------------------------------------------------------
FLAT_STD_MV = 0.02  # std below 20 µV: lead off or flat line. IEC 60601-2-27 allows ≤ 30 µV
# p-v input noise, so a connected ECG (QRS ≥ 0.3 mV) is far above this.
RAIL_MIN_RUN_S = 0.040  # a run this long at the extreme is clipping, not a peak (a QRS apex
# lasts a few ms).
RAIL_FRACTION_BAD = 0.01  # > 1 % of samples clipped: QUESTIONABLE.
RAIL_FRACTION_INVALID = 0.10  # > 10 % clipped: INVALID.
BSQI_GOOD = 0.90  # detectors disagree on > 10 % of beats: QUESTIONABLE (Li et al. 2008 treat
BSQI_INVALID = 0.50  # bSQI as a continuous weight; thresholds are our choice).
KSQI_GOOD = 5.0  # clean ECG has kurtosis > 5, Li et al. 2008 sec. 2.3.
PSQI_RANGE = (0.5, 0.8)  # expected relative QRS power, Li et al. 2008 sec. 2.3.
BASSQI_GOOD = 0.90  # baseline power ≤ 10 %. Our choice: Li et al. 2008 call > 0.95 clean, but
# clean 30-s windows of MIT-BIH 100 score 0.94-0.98 and our 0.5 Hz high-pass copes with that.
MIN_ANALYSIS_S = 5.0  # shorter windows give too few beats for bSQI and spectra.

# --- Streaming / CLI ---------------------------------------------------------------------
QUALITY_EVERY_CALLS = 8  # EcgAnalyzer recomputes the window's quality indices on every 8th
# assess() (every 2 s at the engine's 250 ms cadence): they cost ~0.5 ms per 10-s window;
# heart rate and rhythm (cheap) are recomputed on every call. A flat line only shows in the
# std once it fills most of the window, so the 2-s cadence adds little to lead-off latency.
CLI_BLOCK_S = 0.25  # the CLI feeds the detector as the room does.
CLI_DEFAULT_LEAD = "II"


class EcgReason(enum.Enum):
    TOO_SHORT = "too_short"
    NOT_FINITE = "not_finite"
    LEAD_OFF_OR_FLAT = "lead_off_or_flat"
    RAIL_SATURATION = "rail_saturation"
    DETECTOR_DISAGREEMENT = "detector_disagreement"  # low bSQI
    LOW_KURTOSIS = "low_kurtosis"  # low kSQI
    QRS_POWER_OUT_OF_RANGE = "qrs_power_out_of_range"  # pSQI
    BASELINE_WANDER = "baseline_wander"  # low basSQI
    TOO_FEW_BEATS = "too_few_beats"
    IMPLAUSIBLE_HEART_RATE = "implausible_heart_rate"
    SHORT_RHYTHM_WINDOW = "short_rhythm_window"


@dataclass(frozen=True, slots=True)
class EcgQuality:
    """Signal-quality indices (NaN when not computable) with the combined verdict."""

    bsqi: float
    ksqi: float
    psqi: float
    bas_sqi: float
    std_mv: float
    rail_fraction: float
    verdict: Verdict
    reasons: tuple[EcgReason, ...]


@dataclass(frozen=True, slots=True)
class EcgResult:
    """Result of :func:`analyze_ecg` over one analysis window."""

    fs_hz: float
    r_peaks: NDArray[np.int64]  # sample indices into the analysed window
    rr_interval_ms: NDArray[np.float64]
    heart_rate_bpm: Assessed
    irregularity_nrmssd: Assessed  # RMSSD / mean RR
    quality: EcgQuality
    reference_peaks: NDArray[np.int64] = field(repr=False)  # second detector, for bSQI

    @property
    def irregular(self) -> bool:
        """True when the rhythm indicator is usable and above the threshold (not a diagnosis)."""
        return self.irregularity_nrmssd.usable and self.irregularity_nrmssd.value > IRREGULAR_NRMSSD


def _assess_quality(
    x: NDArray[np.float64], fs_hz: float, peaks: NDArray[np.int64], ref_peaks: NDArray[np.int64]
) -> EcgQuality:
    reasons: list[EcgReason] = []
    verdict = Verdict.VALID

    def flag(reason: EcgReason, level: Verdict) -> None:
        nonlocal verdict
        reasons.append(reason)
        verdict = verdict.worst(level)

    std_mv = float(np.std(x))
    rail = rail_fraction(x, fs_hz, RAIL_MIN_RUN_S)
    b, k = bsqi(peaks, ref_peaks, fs_hz), ksqi(x)
    p, bas = spectral_sqis(x, fs_hz)
    if std_mv < FLAT_STD_MV:
        flag(EcgReason.LEAD_OFF_OR_FLAT, Verdict.INVALID)
    if rail > RAIL_FRACTION_BAD:
        flag(
            EcgReason.RAIL_SATURATION,
            Verdict.INVALID if rail > RAIL_FRACTION_INVALID else Verdict.QUESTIONABLE,
        )
    if np.isnan(b) or b < BSQI_GOOD:
        flag(
            EcgReason.DETECTOR_DISAGREEMENT,
            Verdict.INVALID if np.isnan(b) or b < BSQI_INVALID else Verdict.QUESTIONABLE,
        )
    if not k > KSQI_GOOD:
        flag(EcgReason.LOW_KURTOSIS, Verdict.QUESTIONABLE)
    if not PSQI_RANGE[0] <= p <= PSQI_RANGE[1]:
        flag(EcgReason.QRS_POWER_OUT_OF_RANGE, Verdict.QUESTIONABLE)
    if not bas >= BASSQI_GOOD:
        flag(EcgReason.BASELINE_WANDER, Verdict.QUESTIONABLE)
    return EcgQuality(b, k, p, bas, std_mv, rail, verdict, tuple(reasons))


def _median(v: list[float]) -> float:
    s = sorted(v)
    h = len(s) // 2
    return s[h] if len(s) % 2 else 0.5 * (s[h - 1] + s[h])


# Heart rate and rhythm use plain Python: a window holds a dozen RR intervals, for which
# numpy's per-call cost (median, diff, mean) exceeds the arithmetic many times over.
def _heart_rate(rr_ms: list[float], quality: EcgQuality) -> Assessed:
    if EcgReason.LEAD_OFF_OR_FLAT in quality.reasons:
        return Assessed(float("nan"), Verdict.INVALID, quality.reasons)
    if len(rr_ms) < MIN_BEATS_FOR_HR - 1:
        return Assessed(float("nan"), Verdict.INVALID, (EcgReason.TOO_FEW_BEATS,))
    hr = 60_000.0 / _median(rr_ms)
    verdict, reasons = quality.verdict, quality.reasons
    if not HR_MIN_BPM <= hr <= HR_MAX_BPM:
        verdict, reasons = Verdict.INVALID, (*reasons, EcgReason.IMPLAUSIBLE_HEART_RATE)
    return Assessed(hr, verdict, reasons)


def _irregularity(rr_ms: list[float], quality: EcgQuality) -> Assessed:
    n = len(rr_ms)
    if n < MIN_RR_FOR_RHYTHM:
        return Assessed(float("nan"), Verdict.INVALID, (EcgReason.TOO_FEW_BEATS,))
    sq_diff = math.fsum((b - a) ** 2 for a, b in itertools.pairwise(rr_ms))
    nrmssd = math.sqrt(sq_diff / (n - 1)) / (math.fsum(rr_ms) / n)
    verdict, reasons = quality.verdict, quality.reasons
    if n < RHYTHM_GOOD_RR:
        verdict = verdict.worst(Verdict.QUESTIONABLE)
        reasons = (*reasons, EcgReason.SHORT_RHYTHM_WINDOW)
    return Assessed(nrmssd, verdict, reasons)


def _not_computable(fs_hz: float, reason: EcgReason) -> EcgResult:
    nan = float("nan")
    empty_i = np.zeros(0, dtype=np.int64)
    q = EcgQuality(nan, nan, nan, nan, nan, nan, Verdict.INVALID, (reason,))
    invalid = Assessed(nan, Verdict.INVALID, (reason,))
    return EcgResult(fs_hz, empty_i, np.zeros(0), invalid, invalid, q, empty_i)


def _check_window(x: NDArray[np.float64], fs_hz: float) -> EcgReason | None:
    if x.size < MIN_ANALYSIS_S * fs_hz:
        return EcgReason.TOO_SHORT
    if not np.isfinite(x).all():
        return EcgReason.NOT_FINITE
    return None


def _result(
    fs_hz: float, peaks: NDArray[np.int64], ref_peaks: NDArray[np.int64], quality: EcgQuality
) -> EcgResult:
    rr_ms = np.diff(peaks).astype(np.float64) * (1000.0 / fs_hz)
    rr_list = rr_ms.tolist()
    for arr in (peaks, ref_peaks, rr_ms):
        arr.setflags(write=False)  # the result is frozen, its arrays too
    return EcgResult(
        fs_hz,
        peaks,
        rr_ms,
        _heart_rate(rr_list, quality),
        _irregularity(rr_list, quality),
        quality,
        ref_peaks,
    )


def analyze_ecg(x_mv: NDArray[np.float64], fs_hz: float) -> EcgResult:
    """Analyse one window of one ECG lead (mV): peaks, RR, heart rate, rhythm, quality."""
    x = np.asarray(x_mv, dtype=np.float64).ravel()
    bad = _check_window(x, fs_hz)
    if bad is not None:
        return _not_computable(fs_hz, bad)
    peaks = detect_qrs(x, fs_hz)
    ref_peaks = elgendi_qrs(x, fs_hz)
    return _result(fs_hz, peaks, ref_peaks, _assess_quality(x, fs_hz, peaks, ref_peaks))


class EcgAnalyzer:
    """One ECG lead in real time: feed blocks as they arrive, assess the last ``window_s``.

    The QRS detector runs continuously over the whole stream (so beats at the window's start
    are found with full history); a bounded ring holds the last ``window_s`` of raw signal for
    the quality indices, which are recomputed on every ``quality_every``-th :meth:`assess`
    (heart rate and rhythm on every call, from the latest beats and the cached quality).
    bSQI compares the two detectors only up to the point our detector has decided on (its
    latency plus the match tolerance before the newest sample). After a gap (``gap_before``)
    detector and window start afresh: the signal either side is not one stream.
    """

    def __init__(
        self, fs_hz: float, window_s: float = 10.0, *, quality_every: int = QUALITY_EVERY_CALLS
    ) -> None:
        if not math.isfinite(window_s) or window_s < MIN_ANALYSIS_S:
            raise ValueError(f"window_s must be ≥ {MIN_ANALYSIS_S} s, got {window_s}")
        if quality_every < 1:
            raise ValueError(f"quality_every must be ≥ 1, got {quality_every}")
        self._det = QrsDetector(fs_hz)
        self.fs_hz = self._det.fs_hz
        self.window_s = float(window_s)
        self.quality_every = quality_every
        self._n_win = round(window_s * self.fs_hz)
        self._buf = np.zeros(2 * self._n_win)  # linear buffer, compacted when full
        self._end = 0  # write position in _buf
        self._held = 0  # samples of the current segment in the window (≤ _n_win)
        max_beats = math.ceil(window_s * HR_MAX_BPM / 60.0) + 4
        self._peaks: deque[int] = deque(maxlen=max_beats)  # absolute sample indices
        self._quality: EcgQuality | None = None
        self._ref_peaks = np.zeros(0, dtype=np.int64)  # absolute, from the last quality run
        self._calls = 0  # assess() calls since the quality was computed
        self._cut = round((self._det.latency_s + MATCH_TOLERANCE_S) * self.fs_hz)
        self._last_bad = -1  # absolute index of the newest non-finite sample
        self._rhythm: (
            tuple[tuple[int, ...], EcgQuality, NDArray[np.float64], Assessed, Assessed] | None
        ) = None

    def reset(self) -> None:
        """Forget the stream (new detector, empty window)."""
        self._det = QrsDetector(self.fs_hz)
        self._end = self._held = 0
        self._peaks.clear()
        self._quality = None
        self._cut = round((self._det.latency_s + MATCH_TOLERANCE_S) * self.fs_hz)
        self._last_bad = -1
        self._rhythm = None

    def feed(self, block_mv: NDArray[np.float64], *, gap_before: bool = False) -> None:
        """Add a block of samples (mV); ``gap_before``: samples were lost just before it."""
        x = np.asarray(block_mv, dtype=np.float64).ravel()
        if gap_before:
            self.reset()
        if x.size == 0:
            return
        if not math.isfinite(float(np.add.reduce(x))):  # NaN/inf somewhere in the block
            bad = np.flatnonzero(~np.isfinite(x))
            if bad.size:
                self._last_bad = self._det.n_seen + int(bad[-1])
        self._peaks.extend(self._det.feed(x).tolist())
        x = x[-self._n_win :]
        n = x.size
        if self._end + n > self._buf.size:
            keep = min(self._held, self._n_win - n)
            self._buf[:keep] = self._buf[self._end - keep : self._end]
            self._end = keep
        self._buf[self._end : self._end + n] = x
        self._end += n
        self._held = min(self._held + n, self._n_win)

    def flush(self) -> None:
        """End of a recording: confirm the beats still waiting for the detector's look-ahead."""
        self._peaks.extend(self._det.flush().tolist())
        self._cut = 0

    def assess(self) -> EcgResult:
        """Heart rate, rhythm and quality over the last ``window_s`` (or less after a gap)."""
        window = self._buf[self._end - self._held : self._end]
        start = self._det.n_seen - self._held  # absolute index of window[0]
        bad = None
        if window.size < MIN_ANALYSIS_S * self.fs_hz:
            bad = EcgReason.TOO_SHORT
        elif self._last_bad >= start:
            bad = EcgReason.NOT_FINITE
        if bad is not None:
            self._quality = None
            return _not_computable(self.fs_hz, bad)
        beats = tuple(p for p in self._peaks if p >= start)
        self._calls += 1
        if self._quality is None or self._calls >= self.quality_every:
            self._calls = 0
            peaks = np.array(beats, dtype=np.int64) - start
            ref = elgendi_qrs(window, self.fs_hz)
            cut = window.size - self._cut  # beyond: our detector has not decided yet
            quality = _assess_quality(window, self.fs_hz, peaks[peaks < cut], ref[ref < cut])
            self._quality, self._ref_peaks = quality, ref + start
        quality = self._quality
        # Heart rate and rhythm only change when a beat enters or leaves the window, or the
        # quality is recomputed: reuse them otherwise (most calls at 250 ms).
        cached = self._rhythm
        if cached is None or cached[0] != beats or cached[1] is not quality:
            rr_ms = np.diff(np.array(beats, dtype=np.float64)) * (1000.0 / self.fs_hz)
            rr_ms.setflags(write=False)
            rr_list = rr_ms.tolist()
            hr, irr = _heart_rate(rr_list, quality), _irregularity(rr_list, quality)
            cached = self._rhythm = (beats, quality, rr_ms, hr, irr)
        r_peaks = np.array(beats, dtype=np.int64) - start
        ref_peaks = self._ref_peaks[self._ref_peaks >= start] - start
        r_peaks.setflags(write=False)
        ref_peaks.setflags(write=False)
        return EcgResult(self.fs_hz, r_peaks, cached[2], cached[3], cached[4], quality, ref_peaks)


def _json_float(v: float) -> float | None:
    return None if math.isnan(v) else v


def _assessed_json(a: Assessed) -> dict[str, Any]:
    return {"value": _json_float(a.value), "verdict": a.verdict.value, "reasons": a.reason_codes()}


def analyze_ecg_cli(
    x_mv: NDArray[np.float64], lead_names: list[str], fs_hz: float, lead: str | None = None
) -> dict[str, Any]:
    """Whole-recording analysis of one lead for ``helserom analyze ecg``; JSON-ready dict.

    ``x_mv`` is (samples, leads) in mV with ``lead_names`` naming the columns; ``lead``
    defaults to "II" if present, else the first column. The detector is fed in 0.25-s blocks
    as in the room; quality and heart rate are over the whole recording. NaN → None.
    """
    if not lead_names:
        raise ValueError("no leads given")
    x = np.asarray(x_mv, dtype=np.float64)
    if x.ndim == 1:
        x = x.reshape(-1, 1)
    if x.ndim != 2 or x.shape[1] != len(lead_names):
        raise ValueError(
            f"x_mv has shape {x.shape}, expected (samples, {len(lead_names)}) for leads "
            f"{', '.join(lead_names)}"
        )
    name = lead or (CLI_DEFAULT_LEAD if CLI_DEFAULT_LEAD in lead_names else lead_names[0])
    if name not in lead_names:
        raise ValueError(f"lead {name!r} not in the recording (leads: {', '.join(lead_names)})")
    QrsDetector(fs_hz)  # validates fs_hz with the detector's own message
    t0 = time.perf_counter()
    sig = x[:, lead_names.index(name)]
    peaks = detect_qrs(sig, fs_hz, block_s=CLI_BLOCK_S)
    bad = _check_window(sig, fs_hz)
    if bad is None:
        ref = elgendi_qrs(sig, fs_hz)
        res = _result(fs_hz, peaks, ref, _assess_quality(sig, fs_hz, peaks, ref))
    else:
        res = _not_computable(fs_hz, bad)
        res = _result(fs_hz, peaks, res.reference_peaks.copy(), res.quality)
    q = res.quality
    out: dict[str, Any] = {
        "lead": name,
        "fs_hz": fs_hz,
        "n_samples": int(sig.size),
        "r_peaks": [int(i) for i in res.r_peaks],
        "rr_interval_ms": [float(v) for v in res.rr_interval_ms],
        "heart_rate_bpm": _json_float(res.heart_rate_bpm.value),
        "heart_rate": _assessed_json(res.heart_rate_bpm),
        "irregularity_nrmssd": _assessed_json(res.irregularity_nrmssd),
        "irregular": res.irregular,
        "quality": {
            "bsqi": _json_float(q.bsqi),
            "ksqi": _json_float(q.ksqi),
            "psqi": _json_float(q.psqi),
            "bas_sqi": _json_float(q.bas_sqi),
            "std_mv": _json_float(q.std_mv),
            "rail_fraction": _json_float(q.rail_fraction),
            "verdict": q.verdict.value,
            "reasons": [r.value for r in q.reasons],
        },
    }
    out["compute_ms"] = (time.perf_counter() - t0) * 1000.0
    return out
