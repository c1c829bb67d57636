"""bench/bench_store.py still runs: its main() with tiny sizes (no timing asserted)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_store.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_store", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being defined
    spec.loader.exec_module(module)
    return module


def test_bench_store_main_with_tiny_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    summary = _load().main(["--writes", "128", "--drain", "200"])
    out = capsys.readouterr().out
    assert set(summary.write) == {
        f"synchronous={s}, batch {b}" for s in ("FULL", "NORMAL") for b in (1, 64)
    }
    assert all(mps > 0 and bps > 0 for mps, bps in summary.write.values())
    assert set(summary.drain) == {"outbox drain (gateway MqttLink)", "plain paho QoS1 publish loop"}
    assert all(rate > 0 for rate in summary.drain.values())
    for line in ("measurements/s", "batches/s", "msgs/s", "ratio vs plain"):
        assert line in out
