"""Store write cost: what durability (synchronous=FULL, a commit per batch) costs.

Peers in the same run: the same Store with synchronous=NORMAL, and with one commit per event
instead of per batch. Prints events/s and ratios. The gateway commits one batch per packet
(about 3 per second per oximeter), so what matters is the per-commit latency.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from drivers.model import Measurement, Quantity, ReceiveTime, SampleBlock
from gateway.store import Store

N_BATCHES = 300


def _batch(i: int) -> list[Measurement | SampleBlock]:
    rt = ReceiveTime(time.time(), time.monotonic())
    return [
        Measurement(Quantity.SPO2, 97.0, "%", "ox", rt),
        Measurement(Quantity.PULSE_RATE, 72.0, "/min", "ox", rt),
        SampleBlock(Quantity.PLETH, "ox", ("pleth",), 75.0, i * 25, np.zeros((25, 1)), "1", rt),
    ]


async def _run(path: Path, synchronous: str, per_event: bool) -> tuple[float, list[float]]:
    async with Store(path) as store:
        store.db.execute(f"PRAGMA synchronous={synchronous}")
        latencies = []
        start = time.perf_counter()
        for i in range(N_BATCHES):
            t0 = time.perf_counter()
            batch = _batch(i)
            if per_event:
                for ev in batch:
                    await store.write([ev])
            else:
                await store.write(batch)
            latencies.append((time.perf_counter() - t0) * 1000)
        elapsed = time.perf_counter() - start
    return N_BATCHES * 3 / elapsed, latencies


async def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory(
        dir=Path.cwd() / "var" if (Path.cwd() / "var").is_dir() else None
    ) as d:
        for name, sync, per_event in (
            ("FULL, commit per batch (gateway)", "FULL", False),
            ("NORMAL, commit per batch", "NORMAL", False),
            ("FULL, commit per event", "FULL", True),
        ):
            rate, lat = await _run(Path(d) / f"{sync}{per_event}.sqlite3", sync, per_event)
            rows.append((name, rate, statistics.median(lat), float(np.percentile(lat, 99))))
    base = rows[0][1]
    print(f"store: {N_BATCHES} batches of 3 events (SpO2, pulse, 25-sample pleth block)")
    for name, rate, p50, p99 in rows:
        print(
            f"  {name:36s} {rate:9.0f} events/s  batch p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"
            f"  ratio vs gateway {rate / base:5.2f}"
        )
    needed = 9  # events/s per oximeter
    print(f"  headroom: {base / needed:.0f}x one oximeter's event rate ({needed} events/s)")


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
