"""Live path latency: device bytes received → stored (fsync) → WebSocket client.

Runs a real gateway process on the simulated room and reads /api/v1/live. For each message:
  pipeline = sent_s - received_s   (decode, queue, SQLite commit, publish)
  transit  = client receive - sent_s (uvicorn + websockets to a local client)
Peer in the same run: a bare `websockets` server on loopback sending the same messages at the
same rate, so the transit cost of the gateway's stack can be compared with the library alone.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
from websockets.asyncio.server import serve
from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.gatewayproc import start_gateway, wait_for

N_MESSAGES = 300


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def gateway_run() -> tuple[list[float], list[float], list[str]]:
    gw = start_gateway()
    try:
        wait_for(lambda: gw.device()["frames_ok"] > 300, 15)  # past the oximeter's acquisition
        url = gw.base_url.replace("http://", "ws://") + "/api/v1/live"
        pipeline, transit, payloads = [], [], []
        with connect(url, additional_headers={"Authorization": f"Bearer {gw.token}"}) as ws:
            ws.recv(timeout=5)  # hello
            while len(pipeline) < N_MESSAGES:
                raw = ws.recv(timeout=5)
                now = time.time()
                msg = json.loads(raw)
                if msg["type"] in ("measurement", "waveform"):
                    pipeline.append((msg["sent_s"] - msg["received_s"]) * 1000)
                    transit.append((now - msg["sent_s"]) * 1000)
                    payloads.append(str(raw))
        return pipeline, transit, payloads
    finally:
        gw.stop_cleanly()
        gw.remove()


def baseline_run(payloads: list[str]) -> list[float]:
    """A bare websockets server sends the same messages, 3 bursts per second like the gateway."""
    ready = threading.Event()
    port_box: list[int] = []

    async def handler(ws: object) -> None:
        for i in range(0, len(payloads), 3):
            for p in payloads[i : i + 3]:
                msg = json.loads(p)
                msg["sent_s"] = time.time()
                await ws.send(json.dumps(msg))  # type: ignore[attr-defined]
            await asyncio.sleep(1 / 30)

    async def server() -> None:
        async with serve(handler, "127.0.0.1", 0) as srv:
            port_box.append(srv.sockets[0].getsockname()[1])  # type: ignore[index]
            ready.set()
            await asyncio.sleep(60)

    threading.Thread(target=lambda: asyncio.run(server()), daemon=True).start()
    ready.wait(5)
    transit = []
    with connect(f"ws://127.0.0.1:{port_box[0]}") as ws:
        for _ in payloads:
            raw = ws.recv(timeout=5)
            transit.append((time.time() - json.loads(raw)["sent_s"]) * 1000)
    return transit


def main() -> None:
    pipeline, transit, payloads = gateway_run()
    base = baseline_run(payloads)
    print(f"live latency over {N_MESSAGES} messages (measurements and pleth blocks), ms")
    for name, xs in (
        ("gateway pipeline (decode→fsync→publish)", pipeline),
        ("gateway transit (uvicorn→client)", transit),
        ("baseline transit (bare websockets)", base),
    ):
        print(
            f"  {name:42s} p50 {statistics.median(xs):7.2f}  p95 {pct(xs, 95):7.2f}"
            f"  max {max(xs):7.2f}"
        )
    total = [a + b for a, b in zip(pipeline, transit, strict=True)]
    print(
        f"  end to end (receive→client)                 p50 {statistics.median(total):7.2f}"
        f"  p95 {pct(total, 95):7.2f}"
    )
    ratio = statistics.median(transit) / statistics.median(base)
    print(f"  transit ratio gateway/baseline (p50)       {ratio:7.2f}x")


if __name__ == "__main__":
    main()
