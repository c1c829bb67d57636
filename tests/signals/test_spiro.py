"""Spirometry, one manoeuvre: analytic synthetic blows with closed-form FEV1, FVC, BEV, FET.

The generator (``Blow``) is written here, independently of the code under test: a 1-s
half-sine maximal inspiration, an optional pause at TLC, a linear rise of flow to PEF over
``rise_s``, then an exponential decay ``PEF·exp(−t/τ)`` for ``decay_s``, optionally followed by
a forced inspiration. For that shape, with the ATS/ERS 2019 back-extrapolation (tangent of
slope PEF through the PEF point), everything is known in closed form:

* time zero = rise_s / 2 after the start of the rise; BEV = PEF·rise_s / 8;
* FVC = PEF·(rise_s/2 + τ·(1 − e^(−decay/τ)));
* FEV1 = PEF·rise_s/2 + PEF·τ·(1 − e^(−(1 − rise_s/2)/τ));
* FET = decay + rise_s/2; volume in the last second = PEF·τ·(e^(−(decay−1)/τ) − e^(−decay/τ)).

Each ATS/ERS 2019 rule is made to fail once on purpose (Graham et al., AJRCCM 2019;200:e70).
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass, replace

import numpy as np
import pytest
from numpy.typing import NDArray

from gateway.signals.spiro import Eofe, Manoeuvre, SpiroReason, analyze_manoeuvre, volume_l

FS_HZ = 1000.0


@dataclass(frozen=True)
class Blow:
    """One synthetic forced manoeuvre with closed-form results."""

    pef_lps: float = 8.0
    rise_s: float = 0.08
    tau_s: float = 0.6
    decay_s: float = 8.0
    inspired_l: float = 5.0  # volume of the maximal inspiration before the blow
    pause_s: float = 0.0  # breath-hold at TLC before the blow
    fivc_l: float | None = None  # forced inspiration after the blow
    cough_after_pef_s: float | None = None  # a 50 % flow dip (30 ms wide) this long after PEF
    tidal_breaths: int = 0  # 0.5-L tidal breaths before the maximal inspiration
    fs_hz: float = FS_HZ

    def flow_lps(self) -> NDArray[np.float64]:
        fs = self.fs_hz
        parts: list[NDArray[np.float64]] = []
        for _ in range(self.tidal_breaths):  # 4-s sine: 0.5 L out, 0.5 L in
            k = np.arange(int(4 * fs))
            parts.append(0.5 * np.pi / 2.0 * np.sin(2 * np.pi * k / (4 * fs)))
        n = int(fs)
        k = np.arange(n)
        parts.append(-self.inspired_l * np.pi / 2.0 * np.sin(np.pi * k / n))
        parts.append(np.zeros(round(self.pause_s * fs)))
        nr = round(self.rise_s * fs)
        parts.append(self.pef_lps * np.arange(nr + 1) / nr)
        t = np.arange(1, round(self.decay_s * fs) + 1) / fs
        decay = self.pef_lps * np.exp(-t / self.tau_s)
        if self.cough_after_pef_s is not None:
            decay *= 1.0 - 0.5 * np.exp(-(((t - self.cough_after_pef_s) / 0.03) ** 2))
        parts.append(decay)
        if self.fivc_l is not None:
            ni = round(1.5 * fs)
            k = np.arange(1, ni + 1)
            parts.append(-self.fivc_l * np.pi / 3.0 * np.sin(np.pi * k / ni))
        return np.concatenate(parts)

    @property
    def start_s(self) -> float:
        """Start of the rise (the record time at which flow leaves zero)."""
        return 4.0 * self.tidal_breaths + 1.0 + self.pause_s

    @property
    def ramp_l(self) -> float:
        return self.pef_lps * self.rise_s / 2.0

    @property
    def fvc_l(self) -> float:
        return self.ramp_l + self.pef_lps * self.tau_s * (1 - math.exp(-self.decay_s / self.tau_s))

    @property
    def fev1_l(self) -> float:
        return self.ramp_l + self.pef_lps * self.tau_s * (
            1 - math.exp(-(1 - self.rise_s / 2) / self.tau_s)
        )

    @property
    def bev_l(self) -> float:
        return self.pef_lps * self.rise_s / 8.0

    @property
    def fet_s(self) -> float:
        return self.decay_s + self.rise_s / 2.0

    @property
    def last_second_l(self) -> float:
        a, tau = self.pef_lps * self.tau_s, self.tau_s
        return a * (math.exp(-(self.decay_s - 1) / tau) - math.exp(-self.decay_s / tau))

    def _time_at(self, v_l: float) -> float:
        if v_l <= self.ramp_l:
            return math.sqrt(2 * self.rise_s * v_l / self.pef_lps)
        x = (v_l - self.ramp_l) / (self.pef_lps * self.tau_s)
        return self.rise_s - self.tau_s * math.log(1 - x)

    @property
    def fef25_75_lps(self) -> float:
        return (
            0.5 * self.fvc_l / (self._time_at(0.75 * self.fvc_l) - self._time_at(0.25 * self.fvc_l))
        )


GOOD = Blow()


def analyse(blow: Blow, prior_fvc_l: float = math.nan, age_y: float | None = None) -> Manoeuvre:
    return analyze_manoeuvre(blow.flow_lps(), blow.fs_hz, prior_fvc_l=prior_fvc_l, age_y=age_y)


# --- values in closed form ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "blow",
    [
        GOOD,
        Blow(pef_lps=10.0, rise_s=0.05, tau_s=0.4, decay_s=6.0),
        Blow(pef_lps=4.0, rise_s=0.10, tau_s=1.0, decay_s=10.0),  # obstructive: slow decay
        Blow(pef_lps=3.0, rise_s=0.06, tau_s=0.3, decay_s=4.0, inspired_l=2.0),  # small child
        replace(GOOD, fs_hz=100.0),
        replace(GOOD, fs_hz=250.0),
        replace(GOOD, tidal_breaths=2),
    ],
    ids=["adult", "fast", "obstructive", "child", "100Hz", "250Hz", "tidal-first"],
)
def test_closed_form_values(blow: Blow) -> None:
    m = analyse(blow)
    assert m.fvc_l == pytest.approx(blow.fvc_l, abs=1e-3)
    assert m.fev1_l == pytest.approx(blow.fev1_l, abs=1e-3)
    assert m.fev1_fvc == pytest.approx(blow.fev1_l / blow.fvc_l, abs=1e-3)
    assert m.pef_lps == pytest.approx(blow.pef_lps, rel=1e-9)
    assert m.bev_l == pytest.approx(blow.bev_l, abs=1e-3)
    assert m.fet_s == pytest.approx(blow.fet_s, abs=1.5 / blow.fs_hz)
    assert m.fef25_75_lps == pytest.approx(blow.fef25_75_lps, rel=5e-3)
    assert m.last_second_volume_l == pytest.approx(blow.last_second_l, abs=1e-4)
    assert m.time_zero_index == pytest.approx((blow.start_s + blow.rise_s / 2) * blow.fs_hz)
    assert m.time_to_pef_s == pytest.approx(blow.rise_s / 2)
    assert m.eofe == (Eofe.PLATEAU,)
    assert m.reasons == ()
    assert m.acceptable_fev1 and m.acceptable_fvc and m.usable_fev1 and m.usable_fvc


def test_volume_is_trapezoid_of_flow() -> None:
    flow = np.array([0.0, 1.0, 3.0, 2.0])
    np.testing.assert_allclose(volume_l(flow, 2.0), [0.0, 0.25, 1.25, 2.5])


# --- each Table 7 rule fails once --------------------------------------------------------------
def test_bev_limit_is_five_percent_of_fvc_for_adults() -> None:
    ok = Blow(rise_s=0.24)  # BEV 0.24 L, FVC 5.76 L: limit 0.288 L
    bad = Blow(rise_s=0.40)  # BEV 0.40 L, FVC 6.40 L: limit 0.320 L
    m_ok, m_bad = analyse(ok), analyse(bad)
    assert m_ok.bev_l == pytest.approx(0.24, abs=1e-3)
    assert m_ok.bev_limit_l == pytest.approx(0.05 * ok.fvc_l, abs=1e-3)
    assert SpiroReason.BEV_TOO_LARGE not in m_ok.reasons and m_ok.acceptable_fev1
    assert m_bad.bev_l == pytest.approx(0.40, abs=1e-3)
    assert SpiroReason.BEV_TOO_LARGE in m_bad.reasons
    assert not (m_bad.acceptable_fev1 or m_bad.usable_fev1 or m_bad.acceptable_fvc)
    assert not m_bad.usable_fvc


def test_bev_limit_is_100_ml_for_small_volumes() -> None:
    ok = Blow(pef_lps=2.0, rise_s=0.3, tau_s=0.4, inspired_l=1.5)  # BEV 0.075 L, 5 % = 0.055 L
    bad = Blow(pef_lps=2.0, rise_s=0.5, tau_s=0.4, inspired_l=1.5)  # BEV 0.125 L
    m_ok, m_bad = analyse(ok), analyse(bad)
    assert m_ok.bev_limit_l == pytest.approx(0.100)
    assert SpiroReason.BEV_TOO_LARGE not in m_ok.reasons
    assert m_bad.bev_limit_l == pytest.approx(0.100)
    assert SpiroReason.BEV_TOO_LARGE in m_bad.reasons


def test_no_plateau_fvc_not_acceptable_but_usable() -> None:
    blow = Blow(tau_s=1.5, decay_s=3.0)  # 0.95 L still coming out in the last second
    m = analyse(blow)
    assert m.last_second_volume_l == pytest.approx(blow.last_second_l, abs=1e-4)
    assert m.eofe == ()
    assert m.reasons == (SpiroReason.NO_EOFE,)
    assert m.acceptable_fev1 and m.usable_fev1 and m.usable_fvc
    assert not m.acceptable_fvc


def test_fet_of_15_s_ends_the_blow_without_plateau() -> None:
    long_blow = Blow(tau_s=5.0, decay_s=15.5)  # 0.4 L in the last second, FET 15.54 s
    short_blow = Blow(tau_s=5.0, decay_s=12.0)  # FET too short, still no plateau
    m_long, m_short = analyse(long_blow), analyse(short_blow)
    assert m_long.last_second_volume_l > 0.025
    assert m_long.eofe == (Eofe.FET_15S,)
    assert m_long.acceptable_fvc
    assert m_short.fet_s == pytest.approx(12.04, abs=2e-3)
    assert m_short.reasons == (SpiroReason.NO_EOFE,)
    assert not m_short.acceptable_fvc


def test_fvc_repeating_the_largest_prior_fvc_ends_the_blow() -> None:
    cut = Blow(decay_s=3.0)  # no plateau (0.14 L in the last second), FVC 5.088 L
    assert analyse(cut).reasons == (SpiroReason.NO_EOFE,)
    m = analyse(cut, prior_fvc_l=5.12)  # within 0.150 L of the largest prior FVC
    assert m.eofe == (Eofe.REPEATS_PRIOR_FVC,)
    assert m.acceptable_fvc
    m = analyse(cut, prior_fvc_l=5.30)  # 0.21 L short of it
    assert m.reasons == (SpiroReason.NO_EOFE,)
    m = analyse(cut, prior_fvc_l=5.30, age_y=5.0)  # child: max(0.100 L, 10 % = 0.53 L)
    assert m.eofe == (Eofe.REPEATS_PRIOR_FVC,)


def test_cough_in_first_second() -> None:
    m = analyse(Blow(cough_after_pef_s=0.4))
    assert m.reasons == (SpiroReason.COUGH_FIRST_SECOND,)
    assert not (m.acceptable_fev1 or m.usable_fev1 or m.acceptable_fvc)
    assert m.usable_fvc  # Table 7: a cough does not make FVC unusable
    late = analyse(Blow(cough_after_pef_s=1.5))  # after the first second: not this rule
    assert SpiroReason.COUGH_FIRST_SECOND not in late.reasons


def test_expiration_shorter_than_one_second() -> None:
    blow = Blow(decay_s=0.5, fivc_l=1.0)  # stops (glottic closure) and breathes in
    m = analyse(blow)
    assert math.isnan(m.fev1_l) and math.isnan(m.fev1_fvc)
    # abs 3 mL: the trapezoid bridges the abrupt stop from 3.5 L/s to zero in one sample
    assert m.fvc_l == pytest.approx(blow.fvc_l, abs=3e-3)
    assert SpiroReason.EXPIRATION_UNDER_1S in m.reasons
    assert not (m.acceptable_fev1 or m.usable_fev1 or m.acceptable_fvc or m.usable_fvc)


def test_forced_inspiration_larger_than_fvc() -> None:
    ok = Blow(fivc_l=GOOD.fvc_l + 0.05)
    bad = Blow(fivc_l=GOOD.fvc_l + 0.50)  # the blow did not start from TLC
    m_ok, m_bad = analyse(ok), analyse(bad)
    assert m_ok.fivc_l == pytest.approx(GOOD.fvc_l + 0.05, abs=1e-3)
    assert m_ok.reasons == ()
    assert m_bad.reasons == (SpiroReason.INCOMPLETE_INSPIRATION,)
    assert not (m_bad.acceptable_fev1 or m_bad.acceptable_fvc)
    assert m_bad.usable_fev1 and m_bad.usable_fvc
    assert math.isnan(analyse(GOOD).fivc_l)  # no inspiration recorded: not judged


def test_hesitation_is_a_warning_only() -> None:
    blow = Blow(pause_s=2.5)
    m = analyse(blow)
    assert m.hesitation_s == pytest.approx(2.5 + blow.rise_s / 2, abs=2e-3)
    assert m.reasons == (SpiroReason.HESITATION,)
    assert m.acceptable_fev1 and m.acceptable_fvc
    assert analyse(Blow(pause_s=1.5)).reasons == ()


def test_slow_rise_to_pef_is_a_warning_only() -> None:
    blow = Blow(rise_s=0.32, tau_s=1.0)  # time zero → PEF 0.16 s; BEV 0.32 L < 5 % of 9.28 L
    m = analyse(blow)
    assert m.time_to_pef_s == pytest.approx(0.16)
    assert m.reasons == (SpiroReason.SLOW_RISE_TO_PEF,)
    assert m.acceptable_fev1 and m.acceptable_fvc


# --- bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("flow", "reason"),
    [
        (np.array([]), SpiroReason.TOO_SHORT),
        (np.array([1.0]), SpiroReason.TOO_SHORT),
        (np.r_[GOOD.flow_lps()[:500], np.nan, GOOD.flow_lps()[501:]], SpiroReason.NOT_FINITE),
        (np.r_[GOOD.flow_lps()[:500], np.inf], SpiroReason.NOT_FINITE),
        (np.zeros(5000), SpiroReason.NO_FORCED_EXPIRATION),
        (-np.abs(GOOD.flow_lps()), SpiroReason.NO_FORCED_EXPIRATION),
    ],
    ids=["empty", "one", "nan", "inf", "zeros", "inspiration-only"],
)
def test_bad_input_is_a_reason_not_an_exception(
    flow: NDArray[np.float64], reason: SpiroReason
) -> None:
    m = analyze_manoeuvre(flow, FS_HZ)
    assert m.reasons == (reason,)
    assert math.isnan(m.fev1_l) and math.isnan(m.fvc_l)
    assert not (m.acceptable_fev1 or m.acceptable_fvc or m.usable_fev1 or m.usable_fvc)


@pytest.mark.parametrize("fs_hz", [0.0, -100.0, 10.0, math.nan])
def test_bad_sampling_rate_raises(fs_hz: float) -> None:
    with pytest.raises(ValueError, match=r"^fs_hz must be >= 50 Hz, got "):
        analyze_manoeuvre(GOOD.flow_lps(), fs_hz)


def test_fuzz_never_raises_and_values_are_consistent() -> None:
    seed = int(os.environ.get("HELSEROM_FUZZ_SEED", random.randrange(2**32)))
    print(f"spiro fuzz seed: {seed} (replay with HELSEROM_FUZZ_SEED={seed})")
    rng = np.random.default_rng(seed)
    for case in range(200):
        n = int(rng.integers(0, 3000))
        if case % 3 == 0:
            flow = rng.normal(0.0, rng.uniform(0.01, 5.0), n)
        else:
            base = GOOD.flow_lps()
            flow = base[: max(n, 2)] * rng.uniform(0.1, 2.0) + rng.normal(
                0.0, 0.2, min(n, base.size) or 2
            )
            if case % 5 == 0 and flow.size:
                flow[rng.integers(0, flow.size)] = np.nan
        m = analyze_manoeuvre(flow, float(rng.choice([100.0, 250.0, 1000.0])))
        if math.isfinite(m.fvc_l):
            assert m.fvc_l >= 0.0 and 0.0 <= m.bev_l <= m.fvc_l + 1e-12
            assert not m.fev1_l > m.fvc_l + 1e-12
            assert m.start_index <= m.pef_index <= m.end_index
        assert not m.acceptable_fev1 or m.usable_fev1
        assert not m.acceptable_fvc or m.usable_fvc
