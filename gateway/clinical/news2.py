"""NEWS2, the National Early Warning Score 2 (Royal College of Physicians, 2017).

Source: Royal College of Physicians. National Early Warning Score (NEWS) 2: Standardising
the assessment of acute-illness severity in the NHS. Updated report of a working party.
London: RCP, 2017 — Chart 1 (the scoring system) and Chart 4 (clinical response
thresholds). The score is refused, never guessed, when a parameter is missing or INVALID.

Values are rounded half up to the chart's resolution (whole numbers; temperature 0.1 °C)
before scoring, as a nurse charting them would; the chart has no band for 20.4 /min.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from gateway.signals.verdict import Assessed, Verdict

# Each table: (upper bound inclusive, score), ascending; the last row catches the rest.
# RCP 2017 Chart 1.
RESPIRATION_RATE_PER_MIN_SCORES: tuple[tuple[float, int], ...] = (
    (8, 3),  # ≤ 8
    (11, 1),  # 9–11
    (20, 0),  # 12–20
    (24, 2),  # 21–24
    (math.inf, 3),  # ≥ 25
)
SPO2_SCALE_1_PCT_SCORES: tuple[tuple[float, int], ...] = (
    (91, 3),  # ≤ 91
    (93, 2),  # 92–93
    (95, 1),  # 94–95
    (math.inf, 0),  # ≥ 96
)
# Scale 2 (target 88–92 %, hypercapnic respiratory failure, on a clinician's decision).
SPO2_SCALE_2_ON_AIR_PCT_SCORES: tuple[tuple[float, int], ...] = (
    (83, 3),  # ≤ 83
    (85, 2),  # 84–85
    (87, 1),  # 86–87
    (math.inf, 0),  # 88–92, and ≥ 93 on air
)
SPO2_SCALE_2_ON_OXYGEN_PCT_SCORES: tuple[tuple[float, int], ...] = (
    (83, 3),  # ≤ 83
    (85, 2),  # 84–85
    (87, 1),  # 86–87
    (92, 0),  # 88–92
    (94, 1),  # 93–94 on oxygen
    (96, 2),  # 95–96 on oxygen
    (math.inf, 3),  # ≥ 97 on oxygen
)
SUPPLEMENTAL_OXYGEN_SCORE = 2  # "Air or oxygen?": oxygen 2, air 0
SYSTOLIC_MMHG_SCORES: tuple[tuple[float, int], ...] = (
    (90, 3),  # ≤ 90
    (100, 2),  # 91–100
    (110, 1),  # 101–110
    (219, 0),  # 111–219
    (math.inf, 3),  # ≥ 220
)
PULSE_BPM_SCORES: tuple[tuple[float, int], ...] = (
    (40, 3),  # ≤ 40
    (50, 1),  # 41–50
    (90, 0),  # 51–90
    (110, 1),  # 91–110
    (130, 2),  # 111–130
    (math.inf, 3),  # ≥ 131
)
TEMPERATURE_C_SCORES: tuple[tuple[float, int], ...] = (
    (35.0, 3),  # ≤ 35.0
    (36.0, 1),  # 35.1–36.0
    (38.0, 0),  # 36.1–38.0
    (39.0, 1),  # 38.1–39.0
    (math.inf, 2),  # ≥ 39.1
)
CONSCIOUSNESS_NOT_ALERT_SCORE = 3  # C, V, P or U (new confusion counts as C)
# RCP 2017 Chart 4: trigger thresholds.
MEDIUM_RISK_MIN_TOTAL = 5
HIGH_RISK_MIN_TOTAL = 7
RED_SINGLE_PARAMETER_SCORE = 3
# Absolute limits of an input; outside them the number cannot be a measurement.
SPO2_MAX_PCT = 100.0


class Acvpu(enum.Enum):
    """Level of consciousness on the ACVPU scale."""

    ALERT = "alert"
    NEW_CONFUSION = "new_confusion"
    VOICE = "voice"
    PAIN = "pain"
    UNRESPONSIVE = "unresponsive"


class Spo2Scale(enum.Enum):
    """Which SpO2 table applies; scale 2 only where a clinician prescribed 88–92 %."""

    SCALE_1 = 1
    SCALE_2 = 2


class News2Parameter(enum.Enum):
    """The seven NEWS2 parameters (air/oxygen counted separately as on the chart)."""

    RESPIRATION_RATE = "respiration_rate"
    SPO2 = "spo2"
    AIR_OR_OXYGEN = "air_or_oxygen"
    SYSTOLIC_BP = "systolic_bp"
    PULSE = "pulse"
    CONSCIOUSNESS = "consciousness"
    TEMPERATURE = "temperature"


class News2Reason(enum.Enum):
    """Why NEWS2 was refused or is only QUESTIONABLE."""

    MISSING = "missing"  # parameter not given (None or NaN)
    INPUT_INVALID = "input_invalid"  # the Assessed input was INVALID
    NOT_A_MEASUREMENT = "not_a_measurement"  # negative, infinite, or SpO2 > 100 %
    INPUT_QUESTIONABLE = "input_questionable"  # scored, but from a QUESTIONABLE value


class News2Risk(enum.Enum):
    """Clinical risk (RCP 2017 Chart 4)."""

    LOW = "low"  # aggregate 0–4
    LOW_MEDIUM = "low_medium"  # a single parameter scores 3, aggregate ≤ 4
    MEDIUM = "medium"  # aggregate 5–6
    HIGH = "high"  # aggregate ≥ 7


@dataclass(frozen=True, slots=True)
class News2Problem:
    """One parameter and what is wrong with it."""

    parameter: News2Parameter
    reason: News2Reason


@dataclass(frozen=True, slots=True)
class News2Result:
    """Per-parameter scores, total and risk; all None when the score was refused."""

    scores: dict[News2Parameter, int] | None
    total: int | None
    risk: News2Risk | None
    verdict: Verdict  # INVALID when refused, QUESTIONABLE if any input was
    problems: tuple[News2Problem, ...]
    spo2_scale: Spo2Scale

    @property
    def refused(self) -> bool:
        """True when no score could be computed."""
        return self.total is None


def _score(value: float, table: Sequence[tuple[float, int]]) -> int:
    for upper, score in table:
        if value <= upper:
            return score
    raise AssertionError("score tables end with +inf")  # pragma: no cover


def _round_half_up(value: float, places: int) -> float:
    quantum = Decimal(1).scaleb(-places)
    return float(Decimal(repr(value)).quantize(quantum, rounding=ROUND_HALF_UP))


def _take(
    parameter: News2Parameter,
    value: Assessed | float | None,
    problems: list[News2Problem],
    *,
    max_value: float = math.inf,
) -> float | None:
    """The usable number of one input, or None after recording why not."""
    if value is None:
        problems.append(News2Problem(parameter, News2Reason.MISSING))
        return None
    number = value.value if isinstance(value, Assessed) else float(value)
    if isinstance(value, Assessed) and not value.usable:
        problems.append(News2Problem(parameter, News2Reason.INPUT_INVALID))
        return None
    if math.isnan(number):
        problems.append(News2Problem(parameter, News2Reason.MISSING))
        return None
    if math.isinf(number) or number < 0 or number > max_value:
        problems.append(News2Problem(parameter, News2Reason.NOT_A_MEASUREMENT))
        return None
    if isinstance(value, Assessed) and value.verdict is Verdict.QUESTIONABLE:
        problems.append(News2Problem(parameter, News2Reason.INPUT_QUESTIONABLE))
    return number


def news2(
    *,
    respiration_rate_per_min: Assessed | float | None,
    spo2_pct: Assessed | float | None,
    on_supplemental_oxygen: bool | None,
    systolic_mmhg: Assessed | float | None,
    pulse_bpm: Assessed | float | None,
    consciousness: Acvpu | None,
    temperature_c: Assessed | float | None,
    spo2_scale: Spo2Scale = Spo2Scale.SCALE_1,
) -> News2Result:
    """Score NEWS2 (RCP 2017); refused (total None, verdict INVALID) if any input is unusable."""
    problems: list[News2Problem] = []
    P = News2Parameter
    rr = _take(P.RESPIRATION_RATE, respiration_rate_per_min, problems)
    spo2 = _take(P.SPO2, spo2_pct, problems, max_value=SPO2_MAX_PCT)
    sbp = _take(P.SYSTOLIC_BP, systolic_mmhg, problems)
    pulse = _take(P.PULSE, pulse_bpm, problems)
    temp = _take(P.TEMPERATURE, temperature_c, problems)
    if on_supplemental_oxygen is None:
        problems.append(News2Problem(P.AIR_OR_OXYGEN, News2Reason.MISSING))
    if consciousness is None:
        problems.append(News2Problem(P.CONSCIOUSNESS, News2Reason.MISSING))

    if (
        rr is None
        or spo2 is None
        or sbp is None
        or pulse is None
        or temp is None
        or on_supplemental_oxygen is None
        or consciousness is None
    ):
        return News2Result(None, None, None, Verdict.INVALID, tuple(problems), spo2_scale)

    if spo2_scale is Spo2Scale.SCALE_1:
        spo2_table = SPO2_SCALE_1_PCT_SCORES
    elif on_supplemental_oxygen:
        spo2_table = SPO2_SCALE_2_ON_OXYGEN_PCT_SCORES
    else:
        spo2_table = SPO2_SCALE_2_ON_AIR_PCT_SCORES
    scores = {
        P.RESPIRATION_RATE: _score(_round_half_up(rr, 0), RESPIRATION_RATE_PER_MIN_SCORES),
        P.SPO2: _score(_round_half_up(spo2, 0), spo2_table),
        P.AIR_OR_OXYGEN: SUPPLEMENTAL_OXYGEN_SCORE if on_supplemental_oxygen else 0,
        P.SYSTOLIC_BP: _score(_round_half_up(sbp, 0), SYSTOLIC_MMHG_SCORES),
        P.PULSE: _score(_round_half_up(pulse, 0), PULSE_BPM_SCORES),
        P.CONSCIOUSNESS: 0 if consciousness is Acvpu.ALERT else CONSCIOUSNESS_NOT_ALERT_SCORE,
        P.TEMPERATURE: _score(_round_half_up(temp, 1), TEMPERATURE_C_SCORES),
    }
    total = sum(scores.values())
    verdict = Verdict.QUESTIONABLE if problems else Verdict.VALID
    return News2Result(scores, total, news2_risk(scores), verdict, tuple(problems), spo2_scale)


def news2_risk(scores: dict[News2Parameter, int]) -> News2Risk:
    """Clinical risk from per-parameter scores (RCP 2017 Chart 4)."""
    total = sum(scores.values())
    if total >= HIGH_RISK_MIN_TOTAL:
        return News2Risk.HIGH
    if total >= MEDIUM_RISK_MIN_TOTAL:
        return News2Risk.MEDIUM
    if any(score >= RED_SINGLE_PARAMETER_SCORE for score in scores.values()):
        return News2Risk.LOW_MEDIUM
    return News2Risk.LOW
