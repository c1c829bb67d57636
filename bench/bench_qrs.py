"""QRS detectors side by side on MIT-BIH record 100, clean and with mixed noise.

Run: ``.venv/bin/python bench/bench_qrs.py``. Prints Se, +P, F1 (150 ms match window,
ANSI/AAMI EC57) and milliseconds of CPU per minute of signal for our streaming detector,
``neurokit2.ecg_peaks`` (default method)
(batch) and ``wfdb.processing.xqrs_detect``.
xqrs is slow in pure Python, so it runs on the first 10 min only; ours is also scored on the
same 10 min so the ratios compare like with like.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import neurokit2 as nk
import numpy as np
import wfdb
import wfdb.processing
from numpy.typing import NDArray

from gateway.signals.ecg import detect_qrs, match_beats
from gateway.signals.ecg_noise import NoiseKind, add_noise

MITDB = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mitdb"
BEAT_SYMBOLS = frozenset("NLRBAaJSVrFejnE/fQ?")
TOLERANCE_S = 0.150
SEED = 100
XQRS_SPAN_S = 600.0

Detector = Callable[[NDArray[np.float64], float], NDArray[np.int64]]


def _ours(x: NDArray[np.float64], fs: float) -> NDArray[np.int64]:
    return detect_qrs(x, fs, block_s=0.25)  # streaming as deployed: 0.25-s blocks


def _neurokit(x: NDArray[np.float64], fs: float) -> NDArray[np.int64]:
    _, info = nk.ecg_peaks(x, sampling_rate=round(fs))
    return np.asarray(info["ECG_R_Peaks"], dtype=np.int64)


def _xqrs(x: NDArray[np.float64], fs: float) -> NDArray[np.int64]:
    return np.asarray(wfdb.processing.xqrs_detect(x, fs=fs, verbose=False), dtype=np.int64)


def _score(ref: NDArray[np.int64], det: NDArray[np.int64], fs: float) -> tuple[float, float, float]:
    tp, fn, fp = match_beats(ref, det, round(TOLERANCE_S * fs))
    se = tp / (tp + fn) if tp + fn else float("nan")
    ppv = tp / (tp + fp) if tp + fp else float("nan")
    return se, ppv, 2 * se * ppv / (se + ppv) if se + ppv else float("nan")


def main() -> None:
    logging.getLogger("wfdb").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore")
    rec = wfdb.rdrecord(str(MITDB / "100"))
    ann = wfdb.rdann(str(MITDB / "100"), "atr")
    fs = float(rec.fs)
    x = rec.p_signal[:, 0].astype(np.float64)
    ref = np.array(
        [s for s, c in zip(ann.sample, ann.symbol, strict=True) if c in BEAT_SYMBOLS],
        dtype=np.int64,
    )
    signals = {
        "clean": x,
        "mixed +6 dB": add_noise(x, fs, NoiseKind.MIXED, 6.0, seed=SEED),
        "mixed  0 dB": add_noise(x, fs, NoiseKind.MIXED, 0.0, seed=SEED),
    }
    runs: list[tuple[str, Detector, float]] = [
        ("ours", _ours, len(x) / fs),
        ("neurokit2", _neurokit, len(x) / fs),
        ("ours", _ours, XQRS_SPAN_S),
        ("wfdb xqrs", _xqrs, XQRS_SPAN_S),
    ]
    print(
        "ours streams in 0.25-s blocks (per-call overhead dominates its time); "
        "neurokit2 and xqrs see the whole span at once."
    )
    print(
        f"MIT-BIH 100 lead MLII, fs {fs:g} Hz, noise seed {SEED}; xqrs on first "
        f"{XQRS_SPAN_S / 60:g} min only (slow), ours repeated on the same span."
    )
    print(
        f"{'signal':<12} {'detector':<10} {'span':>6} {'Se %':>8} {'+P %':>8} {'F1 %':>8} "
        f"{'ms/min':>8} {'F1 ratio':>9} {'time ratio':>10}"
    )
    for name, sig in signals.items():
        base: dict[float, tuple[float, float]] = {}
        for label, fn, span_s in runs:
            n = round(span_s * fs)
            seg, ref_seg = sig[:n], ref[ref < n]
            t0 = time.process_time()
            det = fn(seg, fs)
            ms_per_min = (time.process_time() - t0) * 1000.0 / (n / fs / 60.0)
            se, ppv, f1 = _score(ref_seg, det, fs)
            if label == "ours":
                base[span_s] = (f1, ms_per_min)
            f1_ours, ms_ours = base[span_s]
            print(
                f"{name:<12} {label:<10} {span_s / 60:>4.1f}min {se * 100:>8.3f} "
                f"{ppv * 100:>8.3f} {f1 * 100:>8.3f} {ms_per_min:>8.1f} "
                f"{f1 / f1_ours:>9.4f} {ms_per_min / ms_ours:>10.2f}"
            )
    print(
        "ratios: other / ours on the same span (F1 ratio > 1: other is more accurate; "
        "time ratio > 1: other is slower)"
    )


if __name__ == "__main__":
    main()
