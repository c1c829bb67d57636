"""Blood pressure: plausibility of one cuff reading and its ESH 2023 office category.

Pure function over numbers; a value judged INVALID never gets a category. Sources:

* ESH 2023 — Mancia G, Kreutz R, et al. "2023 ESH Guidelines for the management of
  arterial hypertension". J Hypertens 2023;41:1874–2071, section 3 (classification of
  office BP). The category is set by the higher of systolic and diastolic; isolated
  systolic hypertension (ISH) is graded 1–3 by its systolic value.
* Plausibility limits: engineering judgement, see the comment at each constant.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from gateway.signals.verdict import Assessed, Verdict

# --- Plausibility limits (inclusive). Outside them a reading is INVALID. ---------------
# Wider than any oscillometric home/office monitor's specified measuring range (typically
# systolic 60–260, diastolic 40–200 mmHg), so a value outside is a device or transfer
# error, not physiology. Rationale, not a published standard.
SYSTOLIC_MIN_MMHG = 50.0
SYSTOLIC_MAX_MMHG = 300.0
DIASTOLIC_MIN_MMHG = 20.0
DIASTOLIC_MAX_MMHG = 200.0
# Mean arterial pressure lies between diastolic and systolic, so its limits are theirs.
MEAN_MIN_MMHG = DIASTOLIC_MIN_MMHG
MEAN_MAX_MMHG = SYSTOLIC_MAX_MMHG
# Pulse rate reported by a BP monitor: monitors specify about 40–180 /min; 25–250 keeps
# severe brady-/tachycardia while rejecting counting errors. Rationale, not a standard.
PULSE_MIN_BPM = 25.0
PULSE_MAX_BPM = 250.0
# Pulse pressure (systolic − diastolic). Below 10 mmHg the oscillometric envelope cannot
# separate the two points: treated as a failed measurement (INVALID). Above 150 mmHg is
# seen only in extreme isolated systolic hypertension or aortic regurgitation: kept, but
# QUESTIONABLE so someone looks at it. Rationale, not a published standard.
PULSE_PRESSURE_MIN_MMHG = 10.0
PULSE_PRESSURE_MAX_MMHG = 150.0

# --- ESH 2023 office BP category thresholds (lower bound of each category, mmHg). -----
# Source: ESH 2023 (J Hypertens 2023;41:1874–2071), classification of office BP.
ESH_NORMAL_SYSTOLIC_MMHG = 120.0  # optimal < 120 and < 80
ESH_NORMAL_DIASTOLIC_MMHG = 80.0
ESH_HIGH_NORMAL_SYSTOLIC_MMHG = 130.0  # normal 120–129 and/or 80–84
ESH_HIGH_NORMAL_DIASTOLIC_MMHG = 85.0
ESH_GRADE_1_SYSTOLIC_MMHG = 140.0  # high normal 130–139 and/or 85–89
ESH_GRADE_1_DIASTOLIC_MMHG = 90.0
ESH_GRADE_2_SYSTOLIC_MMHG = 160.0  # grade 1: 140–159 and/or 90–99
ESH_GRADE_2_DIASTOLIC_MMHG = 100.0
ESH_GRADE_3_SYSTOLIC_MMHG = 180.0  # grade 2: 160–179 and/or 100–109; grade 3: ≥ 180 / ≥ 110
ESH_GRADE_3_DIASTOLIC_MMHG = 110.0


class BpReason(enum.Enum):
    """Why a BP value is not simply VALID."""

    NOT_MEASURED = "not_measured"  # NaN or not given: nothing to judge
    NOT_FINITE = "not_finite"  # ±inf from a decoder
    BELOW_RANGE = "below_range"  # under the plausibility limit of this value
    ABOVE_RANGE = "above_range"  # over the plausibility limit of this value
    ORDER_VIOLATED = "order_violated"  # not systolic > mean > diastolic
    PULSE_PRESSURE_TOO_NARROW = "pulse_pressure_too_narrow"  # < 10 mmHg: INVALID
    PULSE_PRESSURE_WIDE = "pulse_pressure_wide"  # > 150 mmHg: QUESTIONABLE
    MOVEMENT = "movement"  # device status: body movement during measurement
    CUFF_FIT = "cuff_fit"  # device status: cuff too loose / badly placed
    IRREGULAR_PULSE = "irregular_pulse"  # device status: oscillometry unreliable


class BpCategory(enum.Enum):
    """ESH 2023 office blood-pressure category."""

    OPTIMAL = "optimal"
    NORMAL = "normal"
    HIGH_NORMAL = "high_normal"
    GRADE_1 = "grade_1"
    GRADE_2 = "grade_2"
    GRADE_3 = "grade_3"
    ISOLATED_SYSTOLIC = "isolated_systolic"  # ≥ 140 and < 90; see hypertension_grade


@dataclass(frozen=True, slots=True)
class BpAssessment:
    """One cuff reading judged value by value, with its ESH 2023 category."""

    systolic: Assessed
    diastolic: Assessed
    mean: Assessed
    pulse: Assessed
    category: BpCategory | None  # None when systolic or diastolic is INVALID
    hypertension_grade: int | None  # 1–3 for grades and ISH, None below 140/90

    @property
    def verdict(self) -> Verdict:
        """The worse of the systolic and diastolic verdicts (mean and pulse are extras)."""
        return self.systolic.verdict.worst(self.diastolic.verdict)


class _Judge:
    """Accumulates the verdict and reasons of one value."""

    def __init__(self, value: float) -> None:
        self.value = value
        self.verdict = Verdict.VALID
        self.reasons: list[BpReason] = []

    def flag(self, verdict: Verdict, reason: BpReason) -> None:
        self.verdict = self.verdict.worst(verdict)
        if reason not in self.reasons:
            self.reasons.append(reason)

    @property
    def present(self) -> bool:
        return math.isfinite(self.value)

    def result(self) -> Assessed:
        value = self.value if self.verdict is not Verdict.INVALID else math.nan
        if not math.isfinite(value):
            value = math.nan
        return Assessed(value, self.verdict, tuple(self.reasons))


def _range_check(judge: _Judge, low: float, high: float) -> None:
    if math.isnan(judge.value):
        judge.flag(Verdict.INVALID, BpReason.NOT_MEASURED)
    elif math.isinf(judge.value):
        judge.flag(Verdict.INVALID, BpReason.NOT_FINITE)
    elif judge.value < low:
        judge.flag(Verdict.INVALID, BpReason.BELOW_RANGE)
    elif judge.value > high:
        judge.flag(Verdict.INVALID, BpReason.ABOVE_RANGE)


def assess_bp(
    systolic_mmhg: float,
    diastolic_mmhg: float,
    mean_mmhg: float = math.nan,
    pulse_bpm: float = math.nan,
    *,
    movement: bool = False,
    cuff_fit_problem: bool = False,
    irregular_pulse: bool = False,
) -> BpAssessment:
    """Judge one cuff reading and classify it (ESH 2023); INVALID values get no category."""
    sys_j, dia_j, mean_j, pulse_j = (
        _Judge(systolic_mmhg),
        _Judge(diastolic_mmhg),
        _Judge(mean_mmhg),
        _Judge(pulse_bpm),
    )
    _range_check(sys_j, SYSTOLIC_MIN_MMHG, SYSTOLIC_MAX_MMHG)
    _range_check(dia_j, DIASTOLIC_MIN_MMHG, DIASTOLIC_MAX_MMHG)
    _range_check(mean_j, MEAN_MIN_MMHG, MEAN_MAX_MMHG)
    _range_check(pulse_j, PULSE_MIN_BPM, PULSE_MAX_BPM)

    # Cross-checks only between values that passed their own range check.
    if sys_j.verdict is Verdict.VALID and dia_j.verdict is Verdict.VALID:
        pulse_pressure_mmhg = systolic_mmhg - diastolic_mmhg
        if pulse_pressure_mmhg <= 0:
            # Which of the two is wrong cannot be told: both are unusable.
            for judge in (sys_j, dia_j):
                judge.flag(Verdict.INVALID, BpReason.ORDER_VIOLATED)
        elif pulse_pressure_mmhg < PULSE_PRESSURE_MIN_MMHG:
            for judge in (sys_j, dia_j):
                judge.flag(Verdict.INVALID, BpReason.PULSE_PRESSURE_TOO_NARROW)
        elif pulse_pressure_mmhg > PULSE_PRESSURE_MAX_MMHG:
            for judge in (sys_j, dia_j):
                judge.flag(Verdict.QUESTIONABLE, BpReason.PULSE_PRESSURE_WIDE)
        if mean_j.verdict is Verdict.VALID and not diastolic_mmhg < mean_mmhg < systolic_mmhg:
            for judge in (sys_j, dia_j, mean_j):
                judge.flag(Verdict.INVALID, BpReason.ORDER_VIOLATED)

    # Device status bits: the value exists but the device doubts it.
    status = (
        (movement, BpReason.MOVEMENT),
        (cuff_fit_problem, BpReason.CUFF_FIT),
        (irregular_pulse, BpReason.IRREGULAR_PULSE),
    )
    for is_set, reason in status:
        if not is_set:
            continue
        for judge in (sys_j, dia_j, mean_j, pulse_j):
            if judge.present:
                judge.flag(Verdict.QUESTIONABLE, reason)

    systolic, diastolic = sys_j.result(), dia_j.result()
    category, grade = (None, None)
    if systolic.usable and diastolic.usable:
        category, grade = esh_2023_category(systolic.value, diastolic.value)
    return BpAssessment(systolic, diastolic, mean_j.result(), pulse_j.result(), category, grade)


def _systolic_level(systolic_mmhg: float) -> int:
    """0 optimal, 1 normal, 2 high normal, 3–5 grade 1–3."""
    limits = (
        ESH_NORMAL_SYSTOLIC_MMHG,
        ESH_HIGH_NORMAL_SYSTOLIC_MMHG,
        ESH_GRADE_1_SYSTOLIC_MMHG,
        ESH_GRADE_2_SYSTOLIC_MMHG,
        ESH_GRADE_3_SYSTOLIC_MMHG,
    )
    return sum(systolic_mmhg >= limit for limit in limits)


def _diastolic_level(diastolic_mmhg: float) -> int:
    limits = (
        ESH_NORMAL_DIASTOLIC_MMHG,
        ESH_HIGH_NORMAL_DIASTOLIC_MMHG,
        ESH_GRADE_1_DIASTOLIC_MMHG,
        ESH_GRADE_2_DIASTOLIC_MMHG,
        ESH_GRADE_3_DIASTOLIC_MMHG,
    )
    return sum(diastolic_mmhg >= limit for limit in limits)


_LEVELS = (
    BpCategory.OPTIMAL,
    BpCategory.NORMAL,
    BpCategory.HIGH_NORMAL,
    BpCategory.GRADE_1,
    BpCategory.GRADE_2,
    BpCategory.GRADE_3,
)
_FIRST_GRADE_LEVEL = 3


def esh_2023_category(systolic_mmhg: float, diastolic_mmhg: float) -> tuple[BpCategory, int | None]:
    """ESH 2023 office category of finite values, and the hypertension grade (1–3) if any."""
    if not (math.isfinite(systolic_mmhg) and math.isfinite(diastolic_mmhg)):
        raise ValueError(f"finite values needed, got {systolic_mmhg}/{diastolic_mmhg} mmHg")
    sys_level = _systolic_level(systolic_mmhg)
    dia_level = _diastolic_level(diastolic_mmhg)
    if sys_level >= _FIRST_GRADE_LEVEL and diastolic_mmhg < ESH_GRADE_1_DIASTOLIC_MMHG:
        # ESH 2023: ISH is graded 1, 2 or 3 by its systolic value alone.
        return BpCategory.ISOLATED_SYSTOLIC, sys_level - _FIRST_GRADE_LEVEL + 1
    level = max(sys_level, dia_level)
    grade = level - _FIRST_GRADE_LEVEL + 1 if level >= _FIRST_GRADE_LEVEL else None
    return _LEVELS[level], grade
