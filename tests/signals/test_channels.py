"""The engine with the room's analyzers: ECG, pleth and flow streams in, verdicts out.

Signals come from independent sources: MIT-BIH record 100 (Moody & Mark 2001, ODC-By 1.0) for the
ECG, hwsim's physiological pleth and hwsim's analytic spirometry manoeuvres (whose FEV1 and FVC
are known in closed form).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import wfdb
from hwsim.physiology import synth_pleth
from hwsim.spiro_model import manoeuvre
from numpy.typing import NDArray

from drivers.model import Measurement, QualityFlag, Quantity, ReceiveTime, SampleBlock
from gateway.signals.channels import (
    EcgFactory,
    EcgLeadCheck,
    default_factories,
    default_refiners,
    primary_leads,
)
from gateway.signals.ecg import EcgReason
from gateway.signals.engine import Derived, DeviceState, SignalEngine
from gateway.signals.ppg import PpgReason
from gateway.signals.verdict import Verdict

MITDB = Path(__file__).resolve().parents[3] / "shared" / "data" / "mitdb"


def _engine() -> SignalEngine:
    return SignalEngine(default_factories(), refiners=default_refiners())


def _stream(
    engine: SignalEngine,
    quantity: Quantity,
    x: NDArray[np.float64],
    fs_hz: float,
    *,
    block: int,
    device: str = "dev",
    channel: str = "c",
    first: int = 0,
) -> list[Derived]:
    """Feed ``x`` in packets of ``block`` samples, its first sample at stream index ``first``."""
    out: list[Derived] = []
    for start in range(0, x.size, block):
        values = x[start : start + block].reshape(-1, 1)
        t = (first + start) / fs_hz
        b = SampleBlock(
            quantity,
            device,
            (channel,),
            fs_hz,
            first + start,
            values,
            quantity.spec.ucum,
            ReceiveTime(t, t),
        )
        out.extend(engine.process([b]).derived)
    return out


def _last(derived: list[Derived], key: str) -> Derived:
    return [d for d in derived if d.value.key == key][-1]


def test_ecg_lead_in_microvolts_gives_heart_rate_and_quality() -> None:
    record = wfdb.rdrecord(str(MITDB / "100"), sampto=360 * 60)
    x_uv = record.p_signal[:, 0] * 1000.0
    derived = _stream(_engine(), Quantity.ECG, x_uv, 360.0, block=90, channel="MLII")
    hr = _last(derived, "heart_rate").value.assessed
    assert hr.verdict is Verdict.VALID and 70 <= hr.value <= 82  # record 100: ~75 /min
    quality = _last(derived, "signal_quality").value
    assert quality.assessed.verdict is Verdict.VALID and quality.detail["bsqi"] > 0.9
    # one assessment per 1 s of signal (the ECG's cadence), as a bedside monitor refreshes
    assert len([d for d in derived if d.value.key == "heart_rate"]) == 60


CYTON_LEADS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")


def test_flat_non_primary_lead_is_reported_while_heart_rate_stays_valid() -> None:
    record = wfdb.rdrecord(str(MITDB / "100"), sampto=360 * 30)
    mlii_uv, v5_uv = record.p_signal[:, 0] * 1000.0, record.p_signal[:, 1] * 1000.0
    x_uv = np.stack([v5_uv if lead.startswith("V") else mlii_uv for lead in CYTON_LEADS], 1)
    x_uv[:, CYTON_LEADS.index("V3")] = 12.0  # V3 fell off: a flat line
    engine, derived = _engine(), []
    for start in range(0, x_uv.shape[0], 36):
        t = start / 360.0
        block = SampleBlock(
            Quantity.ECG,
            "cyton",
            CYTON_LEADS,
            360.0,
            start,
            x_uv[start : start + 36],
            "uV",
            ReceiveTime(t, t),
        )
        derived.extend(engine.process([block]).derived)
    assert {d.channel for d in derived if d.value.key == "heart_rate"} == {"II", "V5"}
    for lead in ("II", "V5"):
        hr = _last([d for d in derived if d.channel == lead], "heart_rate").value.assessed
        assert hr.usable and 70 <= hr.value <= 82, (lead, hr)
    # II is clean; record 100's V5 carries some baseline wander (questionable, still counted)
    assert (
        _last([d for d in derived if d.channel == "II"], "heart_rate").value.assessed.verdict
        is Verdict.VALID
    )
    v3 = _last([d for d in derived if d.channel == "V3"], "signal_quality").value
    assert v3.assessed.verdict is Verdict.INVALID and math.isnan(v3.assessed.value)
    assert v3.assessed.reason_codes() == ["lead_off_or_flat"] and v3.detail["lead_check"]
    v1 = _last([d for d in derived if d.channel == "V1"], "signal_quality").value
    assert v1.assessed.verdict is Verdict.VALID and v1.assessed.value == 1.0
    assert v1.detail["std_mv"] > 0.02 and v1.detail["rail_fraction"] == 0.0
    # every lead is assessed about once a second: 30 s, the first after up to 1 s
    assert len([d for d in derived if d.channel == "V3"]) in (29, 30)


def test_primary_lead_coming_off_is_invalid_within_seconds() -> None:
    record = wfdb.rdrecord(str(MITDB / "100"), sampto=360 * 30)
    x_uv = record.p_signal[:, 0] * 1000.0
    off_at = 360 * 20
    x_uv[off_at:] = -300.0  # electrode off at 20 s: a flat line (quality next due at ~25 s)
    derived = _stream(_engine(), Quantity.ECG, x_uv, 360.0, block=36, channel="II")
    hr = [d.value.assessed for d in derived if d.value.key == "heart_rate"]
    assert hr[18].verdict is Verdict.VALID  # ~19 s: still connected
    off = [i for i, a in enumerate(hr) if "lead_off_or_flat" in a.reason_codes()]
    # the 4-s lead check sees it once the flat line fills its window, at ~24 s (without it:
    # ~29 s, when too few beats are left in the 10-s window)
    assert off and off[0] <= 24 and all(not hr[i].usable for i in range(off[0], len(hr)))


@pytest.mark.parametrize(
    ("channels", "primary"),
    [
        (CYTON_LEADS, ("II", "V5")),
        (("I", "II", "V1", "V2"), ("II", "V2")),
        (("V1", "I", "II", "III"), ("II", "V1")),
        (("I", "II", "III"), ("II", "I")),
        (tuple(f"ch{k}" for k in range(1, 9)), ("ch1", "ch2")),  # OpenBCI: ch2 is the sim's II
        (("MLII",), ("MLII",)),
    ],
)
def test_primary_lead_selection(channels: tuple[str, ...], primary: tuple[str, ...]) -> None:
    assert primary_leads(channels) == primary
    factory = EcgFactory()
    kinds = {name: type(factory(250.0, name, channels)).__name__ for name in channels}
    assert {n for n, kind in kinds.items() if kind == "EcgChannel"} == set(primary)
    assert all(kinds[n] == "EcgLeadCheck" for n in channels if n not in primary)


def test_configured_primary_leads() -> None:
    assert EcgFactory(primary=("V2", "V9")).leads(CYTON_LEADS) == ("V2",)
    assert EcgFactory(primary=("X",)).leads(CYTON_LEADS) == ("II", "V5")  # none there: default


def test_lead_check_rail_saturation_and_not_finite() -> None:
    fs = 250.0
    t = np.arange(int(5 * fs)) / fs
    x_uv = 800.0 * np.sin(2 * np.pi * 1.2 * t)
    check = EcgLeadCheck(fs, "V4")
    check.feed(x_uv[:250], gap_before=False)
    assert check.assess(DeviceState())[0].assessed.reason_codes() == ["too_short"]
    check.feed(x_uv[250:], gap_before=False)
    assert check.assess(DeviceState())[0].assessed.verdict is Verdict.VALID
    clipped = np.minimum(x_uv, 500.0)  # flat tops: a third of each cycle at the rail
    check.feed(clipped, gap_before=True)
    q = check.assess(DeviceState())[0]
    assert q.assessed.verdict is Verdict.INVALID and q.assessed.reasons == (
        EcgReason.RAIL_SATURATION,
    )
    assert q.detail["rail_fraction"] > 0.1
    with_nan = x_uv.copy()
    with_nan[-100] = math.nan  # inside the last 4 s
    check.feed(with_nan, gap_before=True)
    assert check.assess(DeviceState())[0].assessed.reasons == (EcgReason.NOT_FINITE,)
    check.feed(x_uv, gap_before=False)  # 5 s more: the NaN has left the 4-s window
    assert check.assess(DeviceState())[0].assessed.verdict is Verdict.VALID


def test_flat_ecg_is_invalid_with_a_reason() -> None:
    derived = _stream(_engine(), Quantity.ECG, np.full(250 * 12, 5.0), 250.0, block=25)
    hr = _last(derived, "heart_rate").value.assessed
    assert hr.verdict is Verdict.INVALID and math.isnan(hr.value)
    assert "lead_off_or_flat" in hr.reason_codes()


def test_pleth_gives_pulse_rate_and_refines_spo2() -> None:
    engine = _engine()
    pleth = synth_pleth(30.0, hr_bpm=84.0, seed=4).astype(np.float64)
    derived = _stream(engine, Quantity.PLETH, pleth, 75.0, block=25)
    pr = _last(derived, "pulse_rate").value.assessed
    assert pr.verdict is Verdict.VALID and abs(pr.value - 84.0) < 3.0

    def spot(q: Quantity, v: float, flags: QualityFlag = QualityFlag.NONE) -> Measurement:
        return Measurement(q, v, q.spec.ucum, "dev", ReceiveTime(30.0, 30.0), quality=flags)

    # a device pulse rate far from the pleth's: both it and the next assessment say so
    verdicts = engine.process([spot(Quantity.SPO2, 96.0), spot(Quantity.PULSE_RATE, 130.0)])
    spo2, device_pr = verdicts.verdicts
    assert spo2 is not None and spo2.verdict is Verdict.VALID
    more = _stream(engine, Quantity.PLETH, pleth[:75], 75.0, block=25, first=pleth.size)
    later = _last(more, "pulse_rate").value.assessed
    assert PpgReason.RATE_MISMATCH_DEVICE in later.reasons
    again = engine.process([spot(Quantity.PULSE_RATE, 130.0)]).verdicts[0]
    assert again is not None and again.verdict is Verdict.QUESTIONABLE
    assert PpgReason.RATE_MISMATCH_DEVICE in again.reasons
    # the device's own artifact flag makes its SpO2 questionable
    flagged = engine.process([spot(Quantity.SPO2, 96.0, QualityFlag.ARTIFACT)]).verdicts[0]
    assert flagged is not None and flagged.verdict is Verdict.QUESTIONABLE
    assert device_pr is not None
    # the pleth's receive time is the gateway's receive clock: 10 s later it is stale
    late = Measurement(Quantity.PULSE_RATE, 130.0, "/min", "dev", ReceiveTime(41.0, 41.0))
    stale = engine.process([late]).verdicts[0]
    assert stale is not None and stale.verdict is Verdict.VALID and not stale.reasons


def _session(*blows: NDArray[np.float64], fs_hz: float = 100.0) -> NDArray[np.float64]:
    rest = np.zeros(int(3 * fs_hz))
    parts: list[NDArray[np.float64]] = [rest]
    for b in blows:
        parts += [b, rest]
    return np.concatenate(parts)


def test_flow_stream_cut_into_manoeuvres_and_graded() -> None:
    blows = [manoeuvre(100.0, 4.0 + 0.03 * k, 3.2 + 0.02 * k) for k in range(3)]
    derived = _stream(
        _engine(), Quantity.AIRWAY_FLOW, _session(*(b.flow_lps for b in blows)), 100.0, block=10
    )
    fev1 = [d.value for d in derived if d.value.key == "fev1"]
    fvc = [d.value for d in derived if d.value.key == "fvc"]
    assert len(fev1) == len(fvc) == 3
    for blow, f1, fv in zip(blows, fev1, fvc, strict=True):
        assert fv.assessed.verdict is Verdict.VALID, fv.assessed.reason_codes()
        assert fv.assessed.value == pytest.approx(blow.exhaled_l, abs=0.01)
        # FEV1 from back-extrapolated time zero reads a little above the blast-timed truth
        assert f1.assessed.value == pytest.approx(blow.fev1_l, rel=0.015)
    assert fvc[-1].detail["grade_fvc"] == "A" and fvc[-1].detail["grade_fev1"] == "A"
    assert [d.detail["manoeuvre"] for d in fvc] == [1, 2, 3]


def test_a_new_session_starts_a_new_spirometry_series() -> None:
    """Blows of an earlier consultation neither count nor grade the next patient's series,
    and cannot make an early-stopped blow acceptable (the largest prior FVC is an EOFE
    criterion: within repeatability of it ends a blow without a plateau)."""
    engine = _engine()
    big = manoeuvre(100.0, 4.0, 3.2)
    first = _stream(
        engine, Quantity.AIRWAY_FLOW, _session(big.flow_lps, big.flow_lps), 100.0, block=10
    )
    assert _last(first, "fvc").value.detail["manoeuvre"] == 2
    early = manoeuvre(100.0, 4.0, 3.2, fault="early-stop")
    carried = _stream(
        engine, Quantity.AIRWAY_FLOW, _session(early.flow_lps), 100.0, block=10, first=10_000
    )
    assert _last(carried, "fvc").value.detail["manoeuvre"] == 3  # same series: counted on
    engine.new_session()
    fresh = _stream(
        engine, Quantity.AIRWAY_FLOW, _session(early.flow_lps), 100.0, block=10, first=20_000
    )
    fvc = _last(fresh, "fvc").value
    assert fvc.detail["manoeuvre"] == 1
    assert fvc.assessed.verdict is not Verdict.VALID
    assert "no_eofe" in fvc.assessed.reason_codes()
    assert fvc.detail["grade_fvc"] != "A"


def test_faulty_blows_are_never_valid() -> None:
    early = manoeuvre(100.0, 4.0, 3.2, fault="early-stop")
    cough = manoeuvre(100.0, 4.0, 3.2, fault="cough")
    derived = _stream(
        _engine(), Quantity.AIRWAY_FLOW, _session(early.flow_lps, cough.flow_lps), 100.0, block=10
    )
    fvc = [d.value for d in derived if d.value.key == "fvc"]
    fev1 = [d.value for d in derived if d.value.key == "fev1"]
    assert fvc[0].assessed.verdict is not Verdict.VALID  # no plateau: FVC not acceptable
    assert "no_eofe" in fvc[0].assessed.reason_codes()
    assert fev1[1].assessed.verdict is not Verdict.VALID  # cough in the first second
    assert "cough_first_second" in fev1[1].assessed.reason_codes()


def test_gap_in_a_blow_drops_it() -> None:
    engine = _engine()
    blow = manoeuvre(100.0, 4.0, 3.2)
    flow = _session(blow.flow_lps)
    half = 300 + blow.blast_index + 100  # one second into the blast
    first = _stream(engine, Quantity.AIRWAY_FLOW, flow[:half], 100.0, block=10)
    values = flow[half + 50 :].reshape(-1, 1)
    gap = SampleBlock(
        Quantity.AIRWAY_FLOW, "dev", ("c",), 100.0, half + 50, values, "L/s", ReceiveTime(9, 9)
    )
    out = engine.process([gap]).derived
    assert not [d for d in (*first, *out) if d.value.key == "fvc"]


def test_flow_resuming_mid_expiration_is_not_a_blow() -> None:
    """After a gap (or at start-up) in the middle of a blast, wait for rest before a new blow:
    the tail of an expiration is not a manoeuvre (it would look like a small, clean one)."""
    blow = manoeuvre(100.0, 4.5, 3.6)
    flow = _session(blow.flow_lps, blow.flow_lps)
    cut = 300 + blow.blast_index + 30  # 0.3 s into the blast: flow still high
    assert flow[cut] > 2.0
    engine = _engine()
    first = _stream(engine, Quantity.AIRWAY_FLOW, flow[: cut - 20], 100.0, block=10)
    values = flow[cut:].reshape(-1, 1)
    gap = SampleBlock(
        Quantity.AIRWAY_FLOW, "dev", ("c",), 100.0, cut, values, "L/s", ReceiveTime(9, 9)
    )
    derived = [*first, *engine.process([gap]).derived]
    fvc = [d.value.assessed.value for d in derived if d.value.key == "fvc"]
    assert fvc == [pytest.approx(blow.exhaled_l, abs=0.01)]  # only the second, whole blow
    # the same from a cold start: the first data arrive mid-blast
    fresh = _stream(_engine(), Quantity.AIRWAY_FLOW, flow[cut:], 100.0, block=10)
    assert len([d for d in fresh if d.value.key == "fvc"]) == 1
