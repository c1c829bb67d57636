"""Spirometry reference values: GLI-2012 and GLI Global 2022 (LMS method).

Predicted value (M), lower limit of normal (LLN, 5th percentile), z-score and % predicted for
FEV1, FVC and FEV1/FVC, by sex, age (3–95 y), height and, for GLI-2012, ethnic group.

* GLI-2012 — Quanjer PH, Stanojevic S, Cole TJ, et al. "Multi-ethnic reference values for
  spirometry for the 3–95-yr age range: the global lung function 2012 equations".
  Eur Respir J 2012;40:1324–1343. doi:10.1183/09031936.00080312
* GLI Global 2022 — Bowerman C, Bhakta NR, Brazzale D, et al. "A race-neutral approach to the
  interpretation of lung function measurements". Am J Respir Crit Care Med 2023;207:768–774.
  doi:10.1164/rccm.202205-0963OC

Model (both): ``L = q0 + q1·ln(age) + Lspline``, ``M = exp(a0 + a1·ln(height_cm) +
a2·ln(age) + ethnic terms + Mspline)``, ``S = exp(p0 + p1·ln(age) + ethnic terms + Sspline)``.
The splines are tabulated every 0.25 y; between knots we interpolate linearly, as the GLI's
own SAS macro does (floor to the quarter year, then interpolate). Coefficients and splines
are shipped in ``gli_data/`` (provenance in ``gli_data/README.md``).
"""

from __future__ import annotations

import enum
import functools
import math
from dataclasses import dataclass
from importlib import resources

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "AGE_MAX_Y",
    "AGE_MIN_Y",
    "Ethnicity",
    "Lms",
    "Param",
    "Reference",
    "ReferenceValue",
    "Sex",
    "lms",
    "reference_value",
]

AGE_MIN_Y = 3.0  # the GLI equations cover 3–95 y; outside we return NaN, never extrapolate
AGE_MAX_Y = 95.0
HEIGHT_MIN_CM = 50.0  # plausibility only (the GLI data span ~85–210 cm); outside: NaN
HEIGHT_MAX_CM = 250.0
LLN_Z = -1.645  # 5th percentile of the standard normal distribution (LLN convention, GLI)
SPLINE_STEP_Y = 0.25


class Reference(enum.Enum):
    """Which reference equations."""

    GLI_2012 = "gli2012"
    GLI_GLOBAL_2022 = "gli-global-2022"


class Sex(enum.Enum):
    """Sex at birth, as the equations use it."""

    MALE = "male"
    FEMALE = "female"


class Ethnicity(enum.Enum):
    """GLI-2012 groups (ignored by the race-neutral GLI Global 2022)."""

    CAUCASIAN = "caucasian"
    AFRICAN_AMERICAN = "african_american"
    NORTH_EAST_ASIAN = "north_east_asian"
    SOUTH_EAST_ASIAN = "south_east_asian"
    OTHER = "other"  # "other/mixed": the GLI composite equation


class Param(enum.Enum):
    """Spirometric index; the value is the column prefix in the tables."""

    FEV1 = "FEV1"
    FVC = "FVC"
    FEV1_FVC = "FEV1FVC"


# Ethnic-group coefficient names in the tables (a3..a6 for M, p2..p5 for S), GLI-2012.
_ETHNIC_TERMS = {
    Ethnicity.CAUCASIAN: (None, None),
    Ethnicity.AFRICAN_AMERICAN: ("a3", "p2"),
    Ethnicity.NORTH_EAST_ASIAN: ("a4", "p3"),
    Ethnicity.SOUTH_EAST_ASIAN: ("a5", "p4"),
    Ethnicity.OTHER: ("a6", "p5"),
}
_FILES = {
    Reference.GLI_2012: "gli2012",
    Reference.GLI_GLOBAL_2022: "gli_global_2022",
}


@dataclass(frozen=True, slots=True)
class Lms:
    """Box-Cox power (L), median (M, in the index's unit) and coefficient of variation (S)."""

    l: float  # noqa: E741 - the LMS method's own name
    m: float
    s: float

    @property
    def lln(self) -> float:
        """Lower limit of normal: the value at z = −1.645."""
        return self.value_at(LLN_Z)

    def value_at(self, z: float) -> float:
        """Inverse of :meth:`z_score`."""
        if self.l == 0.0:
            return self.m * math.exp(self.s * z)
        base = 1.0 + self.l * self.s * z
        return self.m * base ** (1.0 / self.l) if base > 0.0 else math.nan

    def z_score(self, measured: float) -> float:
        """``((x/M)^L − 1) / (L·S)``, or ``ln(x/M)/S`` when L = 0 (Cole's LMS z-score)."""
        if not measured > 0.0:
            return math.nan
        if self.l == 0.0:
            return math.log(measured / self.m) / self.s
        return float(((measured / self.m) ** self.l - 1.0) / (self.l * self.s))


@dataclass(frozen=True, slots=True)
class ReferenceValue:
    """Reference values of one index for one person (NaN when not computable)."""

    predicted: float
    lln: float
    z: float
    percent_predicted: float


@dataclass(frozen=True, slots=True)
class _Table:
    ages_y: NDArray[np.float64]
    splines: dict[str, NDArray[np.float64]]  # column name -> values at ages_y
    coefficients: dict[tuple[str, str], dict[str, float]]  # (param, sex) -> name -> value


def _read_csv(name: str) -> tuple[list[str], list[list[str]]]:
    text = resources.files("gateway.signals").joinpath("gli_data", name).read_text("ascii")
    rows = [line.split(",") for line in text.splitlines() if line.strip()]
    return rows[0], rows[1:]


@functools.cache
def _table(reference: Reference) -> _Table:
    """Load one reference's tables once (package data, read-only)."""
    stem = _FILES[reference]
    header, rows = _read_csv(f"{stem}_splines.csv")
    data = np.array(rows, dtype=np.float64)
    data.setflags(write=False)
    splines = {name: data[:, i] for i, name in enumerate(header)}
    header, rows = _read_csv(f"{stem}_coefficients.csv")
    coefficients = {
        (row[0], row[1]): {k: float(v) for k, v in zip(header[2:], row[2:], strict=True)}
        for row in rows
    }
    return _Table(splines["age"], splines, coefficients)


def _spline(table: _Table, column: str, age_y: float) -> float:
    """Linear interpolation between quarter-year knots (GLI SAS macro convention)."""
    return float(np.interp(age_y, table.ages_y, table.splines[column]))


def lms(
    param: Param,
    sex: Sex,
    age_y: float,
    height_cm: float,
    *,
    reference: Reference = Reference.GLI_2012,
    ethnicity: Ethnicity = Ethnicity.CAUCASIAN,
) -> Lms:
    """L, M and S for one person; NaN fields outside 3–95 y or an implausible height."""
    if not (AGE_MIN_Y <= age_y <= AGE_MAX_Y and HEIGHT_MIN_CM <= height_cm <= HEIGHT_MAX_CM):
        return Lms(math.nan, math.nan, math.nan)
    table = _table(reference)
    c = table.coefficients[(param.value, sex.value)]
    prefix = f"{param.value}_{sex.value}_"
    m_eth, s_eth = _ETHNIC_TERMS[ethnicity] if reference is Reference.GLI_2012 else (None, None)
    ln_age = math.log(age_y)
    big_l = c["q0"] + c["q1"] * ln_age + _spline(table, prefix + "L", age_y)
    big_m = math.exp(
        c["a0"]
        + c["a1"] * math.log(height_cm)
        + c["a2"] * ln_age
        + (c[m_eth] if m_eth else 0.0)
        + _spline(table, prefix + "M", age_y)
    )
    big_s = math.exp(
        c["p0"]
        + c["p1"] * ln_age
        + (c[s_eth] if s_eth else 0.0)
        + _spline(table, prefix + "S", age_y)
    )
    return Lms(big_l, big_m, big_s)


def reference_value(
    param: Param,
    measured: float,
    sex: Sex,
    age_y: float,
    height_cm: float,
    *,
    reference: Reference = Reference.GLI_2012,
    ethnicity: Ethnicity = Ethnicity.CAUCASIAN,
) -> ReferenceValue:
    """Predicted, LLN, z-score and % predicted of one measured index (NaN where not computable).

    ``measured`` is in litres for FEV1 and FVC and a fraction (not %) for FEV1/FVC; NaN gives
    NaN z and % predicted but still the predicted value and LLN.
    """
    p = lms(param, sex, age_y, height_cm, reference=reference, ethnicity=ethnicity)
    if math.isnan(p.m):
        return ReferenceValue(math.nan, math.nan, math.nan, math.nan)
    ok = math.isfinite(measured) and measured > 0.0
    return ReferenceValue(
        predicted=p.m,
        lln=p.lln,
        z=p.z_score(measured) if ok else math.nan,
        percent_predicted=100.0 * measured / p.m if ok else math.nan,
    )
