"""PPG pulse detection: our streaming analyzer against neurokit2 on the same simulated pleth.

Run: ``.venv/bin/python bench/bench_ppg.py``. Signals: 10 min of Nonin-style 8-bit pleth at
75 Hz from the independent simulator (``hwsim.physiology``), clean and with motion bursts
(simulator artifact noise, 2/3 of the pulse size, 4 s every 30 s). Prints milliseconds of CPU
per minute of pleth (ours fed in 0.25-s blocks as the engine does, plus one ``assess()`` per
block; neurokit2 ``ppg_clean`` + ``ppg_findpeaks``, Elgendi method, on the whole span at once),
microseconds per ``assess()`` call, and Se / +P / F1 of each against the simulator's systolic
peaks and of neurokit2 against ours (100 ms match window).
"""

from __future__ import annotations

import time
import warnings

import neurokit2 as nk
import numpy as np
from hwsim.physiology import PlethGenerator, PulseShape
from numpy.typing import NDArray

from gateway.signals.ecg_quality import match_beats
from gateway.signals.ppg import PpgAnalyzer
from gateway.signals.ppg_pulse import PulseDetector

FS = 75.0
SPAN_S = 600.0
BLOCK = round(0.25 * FS)
MATCH_S = 0.10
SEED = 7


def _signal(hr_bpm: float, motion: bool) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    gen = PlethGenerator(SEED)
    chunk = gen.generate(round(SPAN_S * FS), hr_bpm=hr_bpm, amplitude_lsb=120.0)
    x = chunk.samples.astype(np.float64)
    onsets = np.asarray(chunk.beat_onsets, dtype=np.int64)
    rr = np.asarray(chunk.rr_intervals_s[1:])
    peaks = onsets[:-1] + np.round(PulseShape().systolic_phase * rr * FS).astype(np.int64)
    if motion:
        art = PlethGenerator(SEED + 1).generate(
            x.size, hr_bpm=75.0, amplitude_lsb=0.0, artifact_lsb=80.0
        )
        noise = art.samples.astype(np.float64) - 128.0
        for start_s in np.arange(15.0, SPAN_S, 30.0):
            a, b = round(start_s * FS), round((start_s + 4.0) * FS)
            x[a:b] += noise[a:b]
        x = np.clip(x, 0.0, 255.0)
    return x, peaks


def _ours(x: NDArray[np.float64]) -> tuple[NDArray[np.int64], float, float]:
    """Peaks, CPU seconds for feed + assess (10-s window), mean wall µs per assess()."""
    ana = PpgAnalyzer(FS, window_s=10.0)
    t_assess = 0.0
    n_assess = 0
    t0 = time.process_time()
    for k in range(0, x.size, BLOCK):
        ana.feed(x[k : k + BLOCK])
        t1 = time.perf_counter()
        ana.assess(device_pulse_bpm=75.0)
        t_assess += time.perf_counter() - t1
        n_assess += 1
    total = time.process_time() - t0
    # The same detector, untimed, to collect every peak (the analyzer keeps only its window).
    det = PulseDetector(FS)
    pulses = [p for k in range(0, x.size, BLOCK) for p in det.feed(x[k : k + BLOCK])]
    pulses += det.flush()
    peaks = np.asarray([p.peak for p in pulses], dtype=np.int64)
    return peaks, total, t_assess / n_assess * 1e6


def _neurokit(x: NDArray[np.float64]) -> tuple[NDArray[np.int64], float]:
    t0 = time.process_time()
    clean = nk.ppg_clean(x, sampling_rate=round(FS))
    info = nk.ppg_findpeaks(clean, sampling_rate=round(FS))
    return np.asarray(info["PPG_Peaks"], dtype=np.int64), time.process_time() - t0


def _score(ref: NDArray[np.int64], det: NDArray[np.int64]) -> tuple[float, float, float]:
    lo, hi = round(1.5 * FS), int(ref[-1]) + round(0.2 * FS)  # our 1-s warm-up; last beat
    ref = ref[ref >= lo]
    det = det[(det >= lo) & (det < hi)]
    tp, fn, fp = match_beats(ref, det, round(MATCH_S * FS))
    se, ppv = tp / max(tp + fn, 1), tp / max(tp + fp, 1)
    return se, ppv, 2 * se * ppv / max(se + ppv, 1e-12)


def main() -> None:
    warnings.filterwarnings("ignore")
    minutes = SPAN_S / 60.0
    print(
        f"hwsim pleth, {FS:g} Hz, {minutes:g} min per signal, seed {SEED}; ours streams in "
        f"{BLOCK}-sample blocks with one assess() per block; neurokit2 {nk.__version__} "
        "ppg_clean + ppg_findpeaks (elgendi) on the whole span.\n'ms/min': CPU per minute of pleth."
    )
    print(
        f"{'signal':<16} {'method':<10} {'Se %':>7} {'+P %':>7} {'F1 %':>7} "
        f"{'ms/min':>8} {'time ratio':>10} {'vs ours F1 %':>13}"
    )
    assess_us: list[float] = []
    for hr in (50.0, 75.0, 150.0):
        for motion in (False, True):
            x, truth = _signal(hr, motion)
            name = f"{hr:g} bpm{' +motion' if motion else ''}"
            ours, t_ours, us_assess = _ours(x)
            assess_us.append(us_assess)
            theirs, t_nk = _neurokit(x)
            for label, peaks, t in (("ours", ours, t_ours), ("neurokit2", theirs, t_nk)):
                se, ppv, f1 = _score(truth, peaks)
                agree = _score(ours, peaks)[2] if label != "ours" else 1.0
                print(
                    f"{name:<16} {label:<10} {se * 100:>7.2f} {ppv * 100:>7.2f} {f1 * 100:>7.2f} "
                    f"{t * 1000 / minutes:>8.1f} {t / t_ours:>10.2f} {agree * 100:>13.2f}"
                )
    print(
        f"assess() with a 10-s window, 75 Hz: {np.mean(assess_us):.1f} µs per call (mean over "
        f"all signals; range {min(assess_us):.1f}-{max(assess_us):.1f})"
    )
    print(
        "time ratio: method / ours (> 1: slower than ours). Ours includes 4 assess() per "
        "second of signal; neurokit2 sees the whole span at once (no per-call overhead)."
    )


if __name__ == "__main__":
    main()
