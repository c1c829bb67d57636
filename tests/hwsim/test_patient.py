"""hwsim.patient: the scenario-driven patient every simulated device samples."""

from __future__ import annotations

import numpy as np
import pytest
from hwsim.beats import BeatKind
from hwsim.patient import Patient, reference_rms_mv
from hwsim.patient_api import PatientSource, VitalSigns
from hwsim.ppg_model import SYSTOLIC_PEAK_S
from hwsim.scenario import builtin_scenario, parse_scenario
from numpy.typing import NDArray

LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V5")


def test_is_a_patient_source() -> None:
    source: PatientSource = Patient(builtin_scenario("stable-copd"), seed=1)
    assert isinstance(source.vitals(0.0), VitalSigns)
    assert source.ecg_uv(0.0, 10, 250.0, ("II",)).shape == (10, 1)
    assert source.pleth(0.0, 10, 75.0).shape == (10,)
    assert source.forced_expiration_lps(100.0).ndim == 1


@pytest.mark.parametrize(
    "name", ["stable-copd", "copd-exacerbation", "paroxysmal-af", "cold-fingers"]
)
def test_same_seed_same_signals_and_blocks_equal_one_shot(name: str) -> None:
    scenario = builtin_scenario(name)
    a, b = Patient(scenario, seed=7), Patient(scenario, seed=7)
    t0 = 70.0  # inside artifacts of every built-in scenario
    ecg = a.ecg_uv(t0, 250 * 40, 250.0, LEADS)
    pleth = a.pleth(t0, 75 * 40, 75.0)
    sizes = [1, 7, 250, 333, 1000, 2]
    blocks: list[NDArray[np.float64]] = []
    pos = 0
    while pos < ecg.shape[0]:
        n = min(sizes[len(blocks) % len(sizes)], ecg.shape[0] - pos)
        blocks.append(b.ecg_uv(t0 + pos / 250.0, n, 250.0, LEADS))
        pos += n
    np.testing.assert_allclose(np.vstack(blocks), ecg, rtol=0, atol=1e-6)
    pleth_blocks = [b.pleth(t0 + k / 75.0, 75, 75.0) for k in range(0, 75 * 40, 75)]
    np.testing.assert_allclose(np.concatenate(pleth_blocks), pleth, rtol=0, atol=1e-12)
    # Reading later first, or an unrelated window in between, changes nothing.
    c = Patient(scenario, seed=7)
    c.pleth(500.0, 100, 75.0)
    np.testing.assert_allclose(c.ecg_uv(t0, 250 * 40, 250.0, LEADS), ecg, rtol=0, atol=1e-6)
    other = Patient(scenario, seed=8).ecg_uv(t0, 250 * 40, 250.0, LEADS)
    assert float(np.abs(other - ecg).max()) > 100.0


def test_measured_hr_follows_the_scenario() -> None:
    p = Patient(builtin_scenario("copd-exacerbation"), seed=2)
    before = p.beats(0.0, 60.0)
    after = p.beats(200.0, 400.0)
    assert 60.0 / float(np.mean(before.rr_s)) == pytest.approx(88.0, rel=0.02)
    assert 60.0 / float(np.mean(after.rr_s)) == pytest.approx(118.0, rel=0.02)
    assert np.count_nonzero(after.kind == BeatKind.PVC) > 0


def test_af_episode_is_irregular_and_sinus_around_it_is_not() -> None:
    p = Patient(builtin_scenario("paroxysmal-af"), seed=4)
    af = p.beats(125.0, 295.0)
    sinus = p.beats(5.0, 115.0)
    assert np.all(af.kind == BeatKind.AF)
    assert not np.any(sinus.kind == BeatKind.AF)
    cv_af = float(np.std(af.rr_s) / np.mean(af.rr_s))
    normal = sinus.rr_s[1:][
        (sinus.kind[1:] == BeatKind.SINUS) & (sinus.kind[:-1] == BeatKind.SINUS)
    ]
    cv_sinus = float(np.std(normal) / np.mean(normal))
    assert cv_af > 0.15
    assert cv_sinus < 0.06
    assert 60.0 / float(np.mean(af.rr_s)) == pytest.approx(110.0, rel=0.06)
    assert p.vitals(150.0).rhythm == "af" and p.vitals(310.0).rhythm == "sinus"


def test_pleth_peaks_lag_r_peaks_by_the_ptt() -> None:
    sc = parse_scenario({"hrv": {"rr_sd_pct": 3.0}, "baseline": {"hr_bpm": 70}})
    p = Patient(sc, seed=3, drift=False)
    fs = 500.0
    t0, t1 = 10.0, 70.0
    y = p.pleth(t0, round((t1 - t0) * fs), fs)
    ptt = float(p.pulse_transit_time_s(np.array([30.0]))[0])
    assert 0.2 <= ptt <= 0.3
    lags = []
    for r in p.beats(t0, t1 - 1.0).t_s:
        lo, hi = round((r - t0 + 0.1) * fs), round((r - t0 + 0.6) * fs)
        lags.append(t0 + (lo + int(np.argmax(y[lo:hi]))) / fs - r)
    assert float(np.median(lags)) == pytest.approx(ptt + SYSTOLIC_PEAK_S, abs=0.01)
    assert float(np.std(lags)) < 0.01


def test_ptt_shortens_with_blood_pressure() -> None:
    sc = parse_scenario(
        {"ramp": [{"key": "systolic_mmhg", "start_s": 0, "duration_s": 100, "to": 180}]}
    )
    p = Patient(sc, seed=1, drift=False)
    ptt = p.pulse_transit_time_s(np.array([0.0, 50.0, 100.0]))
    assert ptt[0] > ptt[1] > ptt[2]
    assert float(ptt[2]) >= 0.15 and float(ptt[0]) <= 0.35


def test_premature_beats_give_small_pulses() -> None:
    sc = parse_scenario({"ectopy": {"pvc_per_min": 4.0}, "baseline": {"hr_bpm": 70}})
    p = Patient(sc, seed=5, drift=False)
    fs = 250.0
    y = p.pleth(0.0, round(300 * fs), fs)
    beats = p.beats(5.0, 295.0)
    ptt = p.pulse_transit_time_s(beats.t_s)

    def height(i: int) -> float:
        foot = beats.t_s[i] + ptt[i]
        lo, hi = round(foot * fs), round((foot + 0.2) * fs)
        return float(y[lo:hi].max() - y[lo])

    pvc = [height(int(i)) for i in np.flatnonzero(beats.kind == BeatKind.PVC)]
    normal = [
        height(i)
        for i in range(1, len(beats) - 1)
        if beats.kind[i] == BeatKind.SINUS and beats.kind[i - 1] == BeatKind.SINUS
    ]
    assert len(pvc) > 5
    assert float(np.median(pvc)) < 0.5 * float(np.median(normal))


def test_af_pulse_heights_vary_more_than_sinus() -> None:
    p = Patient(builtin_scenario("paroxysmal-af"), seed=6, drift=False)
    fs = 100.0
    y = p.pleth(0.0, round(300 * fs), fs)

    def spread(t0: float, t1: float) -> float:
        beats = p.beats(t0, t1)
        feet = beats.t_s + p.pulse_transit_time_s(beats.t_s)
        h = [float(y[round(f * fs) : round((f + 0.2) * fs)].max() - y[round(f * fs)]) for f in feet]
        return float(np.std(h) / np.mean(h))

    assert spread(150.0, 290.0) > 2.0 * spread(20.0, 110.0)


def test_vitals_follow_ramps_exactly_without_drift() -> None:
    p = Patient(builtin_scenario("copd-exacerbation"), seed=1, drift=False)
    v = p.vitals(120.0)
    assert v.spo2_pct == pytest.approx(90.5)
    assert v.hr_bpm == pytest.approx(103.0)
    assert v.resp_rate_bpm == pytest.approx(26.0)
    assert p.vitals(500.0).spo2_pct == pytest.approx(86.0)
    drifting = Patient(builtin_scenario("copd-exacerbation"), seed=1)
    values = [drifting.vitals(t).systolic_mmhg for t in range(300, 600, 10)]
    assert 0.5 < float(np.ptp(values)) < 7.0
    assert all(abs(drifting.vitals(t).spo2_pct - 86.0) <= 0.4 + 1e-9 for t in range(200, 600, 37))


def test_switch_keeps_signals_continuous() -> None:
    fs = 250.0
    p = Patient(builtin_scenario("stable-copd"), seed=9, drift=False)
    before = p.ecg_uv(0.0, round(100 * fs), fs, ("II",))[:, 0]
    pleth_before = p.pleth(0.0, 7500, 75.0)
    p.switch(builtin_scenario("paroxysmal-af"), at_t_s=100.0)
    assert p.scenario.name == "paroxysmal-af"
    after = p.ecg_uv(100.0, round(400 * fs), fs, ("II",))[:, 0]
    pleth_after = p.pleth(100.0, 75 * 400, 75.0)
    # The samples before the switch are unchanged when read again.
    np.testing.assert_allclose(p.ecg_uv(0.0, round(100 * fs), fs, ("II",))[:, 0], before, atol=1e-9)
    # No jump at the seam bigger than the largest step inside either stretch.
    ecg_step = abs(float(after[0] - before[-1]))
    assert ecg_step <= np.abs(np.diff(before)).max()
    assert abs(float(pleth_after[0] - pleth_before[-1])) <= np.abs(np.diff(pleth_before)).max()
    # Vitals cross-fade: old at the switch, new after the blend.
    assert p.vitals(100.0).hr_bpm == pytest.approx(78.0)
    assert p.vitals(105.0).hr_bpm == pytest.approx(73.0)
    assert p.vitals(115.0).hr_bpm == pytest.approx(68.0)
    # The new scenario's timeline starts at the switch: AF from 100 + 120 s.
    assert p.vitals(219.0).rhythm == "sinus" and p.vitals(221.0).rhythm == "af"
    assert np.all(p.beats(225.0, 395.0).kind == BeatKind.AF)
    with pytest.raises(ValueError, match=r"cannot switch at 50\.0 s"):
        p.switch(builtin_scenario("stable-copd"), 50.0)


def test_einthoven_holds_with_electrode_artifacts() -> None:
    sc = parse_scenario(
        {
            "artifact": [
                {"kind": "emg", "target": "ecg", "snr_db": 0},
                {"kind": "motion", "target": "ecg", "electrodes": ["LA"], "amplitude": 500},
                {"kind": "mains", "target": "ecg", "electrodes": ["RA"], "amplitude": 100},
                {"kind": "wander", "target": "ecg", "amplitude": 200},
                {
                    "kind": "lead-off",
                    "target": "ecg",
                    "electrodes": ["LL"],
                    "start_s": 5,
                    "end_s": 8,
                },
            ]
        }
    )
    p = Patient(sc, seed=2)
    x = p.ecg_uv(0.0, 2500, 250.0, ("I", "II", "III", "aVR", "aVL", "aVF"))
    np.testing.assert_allclose(x[:, 1], x[:, 0] + x[:, 2], rtol=0, atol=1e-6)
    np.testing.assert_allclose(x[:, 3] + x[:, 4] + x[:, 5], 0.0, atol=1e-6)
    clean = Patient(parse_scenario({}), seed=2).ecg_uv(0.0, 2500, 250.0, ("I", "II", "III"))
    noise = x[:1250, 1] - clean[:1250, 1]
    assert float(np.std(noise)) > 0.5 * reference_rms_mv() * 1000.0  # SNR 0 dB: noise ~ signal
    # Lead-off LL from 5 s to 8 s: II and III sit at a huge offset, I does not.
    assert float(np.median(x[1300:1950, 1])) > 100_000.0
    assert float(np.median(np.abs(x[1300:1950, 0]))) < 5_000.0


def test_saturation_clips_at_the_rail_and_snr_is_about_right() -> None:
    sc = parse_scenario(
        {
            "artifact": [
                {"kind": "saturation", "target": "ecg", "amplitude": 600, "end_s": 10},
                {"kind": "emg", "target": "ecg", "snr_db": 6, "start_s": 10},
            ]
        }
    )
    p = Patient(sc, seed=3)
    x = p.ecg_uv(0.0, 5000, 250.0, ("II",))[:, 0]
    assert float(np.abs(x[:2500]).max()) == pytest.approx(600.0)
    clean = Patient(parse_scenario({}), seed=3).ecg_uv(10.0, 2500, 250.0, ("II",))[:, 0]
    noise = x[2500:] - clean
    snr_db = 20 * np.log10(reference_rms_mv() * 1000.0 / float(np.std(noise)))
    assert snr_db == pytest.approx(6.0, abs=1.0)


def test_finger_out_and_low_perfusion() -> None:
    p = Patient(builtin_scenario("cold-fingers"), seed=4)
    fs = 75.0
    y = p.pleth(60.0, round(40 * fs), fs)
    out = y[round(16 * fs) : round(29 * fs)]  # 76..89 s: finger out
    assert float(np.std(out)) < 0.01
    assert p.finger_out(80.0) and not p.finger_out(100.0)
    assert float(np.std(y[: round(14 * fs)])) > 2.0 * float(np.std(out))
    warm = Patient(builtin_scenario("cold-fingers"), seed=4).pleth(500.0, 750, fs)
    assert float(np.ptp(warm)) > 2.0 * float(np.ptp(y[: round(14 * fs)]))
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0


def test_forced_expiration_uses_the_scenario_lungs() -> None:
    p = Patient(builtin_scenario("stable-copd"), seed=1)
    first = p.forced_expiration_lps(100.0)
    truth = p.last_manoeuvre
    assert truth is not None
    exp = first[truth.onset_index :]
    assert float(exp.sum() / 100.0) == pytest.approx(truth.exhaled_l, abs=1e-9)
    assert truth.exhaled_l == pytest.approx(3.4, rel=0.05)
    assert truth.fev1_l / truth.exhaled_l == pytest.approx(1.85 / 3.4)
    second = p.forced_expiration_lps(100.0)
    assert not np.array_equal(first, second)  # a new attempt varies a little
    assert abs(float(second.sum() - first.sum())) / 100.0 < 0.3
    again = Patient(builtin_scenario("stable-copd"), seed=1)
    np.testing.assert_array_equal(again.forced_expiration_lps(100.0), first)
    p.forced_expiration_lps(100.0, "cough")
    assert p.last_manoeuvre is not None and p.last_manoeuvre.fault == "cough"
    with pytest.raises(ValueError) as info:
        p.forced_expiration_lps(100.0, "sloppy")
    assert str(info.value) == (
        "unknown spirometry profile 'sloppy': expected one of ['normal', 'hesitant', 'cough', "
        "'early-stop', 'variable', 'obstructive', 'restrictive']"
    )
    p.forced_expiration_lps(100.0, "restrictive")
    assert p.last_manoeuvre is not None
    assert p.last_manoeuvre.exhaled_l == pytest.approx(0.65 * 3.4, rel=0.05)
    assert p.last_manoeuvre.fev1_l / p.last_manoeuvre.exhaled_l == pytest.approx(0.85)


def test_bad_lead_and_empty_windows() -> None:
    p = Patient(parse_scenario({}), seed=0)
    with pytest.raises(ValueError, match="unknown ECG lead 'X'"):
        p.ecg_uv(0.0, 10, 250.0, ("X",))
    assert p.ecg_uv(0.0, 0, 250.0, ("I",)).shape == (0, 1)
    assert p.pleth(0.0, 0, 75.0).shape == (0,)
