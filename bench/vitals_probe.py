"""A non-browser viewer for bench_webrtc: how late vitals reach a Python client.

Joins the gateway over WHEP with aiortc (one recvonly video transceiver, the ``vitals`` and
``control`` channels, exactly as docs/api.md "An aiortc client" says) and, at the same time,
reads /api/v1/live over a WebSocket. For each vitals message it records receive time −
``sent_at_ms`` (data channel) or − ``sent_s`` (WebSocket), on this machine's clock. Run
beside Chromium viewers, it separates the gateway and transport from the browser page: if this
client sees a few ms where the page sees ten, the time is spent in the page, not in the room.

``python bench/vitals_probe.py BASE_URL TOKEN SECONDS`` prints one JSON line.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from typing import Any

import httpx
import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription

sys.path.insert(0, ".")
from webrtc.loopback import enable_loopback_candidates
from webrtc.peer import rtc_configuration


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def _summary(values: list[float]) -> dict[str, Any]:
    return {"n": len(values), "p50": _pct(values, 0.5), "p99": _pct(values, 0.99)}


async def _datachannel(base: str, token: str, seconds: float, frames: list[int]) -> list[float]:
    lat: list[float] = []
    pc = RTCPeerConnection(rtc_configuration([]))
    pc.addTransceiver("video", direction="recvonly")
    vitals = pc.createDataChannel("vitals")
    pc.createDataChannel("control")

    def on_message(text: str) -> None:
        now_ms = time.time() * 1000.0
        msg = json.loads(text)
        if msg.get("type") != "hello" and isinstance(msg.get("sent_at_ms"), float | int):
            lat.append(now_ms - msg["sent_at_ms"])

    vitals.on("message", on_message)
    pullers: list[asyncio.Task[None]] = []

    @pc.on("track")
    def on_track(track: Any) -> None:
        async def pull() -> None:
            with contextlib.suppress(Exception):
                while True:
                    await track.recv()  # decode, as a viewer does
                    frames[0] += 1

        pullers.append(asyncio.ensure_future(pull()))

    await pc.setLocalDescription(await pc.createOffer())
    async with httpx.AsyncClient(base_url=base) as client:
        r = await client.post(
            "/api/v1/whep",
            content=pc.localDescription.sdp,
            headers={"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"},
        )
        r.raise_for_status()
        await pc.setRemoteDescription(RTCSessionDescription(r.text, "answer"))
        await asyncio.sleep(3.0)  # connect and warm up, then measure
        lat.clear()
        await asyncio.sleep(seconds)
        measured = list(lat)
        await client.delete(r.headers["location"], headers={"Authorization": f"Bearer {token}"})
    for task in pullers:
        task.cancel()
    await pc.close()
    return measured


async def _websocket(base: str, token: str, seconds: float) -> list[float]:
    lat: list[float] = []
    url = base.replace("http://", "ws://") + "/api/v1/live"
    async with websockets.connect(
        url, additional_headers={"Authorization": f"Bearer {token}"}
    ) as ws:
        await asyncio.sleep(0)  # the hello
        deadline = time.monotonic() + 3.0 + seconds
        warm_until = time.monotonic() + 3.0
        while (left := deadline - time.monotonic()) > 0:
            try:
                text = await asyncio.wait_for(ws.recv(), left)
            except TimeoutError:
                break
            now_ms = time.time() * 1000.0
            msg = json.loads(text)
            if time.monotonic() > warm_until and isinstance(msg.get("sent_s"), float):
                lat.append(now_ms - msg["sent_s"] * 1000.0)
    return lat


async def main() -> None:
    base, token, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    enable_loopback_candidates()  # only in the bench's private namespace (refuses elsewhere)
    frames = [0]
    dc, ws = await asyncio.gather(
        _datachannel(base, token, seconds, frames), _websocket(base, token, seconds)
    )
    print(
        json.dumps(
            {"vitals_dc_ms": _summary(dc), "vitals_ws_ms": _summary(ws), "frames": frames[0]}
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
