"""The engine's plumbing: ring buffer, spot verdicts, block cadence, gaps, BP grouping, latency."""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.typing import NDArray

from drivers.model import Measurement, QualityFlag, Quantity, ReceiveTime, SampleBlock
from gateway.clinical.bp import BpCategory, BpReason
from gateway.signals.engine import (
    DEFAULT_BLOCK_S,
    BpClass,
    DerivedValue,
    DeviceState,
    SignalEngine,
)
from gateway.signals.ring import RingBuffer
from gateway.signals.spot import SpotReason, assess_value
from gateway.signals.verdict import Assessed, Verdict


# --- ring buffer ------------------------------------------------------------------------
@pytest.mark.parametrize("capacity", [1, 7, 64])
def test_ring_matches_a_plain_list(capacity: int) -> None:
    rng = np.random.default_rng(3)
    ring = RingBuffer(capacity, channels=2)
    reference: list[list[float]] = []
    for _ in range(200):
        n = int(rng.integers(0, 2 * capacity + 3))
        block = rng.normal(size=(n, 2))
        ring.extend(block)
        reference.extend(block.tolist())
        want = np.array(reference[-capacity:]).reshape(-1, 2)
        np.testing.assert_array_equal(ring.latest(), want)
        k = int(rng.integers(0, capacity + 2))
        np.testing.assert_array_equal(ring.latest(k), want[len(want) - min(k, len(want)) :])
    assert ring.total == len(reference)


def test_ring_clear_and_errors() -> None:
    ring = RingBuffer(4)
    ring.extend(np.arange(6.0))
    ring.clear()
    assert len(ring) == 0 and ring.total == 6 and ring.latest().shape == (0, 1)
    ring.extend(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(ring.latest()[:, 0], [1.0, 2.0])
    with pytest.raises(ValueError, match="block has 2 channels, buffer has 1"):
        ring.extend(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="capacity must be >= 1, got 0"):
        RingBuffer(0)


# --- spot verdicts ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("quantity", "value", "flags", "verdict", "reasons"),
    [
        (Quantity.SPO2, 97.0, QualityFlag.NONE, Verdict.VALID, ()),
        (Quantity.SPO2, math.nan, QualityFlag.MISSING, Verdict.INVALID, (SpotReason.MISSING,)),
        (Quantity.SPO2, 97.0, QualityFlag.MISSING, Verdict.INVALID, (SpotReason.MISSING,)),
        (Quantity.SPO2, 30.0, QualityFlag.NONE, Verdict.INVALID, (SpotReason.IMPLAUSIBLE,)),
        (
            Quantity.SPO2,
            95.0,
            QualityFlag.SENSOR_DISCONNECTED,
            Verdict.INVALID,
            (SpotReason.SENSOR_OFF,),
        ),
        (Quantity.SPO2, 95.0, QualityFlag.ARTIFACT, Verdict.QUESTIONABLE, (SpotReason.ARTIFACT,)),
        (
            Quantity.PULSE_RATE,
            72.0,
            QualityFlag.MARGINAL_PERFUSION | QualityFlag.GAP_BEFORE,
            Verdict.VALID,
            (SpotReason.MARGINAL_PERFUSION, SpotReason.GAP_BEFORE),
        ),
        (
            Quantity.BODY_TEMPERATURE,
            37.2,
            QualityFlag.STORED,
            Verdict.QUESTIONABLE,
            (SpotReason.STORED,),
        ),
        (
            Quantity.BODY_TEMPERATURE,
            98.6,
            QualityFlag.NONE,
            Verdict.INVALID,
            (SpotReason.IMPLAUSIBLE,),
        ),
        (
            Quantity.BODY_WEIGHT,
            math.inf,
            QualityFlag.NONE,
            Verdict.INVALID,
            (SpotReason.NOT_FINITE,),
        ),
    ],
)
def test_spot_verdicts(
    quantity: Quantity,
    value: float,
    flags: QualityFlag,
    verdict: Verdict,
    reasons: tuple[SpotReason, ...],
) -> None:
    got = assess_value(quantity, value, flags)
    assert (got.verdict, got.reasons) == (verdict, reasons)
    assert math.isnan(got.value) == (verdict is Verdict.INVALID)


# --- engine -----------------------------------------------------------------------------
class _Recorder:
    """A minimal analyzer: reports the mean of what it holds and the gaps it was told of."""

    window_s = 1.0

    def __init__(self, fs_hz: float, name: str, channels: tuple[str, ...]) -> None:
        self.ring = RingBuffer(round(fs_hz * self.window_s))
        self.gaps = 0
        self.name = name

    def feed(self, block: NDArray[np.float64], *, gap_before: bool) -> None:
        if gap_before:
            self.gaps += 1
            self.ring.clear()
        self.ring.extend(block)

    def assess(self, device: DeviceState) -> list[DerivedValue]:
        mean = float(np.mean(self.ring.latest()))
        device.results["mean:" + self.name] = mean
        return [DerivedValue("mean", "1", Assessed(mean, Verdict.VALID), {"gaps": self.gaps})]


def _block(
    first: int,
    n: int,
    *,
    fs: float = 100.0,
    channels: int = 1,
    t: float = 0.0,
    quality: QualityFlag = QualityFlag.NONE,
) -> SampleBlock:
    values = np.arange(first, first + n, dtype=np.float64).reshape(-1, 1).repeat(channels, 1)
    names = tuple(f"c{k}" for k in range(channels))
    return SampleBlock(
        Quantity.PLETH, "dev", names, fs, first, values, "1", ReceiveTime(t, t), quality
    )


def test_assessed_every_block_of_signal_time_whatever_the_packet_size() -> None:
    now = [0.0]
    engine = SignalEngine({Quantity.PLETH: _Recorder}, block_s=0.25, clock=lambda: now[0])
    outputs = 0
    first = 0
    for n in [7, 13, 5, 30, 1, 60, 9, 75]:  # 200 samples at 100 Hz = 2 s = 8 blocks of 25
        now[0] = first / 100.0 + 0.010
        result = engine.process([_block(first, n, t=first / 100.0)])
        outputs += len(result.derived)
        first += n
    # Each call assesses at most once, so bursts of several blocks' worth give one verdict.
    assert 5 <= outputs <= 8
    stats = engine.stats.as_dict()
    assert stats["blocks_in"] == 8 and stats["derived_out"] == outputs
    assert stats["latency_p50_ms"] > 0


def test_gap_in_first_index_or_flag_reaches_the_analyzer() -> None:
    engine = SignalEngine({Quantity.PLETH: _Recorder}, block_s=0.25)
    engine.process([_block(0, 25)])
    engine.process([_block(25, 25)])
    engine.process([_block(60, 25)])  # 10 samples lost
    out = engine.process([_block(85, 25, quality=QualityFlag.GAP_BEFORE)])
    assert out.derived[0].value.detail["gaps"] == 2


def test_channels_are_separate_and_state_is_per_device() -> None:
    engine = SignalEngine({Quantity.PLETH: _Recorder}, block_s=0.25)
    out = engine.process([_block(0, 25, channels=2)])
    assert [d.channel for d in out.derived] == ["c0", "c1"]
    assert engine.devices["dev"].results == {"mean:c0": 12.0, "mean:c1": 12.0}


def test_quantities_without_analyzer_are_ignored() -> None:
    engine = SignalEngine({}, block_s=0.25)
    assert engine.process([_block(0, 100)]).derived == ()


def _m(q: Quantity, v: float, t: float = 1.0, flags: QualityFlag = QualityFlag.NONE) -> Measurement:
    return Measurement(q, v, q.spec.ucum, "cuff", ReceiveTime(t, t), quality=flags)


def test_bp_parts_are_judged_as_one_reading() -> None:
    engine = SignalEngine({})
    events = [
        _m(Quantity.BP_SYSTOLIC, 80.0),
        _m(Quantity.BP_DIASTOLIC, 120.0),  # swapped: order violated
        _m(Quantity.BP_MEAN, 100.0),
        _m(Quantity.PULSE_RATE, 70.0),
    ]
    verdicts = engine.process(events).verdicts
    assert [v.verdict if v else None for v in verdicts] == [Verdict.INVALID] * 3 + [Verdict.VALID]
    assert verdicts[0] is not None and BpReason.ORDER_VIOLATED in verdicts[0].reasons


def test_bp_device_status_bits_make_it_questionable() -> None:
    engine = SignalEngine({})
    flags = QualityFlag.CUFF_FIT
    events = [
        _m(Quantity.BP_SYSTOLIC, 128.0, flags=flags),
        _m(Quantity.BP_DIASTOLIC, 82.0, flags=flags),
        _m(Quantity.BP_SYSTOLIC, 130.0, t=2.0),  # another reading: judged on its own
        _m(Quantity.BP_DIASTOLIC, 85.0, t=2.0),
    ]
    verdicts = engine.process(events).verdicts
    assert verdicts[0] is not None and verdicts[0].reasons == (BpReason.CUFF_FIT,)
    assert verdicts[0].verdict is Verdict.QUESTIONABLE
    assert verdicts[2] is not None and verdicts[2].verdict is Verdict.VALID


def test_refiner_sees_device_state() -> None:
    seen: list[object] = []

    def refine(m: Measurement, base: Assessed, state: DeviceState) -> Assessed:
        seen.append(state.results.get("mean:c0"))
        return Assessed(base.value, Verdict.QUESTIONABLE)

    engine = SignalEngine(
        {Quantity.PLETH: _Recorder}, refiners={Quantity.SPO2: refine}, block_s=0.25
    )
    spo2 = Measurement(Quantity.SPO2, 97.0, "%", "dev", ReceiveTime(0.0, 0.0))
    out = engine.process([_block(0, 25), spo2])
    assert seen == [12.0]
    assert out.verdicts[1] is not None and out.verdicts[1].verdict is Verdict.QUESTIONABLE
    assert engine.devices["dev"].spot[Quantity.SPO2] is spo2


def test_bad_block_s() -> None:
    with pytest.raises(ValueError, match="block_s must be > 0, got 0"):
        SignalEngine({}, block_s=0)


# --- coalescing and cadence -------------------------------------------------------------
class _Log:
    """Logs every feed (samples, gap flag) and every assessment."""

    window_s = 1.0

    def __init__(self, fs_hz: float, name: str, channels: tuple[str, ...]) -> None:
        self.feeds: list[tuple[list[float], bool]] = []
        self.assessed = 0

    def feed(self, block: NDArray[np.float64], *, gap_before: bool) -> None:
        self.feeds.append((block.tolist(), gap_before))

    def assess(self, device: DeviceState) -> list[DerivedValue]:
        self.assessed += 1
        device.results["log"] = self
        return [DerivedValue("n", "1", Assessed(float(len(self.feeds)), Verdict.VALID))]


def _log(engine: SignalEngine) -> _Log:
    log = engine.devices["dev"].results["log"]
    assert isinstance(log, _Log)
    return log


@pytest.mark.parametrize("flagged", [False, True])
def test_packets_are_coalesced_and_a_gap_splits_them_in_place(flagged: bool) -> None:
    engine = SignalEngine({Quantity.PLETH: _Log}, block_s=0.25)  # 25 samples at 100 Hz
    assert engine.process([_block(0, 10)]).derived == ()
    assert engine.process([_block(10, 10)]).derived == ()
    # the third packet follows a gap (flagged, or 5 samples lost) and completes the block
    first, quality = (20, QualityFlag.GAP_BEFORE) if flagged else (25, QualityFlag.NONE)
    out = engine.process([_block(first, 10, quality=quality)])
    assert len(out.derived) == 1
    log = _log(engine)
    # fed once per assessment, except that what preceded the gap goes in first, on its own
    assert log.feeds == [
        ([float(k) for k in range(20)], False),
        ([float(k) for k in range(first, first + 10)], True),
    ]
    engine.process([_block(first + 10, 10)])
    assert log.assessed == 1 and len(log.feeds) == 2  # 5 + 10 < 25: still buffered
    engine.process([_block(first + 20, 10)])
    assert log.assessed == 2
    assert log.feeds[2:] == [([float(k) for k in range(first + 10, first + 30)], False)]


def _q_block(q: Quantity, first: int, n: int) -> SampleBlock:
    values = np.zeros((n, 1))
    t = first / 100.0
    return SampleBlock(q, "dev", ("c",), 100.0, first, values, q.spec.ucum, ReceiveTime(t, t))


def test_cadence_per_quantity() -> None:
    quantities = (Quantity.ECG, Quantity.PLETH, Quantity.AIRWAY_FLOW, Quantity.RESPIRATION_RATE)
    engine = SignalEngine(dict.fromkeys(quantities, _Recorder))  # the default cadence
    counts = dict.fromkeys(quantities, 0)
    for first in range(0, 400, 10):  # 4 s at 100 Hz in 0.1-s packets
        for q in quantities:
            counts[q] += len(engine.process([_q_block(q, first, 10)]).derived)
    # ECG per 1 s, pleth per 0.5 s, flow per 0.25 s, anything else per DEFAULT_BLOCK_S
    assert counts == {
        Quantity.ECG: 4,
        Quantity.PLETH: 8,
        Quantity.AIRWAY_FLOW: 16,
        Quantity.RESPIRATION_RATE: round(4 / DEFAULT_BLOCK_S),
    }
    custom = SignalEngine({Quantity.ECG: _Recorder}, block_s={Quantity.ECG: 2.0})
    n = sum(len(custom.process([_q_block(Quantity.ECG, f, 10)]).derived) for f in range(0, 400, 10))
    assert n == 2
    with pytest.raises(ValueError, match="block_s must be > 0, got -1"):
        SignalEngine({}, block_s={Quantity.ECG: -1.0, Quantity.PLETH: 1.0})


def test_channels_of_a_device_are_staggered() -> None:
    engine = SignalEngine({Quantity.PLETH: _Recorder}, block_s=0.25)
    per_call: list[list[str]] = []
    for first in range(0, 100, 5):
        out = engine.process([_block(first, 5, channels=4)])
        per_call.append([d.channel for d in out.derived])
    # each channel assessed once per 25 samples, but never two in the same call
    assert all(len(names) <= 1 for names in per_call)
    flat = [name for names in per_call for name in names]
    assert sorted(flat) == sorted(["c0", "c1", "c2", "c3"] * 4)


def test_a_usable_bp_reading_carries_its_esh_category() -> None:
    engine = SignalEngine({})
    events = [
        _m(Quantity.BP_SYSTOLIC, 152.0),
        _m(Quantity.BP_DIASTOLIC, 84.0),  # ESH 2023: ≥ 140 and < 90 is isolated systolic, grade 1
        _m(Quantity.BP_MEAN, 107.0),
        _m(Quantity.PULSE_RATE, 70.0),
        _m(Quantity.BP_SYSTOLIC, 80.0, t=2.0),  # another reading, order violated: no category
        _m(Quantity.BP_DIASTOLIC, 120.0, t=2.0),
        _m(Quantity.BP_SYSTOLIC, 134.0, t=3.0, flags=QualityFlag.CUFF_FIT),  # questionable
        _m(Quantity.BP_DIASTOLIC, 86.0, t=3.0, flags=QualityFlag.CUFF_FIT),
    ]
    out = engine.process(events)
    isolated = BpClass(BpCategory.ISOLATED_SYSTOLIC, 1)
    high_normal = BpClass(BpCategory.HIGH_NORMAL, None)
    assert dict(out.bp_classes) == {0: isolated, 1: isolated, 6: high_normal, 7: high_normal}


def test_no_bp_reading_no_categories() -> None:
    out = SignalEngine({}).process([_m(Quantity.PULSE_RATE, 70.0)])
    assert out.bp_classes == {}
