"""ECG analysis: R peaks, RR series, heart rate, irregular-rhythm indicator and signal quality.

The detector lives in :mod:`gateway.signals.ecg_qrs`, the quality indices in
:mod:`gateway.signals.ecg_quality`; this module combines them into verdicts.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from gateway.signals.ecg_qrs import QrsDetector, detect_qrs
from gateway.signals.ecg_quality import (
    bas_sqi,
    bsqi,
    elgendi_qrs,
    ksqi,
    match_beats,
    psqi,
    rail_fraction,
)
from gateway.signals.verdict import Assessed, Verdict

__all__ = [
    "EcgQuality",
    "EcgReason",
    "EcgResult",
    "QrsDetector",
    "analyze_ecg",
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
    b, k, p, bas = bsqi(peaks, ref_peaks, fs_hz), ksqi(x), psqi(x, fs_hz), bas_sqi(x, fs_hz)
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


def _heart_rate(rr_ms: NDArray[np.float64], quality: EcgQuality) -> Assessed:
    if EcgReason.LEAD_OFF_OR_FLAT in quality.reasons:
        return Assessed(float("nan"), Verdict.INVALID, quality.reasons)
    if rr_ms.size < MIN_BEATS_FOR_HR - 1:
        return Assessed(float("nan"), Verdict.INVALID, (EcgReason.TOO_FEW_BEATS,))
    hr = 60_000.0 / float(np.median(rr_ms))
    verdict, reasons = quality.verdict, quality.reasons
    if not HR_MIN_BPM <= hr <= HR_MAX_BPM:
        verdict, reasons = Verdict.INVALID, (*reasons, EcgReason.IMPLAUSIBLE_HEART_RATE)
    return Assessed(hr, verdict, reasons)


def _irregularity(rr_ms: NDArray[np.float64], quality: EcgQuality) -> Assessed:
    if rr_ms.size < MIN_RR_FOR_RHYTHM:
        return Assessed(float("nan"), Verdict.INVALID, (EcgReason.TOO_FEW_BEATS,))
    nrmssd = float(np.sqrt(np.mean(np.diff(rr_ms) ** 2)) / np.mean(rr_ms))
    verdict, reasons = quality.verdict, quality.reasons
    if rr_ms.size < RHYTHM_GOOD_RR:
        verdict = verdict.worst(Verdict.QUESTIONABLE)
        reasons = (*reasons, EcgReason.SHORT_RHYTHM_WINDOW)
    return Assessed(nrmssd, verdict, reasons)


def analyze_ecg(x_mv: NDArray[np.float64], fs_hz: float) -> EcgResult:
    """Analyse one window of one ECG lead (mV): peaks, RR, heart rate, rhythm, quality."""
    x = np.asarray(x_mv, dtype=np.float64).ravel()
    empty_i = np.zeros(0, dtype=np.int64)
    bad: EcgReason | None = None
    if x.size < MIN_ANALYSIS_S * fs_hz:
        bad = EcgReason.TOO_SHORT
    elif not np.all(np.isfinite(x)):
        bad = EcgReason.NOT_FINITE
    if bad is not None:
        nan = float("nan")
        q = EcgQuality(nan, nan, nan, nan, nan, nan, Verdict.INVALID, (bad,))
        invalid = Assessed(nan, Verdict.INVALID, (bad,))
        return EcgResult(fs_hz, empty_i, np.zeros(0), invalid, invalid, q, empty_i)
    peaks = detect_qrs(x, fs_hz)
    ref_peaks = elgendi_qrs(x, fs_hz)
    quality = _assess_quality(x, fs_hz, peaks, ref_peaks)
    rr_ms = np.diff(peaks).astype(np.float64) * (1000.0 / fs_hz)
    for arr in (peaks, ref_peaks, rr_ms):
        arr.setflags(write=False)  # the result is frozen, its arrays too
    return EcgResult(
        fs_hz,
        peaks,
        rr_ms,
        _heart_rate(rr_ms, quality),
        _irregularity(rr_ms, quality),
        quality,
        ref_peaks,
    )
