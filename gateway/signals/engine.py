"""The realtime signal engine: every value the gateway shows gets a verdict here.

Pure and synchronous (no asyncio, no I/O): the pipeline calls :meth:`SignalEngine.process` with
each batch of stored events, and ``helserom analyze`` feeds recordings through the same analyzers.

* Waveforms (``SampleBlock``) go to one analyzer per (device, quantity, channel) — ECG lead, pleth,
  airway flow. Each analyzer keeps its own bounded ring of recent signal. A channel's packets are
  buffered (coalesced) until it has ``block_s`` seconds of new samples — a cadence per quantity
  (ECG 1 s: monitors refresh the heart rate about once a second; pleth 0.5 s; flow 0.25 s) — then
  fed to its analyzer in one piece and assessed, so processing happens in fixed blocks of signal
  time whatever the device's packet size, and the same recording gives the same verdicts in the
  CLI and in the room. The channels of one device are staggered (channel k of n starts k/n of a
  block early), so a multi-lead packet does not assess every lead in the same call.
* Spot values (``Measurement``) are judged at once from the device's status bits and plausibility
  (:mod:`gateway.signals.spot`), blood-pressure readings as a whole (:mod:`gateway.clinical.bp`),
  and refined by what the device's own waveform says (SpO2 against its pleth).

Latency is measured from the moment the gateway received the newest block of an assessment (its
``received.monotonic_s``) to the moment its verdict is computed; compute time per batch is measured
separately. The oldest sample of an assessment has waited up to ``block_s`` longer.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from drivers.model import DeviceEvent, Measurement, QualityFlag, Quantity, SampleBlock
from gateway.clinical.bp import BpCategory, assess_bp
from gateway.signals.spot import assess_spot
from gateway.signals.verdict import Assessed

DEFAULT_BLOCK_S = 0.25  # quantities without an entry in DEFAULT_BLOCK_S_BY_QUANTITY
DEFAULT_BLOCK_S_BY_QUANTITY: Mapping[Quantity, float] = {
    Quantity.ECG: 1.0,  # bedside monitors refresh the heart rate about once a second
    Quantity.PLETH: 0.5,
    Quantity.AIRWAY_FLOW: 0.25,  # the end of a blow is found sample by sample anyway
}
STATS_WINDOW = 4096  # latency / compute samples kept for percentiles


@dataclass(frozen=True, slots=True)
class DerivedValue:
    """One value an analyzer derived (or checked), with its verdict."""

    key: str  # e.g. "heart_rate", "pulse_rate", "perfusion_index", "signal_quality"
    unit: str  # UCUM
    assessed: Assessed
    detail: Mapping[str, float | str | bool | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Derived:
    """A derived value from one channel of one device, as the engine emits it."""

    device_id: str
    source: str  # the input quantity's key: "ecg", "pleth", "airway_flow"
    channel: str
    value: DerivedValue
    window_s: float  # how much signal the value rests on
    input_received_wall_s: float  # when the newest input sample reached the gateway
    latency_s: float  # input received (monotonic) -> value computed


@dataclass(slots=True)
class DeviceState:
    """What the engine knows of one device: latest spot values and analyzer results."""

    spot: dict[Quantity, Measurement] = field(default_factory=dict)
    results: dict[str, object] = field(default_factory=dict)  # analyzer-specific, by source key
    # received.monotonic_s of the newest block fed, by source key ("pleth"), set by the engine
    # before an assessment: the gateway's clock, comparable with a Measurement's receive time.
    received_mono_s: dict[str, float] = field(default_factory=dict)


class WaveChannel(Protocol):
    """An analyzer for one waveform channel."""

    window_s: float

    def feed(self, block: NDArray[np.float64], *, gap_before: bool) -> None:
        """Append samples (one channel, in the unit of the factory's contract)."""
        ...

    def assess(self, device: DeviceState) -> list[DerivedValue]:
        """Verdicts over the recent window; may store a result in ``device.results``."""
        ...


ChannelFactory = Callable[[float, str, tuple[str, ...]], WaveChannel]
"""(fs_hz, channel name, all channel names of the device's block) -> analyzer.

The analyzer receives samples in the quantity's unit; the sibling names let a factory choose
(e.g. the primary ECG leads get the full analysis, the others a cheap lead check)."""

SpotRefiner = Callable[[Measurement, Assessed, DeviceState], Assessed]
"""(measurement, verdict from flags/plausibility, device state) -> refined verdict."""


class _Percentiles:
    """The last STATS_WINDOW samples of a duration, for p50/p99 (a preallocated ring)."""

    def __init__(self) -> None:
        self._values = np.zeros(STATS_WINDOW)
        self.count = 0

    def add(self, seconds: float) -> None:
        self._values[self.count % STATS_WINDOW] = seconds
        self.count += 1

    def percentile_ms(self, q: float) -> float:
        held = min(self.count, STATS_WINDOW)
        if not held:
            return math.nan
        return float(np.percentile(self._values[:held], q)) * 1000.0


@dataclass(slots=True)
class EngineStats:
    """How fast the engine is and how late its verdicts are."""

    latency: _Percentiles = field(default_factory=_Percentiles)
    compute: _Percentiles = field(default_factory=_Percentiles)
    blocks_in: int = 0
    derived_out: int = 0
    spot_assessed: int = 0

    def as_dict(self) -> dict[str, float | int | None]:
        """For /healthz and the bench (None where nothing was measured yet)."""

        def ms(p: _Percentiles, q: float) -> float | None:
            value = p.percentile_ms(q)
            return None if math.isnan(value) else round(value, 3)

        return {
            "blocks_in": self.blocks_in,
            "derived_out": self.derived_out,
            "spot_assessed": self.spot_assessed,
            "latency_p50_ms": ms(self.latency, 50),
            "latency_p99_ms": ms(self.latency, 99),
            "compute_p50_ms": ms(self.compute, 50),
            "compute_p99_ms": ms(self.compute, 99),
        }


@dataclass(frozen=True, slots=True)
class BpClass:
    """The ESH 2023 office category of one cuff reading (gateway.clinical.bp)."""

    category: BpCategory
    hypertension_grade: int | None  # 1–3 for grades and ISH, None below 140/90


@dataclass(frozen=True, slots=True)
class EngineResult:
    """What one :meth:`SignalEngine.process` call produced."""

    verdicts: tuple[Assessed | None, ...]  # per input event: the verdict of a Measurement
    derived: tuple[Derived, ...]
    # input event index -> category, for the systolic and diastolic of a reading whose both
    # values are usable (an unusable reading gets none)
    bp_classes: Mapping[int, BpClass] = field(default_factory=dict)


@dataclass(slots=True)
class _Channel:
    analyzer: WaveChannel
    device_id: str
    source: str
    name: str
    fs_hz: float
    samples_per_block: int
    pending: int = 0  # samples buffered since the last assessment (plus the stagger offset)
    buffered: list[NDArray[np.float64]] = field(default_factory=list)  # not yet fed
    gap_before: bool = False  # samples were lost just before buffered[0]
    last_index: int = -1  # first_index + n of the last block, to spot gaps
    received_wall_s: float = math.nan
    received_mono_s: float = math.nan

    def flush(self) -> None:
        """Feed what is buffered to the analyzer in one piece."""
        if not self.buffered:
            return
        parts, self.buffered = self.buffered, []
        block = parts[0] if len(parts) == 1 else np.concatenate(parts)
        self.analyzer.feed(block, gap_before=self.gap_before)
        self.gap_before = False


_BP_PARTS = (Quantity.BP_SYSTOLIC, Quantity.BP_DIASTOLIC, Quantity.BP_MEAN)


class SignalEngine:
    """Routes events to analyzers and returns verdicts; one instance per gateway."""

    def __init__(
        self,
        factories: Mapping[Quantity, ChannelFactory],
        *,
        refiners: Mapping[Quantity, SpotRefiner] | None = None,
        block_s: float | Mapping[Quantity, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``block_s``: assessment cadence in signal seconds, one for every quantity or per
        quantity (missing quantities: DEFAULT_BLOCK_S); None: DEFAULT_BLOCK_S_BY_QUANTITY."""
        if block_s is None:
            block_s = DEFAULT_BLOCK_S_BY_QUANTITY
        cadence = (
            dict(block_s) if isinstance(block_s, Mapping) else dict.fromkeys(Quantity, block_s)
        )
        for value in cadence.values():
            if not value > 0:
                raise ValueError(f"block_s must be > 0, got {value}")
        self.factories = dict(factories)
        self.refiners = dict(refiners or {})
        self.block_s: dict[Quantity, float] = cadence
        self.clock = clock
        self.stats = EngineStats()
        self.devices: dict[str, DeviceState] = {}
        self._channels: dict[tuple[str, Quantity, str], _Channel] = {}
        # (device, id(quantity)) -> (channel names, fs_hz, their _Channel in column order)
        self._layouts: dict[tuple[str, int], tuple[tuple[str, ...], float, list[_Channel]]] = {}

    def new_session(self) -> None:
        """A consultation began or ended: per-session results (the spirometry series and its
        grades) start afresh; streaming state (filters, beat detectors) carries on."""
        for channel in self._channels.values():
            reset = getattr(channel.analyzer, "new_session", None)
            if reset is not None:
                reset()
        for state in self.devices.values():
            state.results.pop("spiro", None)

    def device(self, device_id: str) -> DeviceState:
        """The state of one device (created on first use)."""
        state = self.devices.get(device_id)
        if state is None:
            state = self.devices[device_id] = DeviceState()
        return state

    def process(self, events: Sequence[DeviceEvent]) -> EngineResult:
        """Judge a batch of events (in arrival order); cheap enough for the realtime loop."""
        started = time.perf_counter()
        derived: list[Derived] = []
        for event in events:
            if isinstance(event, SampleBlock):
                derived.extend(self._feed(event))
        bp_classes: dict[int, BpClass] = {}
        verdicts = self._spot_verdicts(events, bp_classes)
        self.stats.compute.add(time.perf_counter() - started)
        self.stats.derived_out += len(derived)
        return EngineResult(tuple(verdicts), tuple(derived), bp_classes)

    # --- waveforms ---------------------------------------------------------------------
    def _feed(self, block: SampleBlock) -> list[Derived]:
        # Keyed by the member's id: an enum's __hash__ is a Python call, and this runs per packet.
        layout_key = (block.device_id, id(block.quantity))
        layout = self._layouts.get(layout_key)
        if layout is None or layout[0] != block.channels or layout[1] != block.fs_hz:
            factory = self.factories.get(block.quantity)
            if factory is None:
                return []
            channels = [
                self._channel(block, name, column, factory)
                for column, name in enumerate(block.channels)
            ]
            layout = self._layouts[layout_key] = (
                block.channels,
                block.fs_hz,
                channels,
            )
        self.stats.blocks_in += 1
        out: list[Derived] = []
        quality = block.quality
        flagged = quality is not QualityFlag.NONE and QualityFlag.GAP_BEFORE in quality
        first, n = block.first_index, block.n_samples
        wall_s, mono_s, values = block.received.wall_s, block.received.monotonic_s, block.values
        for column, channel in enumerate(layout[2]):
            if flagged or (channel.last_index >= 0 and first != channel.last_index):
                # What came before the gap goes in first, then the gap, then the new samples.
                channel.flush()
                channel.gap_before = True
            # A view, not a copy: a SampleBlock is immutable once emitted.
            channel.buffered.append(values[:, column])
            channel.last_index = first + n
            channel.pending += n
            channel.received_wall_s = wall_s
            channel.received_mono_s = mono_s
            if channel.pending >= channel.samples_per_block:
                # One assessment per batch (the same data twice tells nothing new); the
                # remainder carries over so the cadence follows signal time. The buffer never
                # holds more than a block plus one packet.
                channel.pending %= channel.samples_per_block
                channel.flush()
                out.extend(self._assess(channel))
        return out

    def _channel(
        self, block: SampleBlock, name: str, column: int, factory: ChannelFactory
    ) -> _Channel:
        key = (block.device_id, block.quantity, name)
        channel = self._channels.get(key)
        if channel is None or channel.fs_hz != block.fs_hz:
            block_s = self.block_s.get(block.quantity, DEFAULT_BLOCK_S)
            per_block = max(1, round(block_s * block.fs_hz))
            channel = _Channel(
                factory(block.fs_hz, name, block.channels),
                block.device_id,
                block.quantity.spec.key,
                name,
                block.fs_hz,
                per_block,
                pending=column * per_block // len(block.channels),  # stagger the channels
            )
            self._channels[key] = channel
        return channel

    def _assess(self, channel: _Channel) -> list[Derived]:
        device = self.device(channel.device_id)
        device.received_mono_s[channel.source] = channel.received_mono_s
        values = channel.analyzer.assess(device)
        latency_s = self.clock() - channel.received_mono_s
        self.stats.latency.add(latency_s)
        return [
            Derived(
                channel.device_id,
                channel.source,
                channel.name,
                value,
                channel.analyzer.window_s,
                channel.received_wall_s,
                latency_s,
            )
            for value in values
        ]

    # --- spot values -------------------------------------------------------------------
    def _spot_verdicts(
        self, events: Sequence[DeviceEvent], bp_classes: dict[int, BpClass]
    ) -> list[Assessed | None]:
        verdicts: list[Assessed | None] = [None] * len(events)
        bp_groups: dict[tuple[str, float], dict[Quantity, int]] = {}
        for i, event in enumerate(events):
            if not isinstance(event, Measurement):
                continue
            self.stats.spot_assessed += 1
            state = self.device(event.device_id)
            state.spot[event.quantity] = event
            if event.quantity in _BP_PARTS:
                group = bp_groups.setdefault((event.device_id, event.received.monotonic_s), {})
                group[event.quantity] = i
                continue
            verdict = assess_spot(event)
            refine = self.refiners.get(event.quantity)
            verdicts[i] = verdict if refine is None else refine(event, verdict, state)
        for (device_id, stamp), group in bp_groups.items():
            self._bp_verdicts(events, group, verdicts, bp_classes, device_id=device_id, stamp=stamp)
        return verdicts

    @staticmethod
    def _bp_verdicts(
        events: Sequence[DeviceEvent],
        group: Mapping[Quantity, int],
        verdicts: list[Assessed | None],
        bp_classes: dict[int, BpClass],
        *,
        device_id: str,
        stamp: float,
    ) -> None:
        """One cuff reading (parts with the same receive time) judged as a whole."""

        def part(q: Quantity) -> Measurement | None:
            i = group.get(q)
            event = events[i] if i is not None else None
            return event if isinstance(event, Measurement) else None

        parts = {q: part(q) for q in _BP_PARTS}
        flags = QualityFlag.NONE
        for m in parts.values():
            if m is not None:
                flags |= m.quality
        pulse = next(
            (
                e
                for e in events
                if isinstance(e, Measurement)
                and e.quantity is Quantity.PULSE_RATE
                and e.device_id == device_id
                and e.received.monotonic_s == stamp
            ),
            None,
        )

        def value(m: Measurement | None) -> float:
            return math.nan if m is None or QualityFlag.MISSING in m.quality else m.value

        result = assess_bp(
            value(parts[Quantity.BP_SYSTOLIC]),
            value(parts[Quantity.BP_DIASTOLIC]),
            value(parts[Quantity.BP_MEAN]),
            value(pulse),
            movement=QualityFlag.ARTIFACT in flags,
            cuff_fit_problem=QualityFlag.CUFF_FIT in flags,
            irregular_pulse=QualityFlag.IRREGULAR_PULSE in flags,
        )
        by_quantity = {
            Quantity.BP_SYSTOLIC: result.systolic,
            Quantity.BP_DIASTOLIC: result.diastolic,
            Quantity.BP_MEAN: result.mean,
        }
        for q, i in group.items():
            verdicts[i] = by_quantity[q]
        if result.category is not None:
            bp_class = BpClass(result.category, result.hypertension_grade)
            for q in (Quantity.BP_SYSTOLIC, Quantity.BP_DIASTOLIC):
                if q in group:
                    bp_classes[group[q]] = bp_class
