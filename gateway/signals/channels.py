"""The engine's analyzers per waveform quantity, and the spot-value refiners.

Adapters between :class:`gateway.signals.engine.SignalEngine` and the domain analyzers:

* ECG (µV) -> on the device's primary leads (:func:`primary_leads`: II and one of V5/V2/V1, else
  the first two channels) :class:`EcgAnalyzer` (mV): heart rate, rhythm irregularity, quality;
  on every other lead :class:`EcgLeadCheck`, a cheap per-lead check (flat / lead off, rail
  saturation, not finite), as a bedside monitor counts beats on one or two leads and only watches
  the others for lead-off;
* pleth -> :class:`PpgAnalyzer`: pulse rate cross-checked with the device's, perfusion, quality;
* airway flow (L/s) -> :class:`FlowChannel`: cuts forced expirations out of the stream and
  judges each per ATS/ERS 2019 (FEV1, FVC, ratio, PEF, FEF25–75) with the session's grades;
* SpO2 and pulse rate from an oximeter are refined with what that oximeter's pleth says.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from drivers.model import Measurement, Quantity
from gateway.signals.ecg import (
    FLAT_STD_MV,
    RAIL_FRACTION_BAD,
    RAIL_FRACTION_INVALID,
    RAIL_MIN_RUN_S,
    EcgAnalyzer,
    EcgReason,
    EcgResult,
)
from gateway.signals.ecg_quality import rail_fraction
from gateway.signals.engine import (
    ChannelFactory,
    DerivedValue,
    DeviceState,
    SpotRefiner,
    WaveChannel,
)
from gateway.signals.ppg import PpgAnalyzer, PpgReason, PpgResult, spo2_verdict
from gateway.signals.ring import RingBuffer
from gateway.signals.spiro import grade
from gateway.signals.spiro_manoeuvre import Manoeuvre, analyze_manoeuvre
from gateway.signals.verdict import Assessed, Verdict

UV_PER_MV = 1000.0
PLETH_STALE_S = 5.0  # a pleth result older than this no longer speaks for the SpO2

# --- ECG -------------------------------------------------------------------------------
PRIMARY_LIMB_LEAD = "II"  # the usual monitoring lead: tallest R in most patients
PRIMARY_CHEST_LEADS = ("V5", "V2", "V1")  # in order of preference (V5: ischaemia monitoring)
N_PRIMARY = 2
ECG_QUALITY_EVERY = 10  # primary leads: quality indices every 10th assessment (10 s at 1 s;
# as the 0.25-s cadence with quality_every=40); a lead check on every assessment meanwhile
LEAD_CHECK_WINDOW_S = 4.0  # the other leads: flat/rail/NaN over the last 4 s
LEAD_CHECK_MIN_S = 2.0  # no verdict on less


def primary_leads(channels: Sequence[str]) -> tuple[str, ...]:
    """The leads that get QRS detection, heart rate and rhythm: II and the first of V5, V2, V1
    present; made up to two with the device's first channels (so "ch1".."ch8" -> ch1, ch2)."""
    chosen = [PRIMARY_LIMB_LEAD] if PRIMARY_LIMB_LEAD in channels else []
    chosen += [lead for lead in PRIMARY_CHEST_LEADS if lead in channels][:1]
    for name in channels:
        if len(chosen) >= N_PRIMARY:
            break
        if name not in chosen:
            chosen.append(name)
    return tuple(chosen)


class EcgChannel:
    """One primary ECG lead: heart rate, rhythm irregularity and the full quality indices.

    The full quality indices are recomputed every ``quality_every`` assessments (10 s at the
    engine's 1-s ECG cadence); a lead check (:class:`EcgLeadCheck`: std over the last 4 s) runs
    on every assessment, so a lead coming off makes heart rate, rhythm and quality INVALID
    (lead_off_or_flat) within seconds, not at the next quality run. (The engine staggers a
    device's channels within the block, so two primary leads assess in different calls.)
    """

    window_s = 10.0

    def __init__(
        self,
        fs_hz: float,
        name: str,
        channels: tuple[str, ...] = (),
        *,
        quality_every: int = ECG_QUALITY_EVERY,
    ) -> None:
        self.name = name
        self.analyzer = EcgAnalyzer(fs_hz, self.window_s, quality_every=quality_every)
        self.check = EcgLeadCheck(fs_hz, name)

    def feed(self, block: NDArray[np.float64], *, gap_before: bool) -> None:
        self.analyzer.feed(block / UV_PER_MV, gap_before=gap_before)
        self.check.feed(block, gap_before=gap_before)

    def assess(self, device: DeviceState) -> list[DerivedValue]:
        result: EcgResult = self.analyzer.assess()
        device.results[f"ecg:{self.name}"] = result
        q = result.quality
        quality = Assessed(
            q.bsqi if q.verdict is not Verdict.INVALID and not math.isnan(q.bsqi) else math.nan,
            q.verdict if not math.isnan(q.bsqi) else Verdict.INVALID,
            q.reasons,
        )
        detail: dict[str, float | str | bool | None] = {
            "bsqi": q.bsqi,
            "ksqi": q.ksqi,
            "psqi": q.psqi,
            "bas_sqi": q.bas_sqi,
            "rail_fraction": q.rail_fraction,
            "irregular": result.irregular,
        }
        hr, rhythm = result.heart_rate_bpm, result.irregularity_nrmssd
        if self.check.flat():
            off = Assessed(math.nan, Verdict.INVALID, (EcgReason.LEAD_OFF_OR_FLAT,))
            hr = rhythm = quality = off
            detail["irregular"] = False
        return [
            DerivedValue("heart_rate", "/min", hr),
            DerivedValue("rhythm_irregularity", "1", rhythm),
            DerivedValue("signal_quality", "1", quality, detail),
        ]


class EcgLeadCheck:
    """A non-primary ECG lead: is it connected and in range? (No beats counted on it.)

    Over the last LEAD_CHECK_WINDOW_S: any NaN/inf -> INVALID not_finite; std below
    FLAT_STD_MV -> INVALID lead_off_or_flat; samples stuck at the extreme for ≥ RAIL_MIN_RUN_S
    above RAIL_FRACTION_BAD -> QUESTIONABLE (INVALID above RAIL_FRACTION_INVALID)
    rail_saturation — the thresholds of :mod:`gateway.signals.ecg`. The value is the fraction of
    the window not stuck at a rail (NaN when INVALID). Samples stay in µV (the checks are
    scale-free but for the std) in a linear buffer of twice the window, compacted when full, so
    the window is a view and a feed one slice copy: this runs for six leads every second.
    """

    window_s = LEAD_CHECK_WINDOW_S

    def __init__(self, fs_hz: float, name: str, channels: tuple[str, ...] = ()) -> None:
        self.name = name
        self.fs_hz = fs_hz
        self._n_win = max(1, round(fs_hz * self.window_s))
        self._buf = np.zeros(2 * self._n_win)
        self._end = 0  # write position in _buf
        self._held = 0  # samples of the current segment in the window (≤ _n_win)
        self._total = 0  # samples fed since the start
        self._min = round(fs_hz * LEAD_CHECK_MIN_S)
        self._min_run = max(2, round(RAIL_MIN_RUN_S * fs_hz))  # as ecg_quality.rail_fraction
        self._last_bad = -1  # _total after the newest block with a non-finite sample

    def feed(self, block: NDArray[np.float64], *, gap_before: bool) -> None:
        """Add samples (µV); after a gap the window starts afresh."""
        if gap_before:
            self._held = 0
        x = block[-self._n_win :]
        n = x.shape[0]
        self._total += block.shape[0]
        if not math.isfinite(float(np.add.reduce(x))):
            self._last_bad = self._total
        if self._end + n > self._buf.size:
            keep = min(self._held, self._n_win - n)
            self._buf[:keep] = self._buf[self._end - keep : self._end]
            self._end = keep
        self._buf[self._end : self._end + n] = x
        self._end += n
        self._held = min(self._held + n, self._n_win)

    def _window(self) -> NDArray[np.float64] | None:
        """The window (a view), or None when too short or not all finite."""
        held = self._held
        if held < self._min or self._last_bad > self._total - held:
            return None
        return self._buf[self._end - held : self._end]

    @staticmethod
    def _std_mv(x_uv: NDArray[np.float64]) -> float:
        d = x_uv - float(np.add.reduce(x_uv)) / x_uv.size
        return math.sqrt(float(np.dot(d, d)) / x_uv.size) / UV_PER_MV  # np.std, less overhead

    def flat(self) -> bool:
        """The last window (≥ LEAD_CHECK_MIN_S, all finite) is a flat line: lead off."""
        x = self._window()
        return x is not None and self._std_mv(x) < FLAT_STD_MV

    def assess(self, device: DeviceState) -> list[DerivedValue]:
        nan = math.nan
        detail: dict[str, float | str | bool | None] = {
            "lead_check": True,
            "std_mv": nan,
            "rail_fraction": nan,
        }
        x = self._window()
        if x is None:
            reason = EcgReason.TOO_SHORT if self._held < self._min else EcgReason.NOT_FINITE
            quality = Assessed(nan, Verdict.INVALID, (reason,))
        else:
            std_mv = self._std_mv(x)
            rail = 0.0
            if (
                int(np.count_nonzero(x == x.max())) >= self._min_run
                or int(np.count_nonzero(x == x.min())) >= self._min_run
            ):  # only then can a run at an extreme be long enough
                rail = rail_fraction(x, self.fs_hz, RAIL_MIN_RUN_S)
            detail["std_mv"], detail["rail_fraction"] = std_mv, rail
            quality = _lead_verdict(std_mv, rail)
        return [DerivedValue("signal_quality", "1", quality, detail)]


def _lead_verdict(std_mv: float, rail: float) -> Assessed:
    reasons: list[EcgReason] = []
    verdict = Verdict.VALID
    if std_mv < FLAT_STD_MV:
        reasons.append(EcgReason.LEAD_OFF_OR_FLAT)
        verdict = Verdict.INVALID
    if rail > RAIL_FRACTION_BAD:
        reasons.append(EcgReason.RAIL_SATURATION)
        verdict = verdict.worst(
            Verdict.INVALID if rail > RAIL_FRACTION_INVALID else Verdict.QUESTIONABLE
        )
    value = math.nan if verdict is Verdict.INVALID else 1.0 - rail
    return Assessed(value, verdict, tuple(reasons))


@dataclass(frozen=True, slots=True)
class EcgFactory:
    """The engine's ECG factory: full analysis on the primary leads, a lead check elsewhere.

    ``primary``: lead names to analyse in full when the device has them (None: the default
    :func:`primary_leads` choice); a device with none of them falls back to the default.
    """

    primary: tuple[str, ...] | None = None
    quality_every: int = ECG_QUALITY_EVERY

    def leads(self, channels: tuple[str, ...]) -> tuple[str, ...]:
        """The primary leads among a device's channels."""
        if self.primary is not None:
            chosen = tuple(name for name in self.primary if name in channels)
            if chosen:
                return chosen
        return primary_leads(channels)

    def __call__(self, fs_hz: float, name: str, channels: tuple[str, ...]) -> WaveChannel:
        if name in self.leads(channels or (name,)):
            return EcgChannel(fs_hz, name, channels, quality_every=self.quality_every)
        return EcgLeadCheck(fs_hz, name, channels)


class PlethChannel:
    """An oximeter's pleth, judged together with the device's own pulse rate and flags."""

    window_s = 10.0

    def __init__(self, fs_hz: float, name: str, channels: tuple[str, ...] = ()) -> None:
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
        # The gateway's receive clock of the newest pleth block (as a Measurement's received).
        device.results["pleth_received_s"] = device.received_mono_s.get("pleth", math.nan)
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
        # (NaN: the receive time is unknown, which the comparison treats as fresh)
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

    def __init__(self, fs_hz: float, name: str, channels: tuple[str, ...] = ()) -> None:
        self.name = name
        self.fs_hz = fs_hz
        self.ring = RingBuffer(round(fs_hz * (self.window_s + 1.0)))
        self.start_total: int | None = None  # ring.total when the blow started
        # A blow may start only after flow was seen at rest: data that begin (start-up) or
        # resume (after a gap) mid-expiration are the tail of a blow, not a manoeuvre.
        self.armed = False
        self.quiet = 0  # samples without flow since the last flow
        self.inspiring = 0  # samples of inspiration since the last expiration
        self.manoeuvres: deque[Manoeuvre] = deque(maxlen=MAX_MANOEUVRES)
        self.pending: list[DerivedValue] = []

    def new_session(self) -> None:
        """A new patient's series: earlier blows neither grade nor bound the next ones (the
        largest prior FVC is an end-of-expiration criterion). A blow in progress goes on."""
        self.manoeuvres.clear()
        self.pending = []

    def feed(self, block: NDArray[np.float64], *, gap_before: bool) -> None:
        if gap_before:
            self.start_total = None  # a blow with a hole in it cannot be judged
            self.armed = False
            self.ring.clear()
        flow = np.asarray(block, dtype=np.float64)
        if not math.isfinite(float(np.add.reduce(flow))):  # rare: NaN/inf somewhere
            flow = np.nan_to_num(flow, nan=0.0)
        first_total = self.ring.total
        self.ring.extend(flow)
        if self.start_total is None and not (flow > BLOW_START_LPS).any():
            # at rest (or breathing in): nothing to follow sample by sample
            if not self.armed:
                rest = (np.abs(flow) < BLOW_QUIET_LPS) | (flow < BLOW_INSPIRE_LPS)
                self.armed = bool(rest.any())
            return
        for k, x in enumerate(flow.tolist()):
            self._step(x, first_total + k + 1)

    def _step(self, x: float, total: int) -> None:
        """One sample; ``total`` is the ring's sample count up to and including it."""
        if self.start_total is None:
            if not self.armed:
                self.armed = abs(x) < BLOW_QUIET_LPS or x < BLOW_INSPIRE_LPS
            elif x > BLOW_START_LPS:
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
        Quantity.ECG: EcgFactory(),
        Quantity.PLETH: PlethChannel,
        Quantity.AIRWAY_FLOW: FlowChannel,
    }


def default_refiners() -> Mapping[Quantity, SpotRefiner]:
    """Spot values refined by their device's waveform."""
    return {Quantity.SPO2: refine_spo2, Quantity.PULSE_RATE: refine_pulse_rate}
