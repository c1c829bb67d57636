"""One forced expiratory manoeuvre: volume, time zero, BEV, EOFE and the ATS/ERS 2019 checks.

Source throughout: Graham BL, Steenbruggen I, Miller MR, et al. "Standardization of
Spirometry 2019 Update. An Official ATS and ERS Technical Statement". Am J Respir Crit Care
Med 2019;200(8):e70–e88 — sections "Start of forced expiration" (time zero by back-
extrapolation, BEV, hesitation time), "End of forced expiration" (EOFE) and Table 7
(acceptability and usability). The session level (repeatability, grades) is in
:mod:`gateway.signals.spiro`.

Input is flow in L/s (expiration positive) at ``fs_hz``; volume is the trapezoidal integral.
The forced expiration runs from the maximal inspiration (the volume minimum before PEF) to
the end of expiration (the volume maximum before the next inspiration). Volumes (FEV1, FVC,
BEV) are measured from the maximal inspiration; times (FEV1's 1 s, FET) from time zero.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

# --- Limits from ATS/ERS 2019 ---------------------------------------------------------------
BEV_LIMIT_L = 0.100  # BEV must be ≤ 5 % of FVC or 0.100 L, whichever is greater (Table 7)
BEV_LIMIT_FRACTION = 0.05
PLATEAU_VOLUME_L = 0.025  # EOFE 1: expiratory plateau, ≤ 0.025 L in the last 1 s (Table 7)
PLATEAU_WINDOW_S = 1.0
FET_EOFE_S = 15.0  # EOFE 2: expiratory time ≥ 15 s (Table 7)
FIVC_EXCESS_L = 0.100  # FIVC − FVC ≤ 0.100 L or 5 % of FVC, whichever is greater (Table 7)
FIVC_EXCESS_FRACTION = 0.05
HESITATION_MAX_S = 2.0  # "hesitation time … should be 2 s or less" (start of forced expiration)
# --- Our own choices (not numbers from the standard) -----------------------------------------
MIN_FS_HZ = 50.0  # below this the 1-s and 80-ms time scales of the manoeuvre are not resolved
# (ISO 26782 spirometers sample at ≥ 100 Hz).
MIN_PEF_LPS = 0.5  # a peak below 0.5 L/s is not a forced expiration (tidal flow is ~0.5 L/s).
FLOW_DEADBAND_LPS = 0.1  # |flow| below this is "no flow": sensor noise at zero, not inspiration.
COUGH_REBOUND_FRACTION = 0.10  # in the first second after PEF flow may only fall; a re-rise
# of > 10 % of PEF above its running minimum is a cough or an interrupted blow (definition ours).
TIME_TO_PEF_WARN_S = 0.150  # slow rise to PEF: a warning only; not a 2019 criterion (see docs).


class SpiroReason(enum.Enum):
    """Why a manoeuvre is not fully acceptable, or a warning (machine-readable)."""

    NOT_FINITE = "not_finite"  # NaN/inf samples: nothing computed
    TOO_SHORT = "too_short"  # fewer than 2 samples
    NO_FORCED_EXPIRATION = "no_forced_expiration"  # PEF < MIN_PEF_LPS
    BEV_TOO_LARGE = "bev_too_large"  # Table 7: FEV1 and FVC neither acceptable nor usable
    COUGH_FIRST_SECOND = "cough_first_second"  # Table 7: FEV1 not acc./usable, FVC not acc.
    EXPIRATION_UNDER_1S = "expiration_under_1s"  # blow ended < 1 s after time zero: glottic
    # closure or stop in the first second; FEV1 not computable
    NO_EOFE = "no_eofe"  # none of the three end-of-forced-expiration indicators: FVC not acc.
    INCOMPLETE_INSPIRATION = "incomplete_inspiration"  # FIVC − FVC too large: not acceptable
    HESITATION = "hesitation"  # warning: > 2 s from maximal inspiration to time zero
    SLOW_RISE_TO_PEF = "slow_rise_to_pef"  # warning: time zero to PEF > 150 ms


class Eofe(enum.Enum):
    """Which end-of-forced-expiration indicator was met (ATS/ERS 2019 Table 7)."""

    PLATEAU = "plateau"
    FET_15S = "fet_15s"
    REPEATS_PRIOR_FVC = "repeats_prior_fvc"  # FVC ≥ largest prior FVC − repeatability tolerance


@dataclass(frozen=True, slots=True)
class Manoeuvre:
    """Measurements and ATS/ERS 2019 judgement of one manoeuvre (NaN: not computable)."""

    fev1_l: float
    fvc_l: float
    fev1_fvc: float  # fraction, not %
    pef_lps: float
    fef25_75_lps: float
    bev_l: float
    bev_limit_l: float
    fet_s: float
    fivc_l: float  # volume inspired after the end of expiration (NaN if none recorded)
    last_second_volume_l: float  # volume exhaled in the last 1 s (plateau test)
    hesitation_s: float
    time_to_pef_s: float
    time_zero_index: float  # fractional sample index into the input array
    start_index: int  # maximal inspiration (−1 when not found)
    pef_index: int
    end_index: int
    eofe: tuple[Eofe, ...]
    acceptable_fev1: bool
    acceptable_fvc: bool
    usable_fev1: bool
    usable_fvc: bool
    reasons: tuple[SpiroReason, ...]

    def reason_codes(self) -> list[str]:
        """Reasons as lower-case codes for JSON."""
        return [r.value for r in self.reasons]


def _failed(reason: SpiroReason) -> Manoeuvre:
    nan = math.nan
    return Manoeuvre(
        fev1_l=nan,
        fvc_l=nan,
        fev1_fvc=nan,
        pef_lps=nan,
        fef25_75_lps=nan,
        bev_l=nan,
        bev_limit_l=nan,
        fet_s=nan,
        fivc_l=nan,
        last_second_volume_l=nan,
        hesitation_s=nan,
        time_to_pef_s=nan,
        time_zero_index=nan,
        start_index=-1,
        pef_index=-1,
        end_index=-1,
        eofe=(),
        acceptable_fev1=False,
        acceptable_fvc=False,
        usable_fev1=False,
        usable_fvc=False,
        reasons=(reason,),
    )


def volume_l(flow_lps: NDArray[np.float64], fs_hz: float) -> NDArray[np.float64]:
    """Cumulative trapezoidal integral of flow (L/s) in litres, starting at 0."""
    out = np.zeros(flow_lps.size, dtype=np.float64)
    if flow_lps.size > 1:
        out[1:] = np.cumsum((flow_lps[1:] + flow_lps[:-1]) * (0.5 / fs_hz))
    return out


def _at(v: NDArray[np.float64], index: float) -> float:
    """Linear interpolation of ``v`` at a fractional sample index."""
    return float(np.interp(index, np.arange(v.size, dtype=np.float64), v))


def _crossing(v: NDArray[np.float64], level: float) -> float:
    """Fractional index where the running maximum of ``v`` first reaches ``level``."""
    mono = np.maximum.accumulate(v)
    k = int(np.searchsorted(mono, level))
    if k <= 0 or k >= mono.size:
        return float(k) if k < mono.size else math.nan
    lo, hi = float(mono[k - 1]), float(mono[k])
    return (k - 1) + (level - lo) / (hi - lo) if hi > lo else float(k)


def repeatability_tolerance_l(largest_l: float, age_y: float | None) -> float:
    """Within-session tolerance: 0.150 L if age > 6 y (or unknown), else max(0.100 L, 10 %)."""
    if age_y is not None and age_y <= 6.0:
        return max(0.100, 0.10 * largest_l)
    return 0.150


def analyze_manoeuvre(
    flow_lps: NDArray[np.float64],
    fs_hz: float,
    *,
    prior_fvc_l: float = math.nan,
    age_y: float | None = None,
) -> Manoeuvre:
    """Analyse one manoeuvre; ``prior_fvc_l`` is the largest FVC seen before it (EOFE 3)."""
    if not fs_hz >= MIN_FS_HZ:
        raise ValueError(f"fs_hz must be >= {MIN_FS_HZ:g} Hz, got {fs_hz!r}")
    flow = np.asarray(flow_lps, dtype=np.float64).ravel()
    if flow.size < 2:
        return _failed(SpiroReason.TOO_SHORT)
    if not np.all(np.isfinite(flow)):
        return _failed(SpiroReason.NOT_FINITE)
    p = int(np.argmax(flow))
    pef = float(flow[p])
    if pef < MIN_PEF_LPS:
        return _failed(SpiroReason.NO_FORCED_EXPIRATION)
    vol = volume_l(flow, fs_hz)

    # Maximal inspiration: the volume minimum after the last inspiratory flow before PEF.
    insp_before = np.flatnonzero(flow[:p] < -FLOW_DEADBAND_LPS)
    r = int(insp_before[-1]) if insp_before.size else 0
    s = r + int(np.argmin(vol[r : p + 1]))
    # End of expiration: the volume maximum before the next inspiration.
    insp_after = np.flatnonzero(flow[p:] < -FLOW_DEADBAND_LPS)
    q = p + int(insp_after[0]) if insp_after.size else flow.size
    e = p + int(np.argmax(vol[p:q]))
    v = vol - vol[s]

    # Time zero: tangent through the PEF point with slope PEF, back to the volume at s.
    t0_idx = float(p - v[p] * fs_hz / pef)
    bev = _at(v, t0_idx)
    fvc = float(v[e])
    bev_limit = max(BEV_LIMIT_L, BEV_LIMIT_FRACTION * fvc)
    t1_idx = t0_idx + fs_hz  # one second after time zero
    expir = v[: e + 1]
    fev1 = _at(expir, t1_idx) if t1_idx <= e else math.nan
    i25, i75 = _crossing(v[s : e + 1], 0.25 * fvc), _crossing(v[s : e + 1], 0.75 * fvc)
    fef = float(0.5 * fvc * fs_hz / (i75 - i25)) if i75 > i25 else math.nan
    fet = (e - t0_idx) / fs_hz
    last_s = fvc - _at(expir, e - PLATEAU_WINDOW_S * fs_hz)
    fivc = float(v[e] - np.min(v[e:])) if q < flow.size else math.nan

    reasons: list[SpiroReason] = []
    if bev > bev_limit:
        reasons.append(SpiroReason.BEV_TOO_LARGE)
    # Cough / interruption: flow re-rising after PEF within the first second after time zero.
    w_end = min(math.floor(t1_idx) + 1, e + 1)
    seg = flow[p:w_end]
    if seg.size and float(np.max(seg - np.minimum.accumulate(seg))) > COUGH_REBOUND_FRACTION * pef:
        reasons.append(SpiroReason.COUGH_FIRST_SECOND)
    if math.isnan(fev1):
        reasons.append(SpiroReason.EXPIRATION_UNDER_1S)
    eofe: list[Eofe] = []
    if fet >= PLATEAU_WINDOW_S and last_s <= PLATEAU_VOLUME_L:
        eofe.append(Eofe.PLATEAU)
    if fet >= FET_EOFE_S:
        eofe.append(Eofe.FET_15S)
    if math.isfinite(prior_fvc_l) and fvc >= prior_fvc_l - repeatability_tolerance_l(
        prior_fvc_l, age_y
    ):
        eofe.append(Eofe.REPEATS_PRIOR_FVC)
    if not eofe:
        reasons.append(SpiroReason.NO_EOFE)
    if math.isfinite(fivc) and fivc - fvc > max(FIVC_EXCESS_L, FIVC_EXCESS_FRACTION * fvc):
        reasons.append(SpiroReason.INCOMPLETE_INSPIRATION)
    hesitation = (t0_idx - s) / fs_hz
    if hesitation > HESITATION_MAX_S:
        reasons.append(SpiroReason.HESITATION)
    time_to_pef = (p - t0_idx) / fs_hz
    if time_to_pef > TIME_TO_PEF_WARN_S:
        reasons.append(SpiroReason.SLOW_RISE_TO_PEF)

    # Table 7: which failed criterion blocks acceptability / usability of FEV1 and FVC.
    rs = set(reasons)
    bev_bad = SpiroReason.BEV_TOO_LARGE in rs
    first_second_bad = bool(rs & {SpiroReason.COUGH_FIRST_SECOND, SpiroReason.EXPIRATION_UNDER_1S})
    insp_bad = SpiroReason.INCOMPLETE_INSPIRATION in rs
    usable_fev1 = not bev_bad and not first_second_bad
    # A blow that stops within the first second (glottic closure) has no meaningful FVC either.
    usable_fvc = not bev_bad and SpiroReason.EXPIRATION_UNDER_1S not in rs
    acceptable_fev1 = usable_fev1 and not insp_bad
    acceptable_fvc = usable_fvc and not first_second_bad and not insp_bad and bool(eofe)
    return Manoeuvre(
        fev1_l=fev1,
        fvc_l=fvc,
        fev1_fvc=fev1 / fvc if fvc > 0.0 else math.nan,
        pef_lps=pef,
        fef25_75_lps=fef,
        bev_l=bev,
        bev_limit_l=bev_limit,
        fet_s=fet,
        fivc_l=fivc,
        last_second_volume_l=last_s,
        hesitation_s=hesitation,
        time_to_pef_s=time_to_pef,
        time_zero_index=t0_idx,
        start_index=s,
        pef_index=p,
        end_index=e,
        eofe=tuple(eofe),
        acceptable_fev1=acceptable_fev1,
        acceptable_fvc=acceptable_fvc,
        usable_fev1=usable_fev1,
        usable_fvc=usable_fvc,
        reasons=tuple(reasons),
    )
