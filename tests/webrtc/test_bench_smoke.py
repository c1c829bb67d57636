"""bench/bench_webrtc.py's encoder part runs and reports every encoder (small frames, fast)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_webrtc.py"


def test_encoder_bench_reports_each_encoder() -> None:
    spec = importlib.util.spec_from_file_location("bench_webrtc", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    figures = module.encoder_cpu(160, 96, frames=10)
    assert set(figures) == {
        "libx264 ultrafast+zerolatency (ours)",
        "aiortc H264Encoder default (preset medium)",
        "libvpx VP8 realtime (fallback)",
    }
    assert all(ms > 0 for ms in figures.values())
