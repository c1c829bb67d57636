"""NEWS2 (RCP 2017 Chart 1 and 4): every band boundary, scale 2, refusal."""

from __future__ import annotations

import math
from typing import Any

import pytest

from gateway.clinical.news2 import (
    Acvpu,
    News2Parameter,
    News2Problem,
    News2Reason,
    News2Risk,
    Spo2Scale,
    news2,
)
from gateway.signals.verdict import Assessed, Verdict

P = News2Parameter

# An all-zero observation set: RR 16, SpO2 97 on air, SBP 120, pulse 70, alert, 37.0 °C.
NORMAL: dict[str, Any] = {
    "respiration_rate_per_min": 16,
    "spo2_pct": 97,
    "on_supplemental_oxygen": False,
    "systolic_mmhg": 120,
    "pulse_bpm": 70,
    "consciousness": Acvpu.ALERT,
    "temperature_c": 37.0,
}


def score_of(parameter: News2Parameter, **changes: Any) -> int:
    result = news2(**{**NORMAL, **changes})
    assert result.scores is not None
    return result.scores[parameter]


def test_all_normal_scores_zero() -> None:
    result = news2(**NORMAL)
    assert result.total == 0
    assert result.risk is News2Risk.LOW
    assert result.verdict is Verdict.VALID
    assert result.problems == ()
    assert result.scores == dict.fromkeys(P, 0)


@pytest.mark.parametrize(
    ("value", "score"),
    [(0, 3), (8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (60, 3)],
)
def test_respiration_rate_bands(value: float, score: int) -> None:
    assert score_of(P.RESPIRATION_RATE, respiration_rate_per_min=value) == score


@pytest.mark.parametrize(
    ("value", "score"), [(70, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)]
)
def test_spo2_scale_1_bands(value: float, score: int) -> None:
    assert score_of(P.SPO2, spo2_pct=value) == score
    # on scale 1 oxygen adds its own +2 and does not change the SpO2 score
    assert score_of(P.SPO2, spo2_pct=value, on_supplemental_oxygen=True) == score


@pytest.mark.parametrize(
    ("value", "score"),
    [(70, 3), (83, 3), (84, 2), (85, 2), (86, 1), (87, 1), (88, 0), (92, 0), (93, 0), (100, 0)],
)
def test_spo2_scale_2_on_air(value: float, score: int) -> None:
    assert score_of(P.SPO2, spo2_pct=value, spo2_scale=Spo2Scale.SCALE_2) == score


@pytest.mark.parametrize(
    ("value", "score"),
    [
        (70, 3),
        (83, 3),
        (84, 2),
        (85, 2),
        (86, 1),
        (87, 1),
        (88, 0),
        (92, 0),
        (93, 1),
        (94, 1),
        (95, 2),
        (96, 2),
        (97, 3),
        (100, 3),
    ],
)
def test_spo2_scale_2_on_oxygen(value: float, score: int) -> None:
    result = news2(
        **{**NORMAL, "spo2_pct": value, "on_supplemental_oxygen": True},
        spo2_scale=Spo2Scale.SCALE_2,
    )
    assert result.scores is not None
    assert result.scores[P.SPO2] == score
    assert result.scores[P.AIR_OR_OXYGEN] == 2
    assert result.spo2_scale is Spo2Scale.SCALE_2


def test_oxygen_scores_two() -> None:
    assert score_of(P.AIR_OR_OXYGEN, on_supplemental_oxygen=True) == 2
    assert score_of(P.AIR_OR_OXYGEN, on_supplemental_oxygen=False) == 0


@pytest.mark.parametrize(
    ("value", "score"),
    [(60, 3), (90, 3), (91, 2), (100, 2), (101, 1), (110, 1), (111, 0), (219, 0), (220, 3)],
)
def test_systolic_bands(value: float, score: int) -> None:
    assert score_of(P.SYSTOLIC_BP, systolic_mmhg=value) == score


@pytest.mark.parametrize(
    ("value", "score"),
    [
        (30, 3),
        (40, 3),
        (41, 1),
        (50, 1),
        (51, 0),
        (90, 0),
        (91, 1),
        (110, 1),
        (111, 2),
        (130, 2),
        (131, 3),
        (200, 3),
    ],
)
def test_pulse_bands(value: float, score: int) -> None:
    assert score_of(P.PULSE, pulse_bpm=value) == score


@pytest.mark.parametrize(
    ("value", "score"),
    [
        (33.0, 3),
        (35.0, 3),
        (35.1, 1),
        (36.0, 1),
        (36.1, 0),
        (38.0, 0),
        (38.1, 1),
        (39.0, 1),
        (39.1, 2),
        (41.0, 2),
    ],
)
def test_temperature_bands(value: float, score: int) -> None:
    assert score_of(P.TEMPERATURE, temperature_c=value) == score


@pytest.mark.parametrize(
    ("level", "score"),
    [
        (Acvpu.ALERT, 0),
        (Acvpu.NEW_CONFUSION, 3),
        (Acvpu.VOICE, 3),
        (Acvpu.PAIN, 3),
        (Acvpu.UNRESPONSIVE, 3),
    ],
)
def test_consciousness(level: Acvpu, score: int) -> None:
    assert score_of(P.CONSCIOUSNESS, consciousness=level) == score


@pytest.mark.parametrize(
    ("changes", "parameter", "score"),
    [
        ({"respiration_rate_per_min": 20.4}, P.RESPIRATION_RATE, 0),  # charted as 20
        ({"respiration_rate_per_min": 20.5}, P.RESPIRATION_RATE, 2),  # charted as 21
        ({"temperature_c": 38.04}, P.TEMPERATURE, 0),  # charted as 38.0
        ({"temperature_c": 38.05}, P.TEMPERATURE, 1),  # charted as 38.1 (half up)
        ({"temperature_c": 35.05}, P.TEMPERATURE, 1),
        ({"spo2_pct": 95.5}, P.SPO2, 0),
        ({"pulse_bpm": 90.49}, P.PULSE, 0),
    ],
)
def test_rounding_to_chart_resolution(
    changes: dict[str, float], parameter: News2Parameter, score: int
) -> None:
    assert score_of(parameter, **changes) == score


def test_risk_low_medium_from_single_red_score() -> None:
    result = news2(**{**NORMAL, "respiration_rate_per_min": 26})
    assert result.total == 3
    assert result.risk is News2Risk.LOW_MEDIUM
    confused = news2(**{**NORMAL, "consciousness": Acvpu.NEW_CONFUSION})
    assert confused.risk is News2Risk.LOW_MEDIUM


def test_risk_boundaries() -> None:
    # 4: RR 22 (2) + oxygen (2)
    four = news2(**{**NORMAL, "respiration_rate_per_min": 22, "on_supplemental_oxygen": True})
    assert (four.total, four.risk) == (4, News2Risk.LOW)
    # 5: + temperature 38.5 (1)
    five = news2(
        **{
            **NORMAL,
            "respiration_rate_per_min": 22,
            "on_supplemental_oxygen": True,
            "temperature_c": 38.5,
        }
    )
    assert (five.total, five.risk) == (5, News2Risk.MEDIUM)
    # 6: + pulse 95 (1)
    six = news2(
        **{
            **NORMAL,
            "respiration_rate_per_min": 22,
            "on_supplemental_oxygen": True,
            "temperature_c": 38.5,
            "pulse_bpm": 95,
        }
    )
    assert (six.total, six.risk) == (6, News2Risk.MEDIUM)
    # 7: + SBP 105 (1)
    seven = news2(
        **{
            **NORMAL,
            "respiration_rate_per_min": 22,
            "on_supplemental_oxygen": True,
            "temperature_c": 38.5,
            "pulse_bpm": 95,
            "systolic_mmhg": 105,
        }
    )
    assert (seven.total, seven.risk) == (7, News2Risk.HIGH)


def test_example_copd_exacerbation_on_scale_2() -> None:
    # COPD, target 88–92 %, on oxygen at 95 %: RR 24 (2), SpO2 (2), O2 (2), SBP 132 (0),
    # pulse 104 (1), alert (0), 37.9 °C (0) → 7, high.
    result = news2(
        respiration_rate_per_min=24,
        spo2_pct=95,
        on_supplemental_oxygen=True,
        systolic_mmhg=132,
        pulse_bpm=104,
        consciousness=Acvpu.ALERT,
        temperature_c=37.9,
        spo2_scale=Spo2Scale.SCALE_2,
    )
    assert result.scores == {
        P.RESPIRATION_RATE: 2,
        P.SPO2: 2,
        P.AIR_OR_OXYGEN: 2,
        P.SYSTOLIC_BP: 0,
        P.PULSE: 1,
        P.CONSCIOUSNESS: 0,
        P.TEMPERATURE: 0,
    }
    assert (result.total, result.risk) == (7, News2Risk.HIGH)
    # the same patient on scale 1 would score SpO2 1 instead
    scale_1 = news2(
        respiration_rate_per_min=24,
        spo2_pct=95,
        on_supplemental_oxygen=True,
        systolic_mmhg=132,
        pulse_bpm=104,
        consciousness=Acvpu.ALERT,
        temperature_c=37.9,
    )
    assert scale_1.total == 6


def test_maximum_score_is_twenty() -> None:
    result = news2(
        respiration_rate_per_min=30,
        spo2_pct=85,
        on_supplemental_oxygen=True,
        systolic_mmhg=80,
        pulse_bpm=140,
        consciousness=Acvpu.UNRESPONSIVE,
        temperature_c=34.0,
    )
    assert (result.total, result.risk) == (20, News2Risk.HIGH)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"respiration_rate_per_min": None}, News2Problem(P.RESPIRATION_RATE, News2Reason.MISSING)),
        ({"spo2_pct": math.nan}, News2Problem(P.SPO2, News2Reason.MISSING)),
        ({"on_supplemental_oxygen": None}, News2Problem(P.AIR_OR_OXYGEN, News2Reason.MISSING)),
        ({"consciousness": None}, News2Problem(P.CONSCIOUSNESS, News2Reason.MISSING)),
        (
            {"systolic_mmhg": Assessed(math.nan, Verdict.INVALID)},
            News2Problem(P.SYSTOLIC_BP, News2Reason.INPUT_INVALID),
        ),
        (
            {"pulse_bpm": Assessed(300.0, Verdict.INVALID)},  # a value, but INVALID
            News2Problem(P.PULSE, News2Reason.INPUT_INVALID),
        ),
        ({"spo2_pct": 101}, News2Problem(P.SPO2, News2Reason.NOT_A_MEASUREMENT)),
        ({"temperature_c": -1.0}, News2Problem(P.TEMPERATURE, News2Reason.NOT_A_MEASUREMENT)),
        ({"pulse_bpm": math.inf}, News2Problem(P.PULSE, News2Reason.NOT_A_MEASUREMENT)),
    ],
)
def test_refused_when_a_parameter_is_unusable(
    changes: dict[str, Any], problem: News2Problem
) -> None:
    result = news2(**{**NORMAL, **changes})
    assert result.refused
    assert result.scores is None
    assert result.total is None
    assert result.risk is None
    assert result.verdict is Verdict.INVALID
    assert result.problems == (problem,)


def test_refusal_lists_every_problem() -> None:
    result = news2(
        respiration_rate_per_min=None,
        spo2_pct=Assessed(math.nan, Verdict.INVALID),
        on_supplemental_oxygen=None,
        systolic_mmhg=120,
        pulse_bpm=70,
        consciousness=Acvpu.ALERT,
        temperature_c=37.0,
    )
    assert result.problems == (
        News2Problem(P.RESPIRATION_RATE, News2Reason.MISSING),
        News2Problem(P.SPO2, News2Reason.INPUT_INVALID),
        News2Problem(P.AIR_OR_OXYGEN, News2Reason.MISSING),
    )


def test_questionable_input_is_scored_but_flagged() -> None:
    result = news2(**{**NORMAL, "systolic_mmhg": Assessed(98.0, Verdict.QUESTIONABLE)})
    assert result.total == 2
    assert result.verdict is Verdict.QUESTIONABLE
    assert result.problems == (News2Problem(P.SYSTOLIC_BP, News2Reason.INPUT_QUESTIONABLE),)


def test_valid_assessed_inputs() -> None:
    result = news2(**{**NORMAL, "spo2_pct": Assessed(93.0, Verdict.VALID)})
    assert result.total == 2
    assert result.verdict is Verdict.VALID


def test_synanetics_fhir_example_carol() -> None:
    # Raw observations of "Carol Test" in SynaneticsLtd/emergency-department-ig
    # (input/fsh/examples/observation/caroltest-*.fsh): RR 21, HR 95, SpO2 93 on air,
    # SBP 120, alert, 37.5 °C. That example scores temperature 1 (total 6); RCP Chart 1
    # puts 37.5 °C in 36.1–38.0 = 0, so the chart's answer is 5. Every other part agrees.
    result = news2(
        respiration_rate_per_min=21,
        spo2_pct=93,
        on_supplemental_oxygen=False,
        systolic_mmhg=120,
        pulse_bpm=95,
        consciousness=Acvpu.ALERT,
        temperature_c=37.5,
    )
    assert result.scores == {
        P.RESPIRATION_RATE: 2,
        P.SPO2: 2,
        P.AIR_OR_OXYGEN: 0,
        P.SYSTOLIC_BP: 0,
        P.PULSE: 1,
        P.CONSCIOUSNESS: 0,
        P.TEMPERATURE: 0,
    }
    assert (result.total, result.risk) == (5, News2Risk.MEDIUM)
