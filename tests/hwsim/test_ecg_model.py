"""hwsim.ecg_model and hwsim.beats: Gaussian-wave ECG on a dipole, beat timing."""

from __future__ import annotations

import numpy as np
import pytest
from hwsim import beats as beats_module
from hwsim import ecg_model
from hwsim.beats import BeatKind, BeatTable, BeatTrain, RhythmState
from numpy.typing import NDArray

FS_HZ = 500.0


def regular(kind: BeatKind, rr_s: float = 1.0, n: int = 12) -> BeatTable:
    t: NDArray[np.float64] = np.arange(n, dtype=np.float64) * rr_s - 2.0
    return BeatTable(t, np.full(n, rr_s), np.full(n, int(kind), dtype=np.int8), np.ones(n))


def times(t0_s: float, t1_s: float) -> NDArray[np.float64]:
    return np.arange(round(t0_s * FS_HZ), round(t1_s * FS_HZ)) / FS_HZ


def test_einthoven_and_goldberger_hold() -> None:
    t = times(0.0, 6.0)
    beats = BeatTable(
        np.array([-1.0, 0.3, 1.1, 1.6, 2.9, 3.5, 4.4, 5.2, 6.4]),
        np.array([0.8, 1.3, 0.8, 0.5, 1.3, 0.6, 0.9, 0.8, 1.2]),
        np.array([0, 0, 3, 0, 2, 1, 1, 0, 0], dtype=np.int8),
        np.ones(9),
    )
    x = ecg_model.ecg_uv(
        t, beats, ecg_model.LEADS, resp_phase_rad=t * 1.5, af_weight=np.ones(t.size)
    )
    lead = {name: x[:, i] for i, name in enumerate(ecg_model.LEADS)}
    np.testing.assert_allclose(lead["II"], lead["I"] + lead["III"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(lead["aVR"] + lead["aVL"] + lead["aVF"], 0.0, atol=1e-9)
    np.testing.assert_allclose(lead["aVF"], lead["II"] - lead["I"] / 2.0, atol=1e-9)
    assert float(np.abs(lead["II"]).max()) > 500.0  # a real signal, not zeros


def test_amplitudes_are_realistic() -> None:
    t = times(0.0, 5.0)
    x = ecg_model.ecg_uv(t, regular(BeatKind.SINUS), ("II", "V1", "V5"))
    r_ii = float(x[:, 0].max())
    assert 900.0 < r_ii < 1300.0  # R about 1 mV in II
    assert float(x[:, 1].min()) < -600.0  # deep S in V1
    assert float(x[:, 2].max()) > r_ii * 0.6
    # P wave 0.2 s before each R in II: ~0.1-0.2 mV; T wave ~0.3 mV.
    r_times = np.arange(0.0, 5.0)
    p = np.interp(r_times[1:] - 0.2, t, x[:, 0])
    tw = np.interp(r_times[:-1] + 0.28, t, x[:, 0])
    assert np.all((p > 80.0) & (p < 250.0))
    assert np.all((tw > 150.0) & (tw < 450.0))


def qrs_width_s(kind: BeatKind) -> float:
    """Time the heart vector magnitude spends above 30 % of its peak around one R."""
    t = times(1.7, 2.3)
    mag = np.linalg.norm(ecg_model.dipole_mv(t, regular(kind)), axis=1)
    return float(np.count_nonzero(mag > 0.3 * mag.max()) / FS_HZ)


def test_pvc_is_wide_and_has_no_p_wave() -> None:
    assert qrs_width_s(BeatKind.PVC) > 2.0 * qrs_width_s(BeatKind.SINUS)
    t = np.array([1.8])  # 0.2 s before the R at 2 s
    assert abs(float(ecg_model.ecg_uv(t, regular(BeatKind.PVC), ("II",))[0, 0])) < 20.0
    assert abs(float(ecg_model.ecg_uv(t, regular(BeatKind.AF), ("II",))[0, 0])) < 20.0
    assert float(ecg_model.ecg_uv(t, regular(BeatKind.SINUS), ("II",))[0, 0]) > 80.0
    pac = float(ecg_model.ecg_uv(np.array([1.83]), regular(BeatKind.PAC), ("II",))[0, 0])
    assert pac < -50.0  # low atrial focus: inverted P in II


def test_qt_shortens_with_rr() -> None:
    beats_fast = regular(BeatKind.SINUS, 0.5, 20)
    beats_slow = regular(BeatKind.SINUS, 1.0, 20)
    r_fast, r_slow = beats_fast.t_s[6], beats_slow.t_s[4]
    t_fast = np.arange(r_fast + 0.1, r_fast + 0.45, 1 / FS_HZ)
    t_slow = np.arange(r_slow + 0.1, r_slow + 0.6, 1 / FS_HZ)
    peak_fast = t_fast[np.argmax(ecg_model.ecg_uv(t_fast, beats_fast, ("II",))[:, 0])] - r_fast
    peak_slow = t_slow[np.argmax(ecg_model.ecg_uv(t_slow, beats_slow, ("II",))[:, 0])] - r_slow
    assert peak_slow == pytest.approx(0.28, abs=0.01)
    assert peak_fast == pytest.approx(0.28 * np.sqrt(0.5), abs=0.01)  # Bazett


def test_evaluation_is_pointwise() -> None:
    beats = regular(BeatKind.SINUS, 0.8, 20)
    t = times(0.0, 8.0)
    whole = ecg_model.ecg_uv(t, beats, ("I", "V2"))
    parts = np.vstack(
        [ecg_model.ecg_uv(t[i : i + 333], beats, ("I", "V2")) for i in range(0, t.size, 333)]
    )
    np.testing.assert_allclose(parts, whole, rtol=0, atol=1e-9)
    odd = np.array([3.217, 0.001, 5.5])
    np.testing.assert_allclose(
        ecg_model.ecg_uv(odd, beats, ("I",))[:, 0],
        [ecg_model.ecg_uv(np.array([v]), beats, ("I",))[0, 0] for v in odd],
        atol=1e-9,
    )


def test_unknown_lead() -> None:
    with pytest.raises(ValueError) as info:
        ecg_model.ecg_uv(np.zeros(3), regular(BeatKind.SINUS), ("II", "V7"))
    assert str(info.value) == (
        "unknown ECG lead 'V7': expected one of ['I', 'II', 'III', 'aVR', 'aVL', 'aVF', 'V1', "
        "'V2', 'V3', 'V4', 'V5', 'V6']"
    )


def test_af_fwaves_are_4_to_8_hz_and_sized() -> None:
    t = np.arange(0, 20.0, 1 / 250.0)
    f = ecg_model.fwave_mv(t, 60.0, seed=3)
    v1 = ecg_model.leads_uv(ecg_model.electrodes_mv(f), ("V1",))[:, 0]
    assert 30.0 < float(np.abs(v1).max()) < 90.0
    spectrum = np.abs(np.fft.rfft(v1))
    freqs = np.fft.rfftfreq(t.size, 1 / 250.0)
    assert 4.0 <= float(freqs[np.argmax(spectrum)]) <= 8.0


class Steady:
    """A RhythmSource with fixed state (beat-generator tests without a scenario)."""

    def __init__(self, **kw: object) -> None:
        base: dict[str, object] = {
            "hr_bpm": 75.0,
            "rhythm": "sinus",
            "rr_sd_rel": 0.04,
            "lf_hf_ratio": 0.5,
            "af_rr_cv": 0.22,
            "pvc_per_min": 0.0,
            "pac_per_min": 0.0,
            "resp_phase_rad": 0.0,
        }
        base.update(kw)
        self.base = base

    def rhythm_state(self, t_s: float) -> RhythmState:
        state = dict(self.base)
        state["resp_phase_rad"] = 2.0 * np.pi * 0.25 * t_s
        return RhythmState(**state)  # type: ignore[arg-type]


def test_train_extends_deterministically() -> None:
    one = BeatTrain(5, Steady()).table(600.0)
    grown = BeatTrain(5, Steady(), extend_s=3.0)
    for until in np.arange(0.0, 600.0, 7.3):
        grown.table(float(until))
    two = grown.table(600.0)
    n = min(len(one), len(two))
    np.testing.assert_array_equal(one.t_s[:n], two.t_s[:n])
    np.testing.assert_array_equal(one.kind[:n], two.kind[:n])
    other = BeatTrain(6, Steady()).table(600.0)
    assert not np.array_equal(one.t_s[:50], other.t_s[:50])


def test_sinus_hrv_has_resp_and_mayer_peaks() -> None:
    beats = BeatTrain(1, Steady(rr_sd_rel=0.05, lf_hf_ratio=1.0)).window(0.0, 1200.0)
    rr = beats.rr_s
    assert float(np.std(rr) / np.mean(rr)) == pytest.approx(0.05, rel=0.25)
    assert 60.0 / float(np.mean(rr)) == pytest.approx(75.0, rel=0.01)
    # Tachogram resampled at 4 Hz: spectral peaks at 0.1 Hz (LF) and 0.25 Hz (breathing).
    grid = np.arange(beats.t_s[0], beats.t_s[-1], 0.25)
    tach = np.interp(grid, beats.t_s, rr)
    spec = np.abs(np.fft.rfft(tach - tach.mean())) ** 2
    freqs = np.fft.rfftfreq(grid.size, 0.25)
    lf = spec[(freqs > 0.07) & (freqs < 0.13)].sum()
    hf = spec[(freqs > 0.22) & (freqs < 0.28)].sum()
    rest = spec[(freqs > 0.4) & (freqs < 1.0)].sum()
    assert lf > 10 * rest and hf > 10 * rest


def test_ectopics_are_premature_with_the_right_pause() -> None:
    beats = BeatTrain(2, Steady(rr_sd_rel=0.0, pvc_per_min=3.0, pac_per_min=3.0)).window(0, 900)
    kinds = beats.kind
    n_pvc = int(np.count_nonzero(kinds == BeatKind.PVC))
    n_pac = int(np.count_nonzero(kinds == BeatKind.PAC))
    assert 25 < n_pvc < 75 and 25 < n_pac < 75  # ~45 each in 15 min
    sinus_rr = 0.8
    for i in np.flatnonzero(kinds == BeatKind.PVC):
        if i + 1 < len(beats):
            assert beats.rr_s[i] == pytest.approx(0.6 * sinus_rr)
            assert beats.rr_s[i] + beats.rr_s[i + 1] == pytest.approx(2 * sinus_rr)  # compensatory
            assert beats.pulse_rel[i] < 0.5
    for i in np.flatnonzero(kinds == BeatKind.PAC):
        if i + 1 < len(beats):
            assert beats.rr_s[i] == pytest.approx(0.7 * sinus_rr)
            assert beats.rr_s[i + 1] == pytest.approx(sinus_rr)  # sinus node reset


def test_af_is_irregular_and_sinus_is_not() -> None:
    af = BeatTrain(3, Steady(rhythm="af", hr_bpm=110.0)).window(0.0, 300.0)
    sinus = BeatTrain(3, Steady(hr_bpm=110.0)).window(0.0, 300.0)
    cv_af = float(np.std(af.rr_s) / np.mean(af.rr_s))
    cv_sinus = float(np.std(sinus.rr_s) / np.mean(sinus.rr_s))
    assert cv_af > 0.15 and cv_sinus < 0.06
    assert 60.0 / float(np.mean(af.rr_s)) == pytest.approx(110.0, rel=0.05)
    # Successive differences are uncorrelated in AF (irregularly irregular).
    d = np.diff(af.rr_s)
    assert abs(float(np.corrcoef(d[:-1], d[1:])[0, 1]) + 0.5) < 0.15
    assert float(np.std(af.pulse_rel)) > 0.1
    assert np.all(af.kind == BeatKind.AF)


def test_train_memory_is_bounded_and_forgetting_changes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    full = BeatTrain(8, Steady(pvc_per_min=2.0)).window(1150.0, 1200.0)
    monkeypatch.setattr(beats_module, "MAX_BEATS", 200)
    train = BeatTrain(8, Steady(pvc_per_min=2.0), extend_s=20.0)
    for until in range(0, 1200, 50):
        train.table(float(until))
    assert len(train.table(1200.0)) <= 200 + 40
    late = train.window(1150.0, 1200.0)
    assert len(late) > 50
    np.testing.assert_array_equal(late.t_s, full.t_s)
    np.testing.assert_array_equal(late.kind, full.kind)
    with pytest.raises(ValueError, match=r"^beats before .* s are forgotten"):
        train.window(10.0, 20.0)
