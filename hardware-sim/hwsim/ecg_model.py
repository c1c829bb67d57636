"""Multi-lead ECG as a pure function of time and a beat list: Gaussian waves on a heart dipole.

Each beat is a sum of Gaussian P, Q, R, S and T waves, as in ECGSYN (McSharry et al., IEEE
Trans. Biomed. Eng. 50 (2003) 289, table I: P, Q, R, S, T at -70, -15, 0, 15, 100 degrees of
a 1 s cycle with widths 0.25, 0.1, 0.1, 0.1, 0.4 rad). Here the waves are written directly in
seconds around the R peak, and each wave carries a 3-D heart vector (x = patient's left, y =
feet, z = front) instead of a scalar amplitude, as in the 3-D extension of ECGSYN (Sayadi,
Shamsollahi & Clifford, IEEE TBME 57 (2010) 1234). Electrode potentials are the dipole
projected on each electrode's direction, and leads are electrode differences, so Einthoven's
law (II = I + III) and Goldberger's (aVR + aVL + aVF = 0) hold by construction, with or
without electrode noise added in between.

Timing: T position and width scale with sqrt(RR) (Bazett), the PR interval with RR^0.3.
A PVC has no P wave, a wide QRS (~140 ms) with its own axis and a discordant T; a PAC has an
inverted (low atrial) P wave; AF beats have no P wave and the caller adds fibrillatory f waves
(4-8 Hz, frequency-modulated) with ``af_weight``. Breathing modulates the QRS amplitude a
little (about 5 %), as the heart's axis moves with the diaphragm.

Units: the model works in mV; ``ecg_uv`` returns µV.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
from numpy.typing import NDArray

from hwsim.beats import BeatKind, BeatTable

ELECTRODES: Final = ("RA", "LA", "LL", "V1", "V2", "V3", "V4", "V5", "V6")
LEADS: Final = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
PRECORDIAL_GAIN: Final = 1.6  # chest electrodes sit closer to the heart than the limbs
PRECORDIAL_ANGLE_DEG: Final = (115.0, 94.0, 75.0, 60.0, 30.0, 0.0)  # from left towards front
RESP_QRS_MOD: Final = 0.05  # relative QRS amplitude change with breathing
FWAVE_HZ: Final = 6.0  # AF fibrillatory rate (4-8 Hz in the literature)
BEAT_OFFSETS: Final = (-2, -1, 0, 1)  # beats around each sample whose waves can reach it

# Waves P, Q, R, S, T: centre (s from R at RR = 1 s), Gaussian sd (s), heart vector (mV).
_SINUS: Final = (
    (-0.200, 0.025, (0.07, 0.12, 0.02)),
    (-0.035, 0.010, (-0.12, 0.00, 0.10)),
    (0.000, 0.011, (0.65, 0.85, -0.15)),
    (0.035, 0.011, (-0.15, -0.12, -0.35)),
    (0.280, 0.055, (0.18, 0.22, 0.12)),
)
_PVC: Final = (
    (-0.200, 0.025, (0.0, 0.0, 0.0)),
    (-0.030, 0.020, (-0.10, 0.10, 0.15)),
    (0.020, 0.035, (0.90, 0.30, -0.60)),
    (0.090, 0.030, (-0.30, 0.20, 0.30)),
    (0.320, 0.070, (-0.40, -0.15, 0.25)),
)
_PAC_P: Final = (-0.170, 0.022, (0.05, -0.09, 0.03))
_KIND_WAVES: Final = {
    BeatKind.SINUS: _SINUS,
    BeatKind.AF: ((-0.200, 0.025, (0.0, 0.0, 0.0)), *_SINUS[1:]),
    BeatKind.PAC: (_PAC_P, *_SINUS[1:]),
    BeatKind.PVC: _PVC,
}
_FWAVE_VEC: Final = np.array([0.25, 0.35, 1.0]) / (1.0 * PRECORDIAL_GAIN * 0.906)


def _electrode_matrix() -> NDArray[np.float64]:
    """(3, 9): electrode potential = dipole · column."""
    limb = [
        (math.cos(math.radians(a)) / math.sqrt(3.0), math.sin(math.radians(a)) / math.sqrt(3.0))
        for a in (-150.0, -30.0, 90.0)  # RA, LA, LL on the frontal plane (y = feet)
    ]
    cols = [(x, y, 0.0) for x, y in limb]
    for angle in PRECORDIAL_ANGLE_DEG:
        a = math.radians(angle)
        cols.append((PRECORDIAL_GAIN * math.cos(a), 0.0, PRECORDIAL_GAIN * math.sin(a)))
    return np.array(cols).T


def _lead_matrix() -> dict[str, NDArray[np.float64]]:
    """Lead name -> weights over the 9 electrodes."""
    eye = np.eye(len(ELECTRODES))
    ra, la, ll = eye[0], eye[1], eye[2]
    wct = (ra + la + ll) / 3.0  # Wilson's central terminal
    out = {
        "I": la - ra,
        "II": ll - ra,
        "III": ll - la,
        "aVR": ra - (la + ll) / 2.0,
        "aVL": la - (ra + ll) / 2.0,
        "aVF": ll - (ra + la) / 2.0,
    }
    for k in range(1, 7):
        out[f"V{k}"] = eye[2 + k] - wct
    return out


ELECTRODE_MATRIX: Final = _electrode_matrix()
LEAD_WEIGHTS: Final = _lead_matrix()


def lead_matrix(leads: Sequence[str]) -> NDArray[np.float64]:
    """(9, len(leads)) weights; raises ValueError naming an unknown lead."""
    for lead in leads:
        if lead not in LEAD_WEIGHTS:
            raise ValueError(f"unknown ECG lead {lead!r}: expected one of {list(LEADS)}")
    return np.array([LEAD_WEIGHTS[lead] for lead in leads]).reshape(len(leads), -1).T


def _wave_params(
    beats: BeatTable,
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Per beat and wave: centre (s from R), sd (s), heart vector (mV).

    Shapes (B, 5), (B, 5) and (B, 5, 3)."""
    n = len(beats)
    mu = np.empty((n, 5))
    sd = np.empty((n, 5))
    vec = np.empty((n, 5, 3))
    for kind, waves in _KIND_WAVES.items():
        sel = beats.kind == kind
        if not sel.any():
            continue
        mu[sel] = [w[0] for w in waves]
        sd[sel] = [w[1] for w in waves]
        vec[sel] = [w[2] for w in waves]
    rr = np.clip(beats.rr_s, 0.3, 2.0)
    qt = np.sqrt(rr)
    mu[:, 4] *= qt
    sd[:, 4] *= qt
    mu[:, 0] *= rr**0.3
    return mu, sd, vec


def dipole_mv(
    t_s: NDArray[np.float64],
    beats: BeatTable,
    *,
    resp_phase_rad: NDArray[np.float64] | None = None,
) -> NDArray[np.float64]:
    """Heart vector (n, 3) in mV at ``t_s``; pass the beats from ~1 s either side too."""
    t_s = np.asarray(t_s, dtype=np.float64)
    out = np.zeros((t_s.size, 3))
    if len(beats) == 0 or t_s.size == 0:
        return out
    mu, sd, vec = _wave_params(beats)
    nearest = np.searchsorted(beats.t_s, t_s, side="right") - 1
    for offset in BEAT_OFFSETS:
        j = nearest + offset
        valid = (j >= 0) & (j < len(beats))
        jc = np.clip(j, 0, len(beats) - 1)
        dt = (t_s - beats.t_s[jc])[:, None]
        g = np.exp(-0.5 * ((dt - mu[jc]) / sd[jc]) ** 2) * valid[:, None]
        out += np.einsum("nw,nwc->nc", g, vec[jc])
    if resp_phase_rad is not None:
        out *= (1.0 + RESP_QRS_MOD * np.sin(resp_phase_rad))[:, None]
    return out


def fwave_mv(t_s: NDArray[np.float64], amplitude_uv: float, seed: int) -> NDArray[np.float64]:
    """AF fibrillatory activity as a heart vector (n, 3), about ``amplitude_uv`` peak in V1."""
    rng = np.random.default_rng([seed, 0xAF])
    ph = rng.uniform(0.0, 2.0 * math.pi, 4)
    t_s = np.asarray(t_s, dtype=np.float64)
    # 6 Hz carrier, frequency wandering ±1 Hz at 0.2 Hz, amplitude wandering ±30 %.
    phase = 2.0 * math.pi * FWAVE_HZ * t_s + 5.0 * np.sin(2.0 * math.pi * 0.2 * t_s + ph[0])
    wave = np.sin(phase + ph[1]) + 0.3 * np.sin(2.0 * phase + ph[2])
    wave *= 0.7 + 0.3 * np.sin(2.0 * math.pi * 0.13 * t_s + ph[3])
    out: NDArray[np.float64] = (amplitude_uv / 1000.0 / 1.3) * wave[:, None] * _FWAVE_VEC
    return out


def electrodes_mv(dipole: NDArray[np.float64]) -> NDArray[np.float64]:
    """Electrode potentials (n, 9) in mV from the heart vector (n, 3)."""
    out: NDArray[np.float64] = dipole @ ELECTRODE_MATRIX
    return out


def leads_uv(electrodes: NDArray[np.float64], leads: Sequence[str]) -> NDArray[np.float64]:
    """Leads (n, len(leads)) in µV from electrode potentials in mV."""
    out: NDArray[np.float64] = (electrodes @ lead_matrix(leads)) * 1000.0
    return out


def ecg_uv(
    t_s: NDArray[np.float64],
    beats: BeatTable,
    leads: Sequence[str] = ("I", "II", "III"),
    *,
    resp_phase_rad: NDArray[np.float64] | None = None,
    af_weight: NDArray[np.float64] | None = None,
    fwave_uv: float = 60.0,
    seed: int = 0,
) -> NDArray[np.float64]:
    """Clean ECG (n, len(leads)) in µV at times ``t_s``: a pure function of its arguments."""
    lead_matrix(leads)  # fail on a bad lead before computing anything
    dipole = dipole_mv(t_s, beats, resp_phase_rad=resp_phase_rad)
    if af_weight is not None and fwave_uv > 0.0 and np.any(af_weight > 0.0):
        dipole += fwave_mv(t_s, fwave_uv, seed) * af_weight[:, None]
    return leads_uv(electrodes_mv(dipole), leads)
