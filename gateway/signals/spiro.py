"""Spirometry session: manoeuvres, repeatability, ATS/ERS 2019 grades, best values, references.

Per-manoeuvre analysis is in :mod:`gateway.signals.spiro_manoeuvre`, reference equations in
:mod:`gateway.signals.gli`. Session rules from Graham BL et al., "Standardization of
Spirometry 2019 Update", Am J Respir Crit Care Med 2019;200:e70–e88:

* repeatability: difference between the two largest acceptable values, separately for FEV1
  and FVC; 0.150 L for age > 6 y, 0.100 L or 10 % of the largest (whichever is greater) for
  age ≤ 6 y;
* grades A–F and U (Table 10), separately for FEV1 and FVC;
* reported FEV1 and FVC: the largest acceptable values, possibly from different manoeuvres
  (usable values when none is acceptable: grade U); FEV1/FVC from these two; the ``best``
  manoeuvre (for flows such as PEF and FEF25–75) is the acceptable one with the largest
  FEV1 + FVC.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from gateway.signals.gli import Ethnicity, Param, Reference, ReferenceValue, Sex, reference_value
from gateway.signals.spiro_manoeuvre import (
    Eofe,
    Manoeuvre,
    SpiroReason,
    analyze_manoeuvre,
    repeatability_tolerance_l,
    volume_l,
)

__all__ = [
    "Eofe",
    "Grade",
    "Manoeuvre",
    "SpiroReason",
    "SpiroSession",
    "analyze_manoeuvre",
    "analyze_session",
    "analyze_spiro",
    "grade",
    "repeatability_tolerance_l",
    "volume_l",
]

# Table 10 repeatability limits (L) for grades A/B, C and D: age > 6 y, and age ≤ 6 y (where
# each limit is "or 10 % of the highest value, whichever is greater").
GRADE_LIMITS_L = (0.150, 0.200, 0.250)
GRADE_LIMITS_CHILD_L = (0.100, 0.150, 0.200)
CHILD_FRACTION = 0.10
CHILD_MAX_AGE_Y = 6.0


class Grade(enum.Enum):
    """ATS/ERS 2019 Table 10 quality grade of FEV1 or FVC in one session."""

    A = "A"  # ≥ 3 acceptable, within the A/B limit
    B = "B"  # 2 acceptable, within the A/B limit
    C = "C"  # ≥ 2 acceptable, within the C limit
    D = "D"  # ≥ 2 acceptable, within the D limit
    E = "E"  # ≥ 2 acceptable beyond the D limit, or 1 acceptable
    U = "U"  # 0 acceptable and ≥ 1 usable
    F = "F"  # 0 acceptable and 0 usable


def grade(acceptable_l: Sequence[float], n_usable: int, age_y: float | None = None) -> Grade:
    """Table 10 grade from the acceptable values of one index and the count of usable ones."""
    values = sorted((x for x in acceptable_l if math.isfinite(x)), reverse=True)
    if not values:
        return Grade.U if n_usable > 0 else Grade.F
    if len(values) == 1:
        return Grade.E
    diff = values[0] - values[1]
    child = age_y is not None and age_y <= CHILD_MAX_AGE_Y
    limits = GRADE_LIMITS_CHILD_L if child else GRADE_LIMITS_L
    floor = CHILD_FRACTION * values[0] if child else 0.0
    ab, c, d = (max(x, floor) for x in limits)
    if diff <= ab:
        return Grade.A if len(values) >= 3 else Grade.B
    if diff <= c:
        return Grade.C
    if diff <= d:
        return Grade.D
    return Grade.E


@dataclass(frozen=True, slots=True)
class SpiroSession:
    """All manoeuvres of one (pre- or post-bronchodilator) testing set, judged together."""

    manoeuvres: tuple[Manoeuvre, ...]
    grade_fev1: Grade
    grade_fvc: Grade
    repeatability_fev1_l: float  # difference of the two largest acceptable values (NaN if < 2)
    repeatability_fvc_l: float
    fev1_l: float  # largest acceptable (or, with grade U, usable) value
    fvc_l: float
    fev1_fvc: float
    best: int | None  # index of the acceptable manoeuvre with the largest FEV1 + FVC


def _two_largest_diff(values: list[float]) -> float:
    top = sorted(values, reverse=True)
    return top[0] - top[1] if len(top) >= 2 else math.nan


def analyze_session(
    manoeuvres_lps: Sequence[NDArray[np.float64]], fs_hz: float, *, age_y: float | None = None
) -> SpiroSession:
    """Analyse manoeuvres in the order performed (EOFE 3 looks at the FVCs before each)."""
    results: list[Manoeuvre] = []
    prior = math.nan
    for flow in manoeuvres_lps:
        m = analyze_manoeuvre(flow, fs_hz, prior_fvc_l=prior, age_y=age_y)
        results.append(m)
        if math.isfinite(m.fvc_l):
            prior = m.fvc_l if math.isnan(prior) else max(prior, m.fvc_l)
    acc_fev1 = [m.fev1_l for m in results if m.acceptable_fev1]
    acc_fvc = [m.fvc_l for m in results if m.acceptable_fvc]
    use_fev1 = [m.fev1_l for m in results if m.usable_fev1 and math.isfinite(m.fev1_l)]
    use_fvc = [m.fvc_l for m in results if m.usable_fvc and math.isfinite(m.fvc_l)]
    fev1 = max(acc_fev1 or use_fev1, default=math.nan)
    fvc = max(acc_fvc or use_fvc, default=math.nan)
    candidates = [i for i, m in enumerate(results) if m.acceptable_fev1 and m.acceptable_fvc]
    if not candidates:
        candidates = [i for i, m in enumerate(results) if m.usable_fev1 and m.usable_fvc]
    best = max(candidates, key=lambda i: results[i].fev1_l + results[i].fvc_l, default=None)
    return SpiroSession(
        manoeuvres=tuple(results),
        grade_fev1=grade(acc_fev1, len(use_fev1), age_y),
        grade_fvc=grade(acc_fvc, len(use_fvc), age_y),
        repeatability_fev1_l=_two_largest_diff(acc_fev1),
        repeatability_fvc_l=_two_largest_diff(acc_fvc),
        fev1_l=fev1,
        fvc_l=fvc,
        fev1_fvc=fev1 / fvc if fvc > 0.0 else math.nan,
        best=best,
    )


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _manoeuvre_dict(m: Manoeuvre) -> dict[str, Any]:
    return {
        "fev1_l": _num(m.fev1_l),
        "fvc_l": _num(m.fvc_l),
        "fev1_fvc": _num(m.fev1_fvc),
        "pef_lps": _num(m.pef_lps),
        "fef25_75_lps": _num(m.fef25_75_lps),
        "bev_l": _num(m.bev_l),
        "fet_s": _num(m.fet_s),
        "acceptable_fev1": m.acceptable_fev1,
        "acceptable_fvc": m.acceptable_fvc,
        "usable_fev1": m.usable_fev1,
        "usable_fvc": m.usable_fvc,
        "reasons": m.reason_codes(),
    }


def _ref_dict(r: ReferenceValue) -> dict[str, float | None]:
    return {
        "predicted": _num(r.predicted),
        "lln": _num(r.lln),
        "z": _num(r.z),
        "percent_predicted": _num(r.percent_predicted),
    }


def analyze_spiro(
    manoeuvres_lps: Sequence[NDArray[np.float64]],
    fs_hz: float,
    *,
    sex: Sex | str | None = None,
    age_y: float | None = None,
    height_cm: float | None = None,
    reference: Reference | str = "gli2012",
    ethnicity: Ethnicity | str = Ethnicity.CAUCASIAN,
) -> dict[str, Any]:
    """Session analysis as a JSON-ready dict (NaN → None); ``reference`` only with sex, age, height.

    Raises ``ValueError`` for an unknown sex, reference or ethnicity or an ``fs_hz`` below
    the minimum; bad samples never raise, they show up as reasons.
    """
    ref = Reference(reference)
    sex_e = Sex(sex) if sex is not None else None
    eth = Ethnicity(ethnicity)
    session = analyze_session(manoeuvres_lps, fs_hz, age_y=age_y)
    out: dict[str, Any] = {
        "manoeuvres": [_manoeuvre_dict(m) for m in session.manoeuvres],
        "grade_fev1": session.grade_fev1.value,
        "grade_fvc": session.grade_fvc.value,
        "best": session.best,
    }
    if sex_e is not None and age_y is not None and height_cm is not None:
        measured = {
            "fev1_l": (Param.FEV1, session.fev1_l),
            "fvc_l": (Param.FVC, session.fvc_l),
            "fev1_fvc": (Param.FEV1_FVC, session.fev1_fvc),
        }
        out["reference"] = {
            key: _ref_dict(
                reference_value(param, value, sex_e, age_y, height_cm, reference=ref, ethnicity=eth)
            )
            for key, (param, value) in measured.items()
        }
    return out
