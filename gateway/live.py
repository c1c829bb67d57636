"""The live hub: fan-out of stored events to WebSocket clients, and the message schema (v1).

Messages are JSON objects with ``type`` in {hello, measurement, waveform, derived, status}.
Times are Unix seconds from the gateway clock; ``received_s`` says when the gateway got the
value so a page can show its age. Documented in docs/api.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from drivers.model import DeviceStatus, Measurement, SampleBlock
from gateway.clinical.careplan import TrafficLight
from gateway.queues import DropOldestQueue
from gateway.signals.engine import BpClass, Derived
from gateway.signals.verdict import Assessed

SCHEMA_VERSION = 1
Message = dict[str, Any]


def _num(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 6)


def verdict_fields(assessed: Assessed | None) -> dict[str, Any]:
    """``verdict`` (valid/questionable/invalid, or null when unchecked) and ``reasons``."""
    if assessed is None:
        return {"verdict": None, "reasons": []}
    return {"verdict": assessed.verdict.value, "reasons": assessed.reason_codes()}


def light_fields(light: TrafficLight | None) -> dict[str, Any]:
    """``traffic_light`` from the patient's care plan: colour, questionable, the band's labels
    (null without a plan, a band for the quantity, or a usable verdict)."""
    if light is None:
        return {"traffic_light": None}
    return {
        "traffic_light": {
            "colour": light.colour.value,
            "questionable": light.questionable,
            "label_nb": light.band.label_nb,
            "label_en": light.band.label_en,
        }
    }


def measurement_message(
    m: Measurement,
    assessed: Assessed | None = None,
    light: TrafficLight | None = None,
    bp_class: BpClass | None = None,
) -> Message:
    """A stored measurement as a live message, with the engine's verdict and traffic light
    (and, on the systolic and diastolic of a usable cuff reading, its ESH 2023 category)."""
    spec = m.quantity.spec
    message: Message = {
        "type": "measurement",
        "device_id": m.device_id,
        "quantity": spec.key,
        "value": _num(m.value),
        "unit": spec.ucum,
        "loinc": spec.loinc,
        "mdc": spec.mdc_ref,
        "received_s": m.received.wall_s,
        "device_time": m.device_time.isoformat() if m.device_time else None,
        "device_clock_set": m.device_clock_set,
        "quality": m.quality.names(),
        **verdict_fields(assessed),
        **light_fields(light),
    }
    if bp_class is not None:
        message["bp_category"] = {
            "category": bp_class.category.value,
            "hypertension_grade": bp_class.hypertension_grade,
        }
    return message


def derived_message(d: Derived, light: TrafficLight | None = None) -> Message:
    """A value the engine derived from a waveform (heart rate from ECG, PI from pleth …)."""
    v = d.value
    return {
        "type": "derived",
        "device_id": d.device_id,
        "source": d.source,
        "channel": d.channel,
        "key": v.key,
        "value": _num(v.assessed.value),
        "unit": v.unit,
        **verdict_fields(v.assessed),
        **light_fields(light),
        "detail": {k: _num(x) if isinstance(x, float) else x for k, x in v.detail.items()},
        "window_s": d.window_s,
        "received_s": d.input_received_wall_s,
        "latency_ms": round(d.latency_s * 1000.0, 3),
    }


def waveform_message(b: SampleBlock) -> Message:
    """A stored sample block as a live message (data channel-major)."""
    return {
        "type": "waveform",
        "device_id": b.device_id,
        "quantity": b.quantity.spec.key,
        "channels": list(b.channels),
        "fs_hz": b.fs_hz,
        "first_index": b.first_index,
        "unit": b.unit,
        "received_s": b.received.wall_s,
        "quality": b.quality.names(),
        # NaN (a sample the device marked invalid) is null: JSON has no NaN
        "data": [
            [None if math.isnan(v) else round(v, 3) for v in b.values[:, c].tolist()]
            for c in range(len(b.channels))
        ],
    }


def status_dict(s: DeviceStatus) -> dict[str, Any]:
    """A device status as JSON (also the body of /api/v1/devices items)."""
    return {
        "id": s.device_id,
        "kind": s.kind,
        "uri": s.uri,
        "connected": s.connected,
        "battery_pct": _num(s.battery_pct),
        "last_seen_s": _num(s.last_seen_wall_s),
        "frames_ok": s.frames_ok,
        "frames_dropped": s.frames_dropped,
        "bytes_dropped": s.bytes_dropped,
        "reconnects": s.reconnects,
        "last_error": s.last_error,
        "info": s.info.as_dict(),
    }


def status_message(s: DeviceStatus) -> Message:
    """A device status change as a live message."""
    return {"type": "status", "device": status_dict(s)}


class LiveHub:
    """Subscribers each get a bounded drop-oldest queue; a slow client never slows the room."""

    def __init__(self, queue_size: int) -> None:
        self.queue_size = queue_size
        self._subscribers: set[DropOldestQueue[Message]] = set()
        self.published = 0

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    @property
    def dropped(self) -> int:
        return sum(q.dropped for q in self._subscribers)

    def publish(self, message: Message) -> None:
        """Send a message to every subscriber (never blocks)."""
        self.published += 1
        for queue in self._subscribers:
            queue.put_nowait(message)

    @contextmanager
    def subscribe(self) -> Iterator[DropOldestQueue[Message]]:
        """A queue of messages for one client, removed when the block exits."""
        queue: DropOldestQueue[Message] = DropOldestQueue(self.queue_size)
        self._subscribers.add(queue)
        try:
            yield queue
        finally:
            self._subscribers.discard(queue)
