"""The simulated patient: one scenario (or a sequence of them) driving every device's signals.

    patient = Patient(load_scenario("hardware-sim/hwsim/scenarios/copd-exacerbation.toml"), seed=1)
    patient.vitals(90.0)                                  # VitalSigns at 90 s
    patient.ecg_uv(0.0, 2500, 250.0, ("I", "II", "V1"))   # (2500, 3) µV
    patient.pleth(0.0, 750, 75.0)                         # (750,) 0..1
    patient.forced_expiration_lps(100.0, "cough")         # one manoeuvre, L/s
    patient.switch(load_scenario(".../paroxysmal-af.toml"), at_t_s=300.0)

Everything is a pure function of time and the seed (except the spirometry attempt counter), so
any window, in any order and block size, gives the same samples. Beats come from
:class:`hwsim.beats.BeatTrain`, breathing is a phase integrated from the respiratory rate on a
fixed grid, and the ECG and pleth are evaluated from both. ``switch`` starts a new scenario's
timeline at ``at_t_s``: vitals cross-fade from the old to the new over ``blend_s``, beats
already committed (up to ``at_t_s + COMMIT_S``) are kept, and the breathing phase carries on,
so the signals stay continuous.

Artifacts act on electrodes (so Einthoven's law holds in noise as it does on a real patient)
and on the pleth; saturation clips the leads last, as an amplifier does.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from hwsim import artifacts, ecg_model, ppg_model, spiro_model
from hwsim.beats import START_S, BeatKind, BeatTable, BeatTrain, RhythmState
from hwsim.patient_api import VitalSigns
from hwsim.scenario import ELECTRODES, VITAL_LIMITS, Artifact, Scenario

BLEND_S: Final = 10.0  # vitals cross-fade after a scenario switch
COMMIT_S: Final = 1.0  # beats this far past a switch are already decided
RESP_DT_S: Final = 0.05  # breathing phase grid
RESP_CHUNK: Final = 1200  # grid points per extension (60 s)
RESP_MAX_CHUNKS: Final = 240  # grid kept in memory (4 h); older chunks are forgotten
PLETH_NOISE: Final = 0.002  # sensor noise on the normalised pleth
LOW_PERFUSION_NOISE: Final = 0.01
# profile -> (FVC relative to the scenario's, FEV1/FVC): textbook lungs on request.
PATTERN_PROFILES: Final = {"obstructive": (0.9, 0.50), "restrictive": (0.65, 0.85)}
ATTEMPT_SD: Final = 0.015  # spirometry attempt-to-attempt volume variation (relative)
# Slow wander (amplitude) of vitals around the scenario's values: real patients are never flat.
DRIFT: Final = {
    "systolic_mmhg": 3.0,
    "diastolic_mmhg": 2.0,
    "temperature_c": 0.05,
    "spo2_pct": 0.4,
    "resp_rate_bpm": 0.5,
}
DRIFT_PERIODS_S: Final = (97.0, 233.0, 541.0)
_STREAM_DRIFT: Final = 0xD1
_STREAM_SPIRO: Final = 0x5B


@dataclass(frozen=True, slots=True)
class _Epoch:
    start_s: float
    scenario: Scenario


@functools.cache
def reference_rms_mv(lead: str = "II") -> float:
    """RMS of a clean 60 bpm sinus ECG in ``lead`` (mV): the reference for artifact SNRs."""
    t_beats = np.arange(-2.0, 13.0)
    beats = BeatTable(
        t_beats, np.ones_like(t_beats), np.zeros(t_beats.size, np.int8), np.ones_like(t_beats)
    )
    x = ecg_model.ecg_uv(np.arange(0.0, 10.0, 0.002), beats, (lead,))[:, 0] / 1000.0
    return float(np.sqrt(np.mean((x - x.mean()) ** 2)))


class Patient:
    """A :class:`hwsim.patient_api.PatientSource` running scenario files."""

    def __init__(
        self, scenario: Scenario, seed: int = 0, *, drift: bool = True, blend_s: float = BLEND_S
    ) -> None:
        self.seed = seed
        self.drift = drift
        self.blend_s = blend_s
        self._epochs: list[_Epoch] = [_Epoch(0.0, scenario)]
        rng = np.random.default_rng([seed, _STREAM_DRIFT])
        self._drift_phase = rng.uniform(0.0, 2.0 * math.pi, (len(DRIFT), len(DRIFT_PERIODS_S)))
        self._resp_t = np.array([START_S - 2.0])
        self._resp_phase = np.array([float(rng.uniform(0.0, 2.0 * math.pi))])
        self._attempts = 0
        self.last_manoeuvre: spiro_model.Manoeuvre | None = None
        self._train = BeatTrain(seed, self)

    # --- scenario timeline ------------------------------------------------------------

    @property
    def scenario(self) -> Scenario:
        """The scenario started last."""
        return self._epochs[-1].scenario

    def switch(self, scenario: Scenario, at_t_s: float) -> None:
        """Run ``scenario`` from ``at_t_s`` (its own time 0), continuing the signals smoothly."""
        if at_t_s < self._epochs[-1].start_s:
            raise ValueError(
                f"cannot switch at {at_t_s} s: the current scenario started at "
                f"{self._epochs[-1].start_s} s"
            )
        self._epochs.append(_Epoch(at_t_s, scenario))
        keep = int(np.searchsorted(self._resp_t, at_t_s, side="right"))
        keep = max(1, keep)
        keep -= (keep - 1) % RESP_CHUNK  # back to a chunk boundary so growth stays aligned
        self._resp_t, self._resp_phase = self._resp_t[:keep], self._resp_phase[:keep]
        self._train.truncate(at_t_s + COMMIT_S)

    def _epoch_at(self, t_s: float) -> int:
        starts = [e.start_s for e in self._epochs]
        return max(0, int(np.searchsorted(starts, t_s, side="right")) - 1)

    def _values(self, key: str, t_s: NDArray[np.float64]) -> NDArray[np.float64]:
        """A vital's value at times t_s, following switches and their cross-fades."""
        out = self._epochs[0].scenario.values(key, t_s)
        for epoch in self._epochs[1:]:
            after = t_s >= epoch.start_s
            if not after.any():
                continue
            new = epoch.scenario.values(key, t_s - epoch.start_s)
            w = np.clip((t_s - epoch.start_s) / self.blend_s, 0.0, 1.0) if self.blend_s else 1.0
            out = np.where(after, (1.0 - w) * out + w * new, out)
        if self.drift and key in DRIFT:
            row = list(DRIFT).index(key)
            periods = np.array(DRIFT_PERIODS_S)
            phase = 2.0 * math.pi * t_s[..., None] / periods + self._drift_phase[row]
            out = out + DRIFT[key] * np.sin(phase).sum(axis=-1) / len(periods)
        lo, hi = VITAL_LIMITS[key]
        clipped: NDArray[np.float64] = np.clip(out, lo, hi)
        return clipped

    def _value(self, key: str, t_s: float) -> float:
        return float(self._values(key, np.array([t_s]))[0])

    # --- breathing and beats ----------------------------------------------------------

    def resp_phase_rad(self, t_s: NDArray[np.float64]) -> NDArray[np.float64]:
        """Breathing phase (0..pi inspiration) at t_s, integrated from the respiratory rate."""
        t_s = np.asarray(t_s, dtype=np.float64)
        if t_s.size and float(t_s.min()) < self._resp_t[0]:
            raise ValueError(
                f"breathing before {self._resp_t[0]:.1f} s is forgotten; asked for "
                f"{float(t_s.min()):.1f} s"
            )
        need = float(t_s.max()) if t_s.size else 0.0
        while self._resp_t[-1] < need + 1.0:
            t_new = self._resp_t[-1] + RESP_DT_S * np.arange(1, RESP_CHUNK + 1)
            rate_hz = self._values("resp_rate_bpm", np.concatenate(([self._resp_t[-1]], t_new)))
            rate_hz /= 60.0
            step = math.pi * (rate_hz[1:] + rate_hz[:-1]) * RESP_DT_S  # 2 pi * trapezoid
            self._resp_t = np.concatenate((self._resp_t, t_new))
            self._resp_phase = np.concatenate(
                (self._resp_phase, self._resp_phase[-1] + np.cumsum(step))
            )
            if self._resp_t.size > RESP_MAX_CHUNKS * RESP_CHUNK:
                self._resp_t = self._resp_t[RESP_CHUNK:]  # whole chunks keep growth aligned
                self._resp_phase = self._resp_phase[RESP_CHUNK:]
        out: NDArray[np.float64] = np.interp(t_s, self._resp_t, self._resp_phase)
        return out

    def rhythm_state(self, t_s: float) -> RhythmState:
        """What the beat generator needs at t_s (implements hwsim.beats.RhythmSource)."""
        epoch = self._epochs[self._epoch_at(t_s)]
        sc = epoch.scenario
        return RhythmState(
            hr_bpm=self._value("hr_bpm", t_s),
            rhythm=sc.rhythm_at(t_s - epoch.start_s),
            rr_sd_rel=sc.hrv.rr_sd_pct / 100.0,
            lf_hf_ratio=sc.hrv.lf_hf_ratio,
            af_rr_cv=sc.hrv.af_rr_cv_pct / 100.0,
            pvc_per_min=sc.ectopy.pvc_per_min,
            pac_per_min=sc.ectopy.pac_per_min,
            resp_phase_rad=float(self.resp_phase_rad(np.array([t_s]))[0]),
        )

    def beats(self, t0_s: float, t1_s: float) -> BeatTable:
        """Beats (R-peak times etc.) with t0_s <= t < t1_s."""
        return self._train.window(t0_s, t1_s)

    # --- PatientSource ----------------------------------------------------------------

    def vitals(self, t_s: float) -> VitalSigns:
        """True vital signs at t_s."""
        epoch = self._epochs[self._epoch_at(t_s)]
        v = {key: self._value(key, t_s) for key in VITAL_LIMITS}
        return VitalSigns(
            hr_bpm=v["hr_bpm"],
            spo2_pct=v["spo2_pct"],
            perfusion_index_pct=v["perfusion_index_pct"],
            systolic_mmhg=v["systolic_mmhg"],
            diastolic_mmhg=min(v["diastolic_mmhg"], v["systolic_mmhg"] - 10.0),
            temperature_c=v["temperature_c"],
            resp_rate_bpm=v["resp_rate_bpm"],
            weight_kg=v["weight_kg"],
            rhythm=epoch.scenario.rhythm_at(t_s - epoch.start_s),
        )

    def ecg_uv(
        self, t0_s: float, n: int, fs_hz: float, leads: Sequence[str]
    ) -> NDArray[np.float64]:
        """ECG samples t0_s + k / fs_hz, shape (n, len(leads)), in µV (with artifacts)."""
        weights = ecg_model.lead_matrix(leads)
        t = t0_s + np.arange(n) / fs_hz
        if n == 0:
            return np.zeros((0, len(leads)))
        beats = self._train.window(t[0] - 2.0, t[-1] + 1.5)
        dipole = ecg_model.dipole_mv(t, beats, resp_phase_rad=self.resp_phase_rad(t))
        governing = np.clip(np.searchsorted(beats.t_s, t, side="right") - 1, 0, None)
        af = (beats.kind[governing] == BeatKind.AF).astype(np.float64) if len(beats) else None
        if af is not None and af.any():
            fwave_uv = self._epochs[self._epoch_at(t0_s)].scenario.hrv.af_fwave_uv
            dipole += ecg_model.fwave_mv(t, fwave_uv, self.seed) * af[:, None]
        electrodes = ecg_model.electrodes_mv(dipole)
        rails: list[tuple[NDArray[np.bool_], float]] = []
        i0 = round(t0_s * fs_hz)
        for mask, stream, art in self._artifact_masks("ecg", t, fs_hz):
            if art.kind == "saturation":
                rails.append((mask, float(art.amplitude or 0.0)))
                continue
            for e_name in art.electrodes:
                e = ELECTRODES.index(e_name)
                noise = self._ecg_artifact(art, stream + e, i0, t, fs_hz)
                if art.kind == "lead-off":
                    electrodes[mask, e] = noise[mask]
                else:
                    electrodes[mask, e] += noise[mask]
        out: NDArray[np.float64] = (electrodes @ weights) * 1000.0
        for mask, rail_uv in rails:
            out[mask] = artifacts.saturate(out[mask], rail_uv)
        return out

    def pleth(self, t0_s: float, n: int, fs_hz: float) -> NDArray[np.float64]:
        """Normalised pleth (0..1, larger = more blood volume), shape (n,)."""
        t = t0_s + np.arange(n) / fs_hz
        if n == 0:
            return np.zeros(0)
        beats = self._train.window(t[0] - 2.5, t[-1] + 1.0)
        ptt = self.pulse_transit_time_s(beats.t_s)
        amplitude = ppg_model.pulse_amplitude(self._values("perfusion_index_pct", t))
        out = ppg_model.pleth(t, beats, ptt, amplitude, self.resp_phase_rad(t))
        i0 = round(t0_s * fs_hz)
        fs_key = round(fs_hz * 1000.0)
        out += PLETH_NOISE * artifacts.white(self.seed, hash((0x9E, fs_key)) & 0x7FFFFFFF, i0, n)
        for mask, stream, art in self._artifact_masks("pleth", t, fs_hz):
            level = float(art.amplitude or 0.0)
            if art.kind == "motion":
                out[mask] += level * artifacts.motion(self.seed, stream, t)[mask]
            elif art.kind == "low-perfusion":
                noise = artifacts.white(self.seed, stream, i0, n)
                out[mask] = artifacts.low_perfusion(
                    out[mask], level, noise[mask], LOW_PERFUSION_NOISE
                )
            else:  # finger-out
                out[mask] = artifacts.finger_out(self.seed, stream, i0, n)[mask]
        clipped: NDArray[np.float64] = np.clip(out, 0.0, 1.0)
        return clipped

    def forced_expiration_lps(self, fs_hz: float, profile: str = "normal") -> NDArray[np.float64]:
        """One manoeuvre by this patient; profile "normal" (good effort) or a spiro fault name.

        "obstructive" / "restrictive" ask for a textbook lung of that pattern instead of the
        scenario's (PATTERN_PROFILES, relative to the scenario's FVC), with good effort.
        Each call is a new attempt, varying volumes by about ATTEMPT_SD; the truth of the last
        one (FVC, FEV1 …) is kept in ``last_manoeuvre``."""
        spiro = self.scenario.spirometry
        fvc_l, fev1_l, pef_lps, pattern = spiro.fvc_l, spiro.fev1_l, spiro.pef_lps, spiro.pattern
        fault = "none" if profile == "normal" else profile
        if profile in PATTERN_PROFILES:
            fvc_rel, ratio = PATTERN_PROFILES[profile]
            fvc_l, pattern, fault, pef_lps = fvc_l * fvc_rel, profile, "none", None
            fev1_l = fvc_l * ratio
        if fault not in spiro_model.FAULTS:
            raise ValueError(
                f"unknown spirometry profile {profile!r}: expected one of "
                f"{['normal', *spiro_model.FAULTS[1:], *PATTERN_PROFILES]}"
            )
        m = spiro_model.manoeuvre(fs_hz, fvc_l, fev1_l, pef_lps, pattern=pattern, fault=fault)
        rng = np.random.default_rng([self.seed, _STREAM_SPIRO, self._attempts])
        self._attempts += 1
        factor = 1.0 + ATTEMPT_SD * float(np.clip(rng.standard_normal(), -2.5, 2.5))
        self.last_manoeuvre = spiro_model.scaled(m, factor)
        return self.last_manoeuvre.flow_lps

    # --- helpers for devices and tests ------------------------------------------------

    def pulse_transit_time_s(self, t_s: NDArray[np.float64]) -> NDArray[np.float64]:
        """R peak to finger pulse foot at t_s, from the mean arterial pressure then."""
        t_s = np.asarray(t_s, dtype=np.float64)
        sys_mmhg = self._values("systolic_mmhg", t_s)
        dia_mmhg = self._values("diastolic_mmhg", t_s)
        return ppg_model.pulse_transit_time_s(dia_mmhg + (sys_mmhg - dia_mmhg) / 3.0)

    def active_artifacts(self, target: str, t_s: float) -> tuple[Artifact, ...]:
        """Artifacts on "ecg" or "pleth" at t_s (a device can show "finger out", "lead off")."""
        epoch = self._epochs[self._epoch_at(t_s)]
        return epoch.scenario.active_artifacts(target, t_s - epoch.start_s)

    def finger_out(self, t_s: float) -> bool:
        """Is the finger out of the oximeter probe at t_s?"""
        return any(a.kind == "finger-out" for a in self.active_artifacts("pleth", t_s))

    def _artifact_masks(
        self, target: str, t: NDArray[np.float64], fs_hz: float
    ) -> list[tuple[NDArray[np.bool_], int, Artifact]]:
        """(sample mask, noise stream, artifact) for each artifact touching the window."""
        out = []
        fs_key = round(fs_hz * 1000.0)
        for i, epoch in enumerate(self._epochs):
            end = self._epochs[i + 1].start_s if i + 1 < len(self._epochs) else math.inf
            for j, art in enumerate(epoch.scenario.artifacts):
                if art.target != target:
                    continue
                lo = max(epoch.start_s + art.start_s, epoch.start_s)
                hi = min(epoch.start_s + art.end_s, end)
                mask = (t >= lo) & (t < hi)
                if mask.any():
                    stream = hash((i, j, fs_key)) & 0x7FFFFF00  # + electrode index
                    out.append((mask, stream, art))
        return out

    def _ecg_artifact(
        self, art: Artifact, stream: int, i0: int, t: NDArray[np.float64], fs_hz: float
    ) -> NDArray[np.float64]:
        """One electrode's artifact (mV) over the window."""
        if art.kind == "lead-off":
            return artifacts.lead_off(self.seed, stream, i0, t)
        if art.snr_db is not None:  # two electrodes' independent noise add in a lead
            level_mv = artifacts.rms_for_snr(reference_rms_mv(), art.snr_db) / math.sqrt(2.0)
        else:
            level_mv = float(art.amplitude or 0.0) / 1000.0
        if art.kind == "emg":
            return level_mv * artifacts.emg(self.seed, stream, i0, t.size, fs_hz)
        if art.kind == "motion":
            return level_mv * artifacts.motion(self.seed, stream, t)
        if art.kind == "wander":
            return level_mv * artifacts.wander(self.seed, stream, t)
        return level_mv * artifacts.mains(self.seed, stream, t)
