"""Forced expiration manoeuvres as airway flow (L/s, expiration positive), with an analytic volume.

Expired volume after the blast starts (t = 0) is a mix of two "rise then decay" components,

    h(t; tau) = (exp(-t/tau) - exp(-t/RISE_S)) / (tau - RISE_S)        (integral over t >= 0 is 1)
    H(t; tau) = (tau (1 - exp(-t/tau)) - RISE_S (1 - exp(-t/RISE_S))) / (tau - RISE_S)
    V(t) = FVC * (w H(t; tau1) + (1 - w) H(t; kappa tau1)) / Z,   Z = the same bracket at t = END

for 0 <= t <= END, and V = FVC after END, so the manoeuvre exhales exactly FVC and
FEV1 = V(1 s) exactly. A fast component (tau1) and a slow one (kappa * tau1) give a straight
(normal, restrictive: kappa = 4, w = 0.8) or scooped (obstructive: kappa = 15, w = 0.25)
flow-volume curve; tau1 is solved so V(1) = FEV1. Given a PEF, tau1 is solved for it instead,
tau2 for FEV1, and w is the value nearest the pattern's that makes PEF reachable. END is the
first whole second >= 6 s at which the last second exhaled < 0.025 L (the ATS/ERS 2019
end-of-test plateau), or 15 s (the other end-of-test criterion) if none is.

Flow samples are cell averages, flow[k] = (V(t[k+1]) - V(t[k])) * fs, so summing flow / fs
gives volumes exactly, with no discretisation error. Before the blast there is a maximal
inspiration (a half-cosine of INSPIRED_FRACTION * FVC over INSPIRE_S) and a short hold.

Faults (each keeps the formulas above checkable):
- ``hesitant``: a slow leak ramps to LEAK_PEAK_LPS over LEAK_S before the blast; the blast
  exhales FVC minus the leak, so the total is still FVC, but the back-extrapolated volume is
  about the leak volume (ATS/ERS: must be <= max(5 % FVC, 0.100 L)).
- ``cough``: one period of a sine (a dip then a burst, net zero volume) at COUGH_AT_S for
  COUGH_S; FVC and FEV1 are unchanged, flow is not.
- ``early-stop``: flow falls to zero over 50 ms at EARLY_STOP_S; exhaled volume < FVC.
- ``variable``: submaximal, wavering effort as a time warp g(t) = c t + a (1 - cos(2 pi f t)) /
  (2 pi f), V_var(t) = V(g(t)): FVC unchanged, FEV1 = V(g(1)) and PEF lower.

Sources: Graham et al., "Standardization of Spirometry 2019 Update", Am. J. Respir. Crit.
Care Med. 200 (2019) e70 (BEV, end of test, acceptability); Miller et al., Eur. Respir. J. 26
(2005) 319 (flow-volume shapes).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

RISE_S: Final = 0.025  # flow rise time constant: PEF ~80 ms after the blast starts
KAPPA: Final = {"normal": 4.0, "restrictive": 4.0, "obstructive": 15.0}
DEFAULT_W: Final = {"normal": 0.8, "restrictive": 0.8, "obstructive": 0.25}
TAU_MIN_S: Final = 1.5 * RISE_S
TAU_MAX_S: Final = 60.0
FAST_TAU_MIN_S: Final = 0.04
W_CHOICES: Final = tuple(round(0.1 + 0.05 * i, 2) for i in range(18))  # tried nearest first
FAULTS: Final = ("none", "hesitant", "cough", "early-stop", "variable")
MIN_END_S: Final = 6.0
MAX_END_S: Final = 15.0
PLATEAU_L: Final = 0.025  # < 25 mL in the last second (ATS/ERS 2019)
INSPIRED_FRACTION: Final = 0.7  # inspiratory capacity as a fraction of FVC
INSPIRE_S: Final = 1.5
HOLD_S: Final = 0.3
TAIL_S: Final = 0.5  # zero flow after the manoeuvre
LEAK_S: Final = 0.8
LEAK_PEAK_LPS: Final = 0.6  # leak volume = LEAK_S * LEAK_PEAK_LPS / 2 = 0.24 L
COUGH_AT_S: Final = 0.45
COUGH_S: Final = 0.12
COUGH_DEPTH: Final = 0.8  # dip and burst size relative to the flow at the cough
EARLY_STOP_S: Final = 2.0
STOP_RAMP_S: Final = 0.05
EFFORT_SCALE: Final = 0.75  # c in the time warp
EFFORT_WOBBLE: Final = 0.25  # a
EFFORT_HZ: Final = 1.3  # f


def _h_cum(t_s: NDArray[np.float64], tau_s: float) -> NDArray[np.float64]:
    t = np.maximum(t_s, 0.0)
    out: NDArray[np.float64] = (tau_s * -np.expm1(-t / tau_s) - RISE_S * -np.expm1(-t / RISE_S)) / (
        tau_s - RISE_S
    )
    return out


def _h(t_s: NDArray[np.float64], tau_s: float) -> NDArray[np.float64]:
    t = np.maximum(t_s, 0.0)
    out: NDArray[np.float64] = (np.exp(-t / tau_s) - np.exp(-t / RISE_S)) / (tau_s - RISE_S)
    return out


@dataclass(frozen=True, slots=True)
class ExpirationShape:
    """The solved forced expiration (no inspiration, no fault): V(t) and flow(t) for t >= 0."""

    fvc_l: float
    w: float
    tau1_s: float
    tau2_s: float
    end_s: float

    def _mix(self, t: NDArray[np.float64], f: object) -> NDArray[np.float64]:
        fn = _h_cum if f == "cum" else _h
        out: NDArray[np.float64] = self.w * fn(t, self.tau1_s) + (1.0 - self.w) * fn(t, self.tau2_s)
        return out

    @property
    def _z(self) -> float:
        return float(self._mix(np.array([self.end_s]), "cum")[0])

    def volume_l(self, t_s: NDArray[np.float64]) -> NDArray[np.float64]:
        """Exhaled volume since the blast started."""
        t = np.minimum(np.asarray(t_s, dtype=np.float64), self.end_s)
        out: NDArray[np.float64] = self.fvc_l * self._mix(t, "cum") / self._z
        return out

    def flow_lps(self, t_s: NDArray[np.float64]) -> NDArray[np.float64]:
        """Instantaneous flow (L/s)."""
        t = np.asarray(t_s, dtype=np.float64)
        out = self.fvc_l * self._mix(t, "flow") / self._z
        result: NDArray[np.float64] = np.where((t < 0.0) | (t > self.end_s), 0.0, out)
        return result

    @property
    def fev1_l(self) -> float:
        """Volume at 1 s."""
        return float(self.volume_l(np.array([1.0]))[0])

    @property
    def pef_lps(self) -> float:
        """Peak flow."""
        return float(self.flow_lps(np.linspace(0.0, 1.0, 4001)).max())


def _ratio(tau1: float, tau2: float, w: float, end_s: float) -> float:
    t = np.array([1.0, end_s])
    v = w * _h_cum(t, tau1) + (1.0 - w) * _h_cum(t, tau2)
    return float(v[0] / v[1])


def _bisect(fn: Callable[[float], float], target: float, lo: float, hi: float) -> float:
    """x in [lo, hi] (geometric bisection) where a decreasing fn crosses target."""
    if not fn(hi) <= target <= fn(lo):
        raise ValueError("out of reach")
    for _ in range(60):
        mid = math.sqrt(lo * hi)
        if fn(mid) > target:
            lo = mid
        else:
            hi = mid
    return math.sqrt(lo * hi)


def _plateau(make: Callable[[float], ExpirationShape]) -> ExpirationShape:
    """The first END (whole seconds from 6 s) that can be solved with a plateau there; a slow
    (obstructive) emptying needs a longer END before the FEV1/FVC ratio is reachable."""
    shape: ExpirationShape | None = None
    error: ValueError | None = None
    end_s = MIN_END_S
    while end_s <= MAX_END_S:
        try:
            shape = make(end_s)
        except ValueError as exc:
            error = exc
        else:
            last_s = shape.volume_l(np.array([end_s - 1.0, end_s]))
            if float(last_s[1] - last_s[0]) < PLATEAU_L:
                return shape
        end_s += 1.0
    if shape is not None:
        return shape
    assert error is not None
    raise error


@functools.lru_cache(maxsize=64)
def solve_shape(
    fvc_l: float, fev1_l: float, pef_lps: float | None = None, pattern: str = "normal"
) -> ExpirationShape:
    """The expiration with exactly this FVC and FEV1, and this PEF (within 0.1 %) if given.

    Without a PEF, w is the pattern's DEFAULT_W, tau2 = KAPPA * tau1 and tau1 is solved for
    FEV1. With one, tau1 is solved for PEF and tau2 (for each tau1) for FEV1, with the w
    nearest DEFAULT_W for which that PEF can be reached."""
    if pattern not in KAPPA:
        raise ValueError(f"unknown pattern {pattern!r}: expected one of {list(KAPPA)}")
    if not 0.0 < fev1_l < fvc_l:
        raise ValueError(f"FEV1 {fev1_l} L must be above 0 and below FVC {fvc_l} L")
    ratio, w, kappa = fev1_l / fvc_l, DEFAULT_W[pattern], KAPPA[pattern]

    def default(end_s: float) -> ExpirationShape:
        tau1 = _bisect(lambda x: _ratio(x, kappa * x, w, end_s), ratio, TAU_MIN_S, TAU_MAX_S)
        return ExpirationShape(fvc_l, w, tau1, kappa * tau1, end_s)

    def for_pef_w(w: float, end_s: float) -> ExpirationShape | tuple[float, float]:
        """The shape for this w, or the PEF range (low, high) it can reach."""

        def with_tau1(tau1: float) -> ExpirationShape:
            tau2 = _bisect(lambda x: _ratio(tau1, x, w, end_s), ratio, TAU_MIN_S, TAU_MAX_S)
            return ExpirationShape(fvc_l, w, tau1, tau2, end_s)

        single = _bisect(lambda x: _ratio(x, x, w, end_s), ratio, TAU_MIN_S, TAU_MAX_S)
        if _ratio(TAU_MIN_S, TAU_MAX_S, w, end_s) <= ratio:
            fastest = TAU_MIN_S
        else:
            fastest = _bisect(lambda x: _ratio(x, TAU_MAX_S, w, end_s), ratio, TAU_MIN_S, single)
        fastest = max(fastest * 1.001, FAST_TAU_MIN_S)
        low, high = with_tau1(single).pef_lps, with_tau1(fastest).pef_lps
        assert pef_lps is not None
        if not low <= pef_lps <= high:
            return (low, high)
        return with_tau1(_bisect(lambda x: with_tau1(x).pef_lps, pef_lps, fastest, single))

    def for_pef(end_s: float) -> ExpirationShape:
        lows, highs = [], []
        for w_try in sorted(W_CHOICES, key=lambda x: abs(x - w)):
            got = for_pef_w(w_try, end_s)
            if isinstance(got, ExpirationShape):
                return got
            lows.append(got[0])
            highs.append(got[1])
        raise ValueError(
            f"PEF {pef_lps} L/s is out of reach for FVC {fvc_l} L, FEV1 {fev1_l} L, "
            f"{pattern}: expected {min(lows):.2f}..{max(highs):.2f} L/s"
        )

    try:
        return _plateau(default if pef_lps is None else for_pef)
    except ValueError as exc:
        if "out of reach" in str(exc) and str(exc) == "out of reach":
            raise ValueError(
                f"FEV1/FVC {ratio:.3f} is out of reach of the {pattern} model"
            ) from None
        raise


@dataclass(frozen=True, slots=True)
class Manoeuvre:
    """One recorded manoeuvre and what it truly contains (the test oracle)."""

    flow_lps: NDArray[np.float64]  # cell-averaged flow, expiration positive
    fs_hz: float
    onset_index: int  # first sample of expiratory flow (the leak, for a hesitant start)
    blast_index: int  # first sample of the forced blast
    exhaled_l: float  # everything breathed out (FVC unless stopped early)
    fev1_l: float  # exhaled from onset to blast + 1 s
    leak_l: float  # exhaled before the blast (hesitant start)
    fault: str


def _time_warp(t: NDArray[np.float64]) -> NDArray[np.float64]:
    w = 2.0 * math.pi * EFFORT_HZ
    out: NDArray[np.float64] = EFFORT_SCALE * t + EFFORT_WOBBLE * (1.0 - np.cos(w * t)) / w
    return out


def _expiration_volume(
    shape: ExpirationShape, t: NDArray[np.float64], fault: str
) -> tuple[NDArray[np.float64], float]:
    """Volume exhaled since the blast at times t (s after the blast), and the manoeuvre length."""
    if fault == "variable":
        length = float(shape.end_s)
        while float(_time_warp(np.array([length]))[0]) < shape.end_s:
            length += 0.5
        return shape.volume_l(_time_warp(t)), length
    v = shape.volume_l(t)
    if fault == "cough":
        f0 = float(shape.flow_lps(np.array([COUGH_AT_S]))[0])
        a = -COUGH_DEPTH * f0  # dip first, then the burst
        u = np.clip(t - COUGH_AT_S, 0.0, COUGH_S)
        v = v + a * COUGH_S / (2.0 * math.pi) * (1.0 - np.cos(2.0 * math.pi * u / COUGH_S))
    if fault == "early-stop":
        ts = EARLY_STOP_S
        f0 = float(shape.flow_lps(np.array([ts]))[0])
        u = np.clip(t - ts, 0.0, STOP_RAMP_S)
        v_stop = float(shape.volume_l(np.array([ts]))[0])
        v = np.where(t < ts, v, v_stop + f0 * (u - u * u / (2.0 * STOP_RAMP_S)))
        return v, ts + STOP_RAMP_S
    return v, shape.end_s


def manoeuvre(
    fs_hz: float,
    fvc_l: float,
    fev1_l: float,
    pef_lps: float | None = None,
    *,
    pattern: str = "normal",
    fault: str = "none",
) -> Manoeuvre:
    """A whole manoeuvre sampled at ``fs_hz``: inspiration, hold, forced expiration, rest."""
    if fault not in FAULTS:
        raise ValueError(f"unknown spirometry fault {fault!r}: expected one of {list(FAULTS)}")
    if not 10.0 <= fs_hz <= 10_000.0:
        raise ValueError(f"fs_hz={fs_hz} is outside 10..10000")
    leak_l = LEAK_S * LEAK_PEAK_LPS / 2.0 if fault == "hesitant" else 0.0
    shape = solve_shape(fvc_l - leak_l, fev1_l - leak_l, pef_lps, pattern)
    inspired_l = INSPIRED_FRACTION * fvc_l
    onset_index = math.ceil((INSPIRE_S + HOLD_S) * fs_hz)
    onset_s = onset_index / fs_hz
    leak_s = math.ceil(LEAK_S * fs_hz) / fs_hz if fault == "hesitant" else 0.0
    leak_peak = 2.0 * leak_l / leak_s if leak_s else 0.0
    blast_s = onset_s + leak_s
    _, length_s = _expiration_volume(shape, np.array([0.0]), fault)
    n = math.ceil((blast_s + length_s + TAIL_S) * fs_hz) + 1
    t = np.arange(n + 1) / fs_hz  # cell edges
    # Inspiration (negative volume), then leak, then the blast.
    u_in = np.clip(t / INSPIRE_S, 0.0, 1.0)
    volume = -inspired_l * (1.0 - np.cos(math.pi * u_in)) / 2.0
    u_leak = np.clip(t - onset_s, 0.0, leak_s)
    if leak_s:
        volume += leak_peak * u_leak * u_leak / (2.0 * leak_s)
    v_blast, _ = _expiration_volume(shape, t - blast_s, fault)
    volume += np.where(t > blast_s, v_blast, 0.0)
    flow = np.diff(volume) * fs_hz
    at = np.array([blast_s + 1.0, t[-1]])
    v_exp, _ = _expiration_volume(shape, at - blast_s, fault)
    return Manoeuvre(
        flow_lps=flow,
        fs_hz=fs_hz,
        onset_index=onset_index,
        blast_index=round(blast_s * fs_hz),
        exhaled_l=leak_l + float(v_exp[1]),
        fev1_l=leak_l + float(v_exp[0]),
        leak_l=leak_l,
        fault=fault,
    )


def scaled(m: Manoeuvre, factor: float) -> Manoeuvre:
    """The same manoeuvre with every volume and flow times ``factor`` (attempt-to-attempt
    variation: the FEV1/FVC ratio and the timing stay the same)."""
    return Manoeuvre(
        flow_lps=m.flow_lps * factor,
        fs_hz=m.fs_hz,
        onset_index=m.onset_index,
        blast_index=m.blast_index,
        exhaled_l=m.exhaled_l * factor,
        fev1_l=m.fev1_l * factor,
        leak_l=m.leak_l * factor,
        fault=m.fault,
    )
