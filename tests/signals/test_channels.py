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
from gateway.signals.channels import default_factories, default_refiners
from gateway.signals.engine import Derived, SignalEngine
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
) -> list[Derived]:
    out: list[Derived] = []
    for start in range(0, x.size, block):
        values = x[start : start + block].reshape(-1, 1)
        t = start / fs_hz
        b = SampleBlock(
            quantity,
            device,
            (channel,),
            fs_hz,
            start,
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
    # one assessment per 0.25 s of signal once the window is long enough
    assert len([d for d in derived if d.value.key == "heart_rate"]) == pytest.approx(240, abs=2)


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
    more = _stream(engine, Quantity.PLETH, pleth[:75], 75.0, block=25)
    later = _last(more, "pulse_rate").value.assessed
    assert PpgReason.RATE_MISMATCH_DEVICE in later.reasons
    again = engine.process([spot(Quantity.PULSE_RATE, 130.0)]).verdicts[0]
    assert again is not None and again.verdict is Verdict.QUESTIONABLE
    assert PpgReason.RATE_MISMATCH_DEVICE in again.reasons
    # the device's own artifact flag makes its SpO2 questionable
    flagged = engine.process([spot(Quantity.SPO2, 96.0, QualityFlag.ARTIFACT)]).verdicts[0]
    assert flagged is not None and flagged.verdict is Verdict.QUESTIONABLE
    assert device_pr is not None


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
