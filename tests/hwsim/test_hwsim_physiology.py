"""hwsim.physiology: seeded pleth and SpO2 generators."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hwsim.physiology import (
    FS_HZ,
    PLETH_FLAT_LSB,
    PlethGenerator,
    Spo2Drift,
    pulse_template,
    spo2_series,
    synth_pleth,
)
from numpy.typing import NDArray


def peak_rate_bpm(x: NDArray[np.uint8], fs_hz: float) -> float:
    """Pulse rate by counting upstrokes: the detrended signal rises above its 70th percentile
    after having been below its 30th (hysteresis keeps the dicrotic wave from counting)."""
    v = x.astype(np.float64)
    window = int(2.0 * fs_hz)
    v = v - np.convolve(v, np.ones(window) / window, mode="same")  # remove baseline wander
    v = v[window:-window]
    upper, lower = np.percentile(v, 70), np.percentile(v, 30)
    beats: list[int] = []
    armed = False
    for i, value in enumerate(v):
        if value < lower:
            armed = True
        elif value > upper and armed:
            beats.append(i)
            armed = False
    intervals_s = np.diff(beats) / fs_hz
    return float(60.0 / intervals_s.mean())


def fft_rate_bpm(x: NDArray[np.uint8], fs_hz: float) -> float:
    v = x.astype(np.float64) - x.mean()
    spectrum = np.abs(np.fft.rfft(v * np.hanning(len(v))))
    freqs = np.fft.rfftfreq(len(v), 1.0 / fs_hz)
    band = (freqs > 0.5) & (freqs < 5.0)  # 30..300 bpm
    return float(freqs[band][np.argmax(spectrum[band])] * 60.0)


@pytest.mark.parametrize("hr_bpm", [40.0, 60.0, 72.0, 95.0, 120.0, 160.0])
def test_pulse_rate_by_peak_counting(hr_bpm: float) -> None:
    x = synth_pleth(60.0, hr_bpm=hr_bpm, seed=11)
    assert abs(peak_rate_bpm(x, FS_HZ) - hr_bpm) <= 2.0


@pytest.mark.parametrize("hr_bpm", [50.0, 72.0, 130.0])
def test_pulse_rate_by_fft(hr_bpm: float) -> None:
    x = synth_pleth(60.0, hr_bpm=hr_bpm, seed=12)
    assert abs(fft_rate_bpm(x, FS_HZ) - hr_bpm) <= 2.0


def test_values_stay_in_range_without_clipping_at_normal_perfusion() -> None:
    x = synth_pleth(30.0, hr_bpm=80.0, seed=3, perfusion=0.6)
    assert x.dtype == np.uint8
    assert x.min() > 0 and x.max() < 255  # room left: no clipping
    assert x.max() - x.min() > 100  # a visible pulse


def test_full_perfusion_and_artifact_clip_to_byte_range() -> None:
    x = synth_pleth(30.0, hr_bpm=80.0, seed=3, perfusion=1.0, artifact_lsb=80.0)
    assert x.dtype == np.uint8 and len(x) == 30 * 75


def test_seeded_reproducibility() -> None:
    a = synth_pleth(10.0, hr_bpm=72.0, seed=5)
    b = synth_pleth(10.0, hr_bpm=72.0, seed=5)
    c = synth_pleth(10.0, hr_bpm=72.0, seed=6)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_chunking_does_not_change_the_stream() -> None:
    whole = PlethGenerator(9).generate(750, hr_bpm=72.0, amplitude_lsb=120.0)
    gen = PlethGenerator(9)
    parts = [gen.generate(25, hr_bpm=72.0, amplitude_lsb=120.0) for _ in range(30)]
    assert np.array_equal(whole.samples, np.concatenate([p.samples for p in parts]))
    onsets = [i * 25 + o for i, p in enumerate(parts) for o in p.beat_onsets]
    assert onsets == list(whole.beat_onsets)


def test_beat_onsets_and_intervals_match_rate() -> None:
    gen = PlethGenerator(4, hrv_rel=0.0)
    chunk = gen.generate(75 * 20, hr_bpm=75.0, amplitude_lsb=120.0)
    assert chunk.rr_intervals_s and all(rr == pytest.approx(0.8) for rr in chunk.rr_intervals_s)
    assert np.diff(chunk.beat_onsets).tolist() == [60] * (len(chunk.beat_onsets) - 1)


def test_beat_to_beat_variability_is_present_but_small() -> None:
    chunk = PlethGenerator(4).generate(75 * 120, hr_bpm=60.0, amplitude_lsb=120.0)
    rr = np.array(chunk.rr_intervals_s)
    assert 0.005 < rr.std() / rr.mean() < 0.08


def test_pulse_has_upstroke_peak_notch_and_diastolic_wave() -> None:
    phase = np.linspace(0.0, 1.0, 1001)[:-1]
    y = pulse_template(phase)
    d = np.diff(y)
    maxima = np.where((d[:-1] > 0) & (d[1:] <= 0))[0] + 1
    minima = np.where((d[:-1] < 0) & (d[1:] >= 0))[0] + 1
    assert len(maxima) == 2 and len(minima) == 1  # systolic peak, notch, diastolic peak
    systolic, diastolic = maxima
    assert y[systolic] == pytest.approx(1.0, abs=1e-3)
    assert systolic < minima[0] < diastolic
    assert 0.2 < y[diastolic] < y[systolic]
    # Upstroke steeper than the fall
    assert d.max() > 1.5 * -d.min()
    assert y[0] < 0.01 and y[-1] < 0.01  # beats join without a step


def test_respiration_modulates_the_baseline() -> None:
    x = synth_pleth(120.0, hr_bpm=72.0, seed=8).astype(np.float64)
    beat = int(FS_HZ * 60 / 72)
    smooth = np.convolve(x, np.ones(beat) / beat, mode="valid")  # removes the pulse
    freqs = np.fft.rfftfreq(len(smooth), 1.0 / FS_HZ)
    spectrum = np.abs(np.fft.rfft(smooth - smooth.mean()))
    band = (freqs > 0.1) & (freqs < 0.6)
    assert freqs[band][np.argmax(spectrum[band])] == pytest.approx(15 / 60, abs=0.02)


def test_flat_when_sensor_off_but_heart_keeps_beating() -> None:
    gen = PlethGenerator(1)
    chunk = gen.generate(300, hr_bpm=72.0, amplitude_lsb=120.0, flat=True)
    assert set(chunk.samples.tolist()) == {PLETH_FLAT_LSB}
    assert len(chunk.beat_onsets) >= 4


def test_generator_refuses_impossible_rate() -> None:
    with pytest.raises(ValueError, match=re.escape("outside the generator's 20..300 bpm")):
        PlethGenerator(1).generate(10, hr_bpm=400.0, amplitude_lsb=100.0)


def test_spo2_drifts_slowly_around_target() -> None:
    series = spo2_series(600.0, target_pct=95.0, seed=2)
    assert abs(series.mean() - 95.0) < 0.5
    assert 0.2 < series.std() < 1.0
    assert np.abs(np.diff(series)).max() < 1.0  # slow: under 1 % per second
    assert np.array_equal(series, spo2_series(600.0, target_pct=95.0, seed=2))


def test_spo2_capped_at_100() -> None:
    series = spo2_series(300.0, target_pct=99.8, seed=2, sd_pct=1.0)
    assert series.max() <= 100.0


def test_spo2_follows_a_new_target() -> None:
    drift = Spo2Drift(3, 97.0, sd_pct=0.0)
    assert drift.step(1.0) == 97.0
    drift.target_pct = 88.0
    assert drift.step(1.0) == 88.0
