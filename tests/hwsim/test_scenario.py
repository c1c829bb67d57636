"""hwsim.scenario: TOML scenario files, their checks and their trajectories."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hwsim.scenario import (
    SCENARIO_DIR,
    ScenarioError,
    builtin_scenario,
    load_scenario,
    parse_scenario,
)

BUILTINS = ("stable-copd", "copd-exacerbation", "paroxysmal-af", "cold-fingers")


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_scenarios_load(name: str) -> None:
    scenario = builtin_scenario(name)
    assert scenario.name == name
    assert scenario.description
    assert (SCENARIO_DIR / f"{name}.toml").is_file()


def test_exacerbation_ramps_hit_the_brief_values() -> None:
    sc = builtin_scenario("copd-exacerbation")
    assert sc.value("spo2_pct", 0.0) == 95.0
    assert sc.value("spo2_pct", 60.0) == 95.0
    assert sc.value("spo2_pct", 120.0) == pytest.approx(90.5)
    assert sc.value("spo2_pct", 180.0) == pytest.approx(86.0)
    assert sc.value("spo2_pct", 500.0) == 86.0
    assert sc.value("hr_bpm", 90.0) == pytest.approx(88.0 + 30.0 * 30.0 / 120.0)
    assert sc.value("hr_bpm", 400.0) == 118.0
    t = np.array([0.0, 60.0, 120.0, 180.0, 240.0])
    np.testing.assert_allclose(sc.values("hr_bpm", t), [88.0, 88.0, 103.0, 118.0, 118.0])


def test_af_episode_and_step_ramp() -> None:
    sc = builtin_scenario("paroxysmal-af")
    assert [sc.rhythm_at(t) for t in (0.0, 119.9, 120.0, 299.9, 300.0)] == [
        "sinus",
        "sinus",
        "af",
        "af",
        "sinus",
    ]
    assert sc.value("hr_bpm", 119.0) == 68.0
    assert sc.value("hr_bpm", 121.0) == 110.0  # a zero-duration ramp is a step
    assert sc.value("hr_bpm", 315.0) == pytest.approx(91.0)


def test_later_ramp_overrides_and_from_value_jumps() -> None:
    sc = parse_scenario(
        {
            "name": "x",
            "ramp": [
                {"key": "hr_bpm", "start_s": 0, "duration_s": 100, "to": 120},
                {"key": "hr_bpm", "start_s": 50, "duration_s": 10, "to": 60},
                {"key": "spo2_pct", "start_s": 10, "duration_s": 10, "from": 90, "to": 80},
            ],
        }
    )
    assert sc.value("hr_bpm", 25.0) == pytest.approx(84.0)  # 72 -> 120 over 100 s
    assert sc.value("hr_bpm", 50.0) == pytest.approx(96.0)
    assert sc.value("hr_bpm", 55.0) == pytest.approx(78.0)
    assert sc.value("hr_bpm", 90.0) == 60.0
    assert sc.value("spo2_pct", 9.0) == 97.0
    assert sc.value("spo2_pct", 10.001) == pytest.approx(90.0, abs=0.01)
    assert sc.value("spo2_pct", 15.0) == pytest.approx(85.0)


def test_active_artifacts_by_target_and_time() -> None:
    sc = builtin_scenario("cold-fingers")
    kinds = [a.kind for a in sc.active_artifacts("pleth", 80.0)]
    assert kinds == ["low-perfusion", "finger-out"]
    assert sc.active_artifacts("pleth", 130.0) == ()
    assert sc.active_artifacts("ecg", 80.0) == ()


def test_defaults_for_an_empty_scenario() -> None:
    sc = parse_scenario({}, "empty.toml")
    assert sc.name == "empty"
    assert sc.value("hr_bpm", 10.0) == 72.0
    assert sc.rhythm == "sinus"
    assert sc.spirometry.pattern == "normal"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"baseline": {"hr_bpm": 400}},
            "t.toml: baseline.hr_bpm = 400: expected a number in 20..250",
        ),
        (
            {"baseline": {"hr_bpm": "fast"}},
            "t.toml: baseline.hr_bpm = 'fast': expected a number in 20..250",
        ),
        (
            {"baseline": {"hr_bpm": True}},
            "t.toml: baseline.hr_bpm = True: expected a number in 20..250",
        ),
        (
            {"baseline": {"heart_rate": 70}},
            "t.toml: baseline.heart_rate = 70: expected no such key (allowed: diastolic_mmhg, "
            "hr_bpm, perfusion_index_pct, resp_rate_bpm, rhythm, spo2_pct, systolic_mmhg, "
            "temperature_c, weight_kg)",
        ),
        (
            {"baseline": {"rhythm": "flutter"}},
            "t.toml: baseline.rhythm = 'flutter': expected one of ['sinus', 'af']",
        ),
        (
            {"baseline": {"systolic_mmhg": 80, "diastolic_mmhg": 90}},
            "t.toml: baseline.diastolic_mmhg = 90.0: expected less than systolic_mmhg",
        ),
        (
            {"ramp": [{"key": "hr_bpm", "to": 90}]},
            "t.toml: ramp[0].start_s is missing: expected a number",
        ),
        (
            {"ramp": [{"key": "pulse", "start_s": 0, "to": 90}]},
            "t.toml: ramp[0].key = 'pulse': expected one of ['hr_bpm', 'spo2_pct', "
            "'perfusion_index_pct', 'systolic_mmhg', 'diastolic_mmhg', 'temperature_c', "
            "'resp_rate_bpm', 'weight_kg']",
        ),
        (
            {"ramp": [{"key": "spo2_pct", "start_s": 0, "to": 30}]},
            "t.toml: ramp[0].to = 30: expected a number in 50..100",
        ),
        (
            {"ramp": {"key": "spo2_pct"}},
            "t.toml: ramp = {'key': 'spo2_pct'}: expected an array of tables [[ramp]]",
        ),
        (
            {"episode": [{"rhythm": "af", "start_s": 100, "end_s": 50}]},
            "t.toml: episode[0].end_s = 50.0: expected a time after start_s = 100",
        ),
        (
            {"artifact": [{"kind": "emg", "target": "ecg", "electrodes": ["LX"], "snr_db": 6}]},
            "t.toml: artifact[0].electrodes = ['LX']: expected a non-empty list drawn from "
            "['RA', 'LA', 'LL', 'V1', 'V2', 'V3', 'V4', 'V5', 'V6']",
        ),
        (
            {"artifact": [{"kind": "emg", "target": "ecg"}]},
            "t.toml: artifact[0].amplitude = None: expected snr_db or amplitude for a 'emg' "
            "artifact",
        ),
        (
            {"artifact": [{"kind": "emg", "target": "pleth", "amplitude": 1}]},
            "t.toml: artifact[0].kind = 'emg': expected one of ['motion', 'finger-out', "
            "'low-perfusion']",
        ),
        (
            {"artifact": [{"kind": "motion", "target": "pleth", "snr_db": 3}]},
            "t.toml: artifact[0].snr_db = 3.0: expected amplitude (snr_db does not apply to "
            "pleth 'motion')",
        ),
        (
            {"spirometry": {"fvc_l": 3.0, "fev1_l": 2.95}},
            "t.toml: spirometry.fev1_l = 2.95: expected FEV1/FVC between 0.2 and 0.95",
        ),
        (
            {"subject": "old man"},
            "t.toml: subject = 'old man': expected a table",
        ),
        (
            {"duration": 60},
            "t.toml: duration = 60: expected no such key (allowed: artifact, baseline, "
            "description, duration_s, ectopy, episode, hrv, name, ramp, spirometry, subject)",
        ),
    ],
)
def test_errors_name_file_key_value_and_expectation(data: dict[str, object], message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(data, "t.toml")
    assert str(info.value) == message


def test_invalid_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"^bad\.toml: not valid TOML: "):
        load_scenario(bad)
    with pytest.raises(ScenarioError) as info:
        load_scenario(tmp_path / "none.toml")
    assert str(info.value) == f"{tmp_path / 'none.toml'}: cannot read the scenario file: " + (
        "No such file or directory"
    )
    with pytest.raises(ScenarioError) as info:
        builtin_scenario("nope")
    assert str(info.value) == (
        "no built-in scenario 'nope': expected one of ['cold-fingers', 'copd-exacerbation', "
        "'paroxysmal-af', 'stable-copd']"
    )


def test_load_from_a_real_file_matches_parse(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        '[baseline]\nhr_bpm = 64\n[[ramp]]\nkey = "hr_bpm"\nstart_s = 10\nduration_s = 10\n'
        "to = 84\n",
        encoding="utf-8",
    )
    sc = load_scenario(path)
    assert sc.name == "mine"
    assert sc.value("hr_bpm", 15.0) == pytest.approx(74.0)
    assert math.isinf(
        parse_scenario({"artifact": [{"kind": "finger-out", "target": "pleth"}]}).artifacts[0].end_s
    )
