"""PPG quality: flat, clipping, motion bursts, perfusion, device cross-checks, SpO2 verdicts.

Each ``PpgReason`` is reached on purpose at least once (``test_every_reason_is_reached``).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hwsim.physiology import PlethGenerator
from numpy.typing import NDArray

from drivers.model import QualityFlag
from gateway.signals.ppg import (
    PpgAnalyzer,
    PpgReason,
    PpgResult,
    analyze_ppg,
    spo2_verdict,
)
from gateway.signals.verdict import Assessed, Verdict

FS = 75.0
BLOCK = 19
WINDOW_S = 10.0
REACHED: set[PpgReason] = set()


def gen(seed: int, seconds: float, *, hr: float = 75.0, amp: float = 120.0) -> NDArray[np.float64]:
    g = PlethGenerator(seed)
    return g.generate(round(seconds * FS), hr_bpm=hr, amplitude_lsb=amp).samples.astype(float)


def run(x: NDArray[np.float64], ana: PpgAnalyzer | None = None, **assess: float | int) -> PpgResult:
    ana = ana or PpgAnalyzer(FS, WINDOW_S)
    for k in range(0, x.size, BLOCK):
        ana.feed(x[k : k + BLOCK])
    res = ana.assess(**assess)  # type: ignore[arg-type]
    REACHED.update(res.reasons)
    REACHED.update(res.perfusion_index_pct.reasons)  # type: ignore[arg-type]
    return res


def test_clean_is_valid() -> None:
    res = run(gen(1, 30.0), device_pulse_bpm=75.0)
    assert res.verdict is Verdict.VALID and res.reasons == ()
    assert res.pulse_rate_bpm.verdict is Verdict.VALID
    assert res.sqi > 0.95 and not res.motion and res.clipped_fraction == 0.0
    assert res.perfusion_index_pct.reasons == (PpgReason.NO_DC_REFERENCE,)
    assert math.isnan(res.perfusion_index_pct.value)


def test_too_few_pulses_at_start() -> None:
    res = run(gen(2, 2.5))
    assert PpgReason.TOO_FEW_PULSES in res.reasons
    assert res.pulse_rate_bpm.verdict is Verdict.INVALID
    assert math.isnan(res.pulse_rate_bpm.value)


def test_flat_finger_out_and_back() -> None:
    """hwsim draws Nonin's flat 128 when the sensor is off; the rate comes back after."""
    g = PlethGenerator(3)
    parts = [
        g.generate(round(20 * FS), hr_bpm=70, amplitude_lsb=120).samples,
        g.generate(round(10 * FS), hr_bpm=70, amplitude_lsb=120, flat=True).samples,
    ]
    ana = PpgAnalyzer(FS, WINDOW_S)
    res = run(np.concatenate(parts).astype(float), ana)
    assert res.reasons[0] is PpgReason.FLAT and res.verdict is Verdict.INVALID
    assert math.isnan(res.pulse_rate_bpm.value)
    assert not res.motion  # a flat line is not motion
    back = g.generate(round(15 * FS), hr_bpm=70, amplitude_lsb=120).samples.astype(float)
    res = run(back, ana)
    assert res.verdict is Verdict.VALID, res.reasons
    assert abs(res.pulse_rate_bpm.value - 70.0) < 4.0


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_clipping(seed: int) -> None:
    """A pulse 3x the ADC range clips at 0 and 255; quantised normal peaks never count."""
    res = run(gen(seed, 20.0, amp=400.0))
    assert res.clipped_fraction > 0.20
    assert PpgReason.CLIPPED in res.reasons and res.verdict is Verdict.INVALID
    res = run(gen(seed, 20.0, amp=250.0))  # the highest peaks reach the rail
    assert PpgReason.CLIPPED in res.reasons and res.verdict is Verdict.QUESTIONABLE
    for amp in (40.0, 120.0, 200.0):
        assert run(gen(seed, 20.0, amp=amp)).clipped_fraction < 0.005


BURSTS_S = ((20.0, 24.0), (50.0, 53.0), (80.0, 86.0))


@pytest.mark.parametrize("hr", [50, 75, 120, 170])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_motion_flagged_where_injected_and_not_elsewhere(hr: int, seed: int) -> None:
    """Three motion bursts (hwsim artifact noise, 2/3 of the pulse size) in 2 min.

    Assessed once a second: every burst is flagged; no window that does not overlap a
    burst (plus the detector's latency) is flagged.
    """
    x = gen(seed, 120.0, hr=hr)
    art = PlethGenerator(seed + 1000).generate(
        x.size, hr_bpm=75.0, amplitude_lsb=0.0, artifact_lsb=80.0
    )
    noise = art.samples.astype(float) - 128.0
    for a, b in BURSTS_S:
        x[round(a * FS) : round(b * FS)] += noise[round(a * FS) : round(b * FS)]
    x = np.clip(x, 0.0, 255.0)
    ana = PpgAnalyzer(FS, WINDOW_S)
    latency_s = ana._det.latency_s
    hits = [0] * len(BURSTS_S)
    false_flags = 0
    for k in range(0, x.size, round(FS)):
        ana.feed(x[k : k + round(FS)])
        res = ana.assess()
        t = (k + round(FS)) / FS
        REACHED.update(res.reasons)
        near = [i for i, (a, b) in enumerate(BURSTS_S) if t > a and t - WINDOW_S < b + latency_s]
        if res.motion:
            assert PpgReason.MOTION in res.reasons and res.verdict is Verdict.QUESTIONABLE
            for i in near:
                hits[i] += 1
            false_flags += not near
    print(f"hr {hr} seed {seed}: burst hits {hits}, false flags {false_flags}")
    assert false_flags == 0
    assert all(h > 0 for h in hits)


@pytest.mark.parametrize(("hrv", "max_share"), [(0.15, 0.0), (0.25, 0.20)])
def test_irregular_rhythm_is_mostly_not_motion(hrv: float, max_share: float) -> None:
    """Beat-to-beat variation of 15 % (frequent ectopics) never raises MOTION; 25 % (AF-like)
    does in a minority of windows (a very short beat's shape is an outlier). Measured 0 % and
    ~9 %; the limits leave room."""
    flagged = []
    for seed in range(3):
        g = PlethGenerator(seed, hrv_rel=hrv)
        x = g.generate(round(120 * FS), hr_bpm=80.0, amplitude_lsb=120.0).samples.astype(float)
        ana = PpgAnalyzer(FS, WINDOW_S)
        for k in range(0, x.size, round(FS)):
            ana.feed(x[k : k + round(FS)])
            if k >= 15 * FS:
                flagged.append(ana.assess().motion)
    print(f"hrv {hrv}: motion in {np.mean(flagged):.1%} of windows")
    assert np.mean(flagged) <= max_share


def test_pulse_loss_without_flat_line_is_motion() -> None:
    """The signal moves (slow drift) but no pulse comes: artifact, not a flat line."""
    x = gen(7, 20.0)
    t = np.arange(round(12 * FS)) / FS
    drift = 128.0 + 60.0 * np.sin(2 * np.pi * 0.15 * t)
    res = run(np.concatenate([x, drift]))
    assert res.motion and PpgReason.MOTION in res.reasons
    assert PpgReason.FLAT not in res.reasons


def test_low_template_match() -> None:
    """A strong artifact over the whole window pulls the mean beat correlation below 0.86."""
    x = gen(8, 30.0)
    art = PlethGenerator(9).generate(x.size, hr_bpm=75.0, amplitude_lsb=0.0, artifact_lsb=60.0)
    x[round(18 * FS) :] += art.samples[round(18 * FS) :].astype(float) - 128.0
    res = run(np.clip(x, 0.0, 255.0))
    assert res.sqi < 0.86
    assert PpgReason.LOW_TEMPLATE_MATCH in res.reasons


def with_dc(x: NDArray[np.float64], dc: float, pi_pct: float) -> NDArray[np.float64]:
    """Turn an 8-bit pleth (pulse ≈ 120 LSB) into photodiode-like counts with a DC level."""
    return dc + (x - 128.0) * (pi_pct / 100.0 * dc / 120.0)


@pytest.mark.parametrize("pi_pct", [0.5, 2.0, 8.0])
def test_perfusion_index_with_dc(pi_pct: float) -> None:
    res = run(with_dc(gen(10, 30.0), 50_000.0, pi_pct), PpgAnalyzer(FS, WINDOW_S, has_dc=True))
    assert res.perfusion_index_pct.verdict is Verdict.VALID, res.reasons
    assert abs(res.perfusion_index_pct.value - pi_pct) < 0.2 * pi_pct


def test_analyze_ppg_with_dc_reports_perfusion() -> None:
    out = analyze_ppg(with_dc(gen(18, 30.0), 40_000.0, 3.0), FS, has_dc=True)
    assert out["verdict"] == "valid"
    assert abs(out["perfusion_index_pct"] - 3.0) < 0.6


def test_low_perfusion() -> None:
    ana = PpgAnalyzer(FS, WINDOW_S, has_dc=True, flat_ptp=0.01)
    res = run(with_dc(gen(11, 30.0), 50_000.0, 0.1), ana)
    assert PpgReason.LOW_PERFUSION in res.reasons
    assert res.perfusion_index_pct.verdict is Verdict.QUESTIONABLE
    assert 0.07 < res.perfusion_index_pct.value < 0.13
    assert res.pulse_rate_bpm.verdict is Verdict.QUESTIONABLE


@pytest.mark.parametrize(
    ("hr", "offset_bpm", "mismatch"),
    [
        (75.0, 0.0, False),
        (75.0, 4.5, False),  # inside the 5-bpm floor
        (75.0, -4.5, False),
        (75.0, 10.0, True),  # tolerance 8.5 at a device rate of 85
        (75.0, -9.0, True),  # tolerance 6.6 at a device rate of 66
        (150.0, 13.0, False),  # 10 % of 163 = 16.3 > 13 > 5: relative at high rates
        (150.0, -20.0, True),  # 10 % of 130 = 13 < 20
        (45.0, -4.5, False),  # 5-bpm floor at low rates (10 % of 40.5 would be 4.05)
        (45.0, -5.5, True),
    ],
)
def test_device_rate_cross_check(hr: float, offset_bpm: float, mismatch: bool) -> None:
    """Tolerance max(5 bpm, 10 % of the device's value), around the pleth's own rate."""
    ana = PpgAnalyzer(FS, WINDOW_S)
    pleth_bpm = run(gen(12, 30.0, hr=hr), ana).pulse_rate_bpm.value
    res = ana.assess(device_pulse_bpm=pleth_bpm + offset_bpm)
    REACHED.update(res.reasons)
    assert (PpgReason.RATE_MISMATCH_DEVICE in res.reasons) is mismatch
    expect = Verdict.QUESTIONABLE if mismatch else Verdict.VALID
    assert res.pulse_rate_bpm.verdict is expect and res.verdict is expect
    assert res.pulse_rate_bpm.value == pleth_bpm  # the device never changes our value


@pytest.mark.parametrize(
    ("flags", "verdict", "reason"),
    [
        (QualityFlag.SENSOR_DISCONNECTED, Verdict.INVALID, PpgReason.DEVICE_SENSOR_DISCONNECTED),
        (QualityFlag.OUT_OF_TRACK, Verdict.INVALID, PpgReason.DEVICE_OUT_OF_TRACK),
        (QualityFlag.SENSOR_ALARM, Verdict.INVALID, PpgReason.DEVICE_SENSOR_ALARM),
        (QualityFlag.MISSING, Verdict.INVALID, PpgReason.DEVICE_MISSING),
        (QualityFlag.ARTIFACT, Verdict.QUESTIONABLE, PpgReason.DEVICE_ARTIFACT),
        (QualityFlag.LOW_PERFUSION, Verdict.QUESTIONABLE, PpgReason.DEVICE_LOW_PERFUSION),
        (
            int(QualityFlag.MARGINAL_PERFUSION),
            Verdict.QUESTIONABLE,
            PpgReason.DEVICE_MARGINAL_PERFUSION,
        ),
        (QualityFlag.GAP_BEFORE | QualityFlag.DEVICE_CLOCK_NOT_SET, Verdict.VALID, None),
    ],
)
def test_device_flags_in_assess(
    flags: QualityFlag | int, verdict: Verdict, reason: PpgReason | None
) -> None:
    res = run(gen(14, 20.0), device_quality=flags)
    assert res.pulse_rate_bpm.verdict is verdict
    assert res.pulse_rate_bpm.reasons == (() if reason is None else (reason,))


# --- SpO2 verdict table ------------------------------------------------------------------
def ppg_with(*reasons: PpgReason) -> PpgResult:
    """A pleth result carrying the given findings (the SpO2 rule reads only the reasons)."""
    empty_i, empty_f = np.zeros(0, dtype=np.int64), np.zeros(0)
    nan = float("nan")
    worst = Verdict.INVALID if PpgReason.FLAT in reasons else Verdict.VALID
    if reasons and worst is Verdict.VALID:
        worst = Verdict.QUESTIONABLE
    return PpgResult(
        FS, 0, 750, empty_i, empty_f, empty_f, Assessed(72.0, worst, reasons),
        Assessed(nan, Verdict.INVALID, (PpgReason.NO_DC_REFERENCE,)),
        0.97, PpgReason.MOTION in reasons, 0.0, 0.0, 100.0, worst, reasons,
    )  # fmt: skip


NONE = QualityFlag.NONE
Q, X, V = Verdict.QUESTIONABLE, Verdict.INVALID, Verdict.VALID
R = PpgReason
NAN = float("nan")

SPO2_TABLE = [
    # spo2, device flags, pleth findings (None: no pleth), verdict, reasons
    (97.0, NONE, None, V, ()),
    (97.0, NONE, (), V, ()),
    (NAN, NONE, (), X, (R.DEVICE_MISSING,)),
    (NAN, QualityFlag.MISSING, None, X, (R.DEVICE_MISSING,)),
    (97.0, QualityFlag.SENSOR_DISCONNECTED, (), X, (R.DEVICE_SENSOR_DISCONNECTED,)),
    (97.0, QualityFlag.OUT_OF_TRACK, (), X, (R.DEVICE_OUT_OF_TRACK,)),
    (97.0, QualityFlag.SENSOR_ALARM, None, X, (R.DEVICE_SENSOR_ALARM,)),
    (97.0, QualityFlag.ARTIFACT, (), Q, (R.DEVICE_ARTIFACT,)),
    (97.0, QualityFlag.LOW_PERFUSION, (), Q, (R.DEVICE_LOW_PERFUSION,)),
    (97.0, QualityFlag.MARGINAL_PERFUSION, (), Q, (R.DEVICE_MARGINAL_PERFUSION,)),
    (97.0, NONE, (R.MOTION,), Q, (R.MOTION,)),
    (97.0, NONE, (R.LOW_TEMPLATE_MATCH,), Q, (R.LOW_TEMPLATE_MATCH,)),
    (97.0, NONE, (R.CLIPPED,), Q, (R.CLIPPED,)),
    (97.0, NONE, (R.TOO_FEW_PULSES,), Q, (R.TOO_FEW_PULSES,)),
    (97.0, NONE, (R.RATE_MISMATCH_DEVICE,), Q, (R.RATE_MISMATCH_DEVICE,)),
    (97.0, NONE, (R.LOW_PERFUSION,), Q, (R.LOW_PERFUSION,)),
    (97.0, NONE, (R.FLAT,), X, (R.FLAT,)),
    (97.0, NONE, (R.NOT_FINITE, R.NO_DC_REFERENCE), V, ()),  # not about the SpO2 itself
    (97.0, QualityFlag.ARTIFACT, (R.MOTION,), Q, (R.DEVICE_ARTIFACT, R.MOTION)),
    (97.0, QualityFlag.SENSOR_DISCONNECTED | QualityFlag.ARTIFACT, (R.MOTION,), X,
     (R.DEVICE_SENSOR_DISCONNECTED, R.DEVICE_ARTIFACT, R.MOTION)),
    (97.0, QualityFlag.GAP_BEFORE | QualityFlag.DEVICE_CLOCK_NOT_SET, (), V, ()),
    (65.0, NONE, (), Q, (R.SPO2_BELOW_ACCURACY_RANGE,)),
    (70.0, NONE, (), V, ()),
    (100.0, NONE, (), V, ()),
    (100.5, NONE, (), X, (R.IMPLAUSIBLE_SPO2,)),
    (-1.0, NONE, None, X, (R.IMPLAUSIBLE_SPO2,)),
    (97.0, int(QualityFlag.ARTIFACT), None, Q, (R.DEVICE_ARTIFACT,)),
]  # fmt: skip


@pytest.mark.parametrize(("spo2", "flags", "pleth", "verdict", "reasons"), SPO2_TABLE)
def test_spo2_verdict_table(
    spo2: float,
    flags: QualityFlag | int,
    pleth: tuple[PpgReason, ...] | None,
    verdict: Verdict,
    reasons: tuple[PpgReason, ...],
) -> None:
    got = spo2_verdict(spo2, flags, None if pleth is None else ppg_with(*pleth))
    assert got.verdict is verdict
    assert got.reasons == reasons
    assert got.value == spo2 or (math.isnan(got.value) and math.isnan(spo2))
    assert not (math.isnan(got.value) and got.verdict is not Verdict.INVALID)
    again = PpgAnalyzer.spo2_verdict(spo2, flags, None if pleth is None else ppg_with(*pleth))
    assert (again.verdict, again.reasons) == (got.verdict, got.reasons)
    REACHED.update(got.reasons)  # type: ignore[arg-type]


def test_spo2_with_a_real_motion_window() -> None:
    """End to end: a pleth burst makes a device SpO2 without flags QUESTIONABLE."""
    x = gen(15, 30.0)
    art = PlethGenerator(16).generate(x.size, hr_bpm=75.0, amplitude_lsb=0.0, artifact_lsb=80.0)
    x[round(22 * FS) :] += art.samples[round(22 * FS) :].astype(float) - 128.0
    res = run(np.clip(x, 0.0, 255.0))
    got = spo2_verdict(96.0, 0, res)
    assert res.motion and got.verdict is Verdict.QUESTIONABLE and PpgReason.MOTION in got.reasons


def test_not_finite_samples() -> None:
    x = gen(17, 20.0)
    x[round(15 * FS)] = np.nan
    res = run(x)
    assert PpgReason.NOT_FINITE in res.reasons and res.verdict is Verdict.QUESTIONABLE


def test_every_reason_is_reached(request: pytest.FixtureRequest) -> None:
    """Runs last in this module: every PpgReason was produced by some test above."""
    selected = [i for i in request.session.items if i.path == request.node.path]
    if len(selected) < len(request.node.parent.collect()):
        pytest.skip("needs the whole module: it checks what the other tests reached")
    assert set(PpgReason) - REACHED == set()
