"""Seeded physiological signals: a believable PPG (pleth) waveform and a slowly drifting SpO2.

The pulse is the sum of a skewed systolic wave (steep upstroke, slower fall) and a smaller
reflected (diastolic) wave, which leaves a dicrotic notch between them; breathing modulates the
baseline, the amplitude and (sinus arrhythmia) the beat intervals; beat intervals also vary
at random; a little sensor noise is added. Motion artifact is low-pass filtered noise of a
given size. Everything is streamed in chunks from one seeded generator, so a run is
reproducible and the same
whichever way it is cut into chunks.

Sources (shape and sizes, not code): J. Allen, "Photoplethysmography and its application in
clinical physiological measurement", Physiol. Meas. 28 (2007) R1 (pulse morphology, respiratory
baseline/amplitude modulation); P. Charlton et al., "Extraction of respiratory signals from the
electrocardiogram and photoplethysmogram: technical and physiological determinants",
Physiol. Meas. 38 (2017) 669 (baseline wander, AM and FM by respiration).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

FS_HZ: Final = 75.0  # Nonin format #2 pleth rate: one sample per frame
PLETH_CENTRE_LSB: Final = 128.0
PLETH_FLAT_LSB: Final = 128  # what the oximeter draws with no sensor signal
FULL_PULSE_LSB: Final = 200.0  # pulse height at perfusion 1.0, leaves room for breathing
RR_MIN_S: Final = 60.0 / 300.0  # keep generated beats within a physiological 20..300 bpm
RR_MAX_S: Final = 60.0 / 20.0


@dataclass(frozen=True, slots=True)
class PulseShape:
    """One beat over phase 0..1 (fractions of the beat interval, no units)."""

    systolic_phase: float = 0.20
    systolic_rise: float = 0.055  # Gaussian sigma before the peak: steep upstroke
    systolic_fall: float = 0.09  # sigma after the peak
    diastolic_phase: float = 0.50
    diastolic_width: float = 0.07
    diastolic_rel: float = 0.38  # reflected wave height relative to the systolic one
    runoff_rel: float = 0.30  # slow diastolic run-off that reaches the foot at the next beat


def _raw_template(phase: NDArray[np.float64], shape: PulseShape) -> NDArray[np.float64]:
    d = phase - shape.systolic_phase
    sigma = np.where(d < 0.0, shape.systolic_rise, shape.systolic_fall)
    systolic = np.exp(-0.5 * (d / sigma) ** 2)
    diastolic = shape.diastolic_rel * np.exp(
        -0.5 * ((phase - shape.diastolic_phase) / shape.diastolic_width) ** 2
    )
    # Smooth step up at the upstroke, then (1 - phase)^1.5 down to zero at the next foot.
    onset = 0.5 * (1.0 + np.tanh((phase - (shape.systolic_phase - 0.02)) / 0.03))
    runoff = shape.runoff_rel * onset * (1.0 - phase) ** 1.5
    out: NDArray[np.float64] = systolic + diastolic + runoff
    return out


@functools.cache
def _template_peak(shape: PulseShape) -> float:
    return float(_raw_template(np.linspace(0.0, 1.0, 1001), shape).max())


def pulse_template(
    phase: NDArray[np.float64], shape: PulseShape = PulseShape()
) -> NDArray[np.float64]:
    """Pulse height (~0 at the foot, 1 at the systolic peak) at each beat phase in [0, 1)."""
    out: NDArray[np.float64] = _raw_template(phase, shape) / _template_peak(shape)
    return out


@dataclass(frozen=True, slots=True)
class PlethChunk:
    """A stretch of pleth samples and the beats that began in it."""

    samples: NDArray[np.uint8]
    beat_onsets: tuple[int, ...]  # sample indices (in this chunk) where a new beat began
    rr_intervals_s: tuple[float, ...]  # length of the beat that ended at each onset


class PlethGenerator:
    """Streams a PPG waveform sample by sample from a seeded random generator."""

    def __init__(
        self,
        seed: int | np.random.Generator,
        *,
        fs_hz: float = FS_HZ,
        resp_rate_per_min: float = 15.0,
        hrv_rel: float = 0.03,
        noise_lsb: float = 0.6,
        shape: PulseShape = PulseShape(),
    ) -> None:
        self._rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.fs_hz = fs_hz
        self.resp_rate_per_min = resp_rate_per_min
        self.hrv_rel = hrv_rel  # random beat-to-beat variation and sinus arrhythmia, relative
        self.noise_lsb = noise_lsb
        self.shape = shape
        self._beat_phase = float(self._rng.uniform(0.0, 1.0))
        self._resp_phase_rad = float(self._rng.uniform(0.0, 2.0 * math.pi))
        self._period_s: float | None = None
        # Motion artifact: white noise through two one-pole low-passes (~1.5 Hz corner),
        # scaled to unit standard deviation.
        self._artifact_state = (0.0, 0.0)
        pole = math.exp(-2.0 * math.pi * 1.5 / fs_hz)
        self._artifact_pole = pole
        # Variance of white noise through two identical one-pole stages: (1-p)^4 (1+p^2)/(1-p^2)^3
        self._artifact_norm = 1.0 / math.sqrt((1 - pole) ** 4 * (1 + pole**2) / (1 - pole**2) ** 3)

    def _next_period_s(self, hr_bpm: float) -> float:
        mean_s = 60.0 / hr_bpm
        jitter = 1.0 + self.hrv_rel * float(self._rng.standard_normal())
        # Sinus arrhythmia: intervals shorten on inspiration.
        rsa = 1.0 - self.hrv_rel * math.sin(self._resp_phase_rad)
        return min(max(mean_s * jitter * rsa, RR_MIN_S), RR_MAX_S)

    def generate(
        self,
        n_samples: int,
        *,
        hr_bpm: float,
        amplitude_lsb: float,
        artifact_lsb: float = 0.0,
        flat: bool = False,
    ) -> PlethChunk:
        """The next n_samples; flat (sensor off) draws a constant but keeps the heart beating."""
        if not 20.0 <= hr_bpm <= 300.0:
            raise ValueError(f"hr_bpm={hr_bpm} is outside the generator's 20..300 bpm")
        dt_s = 1.0 / self.fs_hz
        resp_step_rad = 2.0 * math.pi * self.resp_rate_per_min / 60.0 * dt_s
        if self._period_s is None:
            self._period_s = self._next_period_s(hr_bpm)
        phases = np.empty(n_samples)
        resp = np.empty(n_samples)
        noise = np.empty(n_samples)
        artifact = np.empty(n_samples)
        onsets: list[int] = []
        rr: list[float] = []
        pole = self._artifact_pole
        first, second = self._artifact_state
        # Sample by sample, drawing the same random numbers whatever the scenario, so that
        # the stream depends only on the seed and not on how it is cut into chunks.
        for i in range(n_samples):
            self._beat_phase += dt_s / self._period_s
            if self._beat_phase >= 1.0:
                self._beat_phase -= 1.0
                onsets.append(i)
                rr.append(self._period_s)
                self._period_s = self._next_period_s(hr_bpm)
            self._resp_phase_rad = (self._resp_phase_rad + resp_step_rad) % (2.0 * math.pi)
            phases[i] = self._beat_phase
            resp[i] = self._resp_phase_rad
            noise[i] = self._rng.standard_normal()
            first = pole * first + (1.0 - pole) * float(self._rng.standard_normal())
            second = pole * second + (1.0 - pole) * first
            artifact[i] = second * self._artifact_norm
        self._artifact_state = (first, second)
        if flat:
            samples = np.full(n_samples, PLETH_FLAT_LSB, dtype=np.uint8)
            return PlethChunk(samples, tuple(onsets), tuple(rr))
        am = 1.0 + 0.10 * np.sin(resp)  # respiratory amplitude modulation
        baseline = 0.06 * amplitude_lsb * np.sin(resp + 1.0)  # respiratory baseline wander
        wave = (pulse_template(phases, self.shape) - 0.5) * amplitude_lsb * am
        value = (
            PLETH_CENTRE_LSB + wave + baseline + self.noise_lsb * noise + artifact_lsb * artifact
        )
        samples = np.clip(np.rint(value), 0, 255).astype(np.uint8)
        return PlethChunk(samples, tuple(onsets), tuple(rr))


def synth_pleth(
    duration_s: float,
    *,
    hr_bpm: float,
    seed: int,
    fs_hz: float = FS_HZ,
    perfusion: float = 0.6,
    artifact_lsb: float = 0.0,
    hrv_rel: float = 0.03,
) -> NDArray[np.uint8]:
    """A whole pleth recording in one call (tests, plots)."""
    generator = PlethGenerator(seed, fs_hz=fs_hz, hrv_rel=hrv_rel)
    n_samples = round(duration_s * fs_hz)
    chunk = generator.generate(
        n_samples,
        hr_bpm=hr_bpm,
        amplitude_lsb=perfusion * FULL_PULSE_LSB,
        artifact_lsb=artifact_lsb,
    )
    return chunk.samples


class Spo2Drift:
    """True SpO2: the set target plus a slow Ornstein-Uhlenbeck wander, capped at 100 %."""

    def __init__(
        self,
        seed: int | np.random.Generator,
        target_pct: float,
        *,
        tau_s: float = 20.0,
        sd_pct: float = 0.5,
    ) -> None:
        self._rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        self.target_pct = target_pct
        self.tau_s = tau_s
        self.sd_pct = sd_pct
        self._deviation_pct = 0.0

    def step(self, dt_s: float) -> float:
        """Advance dt_s seconds and return the SpO2 now, in percent."""
        decay = math.exp(-dt_s / self.tau_s)
        spread = self.sd_pct * math.sqrt(1.0 - decay * decay)
        self._deviation_pct = self._deviation_pct * decay + spread * float(
            self._rng.standard_normal()
        )
        return min(max(self.target_pct + self._deviation_pct, 0.0), 100.0)


def spo2_series(
    duration_s: float, *, target_pct: float, seed: int, dt_s: float = 1.0, sd_pct: float = 0.5
) -> NDArray[np.float64]:
    """SpO2 every dt_s seconds for duration_s (tests, plots)."""
    drift = Spo2Drift(seed, target_pct, sd_pct=sd_pct)
    return np.array([drift.step(dt_s) for _ in range(round(duration_s / dt_s))])
