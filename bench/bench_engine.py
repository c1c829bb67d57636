"""The whole signal engine's CPU cost for a full health room, as a realtime factor, and latency.

Run: ``.venv/bin/python bench/bench_engine.py`` (``--span-s 600 --repeats 3``; ``--profile``
adds a cProfile of the full room). Goal (issue): the full room at ≥ 500x realtime on one core.

The room is the simulated stable-COPD patient (``hwsim.patient.Patient``), pre-generated before
any timing and fed to one ``SignalEngine`` (``default_factories()``, ``default_refiners()``)
exactly as the pipeline does: one ``process()`` call per device packet, in arrival order, with
the devices' real packet sizes and receive stamps —

* OpenBCI Cyton ECG: 8 leads (I, II, V1–V6), 250 Hz, 25 samples per packet (every 100 ms);
* Nonin pleth: 75 Hz, 25 samples per packet (every 1/3 s) with its SpO2 and pulse rate in the
  same packet (3 spot values per second each), scaled to the Nonin byte range as hwsim does;
* spirometer airway flow: 100 Hz, 10 samples per packet, rest noise with a forced expiration
  every 90 s;
* a BLE cuff blood-pressure reading (systolic, diastolic, mean, pulse rate) every 120 s.

The engine runs at its default cadence per quantity (ECG 1 s, pleth 0.5 s, flow 0.25 s, packets
coalesced per assessment) with full ECG analysis on the primary leads (II and V5) and a lead
check on the six others.

Printed: CPU (``time.process_time``, best of N repeats: other load on the shared machine only
ever adds time) per second of room and the realtime factor, for the full room, each device alone
and what-ifs (ECG quality every 5 / 40 assessments, all 8 leads in full, the old 0.25-s cadence
everywhere, pleth per 1 s); two latencies (see ``_latency``); and a peer in the same run,
neurokit2 on the same ECG and pleth as an offline batch baseline.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import math
import os
import pstats
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import neurokit2 as nk
import numpy as np
from hwsim.patient import Patient
from hwsim.physiology import FULL_PULSE_LSB
from hwsim.scenario import builtin_scenario
from numpy.typing import NDArray

from drivers.model import DeviceEvent, Measurement, Quantity, ReceiveTime, SampleBlock
from gateway.signals.channels import (
    ECG_QUALITY_EVERY,
    EcgFactory,
    default_factories,
    default_refiners,
)
from gateway.signals.engine import DEFAULT_BLOCK_S_BY_QUANTITY, ChannelFactory, SignalEngine

SCENARIO = "stable-copd"
SEED = 1
SPAN_S = 600.0
REPEATS = 3
GOAL_RT = 500.0
LEADS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")  # the Cyton's 8 independent leads
ECG_FS_HZ, ECG_PACKET = 250.0, 25
PLETH_FS_HZ, PLETH_PACKET = 75.0, 25
FLOW_FS_HZ, FLOW_PACKET = 100.0, 10
QUALITY_WHAT_IF = (5, 40)  # ECG quality_every what-ifs (default: ECG_QUALITY_EVERY)
FLOW_NOISE_LPS = 0.003  # hwsim spirometer's default sensor noise at rest
BLOW_FIRST_S, BLOW_EVERY_S = 20.0, 90.0
BP_FIRST_S, BP_EVERY_S = 3.0, 120.0
PLETH_BASE_LSB = 128.0 - FULL_PULSE_LSB / 2  # as hwsim/devices.py: trough of a full pulse
PATIENT_PI_FULL_PCT = 10.0  # hwsim/devices.py: perfusion index giving a full-size pulse
WALL_T0_S = 1.8e9  # receive stamps: a fixed wall clock, so runs are reproducible
ECG, OXIMETER, SPIRO, CUFF = "openbci", "nonin", "spiro", "bp-cuff"

Batch = tuple[float, list[DeviceEvent]]  # (arrival time in room seconds, one device packet)
Cadence = float | dict[Quantity, float] | None  # SignalEngine(block_s=...); None: its default
PLETH_1S: Cadence = {**DEFAULT_BLOCK_S_BY_QUANTITY, Quantity.PLETH: 1.0}


@dataclass(frozen=True, slots=True)
class Room:
    """The pre-generated room: packets in arrival order, and the raw signals for the peer."""

    span_s: float
    batches: list[Batch]
    ecg_uv: NDArray[np.float64]  # (n, 8)
    pleth: NDArray[np.float64]  # Nonin byte scale
    blows: int
    bp_readings: int

    def only(self, *devices: str, spot_only: bool = False) -> list[Batch]:
        """The packets of some devices (spot values only: drop the waveform blocks)."""
        out: list[Batch] = []
        for arrival, events in self.batches:
            kept: list[DeviceEvent] = [
                e
                for e in events
                if _device(e) in devices and not (spot_only and isinstance(e, SampleBlock))
            ]
            if kept:
                out.append((arrival, kept))
        return out


def _stamp(arrival_s: float) -> ReceiveTime:
    return ReceiveTime(WALL_T0_S + arrival_s, arrival_s)


def _blocks(
    quantity: Quantity,
    device: str,
    *,
    channels: tuple[str, ...],
    fs_hz: float,
    packet: int,
    x: NDArray[np.float64],
) -> list[Batch]:
    out: list[Batch] = []
    values = x.reshape(x.shape[0], -1)
    for start in range(0, values.shape[0] - packet + 1, packet):
        arrival = (start + packet) / fs_hz
        block = SampleBlock(
            quantity,
            device,
            channels,
            fs_hz,
            start,
            values[start : start + packet].copy(),
            quantity.spec.ucum,
            _stamp(arrival),
        )
        out.append((arrival, [block]))
    return out


def _spot(quantity: Quantity, value: float, device: str, received: ReceiveTime) -> Measurement:
    return Measurement(quantity, value, quantity.spec.ucum, device, received)


def make_room(span_s: float, seed: int = SEED) -> Room:
    """Every device's packets for ``span_s`` seconds of the simulated patient."""
    patient = Patient(builtin_scenario(SCENARIO), seed=seed)
    n_ecg = round(span_s * ECG_FS_HZ)
    ecg_uv = patient.ecg_uv(0.0, n_ecg, ECG_FS_HZ, LEADS)
    perfusion = min(1.0, patient.vitals(0.0).perfusion_index_pct / PATIENT_PI_FULL_PCT)
    pleth01 = patient.pleth(0.0, round(span_s * PLETH_FS_HZ), PLETH_FS_HZ)
    pleth = np.clip(np.round(PLETH_BASE_LSB + pleth01 * perfusion * FULL_PULSE_LSB), 0, 255)
    rng = np.random.default_rng(seed)
    flow = rng.normal(0.0, FLOW_NOISE_LPS, round(span_s * FLOW_FS_HZ))
    blows = 0
    for start_s in np.arange(BLOW_FIRST_S, span_s, BLOW_EVERY_S):
        blow = patient.forced_expiration_lps(FLOW_FS_HZ, "normal")
        i = round(start_s * FLOW_FS_HZ)
        if i + blow.size + 2 * round(FLOW_FS_HZ) > flow.size:
            break  # not enough room left to see it end
        flow[i : i + blow.size] += blow
        blows += 1

    ecg = _blocks(Quantity.ECG, ECG, channels=LEADS, fs_hz=ECG_FS_HZ, packet=ECG_PACKET, x=ecg_uv)
    oxi = _blocks(
        Quantity.PLETH,
        OXIMETER,
        channels=("pleth",),
        fs_hz=PLETH_FS_HZ,
        packet=PLETH_PACKET,
        x=pleth,
    )
    for arrival, events in oxi:  # a Nonin packet: pleth, then SpO2 and pulse rate
        v = patient.vitals(arrival)
        received = events[0].received  # type: ignore[union-attr]
        events.append(_spot(Quantity.SPO2, float(round(v.spo2_pct)), OXIMETER, received))
        events.append(_spot(Quantity.PULSE_RATE, float(round(v.hr_bpm)), OXIMETER, received))
    spiro = _blocks(
        Quantity.AIRWAY_FLOW,
        SPIRO,
        channels=("flow",),
        fs_hz=FLOW_FS_HZ,
        packet=FLOW_PACKET,
        x=flow,
    )
    cuff: list[Batch] = []
    for t in np.arange(BP_FIRST_S, span_s, BP_EVERY_S):
        v, received = patient.vitals(float(t)), _stamp(float(t))
        sys_mmhg, dia_mmhg = round(v.systolic_mmhg), round(v.diastolic_mmhg)
        reading = [
            (Quantity.BP_SYSTOLIC, float(sys_mmhg)),
            (Quantity.BP_DIASTOLIC, float(dia_mmhg)),
            (Quantity.BP_MEAN, float(round(dia_mmhg + (sys_mmhg - dia_mmhg) / 3))),
            (Quantity.PULSE_RATE, float(round(v.hr_bpm))),
        ]
        cuff.append((float(t), [_spot(q, x, CUFF, received) for q, x in reading]))
    order = {ECG: 0, OXIMETER: 1, SPIRO: 2, CUFF: 3}
    batches = sorted(
        ecg + oxi + spiro + cuff,
        key=lambda b: (round(b[0] * 1e6), order[_device(b[1][0])]),
    )
    return Room(span_s, batches, ecg_uv, pleth, blows, len(cuff))


def _device(event: DeviceEvent) -> str:
    return event.device_id if isinstance(event, Measurement | SampleBlock) else ""


class _RoomClock:
    """The engine's clock: the packet's arrival time plus the real time spent since.

    Each packet is handed to the engine the moment it "arrives", so the engine's latency
    (received -> verdict) is that of an idle room: no queue, no store write before it.
    """

    def __init__(self) -> None:
        self.arrival_s = 0.0
        self.entered_s = 0.0

    def __call__(self) -> float:
        return self.arrival_s + (time.perf_counter() - self.entered_s)


@dataclass(frozen=True, slots=True)
class RunResult:
    """One timed feed of a room through a fresh engine."""

    cpu_s: float
    wall_s: float
    call_s: NDArray[np.float64]  # per process() call: entry -> return (perf_counter)
    assessing: NDArray[np.bool_]  # the call produced derived values
    verdict_latency_s: NDArray[np.float64]  # Derived.latency_s, one per channel assessment
    derived: Counter[str]  # by source ("ecg", "pleth", "airway_flow")
    spot_verdicts: int
    stats: dict[str, float | int | None]


def _run(
    batches: Sequence[Batch],
    factories: dict[Quantity, ChannelFactory],
    block_s: Cadence = None,
) -> RunResult:
    """Feed every packet to a fresh engine. Results are not kept (only floats and counts):
    holding 10 minutes of verdict objects would make the garbage collector's full passes,
    and so the timings, grow with the run, which a room does not do."""
    clock = _RoomClock()
    engine = SignalEngine(factories, refiners=default_refiners(), block_s=block_s, clock=clock)
    call_s = np.empty(len(batches))
    n_derived = np.zeros(len(batches), dtype=np.int64)
    latency: list[float] = []
    derived: Counter[str] = Counter()
    spots = 0
    perf = time.perf_counter
    wall0, cpu0 = perf(), time.process_time()
    for i, (arrival, events) in enumerate(batches):
        t0 = perf()
        clock.arrival_s, clock.entered_s = arrival, t0
        result = engine.process(events)
        call_s[i] = perf() - t0
        if result.derived:
            n_derived[i] = len(result.derived)
            per_channel: dict[tuple[str, str], float] = {}  # one latency per assessment
            for d in result.derived:
                per_channel[d.device_id, d.channel] = d.latency_s
                derived[d.source] += 1
            latency.extend(per_channel.values())
        spots += len(result.verdicts) - result.verdicts.count(None)
    cpu_s, wall_s = time.process_time() - cpu0, perf() - wall0
    return RunResult(
        cpu_s,
        wall_s,
        call_s,
        n_derived > 0,
        np.array(latency),
        derived,
        spots,
        engine.stats.as_dict(),
    )


def best_of(
    batches: Sequence[Batch],
    factories: dict[Quantity, ChannelFactory],
    n: int,
    block_s: Cadence = None,
) -> RunResult:
    """The run with the least CPU of ``n``: other load only ever adds time."""
    return min((_run(batches, factories, block_s) for _ in range(n)), key=lambda r: r.cpu_s)


def ecg_factories(
    quality_every: int = ECG_QUALITY_EVERY, primary: tuple[str, ...] | None = None
) -> dict[Quantity, ChannelFactory]:
    """The room's analyzers, with the ECG quality indices recomputed every ``quality_every``
    assessments and full analysis on ``primary`` (None: the default primary leads)."""
    return {**default_factories(), Quantity.ECG: EcgFactory(primary, quality_every)}


def _neurokit(room: Room, repeats: int) -> tuple[float, float]:
    """CPU of the offline batch baseline: (8-lead ECG, pleth), whole recording per call."""
    leads_mv = [np.ascontiguousarray(room.ecg_uv[:, k]) / 1000.0 for k in range(len(LEADS))]
    fs_ecg, fs_pleth = round(ECG_FS_HZ), round(PLETH_FS_HZ)
    best_ecg = best_pleth = math.inf
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(repeats):
            t0 = time.process_time()
            for x in leads_mv:
                nk.ecg_peaks(x, sampling_rate=fs_ecg)
            best_ecg = min(best_ecg, time.process_time() - t0)
            t0 = time.process_time()
            clean = nk.ppg_clean(room.pleth, sampling_rate=fs_pleth)
            nk.ppg_findpeaks(clean, sampling_rate=fs_pleth)
            best_pleth = min(best_pleth, time.process_time() - t0)
    return best_ecg, best_pleth


def _ms(seconds: NDArray[np.float64], q: float) -> float:
    return float(np.percentile(seconds, q)) * 1000.0 if seconds.size else math.nan


def _cadence() -> str:
    return ", ".join(f"{q.spec.key} {b:g} s" for q, b in DEFAULT_BLOCK_S_BY_QUANTITY.items())


def _latency(run: RunResult) -> None:
    """The two latency definitions, over every packet / verdict of the run."""
    v, c = run.verdict_latency_s, run.call_s
    cadence = _cadence()
    ca = c[run.assessing]
    print(
        "latency, full room (the best run above; all packets, not a sample):\n"
        f"  verdict latency  = engine's Derived.latency_s, packet received -> its verdict "
        f"computed (idle room: each packet processed as it arrives, no queue or store write "
        f"before the engine; later leads of a packet wait for earlier ones):\n"
        f"    {v.size} channel assessments with values: p50 {_ms(v, 50):.3f} ms, "
        f"p99 {_ms(v, 99):.3f} ms, max {_ms(v, 100):.3f} ms\n"
        f"  compute latency  = process() entry -> return with the derived output, per packet:\n"
        f"    all {c.size} packets: p50 {_ms(c, 50):.3f} ms, p99 {_ms(c, 99):.3f} ms, "
        f"max {_ms(c, 100):.3f} ms\n"
        f"    {ca.size} packets that produced verdicts: p50 {_ms(ca, 50):.3f} ms, "
        f"p99 {_ms(ca, 99):.3f} ms, max {_ms(ca, 100):.3f} ms\n"
        f"  engine.stats (its own rings, last 4096 values only): {run.stats}\n"
        "  not included: the signal-time wait before a channel is assessed. A channel is judged "
        f"per block_s of new signal ({cadence}), its packets buffered until then; the verdict "
        "latency counts from the newest packet of the assessment, so its oldest sample has "
        "waited up to block_s longer (ECG: up to 1 s plus a packet)"
    )


def _profile(room: Room) -> None:
    prof = cProfile.Profile()
    prof.enable()
    _run(room.batches, dict(default_factories()))
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(30)
    print(f"cProfile, full room, {room.span_s:g} s:\n{out.getvalue()}")


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


@dataclass(frozen=True, slots=True)
class Summary:
    """What main() measured (for the smoke test and anyone scripting the bench)."""

    realtime_factor: dict[str, float]  # by run label
    full_room: RunResult
    neurokit_cpu_s: tuple[float, float]


def main(argv: Sequence[str] | None = None) -> Summary:
    """Generate the room, time every run, print the table; returns the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--span-s", type=float, default=SPAN_S, help="seconds of room")
    parser.add_argument("--repeats", type=int, default=REPEATS, help="best of this many")
    parser.add_argument("--profile", action="store_true", help="cProfile the full room")
    args = parser.parse_args(argv)
    span_s, repeats = float(args.span_s), max(1, int(args.repeats))
    print(f"machine: {os.cpu_count()} cores, load average {_load()} (1/5/15 min) at start")
    room = make_room(span_s)
    n_by = Counter(_device(b[1][0]) for b in room.batches)
    print(
        f"room: hwsim '{SCENARIO}' seed {SEED}, {span_s:g} s, pre-generated; "
        f"{len(room.batches)} process() calls, one per packet, in arrival order:\n"
        f"  ECG {len(LEADS)} leads x {ECG_FS_HZ:g} Hz, {ECG_PACKET}-sample packets "
        f"({n_by[ECG]}); pleth {PLETH_FS_HZ:g} Hz, {PLETH_PACKET}-sample packets with SpO2 + "
        f"pulse rate ({n_by[OXIMETER]}); flow {FLOW_FS_HZ:g} Hz, {FLOW_PACKET}-sample packets "
        f"({n_by[SPIRO]}, {room.blows} forced expirations); BP every {BP_EVERY_S:g} s "
        f"({room.bp_readings} readings)"
    )
    default = dict(default_factories())
    parts = (f"ECG only ({len(LEADS)} leads)", "oximeter (pleth+SpO2+PR)", "flow only")
    runs: list[tuple[str, list[Batch], dict[Quantity, ChannelFactory], Cadence]] = [
        ("full room", room.batches, default, None),
        (parts[0], room.only(ECG), default, None),
        ("ECG only (lead II)", _one_lead(room.only(ECG), "II"), default, None),
        (parts[1], room.only(OXIMETER), default, None),
        (parts[2], room.only(SPIRO), default, None),
        ("spot values only", room.only(OXIMETER, CUFF, spot_only=True), default, None),
    ]
    runs += [
        (f"full room, quality_every={n}", room.batches, ecg_factories(n), None)
        for n in QUALITY_WHAT_IF
    ]
    runs += [
        ("full room, 8 leads in full", room.batches, ecg_factories(primary=LEADS), None),
        ("full room, block_s=0.25 all", room.batches, default, 0.25),
        ("full room, pleth 1 s", room.batches, default, PLETH_1S),
    ]
    print(
        f"CPU = time.process_time, best of {repeats}; 'ms/s' = ms of CPU per second of room; "
        "RT = realtime factor (room seconds per CPU second, one core)"
    )
    print(
        f"{'run':<30} {'calls':>6} {'verdicts':>8} {'spots':>6} {'CPU s':>8} {'wall s':>8} "
        f"{'ms/s':>7} {'RT':>8} {'vs full':>8}"
    )
    results: dict[str, RunResult] = {}
    rt: dict[str, float] = {}
    for label, batches, factories, block_s in runs:
        r = results[label] = best_of(batches, factories, repeats, block_s)
        rt[label] = span_s / r.cpu_s if r.cpu_s > 0 else math.inf
        share = r.cpu_s / results["full room"].cpu_s
        print(
            f"{label:<30} {len(batches):>6} {sum(r.derived.values()):>8} {r.spot_verdicts:>6} "
            f"{r.cpu_s:>8.3f} {r.wall_s:>8.3f} {r.cpu_s / span_s * 1000:>7.3f} "
            f"{rt[label]:>7.0f}x {share:>8.2f}"
        )
    full = results["full room"]
    parts_cpu = sum(results[p].cpu_s for p in parts)
    print(
        f"sum of ECG + oximeter + flow runs: {parts_cpu:.3f} s CPU "
        f"({parts_cpu / full.cpu_s:.2f} of the full room)"
    )
    q_rt = ", ".join(f"{n} -> {rt[f'full room, quality_every={n}']:.0f}x" for n in QUALITY_WHAT_IF)
    print(
        f"ECG quality_every (primary leads, one assessment per second): {ECG_QUALITY_EVERY} "
        f"(default) -> {rt['full room']:.0f}x, {q_rt}"
    )
    print(
        f"what-if: all 8 leads with QRS detection, heart rate, rhythm and quality -> "
        f"{rt['full room, 8 leads in full']:.0f}x; every quantity assessed per 0.25 s (the old "
        f"cadence) -> {rt['full room, block_s=0.25 all']:.0f}x (default {_cadence()} -> "
        f"{rt['full room']:.0f}x); pleth per 1 s instead of 0.5 s -> "
        f"{rt['full room, pleth 1 s']:.0f}x"
    )
    met = rt["full room"] >= GOAL_RT
    print(
        f"goal >= {GOAL_RT:g}x realtime on one core: {'MET' if met else 'NOT MET'} "
        f"(full room {rt['full room']:.0f}x; the goal allows {1000 / GOAL_RT:.1f} ms CPU per "
        f"second of room, measured {full.cpu_s / span_s * 1000:.2f} ms)"
    )
    _latency(full)
    nk_ecg, nk_pleth = _neurokit(room, repeats)
    ours_ecg, ours_oxi = results[parts[0]].cpu_s, results[parts[1]].cpu_s
    print(
        f"peer: neurokit2 {nk.__version__} as an offline batch baseline (whole recording per "
        f"call, peaks only: no verdicts, no quality, no assessment per second), best of "
        f"{repeats}:\n"
        f"  ECG {len(LEADS)} leads, nk.ecg_peaks per lead: {nk_ecg:.3f} s CPU, "
        f"{span_s / nk_ecg:.0f}x realtime; engine ECG-only / neurokit2 = "
        f"{ours_ecg / nk_ecg:.2f}\n"
        f"  pleth, nk.ppg_clean + nk.ppg_findpeaks: {nk_pleth:.3f} s CPU, "
        f"{span_s / nk_pleth:.0f}x realtime; engine oximeter-only / neurokit2 = "
        f"{ours_oxi / nk_pleth:.2f}\n"
        "  (ratio > 1: the engine costs more CPU than the batch baseline)"
    )
    print(f"load average {_load()} at end")
    if args.profile:
        _profile(room)
    return Summary(rt, full, (nk_ecg, nk_pleth))


def _one_lead(batches: list[Batch], lead: str) -> list[Batch]:
    """The ECG packets cut down to one lead (the cost of a single-lead monitor)."""
    k = LEADS.index(lead)
    out: list[Batch] = []
    for arrival, events in batches:
        b = events[0]
        assert isinstance(b, SampleBlock)
        one = SampleBlock(
            b.quantity,
            b.device_id,
            (lead,),
            b.fs_hz,
            b.first_index,
            b.values[:, k : k + 1].copy(),
            b.unit,
            b.received,
        )
        out.append((arrival, [one]))
    return out


if __name__ == "__main__":
    main()
