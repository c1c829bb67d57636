"""The engine's analyzers per waveform quantity, and the spot-value refiners.

Adapters between :class:`gateway.signals.engine.SignalEngine` and the domain analyzers:

* ECG (µV, any lead) -> :class:`EcgAnalyzer` (mV): heart rate, rhythm irregularity, quality;
* pleth -> :class:`PpgAnalyzer`: pulse rate cross-checked with the device's, perfusion, quality;
* airway flow (L/s) -> :class:`FlowChannel`: cuts forced expirations out of the stream and
  judges each per ATS/ERS 2019 (FEV1, FVC, ratio, PEF, FEF25–75) with the session's grades;
* SpO2 and pulse rate from an oximeter are refined with what that oximeter's pleth says.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

from drivers.model import Measurement, Quantity
from gateway.signals.ecg import EcgAnalyzer, EcgResult
from gateway.signals.engine import ChannelFactory, DerivedValue, DeviceState, SpotRefiner
from gateway.signals.ppg import PpgAnalyzer, PpgReason, PpgResult, spo2_verdict
from gateway.signals.ring import RingBuffer
from gateway.signals.spiro import grade
from gateway.signals.spiro_manoeuvre import Manoeuvre, analyze_manoeuvre
from gateway.signals.verdict import Assessed, Verdict

UV_PER_MV = 1000.0
PLETH_STALE_S = 5.0  # a pleth result older than this no longer speaks for the SpO2


class EcgChannel:
    """One ECG lead."""

    window_s = 10.0

    def __init__(self, fs_hz: float, name: str) -> None:
        self.name = name
        self.analyzer = EcgAnalyzer(fs_hz, self.window_s)

    def feed(self, block: NDArray[np.float64], *, gap_before: bool) -> None:
        self.analyzer.feed(block / UV_PER_MV, gap_before=gap_before)

    def assess(self, device: DeviceState) -> list[DerivedValue]:
        result: EcgResult = self.analyzer.assess()
        device.results[f"ecg:{self.name}"] = result
        q = result.quality
        quality = Assessed(
            q.bsqi if q.verdict is not Verdict.INVALID and not math.isnan(q.bsqi) else math.nan,
            q.verdict if not math.isnan(q.bsqi) else Verdict.INVALID,
            q.reasons,
        )
        detail = {
            "bsqi": q.bsqi,
            "ksqi": q.ksqi,
            "psqi": q.psqi,
            "bas_sqi": q.bas_sqi,
            "rail_fraction": q.rail_fraction,
            "irregular": result.irregular,
        }
        return [
            DerivedValue("heart_rate", "/min", result.heart_rate_bpm),
            DerivedValue("rhythm_irregularity", "1", result.irregularity_nrmssd),
            DerivedValue("signal_quality", "1", quality, detail),
        ]


class PlethChannel:
    """An oximeter's pleth, judged together with the device's own pulse rate and flags."""

    window_s = 10.0

    def __init__(self, fs_hz: float, name: str) -> None:
        self.name = name
        self.analyzer = PpgAnalyzer(fs_hz, self.window_s, has_dc=False)

    def feed(self, block: NDArray[np.float64], *, gap_before: bool) -> None:
        self.analyzer.feed(block, gap_before=gap_before)

    def assess(self, device: DeviceState) -> list[DerivedValue]:
        pr = device.spot.get(Quantity.PULSE_RATE)
        result = self.analyzer.assess(
            device_pulse_bpm=pr.value if pr is not None else math.nan,
            device_quality=pr.quality if pr is not None else 0,
        )
        device.results["pleth"] = result
        device.results["pleth_received_s"] = time.monotonic()
        quality = Assessed(
            result.sqi if result.verdict is not Verdict.INVALID else math.nan,
            Verdict.INVALID if math.isnan(result.sqi) else result.verdict,
            result.reasons,
        )
        detail = {
            "motion": result.motion,
            "artifact_fraction": result.artifact_fraction,
            "clipped_fraction": result.clipped_fraction,
            "pulses": int(result.pulses.size),
        }
        return [
            DerivedValue("pulse_rate", "/min", result.pulse_rate_bpm),
            DerivedValue("perfusion_index", "%", result.perfusion_index_pct),
            DerivedValue("signal_quality", "1", quality, detail),
        ]


def _fresh_pleth(device: DeviceState, m: Measurement) -> PpgResult | None:
    result = device.results.get("pleth")
    pleth_at = device.results.get("pleth_received_s")
    if not isinstance(result, PpgResult):
        return None
    if isinstance(pleth_at, float) and m.received.monotonic_s - pleth_at > PLETH_STALE_S:
        return None
    return result


def refine_spo2(m: Measurement, base: Assessed, device: DeviceState) -> Assessed:
    """The worse of the flag/plausibility verdict and the pleth-aware SpO2 verdict."""
    pleth = spo2_verdict(m.value, m.quality, _fresh_pleth(device, m))
    return _worse(base, pleth)


def refine_pulse_rate(m: Measurement, base: Assessed, device: DeviceState) -> Assessed:
    """The device's pulse rate, questionable when its own pleth counts another rate."""
    pleth = _fresh_pleth(device, m)
    if pleth is None or not base.usable or PpgReason.RATE_MISMATCH_DEVICE not in pleth.reasons:
        return base
    return _worse(
        base, Assessed(base.value, Verdict.QUESTIONABLE, (PpgReason.RATE_MISMATCH_DEVICE,))
    )


def _worse(a: Assessed, b: Assessed) -> Assessed:
    verdict = a.verdict.worst(b.verdict)
    reasons = tuple(dict.fromkeys((*a.reasons, *b.reasons)))
    value = math.nan if verdict is Verdict.INVALID else a.value
    return Assessed(value, verdict, reasons)


# --- airway flow -----------------------------------------------------------------------
BLOW_START_LPS = 1.0  # expiratory flow above this starts a forced expiration
BLOW_QUIET_LPS = 0.015  # |flow| below this counts as no flow (plateau: < 0.025 L in 1 s)
BLOW_QUIET_S = 1.5  # this long without flow ends it
BLOW_INSPIRE_LPS = -0.3  # inspiratory flow below this, for BLOW_INSPIRE_S, also ends it
BLOW_INSPIRE_S = 0.3
BLOW_MAX_S = 20.0  # FET ≥ 15 s is enough (ATS/ERS 2019); stop waiting after 20 s
PRE_BLOW_S = 4.0  # signal kept before the start: the maximal inspiration
MAX_MANOEUVRES = 8  # per session; ATS/ERS 2019 suggests at most 8 attempts


class FlowChannel:
    """A spirometer's flow: forced expirations cut out and judged, with session grades."""

    window_s = PRE_BLOW_S + BLOW_MAX_S

    def __init__(self, fs_hz: float, name: str) -> None:
        self.name = name
        self.fs_hz = fs_hz
        self.ring = RingBuffer(round(fs_hz * (self.window_s + 1.0)))
        self.start_total: int | None = None  # ring.total when the blow started
        self.quiet = 0  # samples without flow since the last flow
        self.inspiring = 0  # samples of inspiration since the last expiration
        self.manoeuvres: deque[Manoeuvre] = deque(maxlen=MAX_MANOEUVRES)
        self.pending: list[DerivedValue] = []

    def feed(self, block: NDArray[np.float64], *, gap_before: bool) -> None:
        if gap_before:
            self.start_total = None  # a blow with a hole in it cannot be judged
            self.ring.clear()
        flow = np.nan_to_num(np.asarray(block, dtype=np.float64), nan=0.0)
        first_total = self.ring.total
        self.ring.extend(flow)
        if self.start_total is None and not (flow > BLOW_START_LPS).any():
            return  # at rest: nothing to follow sample by sample
        for k, x in enumerate(flow.tolist()):
            self._step(x, first_total + k + 1)

    def _step(self, x: float, total: int) -> None:
        """One sample; ``total`` is the ring's sample count up to and including it."""
        if self.start_total is None:
            if x > BLOW_START_LPS:
                self.start_total = total - 1
                self.quiet = self.inspiring = 0
            return
        self.quiet = self.quiet + 1 if abs(x) < BLOW_QUIET_LPS else 0
        self.inspiring = self.inspiring + 1 if x < BLOW_INSPIRE_LPS else 0
        length = total - self.start_total
        if (
            self.quiet >= BLOW_QUIET_S * self.fs_hz
            or self.inspiring >= BLOW_INSPIRE_S * self.fs_hz
            or length >= BLOW_MAX_S * self.fs_hz
        ):
            self._judge(length, self.ring.total - total)
            self.start_total = None

    def _judge(self, length: int, after: int) -> None:
        """Judge the ``length`` samples that end ``after`` samples before the ring's end."""
        pre = round(PRE_BLOW_S * self.fs_hz)
        held = self.ring.latest(length + pre + after)[:, 0]
        segment = held[: held.size - after] if after else held
        prior = max((m.fvc_l for m in self.manoeuvres if math.isfinite(m.fvc_l)), default=math.nan)
        m = analyze_manoeuvre(segment, self.fs_hz, prior_fvc_l=prior)
        self.manoeuvres.append(m)
        acc_fev1 = [x.fev1_l for x in self.manoeuvres if x.acceptable_fev1]
        acc_fvc = [x.fvc_l for x in self.manoeuvres if x.acceptable_fvc]
        use_fev1 = sum(1 for x in self.manoeuvres if x.usable_fev1)
        use_fvc = sum(1 for x in self.manoeuvres if x.usable_fvc)
        detail: dict[str, float | str | bool | None] = {
            "manoeuvre": len(self.manoeuvres),
            "bev_l": m.bev_l,
            "fet_s": m.fet_s,
            "grade_fev1": grade(acc_fev1, use_fev1).value,
            "grade_fvc": grade(acc_fvc, use_fvc).value,
        }
        fev1_v = _level(m.acceptable_fev1, m.usable_fev1)
        fvc_v = _level(m.acceptable_fvc, m.usable_fvc)
        both = fev1_v.worst(fvc_v)
        self.pending = [
            DerivedValue("fev1", "L", _judged(m.fev1_l, fev1_v, m), detail),
            DerivedValue("fvc", "L", _judged(m.fvc_l, fvc_v, m), detail),
            DerivedValue("fev1_fvc", "1", _judged(m.fev1_fvc, both, m), detail),
            DerivedValue("pef", "L/s", _judged(m.pef_lps, fev1_v, m), detail),
            DerivedValue("fef25_75", "L/s", _judged(m.fef25_75_lps, both, m), detail),
        ]

    def assess(self, device: DeviceState) -> list[DerivedValue]:
        out, self.pending = self.pending, []
        if out:
            device.results["spiro"] = list(self.manoeuvres)
        return out


def _level(acceptable: bool, usable: bool) -> Verdict:
    if acceptable:
        return Verdict.VALID
    return Verdict.QUESTIONABLE if usable else Verdict.INVALID


def _judged(value: float, verdict: Verdict, m: Manoeuvre) -> Assessed:
    if verdict is Verdict.INVALID or not math.isfinite(value):
        return Assessed(math.nan, Verdict.INVALID, m.reasons)
    return Assessed(value, verdict, m.reasons)


def default_factories() -> Mapping[Quantity, ChannelFactory]:
    """The analyzers the room runs."""
    return {
        Quantity.ECG: EcgChannel,
        Quantity.PLETH: PlethChannel,
        Quantity.AIRWAY_FLOW: FlowChannel,
    }


def default_refiners() -> Mapping[Quantity, SpotRefiner]:
    """Spot values refined by their device's waveform."""
    return {Quantity.SPO2: refine_spo2, Quantity.PULSE_RATE: refine_pulse_rate}
