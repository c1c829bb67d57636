"""bench/bench_engine.py still runs: its main() on a 5-second room (no timing asserted)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_engine.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_engine", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def test_bench_engine_main_on_a_short_room(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load()
    summary = bench.main(["--span-s", "5", "--repeats", "1"])
    out = capsys.readouterr().out
    full = summary.full_room
    # Every packet of the room went through the engine: 50 ECG + 15 oximeter + 50 flow + 1 BP.
    assert full.call_s.size == 116
    # Per second of ECG: 2 primary leads x (heart rate, rhythm, quality) + 6 lead checks x
    # quality; staggered, but each lead still gets 5 assessments in 5 s. The oximeter's pleth
    # gives 3 values per 0.5 s; no forced expiration fits in 5 s.
    assert full.derived["ecg"] == 5 * (2 * 3 + 6)
    assert full.derived["pleth"] > 0 and full.derived["pleth"] % 3 == 0
    assert "airway_flow" not in full.derived
    assert full.spot_verdicts == 15 * 2 + 4  # SpO2 + pulse per Nonin packet, one cuff reading
    assert full.verdict_latency_s.size > 0 and (full.verdict_latency_s >= 0).all()
    assert set(summary.realtime_factor) >= {
        "full room",
        "full room, quality_every=40",
        "full room, 8 leads in full",
        "full room, block_s=0.25 all",
    }
    assert all(rt > 0 for rt in summary.realtime_factor.values())
    assert all(t > 0 for t in summary.neurokit_cpu_s)
    for line in ("realtime", "goal >= 500x", "verdict latency", "compute latency", "neurokit2"):
        assert line in out
