"""Spirometry session: repeatability, ATS/ERS 2019 Table 10 grades, best values, JSON shape.

Grades per Graham et al., "Standardization of Spirometry 2019 Update", AJRCCM 2019;200:e70,
Table 10: A ≥ 3 acceptable within 0.150 L; B 2 acceptable within 0.150 L; C ≥ 2 within
0.200 L; D ≥ 2 within 0.250 L; E ≥ 2 beyond 0.250 L or 1 acceptable; U 0 acceptable and
≥ 1 usable; F none usable. Age ≤ 6 y: 0.100 / 0.150 / 0.200 L, each "or 10 % of the highest
value, whichever is greater". Manoeuvres come from the analytic generator in test_spiro.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from gateway.signals.gli import Param, Reference, Sex, reference_value
from gateway.signals.spiro import Grade, analyze_session, analyze_spiro, grade
from tests.signals.test_spiro import FS_HZ, GOOD, Blow

MANOEUVRE_KEYS = [
    "fev1_l",
    "fvc_l",
    "fev1_fvc",
    "pef_lps",
    "fef25_75_lps",
    "bev_l",
    "fet_s",
    "acceptable_fev1",
    "acceptable_fvc",
    "usable_fev1",
    "usable_fvc",
    "reasons",
]
REFERENCE_KEYS = ["predicted", "lln", "z", "percent_predicted"]


# --- Table 10, every row ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("acceptable", "n_usable", "age_y", "expected"),
    [
        ([4.00, 3.90, 3.80], 3, 40.0, Grade.A),  # 3 acceptable, 0.10 L apart
        ([4.00, 3.90], 2, 40.0, Grade.B),  # only 2 acceptable
        ([4.00, 3.82, 3.50], 3, 40.0, Grade.C),  # 0.18 L: only the two largest count
        ([4.00, 3.78], 2, 40.0, Grade.D),  # 0.22 L
        ([4.00, 3.70, 3.69], 3, 40.0, Grade.E),  # 0.30 L
        ([4.00], 4, 40.0, Grade.E),  # a single acceptable manoeuvre
        ([], 2, 40.0, Grade.U),  # usable, none acceptable
        ([], 0, 40.0, Grade.F),  # nothing usable
        ([4.00, 3.88], 2, None, Grade.B),  # age unknown: adult limits
        # age ≤ 6: 0.100 / 0.150 / 0.200 L or 10 % of the highest value
        ([1.00, 0.95, 0.94], 3, 5.0, Grade.A),  # 0.05 L ≤ 0.100 L
        ([1.00, 0.88], 2, 5.0, Grade.C),  # 0.12 L > 0.100 L, ≤ 0.150 L
        ([1.00, 0.88], 2, 7.0, Grade.B),  # the same values at 7 y: adult 0.150 L
        ([1.00, 0.82], 2, 6.0, Grade.D),  # 0.18 L ≤ 0.200 L
        ([1.00, 0.75], 2, 6.0, Grade.E),  # 0.25 L > 0.200 L
        ([1.60, 1.47, 1.40], 3, 4.0, Grade.A),  # 0.13 L ≤ 10 % of 1.60 L = 0.16 L
        ([2.50, 2.27], 2, 4.0, Grade.B),  # 0.23 L ≤ 10 % of 2.50 L = 0.25 L
    ],
)
def test_grade_table_10(
    acceptable: list[float], n_usable: int, age_y: float | None, expected: Grade
) -> None:
    assert grade(acceptable, n_usable, age_y) is expected


# --- sessions from synthetic manoeuvres ---------------------------------------------------------
def scaled(k: float, **changes: float) -> Blow:
    """GOOD with flow scaled by k: FEV1 and FVC scale by k too."""
    return replace(GOOD, pef_lps=GOOD.pef_lps * k, **changes)  # type: ignore[arg-type]


def flows(*blows: Blow) -> list[np.ndarray]:
    return [b.flow_lps() for b in blows]


def test_three_good_blows_grade_a() -> None:
    s = analyze_session(flows(scaled(1.0), scaled(0.99), scaled(0.995)), FS_HZ)
    assert (s.grade_fev1, s.grade_fvc) == (Grade.A, Grade.A)
    assert s.repeatability_fvc_l == pytest.approx(0.005 * GOOD.fvc_l, abs=1e-3)
    assert s.fvc_l == pytest.approx(GOOD.fvc_l, abs=1e-3)
    assert s.best == 0


def test_poor_repeatability_drops_the_grade() -> None:
    # FVC 5.12 / 4.86 / 4.81 L: 0.256 L → E; FEV1 4.15 / 3.94 L: 0.208 L → D.
    s = analyze_session(flows(scaled(1.0), scaled(0.95), scaled(0.94)), FS_HZ)
    assert s.repeatability_fvc_l == pytest.approx(0.05 * GOOD.fvc_l, abs=1e-3)
    assert (s.grade_fev1, s.grade_fvc) == (Grade.D, Grade.E)
    s = analyze_session(flows(scaled(1.0), scaled(0.96)), FS_HZ)  # FEV1 0.166 L, FVC 0.205 L
    assert (s.grade_fev1, s.grade_fvc) == (Grade.C, Grade.D)


def test_fev1_and_fvc_are_graded_separately() -> None:
    # Blow 1 coughs: its FVC is usable but not acceptable, its FEV1 neither.
    s = analyze_session(flows(Blow(cough_after_pef_s=0.4)), FS_HZ)
    assert (s.grade_fev1, s.grade_fvc) == (Grade.F, Grade.U)
    assert math.isnan(s.fev1_l)
    assert s.fvc_l == s.manoeuvres[0].fvc_l > 4.9  # the usable FVC is reported
    assert s.best is None
    # No plateau: FEV1 acceptable, FVC only usable.
    s = analyze_session(flows(Blow(tau_s=1.5, decay_s=3.0)), FS_HZ)
    assert (s.grade_fev1, s.grade_fvc) == (Grade.E, Grade.U)


def test_eofe_by_repeating_a_prior_fvc_counts_in_the_session() -> None:
    cut = Blow(decay_s=3.0)  # no plateau, but its FVC is within 0.150 L of blow 1's
    s = analyze_session(flows(GOOD, cut, cut), FS_HZ)
    assert [m.acceptable_fvc for m in s.manoeuvres] == [True, True, True]
    s = analyze_session(flows(cut, cut), FS_HZ)  # first one has no prior: not acceptable
    assert [m.acceptable_fvc for m in s.manoeuvres] == [False, True]
    assert s.grade_fvc is Grade.E


def test_best_values_may_come_from_different_manoeuvres() -> None:
    high_fev1 = Blow(tau_s=0.5, pef_lps=10.0)  # FEV1 4.72 L, FVC 5.40 L
    high_fvc = Blow(tau_s=0.8, pef_lps=7.0)  # FEV1 3.98 L, FVC 5.88 L
    s = analyze_session(flows(high_fev1, high_fvc), FS_HZ)
    assert s.fev1_l == pytest.approx(high_fev1.fev1_l, abs=1e-3)
    assert s.fvc_l == pytest.approx(high_fvc.fvc_l, abs=1e-3)
    assert s.fev1_fvc == pytest.approx(high_fev1.fev1_l / high_fvc.fvc_l, abs=1e-3)
    sums = [b.fev1_l + b.fvc_l for b in (high_fev1, high_fvc)]
    assert s.best == int(np.argmax(sums))


def test_unacceptable_blow_is_not_best_even_if_largest() -> None:
    big_but_bad = scaled(1.2, rise_s=0.5)  # BEV 0.6 L: neither acceptable nor usable
    s = analyze_session(flows(big_but_bad, scaled(1.0), scaled(0.99)), FS_HZ)
    assert s.best == 1
    assert s.fvc_l == pytest.approx(GOOD.fvc_l, abs=1e-3)
    assert (s.grade_fev1, s.grade_fvc) == (Grade.B, Grade.B)


def test_empty_session() -> None:
    s = analyze_session([], FS_HZ)
    assert (s.grade_fev1, s.grade_fvc, s.best) == (Grade.F, Grade.F, None)


# --- analyze_spiro: the CLI's JSON ------------------------------------------------------------
def test_json_shape_without_patient_data() -> None:
    out = analyze_spiro(flows(scaled(1.0), scaled(0.99), scaled(0.995)), FS_HZ)
    assert list(out) == ["manoeuvres", "grade_fev1", "grade_fvc", "best"]
    assert [list(m) for m in out["manoeuvres"]] == [MANOEUVRE_KEYS] * 3
    assert (out["grade_fev1"], out["grade_fvc"], out["best"]) == ("A", "A", 0)
    m0 = out["manoeuvres"][0]
    assert m0["fvc_l"] == pytest.approx(GOOD.fvc_l, abs=1e-3)
    assert m0["reasons"] == []
    json.dumps(out, allow_nan=False)  # plain JSON: no NaN, no numpy types left
    assert all(type(v) in (float, bool, list) for v in m0.values())


def test_json_nan_becomes_none_and_reasons_are_codes() -> None:
    bad = np.r_[GOOD.flow_lps()[:100], np.nan]
    out = analyze_spiro([bad, Blow(decay_s=0.5, fivc_l=1.0).flow_lps()], FS_HZ)
    m0, m1 = out["manoeuvres"]
    assert m0["reasons"] == ["not_finite"]
    assert m0["fev1_l"] is None and m0["fvc_l"] is None and m0["fet_s"] is None
    assert m1["fev1_l"] is None and m1["fvc_l"] is not None
    assert "expiration_under_1s" in m1["reasons"]
    assert (out["grade_fev1"], out["grade_fvc"], out["best"]) == ("F", "F", None)
    json.dumps(out, allow_nan=False)


@pytest.mark.parametrize("reference", [Reference.GLI_2012, Reference.GLI_GLOBAL_2022])
def test_json_reference_uses_best_values(reference: Reference) -> None:
    out = analyze_spiro(
        flows(scaled(1.0), scaled(0.99), scaled(0.995)),
        FS_HZ,
        sex="male",
        age_y=40.0,
        height_cm=180.0,
        reference=reference.value,
    )
    ref = out["reference"]
    assert list(ref) == ["fev1_l", "fvc_l", "fev1_fvc"]
    assert all(list(v) == REFERENCE_KEYS for v in ref.values())
    s = analyze_session(flows(scaled(1.0), scaled(0.99), scaled(0.995)), FS_HZ)
    for key, param, measured in [
        ("fev1_l", Param.FEV1, s.fev1_l),
        ("fvc_l", Param.FVC, s.fvc_l),
        ("fev1_fvc", Param.FEV1_FVC, s.fev1_fvc),
    ]:
        expect = reference_value(param, measured, Sex.MALE, 40.0, 180.0, reference=reference)
        assert ref[key]["predicted"] == pytest.approx(expect.predicted)
        assert ref[key]["lln"] == pytest.approx(expect.lln)
        assert ref[key]["z"] == pytest.approx(expect.z)
        assert ref[key]["percent_predicted"] == pytest.approx(100 * measured / expect.predicted)


def test_json_references_differ_between_equations() -> None:
    args = (flows(GOOD), FS_HZ)
    kw = {"sex": "female", "age_y": 50.0, "height_cm": 165.0}
    a = analyze_spiro(*args, reference="gli2012", **kw)["reference"]  # type: ignore[arg-type]
    b = analyze_spiro(*args, reference="gli-global-2022", **kw)["reference"]  # type: ignore[arg-type]
    assert a["fev1_l"]["predicted"] != pytest.approx(b["fev1_l"]["predicted"], abs=0.01)


def test_json_reference_out_of_range_age_is_none() -> None:
    out = analyze_spiro(flows(GOOD), FS_HZ, sex="male", age_y=2.0, height_cm=90.0)
    assert out["reference"]["fev1_l"] == dict.fromkeys(REFERENCE_KEYS)


def test_json_reference_needs_all_patient_data() -> None:
    assert "reference" not in analyze_spiro(flows(GOOD), FS_HZ, sex="male", age_y=40.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sex": "x"}, "'x' is not a valid Sex"),
        ({"reference": "nhanes3"}, "'nhanes3' is not a valid Reference"),
        ({"ethnicity": "martian"}, "'martian' is not a valid Ethnicity"),
    ],
)
def test_json_bad_arguments_raise(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        analyze_spiro(flows(GOOD), FS_HZ, **kwargs)  # type: ignore[arg-type]
