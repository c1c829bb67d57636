"""Blood pressure plausibility and ESH 2023 category, at every boundary."""

from __future__ import annotations

import math

import pytest

from gateway.clinical.bp import BpCategory, BpReason, assess_bp, esh_2023_category
from gateway.signals.verdict import Verdict

C = BpCategory


# ESH 2023 office BP table (J Hypertens 2023;41:1874–2071): each boundary on both sides.
@pytest.mark.parametrize(
    ("systolic", "diastolic", "category", "grade"),
    [
        (119, 79, C.OPTIMAL, None),
        (120, 79, C.NORMAL, None),
        (119, 80, C.NORMAL, None),
        (129, 84, C.NORMAL, None),
        (130, 84, C.HIGH_NORMAL, None),
        (129, 85, C.HIGH_NORMAL, None),
        (139, 89, C.HIGH_NORMAL, None),
        (139, 90, C.GRADE_1, 1),
        (159, 99, C.GRADE_1, 1),
        (139, 99, C.GRADE_1, 1),
        (159, 100, C.GRADE_2, 2),
        (160, 100, C.GRADE_2, 2),
        (179, 109, C.GRADE_2, 2),
        (179, 110, C.GRADE_3, 3),
        (180, 110, C.GRADE_3, 3),
        (130, 115, C.GRADE_3, 3),  # diastolic alone sets the grade
        (110, 95, C.GRADE_1, 1),
        # isolated systolic hypertension: ≥ 140 and < 90, graded by systolic
        (140, 89, C.ISOLATED_SYSTOLIC, 1),
        (159, 60, C.ISOLATED_SYSTOLIC, 1),
        (160, 89, C.ISOLATED_SYSTOLIC, 2),
        (179, 70, C.ISOLATED_SYSTOLIC, 2),
        (180, 89, C.ISOLATED_SYSTOLIC, 3),
        (140, 90, C.GRADE_1, 1),
        (180, 90, C.GRADE_3, 3),
        (165, 95, C.GRADE_2, 2),  # the higher of the two sets the category
        (145, 105, C.GRADE_2, 2),
    ],
)
def test_esh_2023_category(
    systolic: float, diastolic: float, category: BpCategory, grade: int | None
) -> None:
    assert esh_2023_category(systolic, diastolic) == (category, grade)
    result = assess_bp(systolic, diastolic)
    assert result.verdict is Verdict.VALID
    assert result.category is category
    assert result.hypertension_grade == grade


def test_fractional_values_have_no_gap() -> None:
    assert esh_2023_category(119.9, 79.9) == (C.OPTIMAL, None)
    assert esh_2023_category(129.5, 70) == (C.NORMAL, None)
    assert esh_2023_category(139.99, 89.99) == (C.HIGH_NORMAL, None)


def test_category_needs_finite_values() -> None:
    with pytest.raises(ValueError, match=r"finite values needed, got nan/80 mmHg"):
        esh_2023_category(math.nan, 80)


def test_plain_valid_reading() -> None:
    result = assess_bp(128, 82, 97, 64)
    assert result.verdict is Verdict.VALID
    for assessed, value in (
        (result.systolic, 128),
        (result.diastolic, 82),
        (result.mean, 97),
        (result.pulse, 64),
    ):
        assert assessed.value == value
        assert assessed.verdict is Verdict.VALID
        assert assessed.reasons == ()
    assert result.category is C.NORMAL


def test_mean_and_pulse_optional() -> None:
    result = assess_bp(118, 76)
    assert result.verdict is Verdict.VALID
    assert result.mean.verdict is Verdict.INVALID
    assert result.mean.reasons == (BpReason.NOT_MEASURED,)
    assert result.pulse.reasons == (BpReason.NOT_MEASURED,)
    assert result.category is C.OPTIMAL


@pytest.mark.parametrize(
    ("systolic", "diastolic", "bad", "reason"),
    [
        (49.9, 30, "systolic", BpReason.BELOW_RANGE),
        (300.1, 120, "systolic", BpReason.ABOVE_RANGE),
        (120, 19.9, "diastolic", BpReason.BELOW_RANGE),
        (260, 200.1, "diastolic", BpReason.ABOVE_RANGE),
        (math.nan, 80, "systolic", BpReason.NOT_MEASURED),
        (120, math.inf, "diastolic", BpReason.NOT_FINITE),
    ],
)
def test_range_limits_invalid(
    systolic: float, diastolic: float, bad: str, reason: BpReason
) -> None:
    result = assess_bp(systolic, diastolic)
    assessed = getattr(result, bad)
    assert assessed.verdict is Verdict.INVALID
    assert reason in assessed.reasons
    assert math.isnan(assessed.value)  # an INVALID value is never passed on
    assert result.category is None
    assert result.hypertension_grade is None


@pytest.mark.parametrize(("systolic", "diastolic"), [(50, 20), (300, 200)])
def test_range_limits_inclusive(systolic: float, diastolic: float) -> None:
    result = assess_bp(systolic, diastolic)
    assert BpReason.BELOW_RANGE not in result.systolic.reasons
    assert BpReason.ABOVE_RANGE not in result.systolic.reasons
    assert BpReason.BELOW_RANGE not in result.diastolic.reasons
    assert BpReason.ABOVE_RANGE not in result.diastolic.reasons


def test_pulse_out_of_range_does_not_spoil_pressures() -> None:
    result = assess_bp(120, 80, pulse_bpm=251)
    assert result.pulse.verdict is Verdict.INVALID
    assert result.pulse.reasons == (BpReason.ABOVE_RANGE,)
    assert result.verdict is Verdict.VALID
    assert result.category is C.NORMAL
    assert assess_bp(120, 80, pulse_bpm=24.9).pulse.reasons == (BpReason.BELOW_RANGE,)
    assert assess_bp(120, 80, pulse_bpm=25).pulse.verdict is Verdict.VALID
    assert assess_bp(120, 80, pulse_bpm=250).pulse.verdict is Verdict.VALID


@pytest.mark.parametrize(("systolic", "diastolic"), [(80, 80), (70, 90)])
def test_systolic_not_above_diastolic(systolic: float, diastolic: float) -> None:
    result = assess_bp(systolic, diastolic)
    assert result.systolic.reasons == (BpReason.ORDER_VIOLATED,)
    assert result.diastolic.reasons == (BpReason.ORDER_VIOLATED,)
    assert result.verdict is Verdict.INVALID
    assert result.category is None


@pytest.mark.parametrize("mean", [80, 70, 120, 130])
def test_mean_outside_systolic_diastolic(mean: float) -> None:
    result = assess_bp(120, 80, mean)
    for assessed in (result.systolic, result.diastolic, result.mean):
        assert assessed.verdict is Verdict.INVALID
        assert assessed.reasons == (BpReason.ORDER_VIOLATED,)
    assert result.category is None


def test_pulse_pressure_limits() -> None:
    narrow = assess_bp(90, 80.1)
    assert narrow.verdict is Verdict.INVALID
    assert narrow.systolic.reasons == (BpReason.PULSE_PRESSURE_TOO_NARROW,)
    assert narrow.category is None
    assert assess_bp(90, 80).verdict is Verdict.VALID  # exactly 10 mmHg
    assert assess_bp(230, 80).verdict is Verdict.VALID  # exactly 150 mmHg
    wide = assess_bp(231, 80)
    assert wide.verdict is Verdict.QUESTIONABLE
    assert wide.systolic.reasons == (BpReason.PULSE_PRESSURE_WIDE,)
    assert wide.diastolic.reasons == (BpReason.PULSE_PRESSURE_WIDE,)
    assert wide.category is C.ISOLATED_SYSTOLIC  # QUESTIONABLE still gets a category
    assert wide.hypertension_grade == 3


@pytest.mark.parametrize(
    ("flags", "reasons"),
    [
        ({"movement": True}, (BpReason.MOVEMENT,)),
        ({"cuff_fit_problem": True}, (BpReason.CUFF_FIT,)),
        ({"irregular_pulse": True}, (BpReason.IRREGULAR_PULSE,)),
        (
            {"movement": True, "cuff_fit_problem": True, "irregular_pulse": True},
            (BpReason.MOVEMENT, BpReason.CUFF_FIT, BpReason.IRREGULAR_PULSE),
        ),
    ],
)
def test_device_status_bits(flags: dict[str, bool], reasons: tuple[BpReason, ...]) -> None:
    result = assess_bp(142, 92, 109, 88, **flags)
    for assessed in (result.systolic, result.diastolic, result.mean, result.pulse):
        assert assessed.verdict is Verdict.QUESTIONABLE
        assert assessed.reasons == reasons
        assert not math.isnan(assessed.value)
    assert result.verdict is Verdict.QUESTIONABLE
    assert result.category is C.GRADE_1


def test_status_bits_do_not_rescue_invalid() -> None:
    result = assess_bp(310, 90, movement=True)
    assert result.systolic.verdict is Verdict.INVALID
    assert result.systolic.reasons == (BpReason.ABOVE_RANGE, BpReason.MOVEMENT)
    assert result.diastolic.verdict is Verdict.QUESTIONABLE
    assert result.category is None
    # an absent mean stays "not measured", not "movement"
    assert result.mean.reasons == (BpReason.NOT_MEASURED,)
