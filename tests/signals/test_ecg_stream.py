"""EcgAnalyzer (streaming, for the realtime engine) and analyze_ecg_cli, on MIT-BIH record 100.

Reference data: MIT-BIH Arrhythmia Database record 100 (Moody & Mark 2001; PhysioNet,
ODC-By 1.0), read from /work/shared/data/mitdb like tests/signals/test_ecg.py.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from numpy.typing import NDArray

from gateway.signals import ecg_qrs
from gateway.signals.ecg import (
    EcgAnalyzer,
    EcgReason,
    QrsDetector,
    analyze_ecg,
    analyze_ecg_cli,
    detect_qrs,
    match_beats,
)
from gateway.signals.ecg_quality import bas_sqi, ksqi, psqi, rail_fraction
from gateway.signals.verdict import Verdict
from tests.signals.test_ecg import record_100

BLOCK_S = 0.25  # the engine's cadence


def _stream(ana: EcgAnalyzer, x: NDArray[np.float64], fs: float) -> None:
    step = round(BLOCK_S * fs)
    for k in range(0, x.size, step):
        ana.feed(x[k : k + step])


def test_analyzer_equals_batch_on_the_same_window() -> None:
    """Stream of exactly one window: same beats, indices and heart rate as analyze_ecg."""
    x, fs, _ = record_100()
    x = x[round(100 * fs) : round(110 * fs)]
    ana = EcgAnalyzer(fs, window_s=10.0, quality_every=1)
    _stream(ana, x, fs)
    got = ana.assess()
    batch = analyze_ecg(x, fs)
    # Streaming has not yet confirmed the beats inside its look-ahead at the window's end.
    pending = x.size - round(ana._det.latency_s * fs)
    assert np.array_equal(got.r_peaks, batch.r_peaks[batch.r_peaks < pending])
    assert got.r_peaks.size >= batch.r_peaks.size - 1
    assert np.allclose(got.rr_interval_ms, np.diff(got.r_peaks) * 1000.0 / fs)
    for name in ("ksqi", "psqi", "bas_sqi", "std_mv", "rail_fraction"):
        assert getattr(got.quality, name) == getattr(batch.quality, name), name
    assert got.quality.bsqi == batch.quality.bsqi == 1.0
    assert got.quality.verdict is batch.quality.verdict is Verdict.VALID
    assert got.heart_rate_bpm.verdict is Verdict.VALID
    assert got.heart_rate_bpm.value == pytest.approx(batch.heart_rate_bpm.value, abs=1.0)


def test_sliding_window_follows_the_continuous_detector() -> None:
    """After 60 s, the 10-s window's beats are detect_qrs's beats over the whole stream."""
    x, fs, ref = record_100()
    n = round(60 * fs)
    x = x[:n]
    ana = EcgAnalyzer(fs, window_s=10.0)
    _stream(ana, x, fs)
    res = ana.assess()
    start = n - round(10 * fs)
    whole = detect_qrs(x, fs)
    expect = whole[(whole >= start) & (whole < n - round(ana._det.latency_s * fs))] - start
    assert np.array_equal(res.r_peaks, expect)
    window = x[start:]
    assert res.quality.ksqi == ksqi(window)
    assert res.quality.psqi == psqi(window, fs)
    assert res.quality.bas_sqi == bas_sqi(window, fs)
    assert res.quality.rail_fraction == rail_fraction(window, fs, 0.040)
    ref_win = ref[(ref >= start) & (ref < n)] - start
    expected_bpm = 60_000.0 / float(np.median(np.diff(ref_win) * 1000.0 / fs))
    assert res.heart_rate_bpm.verdict is Verdict.VALID
    assert res.heart_rate_bpm.value == pytest.approx(expected_bpm, abs=1.0)
    # Reference (second-detector) peaks are re-based to the current window as it slides.
    assert res.reference_peaks.min() >= 0 and res.reference_peaks.max() < window.size


def test_quality_is_cached_between_recomputations() -> None:
    """With quality_every=4, the three calls after a computation reuse it (same object)."""
    x, fs, _ = record_100()
    ana = EcgAnalyzer(fs, quality_every=4)
    step = round(BLOCK_S * fs)
    _stream(ana, x[: round(12 * fs)], fs)
    first = ana.assess()
    later = []
    for k in range(4):
        lo = round(12 * fs) + k * step
        ana.feed(x[lo : lo + step])
        later.append(ana.assess())
    assert all(r.quality is first.quality for r in later[:3])
    assert later[3].quality is not first.quality  # fifth call: recomputed


def test_gap_restarts_detector_and_window() -> None:
    x, fs, _ = record_100()
    ana = EcgAnalyzer(fs, window_s=10.0)
    _stream(ana, x[: round(20 * fs)], fs)
    assert ana.assess().heart_rate_bpm.verdict is Verdict.VALID
    after = x[round(40 * fs) : round(52 * fs)]  # 20 s of signal were lost
    step = round(BLOCK_S * fs)
    ana.feed(after[:step], gap_before=True)
    res = ana.assess()
    assert res.quality.reasons == (EcgReason.TOO_SHORT,)  # window restarts after the gap
    assert np.isnan(res.heart_rate_bpm.value)
    for k in range(step, after.size, step):
        ana.feed(after[k : k + step])
    res = ana.assess()
    assert res.heart_rate_bpm.verdict is Verdict.VALID
    # Beats are those of a fresh detector over the post-gap signal, relative to the window.
    fresh = detect_qrs(after, fs)
    start = after.size - round(10 * fs)
    pending = after.size - round(ana._det.latency_s * fs)
    assert np.array_equal(res.r_peaks, fresh[(fresh >= start) & (fresh < pending)] - start)


def test_nan_block_invalidates_until_it_leaves_the_window() -> None:
    x, fs, _ = record_100()
    x = x[: round(30 * fs)].copy()
    x[round(12 * fs) : round(12.5 * fs)] = np.nan  # a 0.5-s dropout
    ana = EcgAnalyzer(fs, window_s=10.0)
    _stream(ana, x[: round(15 * fs)], fs)
    assert ana.assess().heart_rate_bpm.reasons == (EcgReason.NOT_FINITE,)
    _stream(ana, x[round(15 * fs) :], fs)  # dropout now 17.5 s in the past
    res = ana.assess()
    assert res.heart_rate_bpm.verdict is Verdict.VALID
    assert res.r_peaks.size >= 10


def test_flat_line_and_rail_in_stream() -> None:
    x, fs, _ = record_100()
    ana = EcgAnalyzer(fs, window_s=10.0, quality_every=1)
    _stream(ana, x[: round(10 * fs)], fs)
    assert ana.assess().quality.verdict is Verdict.VALID
    _stream(ana, np.full(round(10 * fs), x[round(10 * fs)]), fs)  # lead off: flat
    res = ana.assess()
    assert EcgReason.LEAD_OFF_OR_FLAT in res.quality.reasons
    assert res.heart_rate_bpm.verdict is Verdict.INVALID
    clipped = x[round(30 * fs) : round(40 * fs)].copy()
    clipped[round(2 * fs) : round(4 * fs)] = 5.0  # amplifier at +rail for 2 s
    _stream(ana, clipped, fs)
    res = ana.assess()
    assert EcgReason.RAIL_SATURATION in res.quality.reasons
    assert res.quality.verdict is Verdict.INVALID


def test_analyzer_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="window_s must be"):
        EcgAnalyzer(360.0, window_s=2.0)
    with pytest.raises(ValueError, match="quality_every must be"):
        EcgAnalyzer(360.0, quality_every=0)
    with pytest.raises(ValueError, match="fs_hz must be"):
        EcgAnalyzer(50.0)


def test_ring_is_bounded() -> None:
    """Memory does not grow with stream length (buffer and beat deque have fixed sizes)."""
    x, fs, _ = record_100()
    ana = EcgAnalyzer(fs, window_s=10.0)
    _stream(ana, x[: round(60 * fs)], fs)
    buf_size, maxlen = ana._buf.size, ana._peaks.maxlen
    det_size = ana._det._sq.size
    assert maxlen is not None
    _stream(ana, x[round(60 * fs) : round(120 * fs)], fs)
    assert (ana._buf.size, ana._peaks.maxlen, ana._det._sq.size) == (buf_size, maxlen, det_size)
    assert ana._det._base > round(100 * fs)  # detector history was compacted in place


def test_detector_noise_candidates_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sub-threshold peaks kept for search-back are capped (long stretches without beats).

    A slow sine plus noise gives ~40 remembered peaks between its rare "beats"; with the cap
    lowered to 8 the list must stop at 8 and the buffers must have been compacted.
    """
    monkeypatch.setattr(ecg_qrs, "MAX_NOISE_CANDIDATES", 8)
    fs = 250.0
    det = QrsDetector(fs)
    rng = np.random.default_rng(3)
    step = round(BLOCK_S * fs)
    longest = 0
    for k in range(round(120 / BLOCK_S)):
        t_s = (np.arange(step) + k * step) / fs
        det.feed(0.5 * np.sin(2 * np.pi * 1.3 * t_s) + 0.001 * rng.standard_normal(step))
        longest = max(longest, len(det._noise_cands))
    assert longest == 8
    assert det._base > 0  # history buffers were compacted, not grown


def test_detector_survives_overflowing_input() -> None:
    """A block of absurd finite values (overflow in the filters) does not poison the state."""
    x, fs, ref = record_100()
    x = x[: round(60 * fs)].copy()
    x[round(20 * fs) : round(20 * fs) + 50] = 1e300
    det = detect_qrs(x, fs)
    lo = round(35 * fs)  # thresholds re-learnt 3 s after the glitch, plus margin
    tp, fn, fp = match_beats(ref[(ref >= lo) & (ref < x.size)], det[det >= lo], round(0.15 * fs))
    assert fn == 0 and fp == 0 and tp > 20


# --- analyze_ecg_cli ----------------------------------------------------------------------------
def test_cli_default_lead_and_json() -> None:
    x, fs, ref = record_100()
    n = round(60 * fs)
    leads = np.column_stack([0.5 * x[:n], x[:n]])  # column "II" is the real lead
    out = analyze_ecg_cli(leads, ["I", "II"], fs, None)
    assert out["lead"] == "II"
    json.dumps(out, allow_nan=False)  # JSON-ready: no NaN, only plain types
    assert out["r_peaks"] == detect_qrs(x[:n], fs).tolist()
    assert len(out["r_peaks"]) == int(np.sum(ref < n))
    assert isinstance(out["heart_rate_bpm"], float) and 60 < out["heart_rate_bpm"] < 90
    assert out["quality"]["verdict"] == "valid" and out["quality"]["reasons"] == []
    assert out["compute_ms"] > 0.0


def test_cli_lead_choice_and_errors() -> None:
    x, fs, _ = record_100()
    n = round(20 * fs)
    leads = np.column_stack([x[:n], np.full(n, 0.1)])
    assert analyze_ecg_cli(leads, ["V1", "V5"], fs, None)["lead"] == "V1"  # first if no II
    flat = analyze_ecg_cli(leads, ["V1", "V5"], fs, "V5")
    assert flat["heart_rate_bpm"] is None  # NaN -> None
    assert flat["quality"]["verdict"] == "invalid"
    assert "lead_off_or_flat" in flat["quality"]["reasons"]
    with pytest.raises(ValueError, match=r"lead 'aVR' not in the recording \(leads: V1, V5\)"):
        analyze_ecg_cli(leads, ["V1", "V5"], fs, "aVR")
    with pytest.raises(ValueError, match=r"expected \(samples, 3\)"):
        analyze_ecg_cli(leads, ["I", "II", "III"], fs, None)
    with pytest.raises(ValueError, match="fs_hz must be"):
        analyze_ecg_cli(leads, ["V1", "V5"], 10.0, None)


def test_cli_short_or_nan_recording_still_gives_peaks() -> None:
    x, fs, _ = record_100()
    short = x[: round(4 * fs)].reshape(-1, 1)
    out = analyze_ecg_cli(short, ["MLII"], fs, None)
    assert out["quality"]["reasons"] == ["too_short"]
    assert len(out["r_peaks"]) >= 3
    nan = x[: round(20 * fs)].copy()
    nan[100:200] = np.nan
    out = analyze_ecg_cli(nan.reshape(-1, 1), ["MLII"], fs, None)
    assert out["quality"]["reasons"] == ["not_finite"]
    assert all(
        v is None or math.isfinite(v)
        for v in out["quality"].values()
        if not isinstance(v, (str, list))
    )
    json.dumps(out, allow_nan=False)
