"""PPG (pleth) coherent with the ECG: one pulse per beat, a pulse transit time after the R peak.

Each pulse is a fixed-shape kernel starting at its foot, ``R + PTT``: a skewed systolic wave
peaking ``SYSTOLIC_PEAK_S`` after the foot, a smaller reflected (diastolic) wave after a dicrotic
notch, and a slow run-off that reaches zero at the next foot. Its height is the beat's
``pulse_rel`` (stroke volume: small after a premature beat, varying beat to beat in AF) times
the pulse amplitude from the perfusion index. The falling part stretches with the interval to
the next beat so pulses stay separate at high rates. Breathing adds baseline and amplitude
modulation (Allen, Physiol. Meas. 28 (2007) R1; Charlton et al., Physiol. Meas. 38 (2017) 669).

PTT (R peak to pulse foot at the finger) is about 200-300 ms and shortens as blood pressure
rises (stiffer arteries carry the wave faster: Mukkamala et al., IEEE TBME 62 (2015) 1879);
``pulse_transit_time_s`` gives the linear model used here.
"""

from __future__ import annotations

from typing import Final

import numpy as np
from numpy.typing import NDArray

from hwsim.beats import BeatTable

PTT_AT_REF_S: Final = 0.25  # R peak to finger pulse foot at the reference mean pressure
PTT_REF_MAP_MMHG: Final = 93.0
PTT_SLOPE_S_PER_MMHG: Final = 0.0015  # 15 ms shorter per 10 mmHg higher MAP
PTT_RANGE_S: Final = (0.15, 0.35)
SYSTOLIC_PEAK_S: Final = 0.13  # foot to systolic peak
SYSTOLIC_RISE_SD_S: Final = 0.045
SYSTOLIC_FALL_SD_S: Final = 0.08
DIASTOLIC_S: Final = 0.36  # reflected wave, after the dicrotic notch (~0.29 s)
DIASTOLIC_SD_S: Final = 0.06
DIASTOLIC_REL: Final = 0.38
RUNOFF_REL: Final = 0.25
PLETH_CENTRE: Final = 0.5  # normalised pleth sits around mid-scale
FULL_AMPLITUDE: Final = 0.7  # peak-to-foot of a normal pulse at full perfusion
PI_FULL_SCALE_PCT: Final = 5.0  # perfusion index that fills FULL_AMPLITUDE (well-perfused finger)
RESP_BASELINE_REL: Final = 0.06  # baseline swing with breathing, relative to pulse amplitude
RESP_AM_REL: Final = 0.10  # pulse amplitude modulation with breathing
BEAT_OFFSETS: Final = (-2, -1, 0, 1)


def pulse_transit_time_s(mean_pressure_mmhg: float | NDArray[np.float64]) -> NDArray[np.float64]:
    """R peak to finger pulse foot, in s, for a mean arterial pressure."""
    ptt = PTT_AT_REF_S - PTT_SLOPE_S_PER_MMHG * (np.asarray(mean_pressure_mmhg) - PTT_REF_MAP_MMHG)
    out: NDArray[np.float64] = np.clip(ptt, *PTT_RANGE_S)
    return out


def pulse_amplitude(perfusion_index_pct: NDArray[np.float64]) -> NDArray[np.float64]:
    """Normalised peak-to-foot pulse height for a perfusion index (linear, capped)."""
    out: NDArray[np.float64] = FULL_AMPLITUDE * np.clip(
        perfusion_index_pct / PI_FULL_SCALE_PCT, 0.0, 1.0
    )
    return out


def _kernel(tau_s: NDArray[np.float64], next_s: NDArray[np.float64]) -> NDArray[np.float64]:
    """One pulse at ``tau_s`` after its foot; ``next_s`` is the time to the next foot."""
    stretch = np.sqrt(np.clip(next_s / 0.85, 0.45, 1.3))
    d = tau_s - SYSTOLIC_PEAK_S
    sd = np.where(d < 0.0, SYSTOLIC_RISE_SD_S, SYSTOLIC_FALL_SD_S * stretch)
    systolic = np.exp(-0.5 * (d / sd) ** 2)
    diastolic = DIASTOLIC_REL * np.exp(
        -0.5 * ((tau_s - DIASTOLIC_S * stretch) / (DIASTOLIC_SD_S * stretch)) ** 2
    )
    onset = 0.5 * (1.0 + np.tanh((tau_s - 0.05) / 0.03))
    runoff = RUNOFF_REL * onset * np.clip(1.0 - tau_s / next_s, 0.0, 1.0) ** 1.5
    out: NDArray[np.float64] = systolic + diastolic + runoff
    return out


def _kernel_peak() -> float:
    tau = np.linspace(0.0, 0.5, 2001)
    return float(_kernel(tau, np.full_like(tau, 0.85)).max())


KERNEL_PEAK: Final = _kernel_peak()


def pulses(
    t_s: NDArray[np.float64], beats: BeatTable, ptt_s: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Sum of pulse kernels (1 = a normal pulse's peak) at ``t_s``; ``ptt_s`` is per beat."""
    t_s = np.asarray(t_s, dtype=np.float64)
    out = np.zeros(t_s.size)
    if len(beats) < 2 or t_s.size == 0:
        return out
    foot = beats.t_s + ptt_s
    next_s = np.append(np.diff(foot), 60.0 / 70.0)
    nearest = np.searchsorted(foot, t_s, side="right") - 1
    for offset in BEAT_OFFSETS:
        j = nearest + offset
        valid = (j >= 0) & (j < len(beats))
        jc = np.clip(j, 0, len(beats) - 1)
        tau = t_s - foot[jc]
        valid &= (tau >= -0.3) & (tau < next_s[jc] + 0.3)
        k = _kernel(tau, next_s[jc]) * beats.pulse_rel[jc]
        out += np.where(valid, k, 0.0)
    out /= KERNEL_PEAK
    return out


def pleth(
    t_s: NDArray[np.float64],
    beats: BeatTable,
    ptt_s: NDArray[np.float64],
    amplitude: NDArray[np.float64],
    resp_phase_rad: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Normalised pleth 0..1 (larger = more blood) at ``t_s``; ``amplitude`` is per sample."""
    wave = pulses(t_s, beats, ptt_s)
    am = 1.0 + RESP_AM_REL * np.sin(resp_phase_rad)
    baseline = RESP_BASELINE_REL * amplitude * np.sin(resp_phase_rad + 1.0)
    out: NDArray[np.float64] = np.clip(
        PLETH_CENTRE + amplitude * am * (wave - 0.45) + baseline, 0.0, 1.0
    )
    return out
