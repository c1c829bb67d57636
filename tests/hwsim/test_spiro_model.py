"""hwsim.spiro_model: forced expiration manoeuvres whose volumes are known exactly."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
from hwsim import spiro_model
from hwsim.spiro_model import Manoeuvre, manoeuvre, solve_shape
from numpy.typing import NDArray

FS_HZ = 100.0


def expired(m: Manoeuvre) -> NDArray[np.float64]:
    """Flow from the expiratory onset on."""
    return m.flow_lps[m.onset_index :]


def back_extrapolated_volume_l(m: Manoeuvre) -> float:
    """ATS/ERS BEV: volume at the time zero found by the tangent at the steepest volume rise."""
    flow = expired(m)
    volume = np.concatenate(([0.0], np.cumsum(flow) / m.fs_hz))
    k = int(np.argmax(flow))
    t_steep = (k + 0.5) / m.fs_hz
    v_steep = 0.5 * (volume[k] + volume[k + 1])
    t_zero = t_steep - v_steep / flow[k]
    return float(np.interp(t_zero, np.arange(volume.size) / m.fs_hz, volume))


@pytest.mark.parametrize(
    ("pattern", "fvc_l", "fev1_l", "pef_lps"),
    [
        ("normal", 4.5, 3.6, None),
        ("normal", 4.5, 3.6, 9.0),
        ("restrictive", 2.2, 1.85, None),
        ("obstructive", 3.0, 1.3, None),
        ("obstructive", 3.4, 1.85, 4.2),
    ],
)
def test_volumes_from_integrated_flow_are_exact(
    pattern: str, fvc_l: float, fev1_l: float, pef_lps: float | None
) -> None:
    m = manoeuvre(FS_HZ, fvc_l, fev1_l, pef_lps, pattern=pattern)
    flow = expired(m)
    assert float(flow.sum() / FS_HZ) == pytest.approx(fvc_l, abs=1e-9)
    one_s = m.blast_index - m.onset_index + round(FS_HZ)
    assert float(flow[:one_s].sum() / FS_HZ) == pytest.approx(fev1_l, abs=1e-9)
    assert m.exhaled_l == pytest.approx(fvc_l)
    assert m.fev1_l == pytest.approx(fev1_l)
    if pef_lps is not None:
        shape = solve_shape(fvc_l, fev1_l, pef_lps, pattern)
        assert shape.pef_lps == pytest.approx(pef_lps, rel=1e-3)
        assert float(flow.max()) == pytest.approx(pef_lps, rel=0.02)  # cell averages at 100 Hz
    # End of test (ATS/ERS 2019): < 25 mL in the last second, or 15 s of expiration.
    last = np.flatnonzero(flow > 0.0)[-1]
    duration_s = (last + 1) / FS_HZ
    plateau = float(flow[last - round(FS_HZ) + 1 : last + 1].sum() / FS_HZ) < 0.025
    assert duration_s >= 6.0
    assert plateau or duration_s >= 15.0
    # The good effort starts cleanly: BEV within ATS/ERS 2019 limits.
    assert back_extrapolated_volume_l(m) <= max(0.100, 0.05 * fvc_l)


def test_inspiration_comes_first() -> None:
    m = manoeuvre(FS_HZ, 4.0, 3.2)
    before = m.flow_lps[: m.onset_index]
    assert float(before.sum() / FS_HZ) == pytest.approx(-spiro_model.INSPIRED_FRACTION * 4.0)
    assert float(before.max()) <= 1e-12
    assert float(m.flow_lps.sum() / FS_HZ) == pytest.approx(4.0 - 0.7 * 4.0)


def test_obstructive_curve_is_scooped_and_normal_is_not() -> None:
    def mid_flow_ratio(pattern: str, fvc_l: float, fev1_l: float) -> float:
        """Flow at half the volume after PEF, over the straight line from PEF to zero."""
        m = manoeuvre(1000.0, fvc_l, fev1_l, pattern=pattern)
        flow = expired(m)
        volume = np.cumsum(flow) / 1000.0
        k = int(np.argmax(flow))
        v_mid = 0.5 * (volume[k] + fvc_l)
        line = flow[k] * (fvc_l - v_mid) / (fvc_l - volume[k])
        return float(np.interp(v_mid, volume[k:], flow[k:]) / line)

    assert mid_flow_ratio("obstructive", 3.0, 1.3) < 0.6
    assert mid_flow_ratio("normal", 4.5, 3.6) > 0.8
    assert mid_flow_ratio("restrictive", 2.2, 1.85) > 0.8


def test_hesitant_start_has_a_large_back_extrapolated_volume() -> None:
    good = manoeuvre(FS_HZ, 4.5, 3.6)
    bad = manoeuvre(FS_HZ, 4.5, 3.6, fault="hesitant")
    assert float(expired(bad).sum() / FS_HZ) == pytest.approx(4.5)
    assert bad.leak_l == pytest.approx(0.24)
    assert bad.blast_index - bad.onset_index == round(spiro_model.LEAK_S * FS_HZ)
    assert back_extrapolated_volume_l(bad) > max(0.100, 0.05 * 4.5)
    assert back_extrapolated_volume_l(good) < 0.05


def test_cough_keeps_volumes_but_dips_in_the_first_second() -> None:
    good = manoeuvre(FS_HZ, 4.5, 3.6)
    cough = manoeuvre(FS_HZ, 4.5, 3.6, fault="cough")
    assert cough.exhaled_l == pytest.approx(4.5)
    assert cough.fev1_l == pytest.approx(3.6)
    start = cough.blast_index + round(spiro_model.COUGH_AT_S * FS_HZ)
    stop = start + round(spiro_model.COUGH_S * FS_HZ) + 1
    diff = cough.flow_lps[start:stop] - good.flow_lps[start:stop]
    assert float(diff.min()) < -1.0 and float(diff.max()) > 1.0
    assert float(diff.sum()) == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_array_equal(cough.flow_lps[stop + 1 :], good.flow_lps[stop + 1 :])
    assert float(cough.flow_lps[cough.onset_index :].min()) >= 0.0


def test_early_stop_has_no_plateau() -> None:
    m = manoeuvre(FS_HZ, 4.5, 3.6, fault="early-stop")
    flow = expired(m)
    last = np.flatnonzero(flow > 0.0)[-1]
    assert (last + 1) / FS_HZ < 3.0
    assert float(flow[last - round(FS_HZ) : last].sum() / FS_HZ) > 0.2  # still blowing hard
    assert m.exhaled_l == pytest.approx(float(flow.sum() / FS_HZ))
    assert m.exhaled_l < 4.3
    assert m.fev1_l == pytest.approx(3.6)


def test_variable_effort_keeps_fvc_but_lowers_fev1_and_pef() -> None:
    good = manoeuvre(FS_HZ, 4.5, 3.6)
    var = manoeuvre(FS_HZ, 4.5, 3.6, fault="variable")
    assert float(expired(var).sum() / FS_HZ) == pytest.approx(4.5)
    assert var.fev1_l < 3.45
    one_s = var.blast_index - var.onset_index + round(FS_HZ)
    assert float(expired(var)[:one_s].sum() / FS_HZ) == pytest.approx(var.fev1_l)
    assert float(var.flow_lps.max()) < 0.97 * float(good.flow_lps.max())


def test_scaled_keeps_the_ratio() -> None:
    m = spiro_model.scaled(manoeuvre(FS_HZ, 4.0, 3.0), 1.02)
    assert float(expired(m).sum() / FS_HZ) == pytest.approx(4.08)
    assert m.fev1_l / m.exhaled_l == pytest.approx(0.75)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"fault": "sneeze"},
            "unknown spirometry fault 'sneeze': expected one of ['none', "
            "'hesitant', 'cough', 'early-stop', 'variable']",
        ),
        (
            {"pattern": "mixed"},
            "unknown pattern 'mixed': expected one of ['normal', 'restrictive', 'obstructive']",
        ),
        ({"fev1_l": 4.0}, "FEV1 4.0 L must be above 0 and below FVC 4.0 L"),
        (
            {"pef_lps": 3.0},
            "PEF 3.0 L/s is out of reach for FVC 4.0 L, FEV1 3.0 L, normal: "
            "expected 5.03..17.80 L/s",
        ),
    ],
)
def test_errors(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"fvc_l": 4.0, "fev1_l": 3.0} | kwargs
    with pytest.raises(ValueError) as info:
        manoeuvre(FS_HZ, **args)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_fuzz_volumes_exact() -> None:
    seed = int(os.environ.get("HELSEROM_FUZZ_SEED", random.randrange(2**32)))
    print(f"spiro fuzz seed: {seed} (replay with HELSEROM_FUZZ_SEED={seed})")
    rng = np.random.default_rng(seed)
    for _ in range(15):
        pattern = str(rng.choice(["normal", "restrictive", "obstructive"]))
        fvc_l = float(rng.uniform(1.2, 6.0))
        lo, hi = (0.35, 0.68) if pattern == "obstructive" else (0.72, 0.9)
        fev1_l = fvc_l * float(rng.uniform(lo, hi))
        fs_hz = float(rng.choice([50.0, 100.0, 250.0, 333.0]))
        fault = str(rng.choice(spiro_model.FAULTS))
        m = manoeuvre(fs_hz, fvc_l, fev1_l, pattern=pattern, fault=fault)
        assert float(expired(m).sum() / fs_hz) == pytest.approx(m.exhaled_l, abs=1e-9)
        if fault != "early-stop":
            assert m.exhaled_l == pytest.approx(fvc_l, abs=1e-9)
        if fault not in ("variable",):
            assert m.fev1_l == pytest.approx(fev1_l, abs=1e-9)
        assert np.all(np.isfinite(m.flow_lps))
