"""What /healthz reports, and the event-loop lag monitor behind it."""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from gateway.live import LiveHub
from gateway.mqtt import MqttLink
from gateway.pipeline import Pipeline
from gateway.settings import Settings

LAG_PROBE_INTERVAL_S = 0.25
LAG_WINDOW = 40  # probes kept: 10 s
LAG_FAILING_MS = 1000.0
STORE_STALE_S = 30.0


@dataclass(slots=True)
class LoopMonitor:
    """Measures how late the event loop wakes up (its lag) over the last 10 s."""

    lags_ms: deque[float] = field(default_factory=lambda: deque(maxlen=LAG_WINDOW))

    async def run(self) -> None:
        """Probe forever."""
        while True:
            start = time.monotonic()
            await asyncio.sleep(LAG_PROBE_INTERVAL_S)
            self.lags_ms.append((time.monotonic() - start - LAG_PROBE_INTERVAL_S) * 1000.0)

    @property
    def max_lag_ms(self) -> float:
        return max(self.lags_ms, default=math.nan)


@dataclass(slots=True)
class GatewayContext:
    """The running gateway, as the API sees it."""

    settings: Settings
    pipeline: Pipeline
    hub: LiveHub
    loop_monitor: LoopMonitor
    mqtt: MqttLink | None = None
    started_monotonic_s: float = field(default_factory=time.monotonic)

    def health(self) -> dict[str, Any]:
        """Health summary: ``status`` is ok, degraded (a device is down) or failing."""
        statuses = self.pipeline.statuses()
        stats = self.pipeline.stats
        lag = self.loop_monitor.max_lag_ms
        uptime = time.monotonic() - self.started_monotonic_s
        problems = []
        if not math.isnan(lag) and lag > LAG_FAILING_MS:
            problems.append(f"event loop lag {lag:.0f} ms")
        if stats.write_errors:
            problems.append(f"{stats.write_errors} store write errors")
        got_data = any(s.frames_ok for s in statuses)
        if got_data and time.time() - stats.last_write_s > STORE_STALE_S:
            problems.append("no store write for 30 s")
        down = [s.device_id for s in statuses if not s.connected]
        # Delivery alerts degrade (the room still measures and stores), they never fail it.
        alerts = self.mqtt.problems() if self.mqtt is not None else []
        status = "failing" if problems else ("degraded" if down or alerts else "ok")
        return {
            "status": status,
            "problems": problems,
            "alerts": alerts,
            "uptime_s": round(uptime, 1),
            "loop": {"max_lag_ms_10s": None if math.isnan(lag) else round(lag, 2)},
            "pipeline": {
                "queue_depth": len(self.pipeline.queue),
                "queue_dropped": self.pipeline.queue.dropped,
                "events_written": stats.events_written,
                "batches_written": stats.batches_written,
                "write_errors": stats.write_errors,
                "device_restarts": stats.device_restarts,
                "engine_errors": stats.engine_errors,
            },
            "engine": self.pipeline.engine.stats.as_dict(),
            "mqtt": self.mqtt.health_dict() if self.mqtt is not None else {"enabled": False},
            "live": {"clients": self.hub.subscribers, "dropped": self.hub.dropped},
            "devices": [
                {
                    "id": s.device_id,
                    "connected": s.connected,
                    "frames_ok": s.frames_ok,
                    "frames_dropped": s.frames_dropped,
                }
                for s in statuses
            ],
        }
