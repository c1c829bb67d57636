"""The pipeline: device runners → bounded queue → store (fsync) → live hub.

Each device runs in its own task and restarts with exponential backoff when its link
drops; the writer batches what is queued into one transaction and publishes only what
is on disk. On shutdown the writer drains the queue before it stops.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass, replace

from drivers.devices import Device
from drivers.errors import DriverError, PortGoneError
from drivers.model import (
    DeviceEvent,
    DeviceInfo,
    DeviceStatus,
    Measurement,
    Quantity,
    SampleBlock,
)
from gateway.clinical.careplan import CarePlan, TrafficLight
from gateway.live import (
    LiveHub,
    derived_message,
    measurement_message,
    status_message,
    waveform_message,
)
from gateway.queues import DropOldestQueue
from gateway.settings import PipelineSettings
from gateway.signals.engine import EngineResult, SignalEngine
from gateway.signals.verdict import Assessed
from gateway.store import Store, StoredEvent

logger = logging.getLogger(__name__)

WRITE_BATCH_MAX = 256
STATUS_INTERVAL_S = 0.5
ENGINE_LOG_INTERVAL_S = 10.0


@dataclass(slots=True)
class _Tagged:
    device_id: str
    event: DeviceEvent


@dataclass(slots=True)
class DeviceSlot:
    """One configured device and what the gateway knows of its link."""

    device: Device
    label: str = ""
    port_open: bool = False
    reconnects: int = 0
    last_error: str | None = None
    last_seen_wall_s: float = math.nan
    published: DeviceStatus | None = None

    def status(self, silence_timeout_s: float) -> DeviceStatus:
        """The device's status now; connected means port open and data within the timeout."""
        c = self.device.counters
        silent_s = time.monotonic() - c.last_rx_monotonic_s
        # a device that only speaks when measuring is up while its link is (keep-alive checked)
        fresh = silent_s <= silence_timeout_s or (self.port_open and not self.device.streams)
        if self.port_open and fresh:
            error = None
        elif self.port_open:
            # open but silent: say so, rather than leaving the nurse with a bare "disconnected"
            error = (
                "link open, no data yet"
                if math.isnan(silent_s)
                else f"link open, no data for {silent_s:.0f} s"
            )
        else:
            error = self.last_error
        return DeviceStatus(
            device_id=self.device.device_id,
            kind=self.device.kind,
            uri=str(self.device.uri),
            connected=self.port_open and fresh,
            battery_pct=c.battery_pct,
            last_seen_wall_s=self.last_seen_wall_s,
            frames_ok=c.frames_ok,
            frames_dropped=c.frames_dropped,
            bytes_dropped=c.bytes_dropped,
            reconnects=self.reconnects,
            last_error=error,
            info=self.device.info,
        )


@dataclass(slots=True)
class PipelineStats:
    """Counters for /healthz."""

    batches_written: int = 0
    events_written: int = 0
    write_errors: int = 0
    last_write_s: float = math.nan
    device_restarts: int = 0
    engine_errors: int = 0


class Pipeline:
    """Owns the device slots, the event queue and the writer."""

    def __init__(
        self,
        settings: PipelineSettings,
        store: Store,
        hub: LiveHub,
        slots: list[DeviceSlot],
        engine: SignalEngine | None = None,
        *,
        careplan: CarePlan | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.hub = hub
        self.engine = engine if engine is not None else SignalEngine({})
        self._judged_session: str | None = None  # the session the engine's series belong to
        self.careplan = careplan
        self._engine_logged_s = -math.inf
        self.slots = {s.device.device_id: s for s in slots}
        self.queue: DropOldestQueue[_Tagged] = DropOldestQueue(settings.device_queue_size)
        self.stats = PipelineStats()
        self._devices_tg: asyncio.TaskGroup | None = None
        self._device_tasks: dict[str, asyncio.Task[None]] = {}

    async def run_devices(self) -> None:
        """Own every device task; devices bound at runtime join this group (until cancelled)."""
        async with asyncio.TaskGroup() as tg:
            self._devices_tg = tg
            try:
                for slot in list(self.slots.values()):
                    self._start_device(slot)
                await asyncio.Event().wait()
            finally:
                self._devices_tg = None

    def _start_device(self, slot: DeviceSlot) -> None:
        if self._devices_tg is None:
            raise RuntimeError("device tasks are not running")
        device_id = slot.device.device_id
        self._device_tasks[device_id] = self._devices_tg.create_task(
            self.run_device(slot), name=device_id
        )

    def add_device(self, slot: DeviceSlot) -> None:
        """Start reading a device bound while the gateway runs."""
        device_id = slot.device.device_id
        if device_id in self.slots:
            raise ValueError(f"device id {device_id!r} is already in use")
        self.slots[device_id] = slot
        try:
            self._start_device(slot)
        except RuntimeError:
            del self.slots[device_id]
            raise

    async def remove_device(self, device_id: str) -> None:
        """Stop reading a device and forget its slot (its stored data stays)."""
        slot = self.slots.pop(device_id)
        task = self._device_tasks.pop(device_id, None)
        if task is not None:
            task.cancel()
            await asyncio.wait({task})
        self.hub.publish({"type": "device_removed", "device_id": slot.device.device_id})

    def statuses(self) -> list[DeviceStatus]:
        """Every device's status now."""
        return [s.status(self.settings.silence_timeout_s) for s in self.slots.values()]

    async def run_device(self, slot: DeviceSlot) -> None:
        """Read one device forever: reconnect with backoff, never let an error escape."""
        device = slot.device
        backoff_s = self.settings.restart_backoff_initial_s
        while True:
            try:
                async for event in device.stream():
                    if not slot.port_open:
                        slot.port_open = True
                        backoff_s = self.settings.restart_backoff_initial_s
                        logger.info("%s: receiving from %s", device.device_id, device.uri)
                    slot.last_seen_wall_s = time.time()
                    self.queue.put_nowait(_Tagged(device.device_id, event))
                raise PortGoneError(f"{device.uri}: stream ended")
            except DriverError as exc:
                if slot.port_open or slot.last_error != str(exc):
                    logger.warning("%s: %s", device.device_id, exc)
                slot.last_error = str(exc)
            except Exception as exc:  # a bug in a driver must not stop the room
                logger.exception("%s: driver failed", device.device_id)
                slot.last_error = f"internal error: {exc!r}"
            if slot.port_open:
                slot.port_open = False
                slot.reconnects += 1
            self.stats.device_restarts += 1
            await asyncio.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, self.settings.restart_backoff_max_s)

    async def run_writer(self) -> None:
        """Store every queued event, then publish it. Drains the queue when cancelled."""
        try:
            while True:
                batch = await self.queue.get_batch(WRITE_BATCH_MAX)
                await self._write_and_publish(batch)
        finally:
            rest = self.queue.drain_nowait()
            if rest:
                # Shielded: the process is stopping, but what was received must reach the disk.
                await asyncio.shield(self._write_and_publish(rest))
                logger.info("drained %d queued events to the store at shutdown", len(rest))

    async def _write_and_publish(self, batch: list[_Tagged]) -> None:
        stored: list[StoredEvent] = []
        for tagged in batch:
            ev = tagged.event
            stored.append((tagged.device_id, ev) if isinstance(ev, DeviceInfo) else ev)
        events = [tagged.event for tagged in batch]
        if self.store.session_id != self._judged_session:
            # per-session results (the spirometry series) restart with each consultation
            self._judged_session = self.store.session_id
            self.engine.new_session()
        judged = self._judge(events)  # pure and fast: its verdicts are stored with the values
        try:
            await self.store.write(stored, judged.verdicts)
        except Exception:
            self.stats.write_errors += 1
            logger.exception("store write failed; %d events not stored", len(stored))
            raise
        self.stats.batches_written += 1
        self.stats.events_written += len(stored)
        self.stats.last_write_s = time.time()
        for i, (event, verdict) in enumerate(zip(events, judged.verdicts, strict=True)):
            if isinstance(event, Measurement):
                light = self._light(event.quantity.spec.key, verdict)
                bp_class = judged.bp_classes.get(i)
                self.hub.publish(measurement_message(event, verdict, light, bp_class))
            elif isinstance(event, SampleBlock):
                self.hub.publish(waveform_message(event))
        for derived in judged.derived:
            light = self._light(derived.value.key, derived.value.assessed)
            self.hub.publish(derived_message(derived, light))

    def _light(self, key: str, assessed: Assessed | None) -> TrafficLight | None:
        """The care plan's colour for a judged value (never for an unjudged or invalid one)."""
        if self.careplan is None or assessed is None:
            return None
        try:
            quantity = Quantity.from_key(key)
        except (KeyError, ValueError):
            return None  # a derived value no plan can have bands for (fev1, pi, …)
        return self.careplan.light(quantity, assessed)

    def _judge(self, events: list[DeviceEvent]) -> EngineResult:
        """The engine's verdicts; a bug there must not stop storing or showing data."""
        try:
            return self.engine.process(events)
        except Exception:
            self.stats.engine_errors += 1
            now = time.monotonic()
            if now - self._engine_logged_s > ENGINE_LOG_INTERVAL_S:
                self._engine_logged_s = now
                logger.exception("signal engine failed; values published without verdicts")
            return EngineResult((None,) * len(events), ())

    async def run_status(self) -> None:
        """Publish device status when it changes (checked every 0.5 s)."""
        while True:
            for slot in self.slots.values():
                status = slot.status(self.settings.silence_timeout_s)
                # last_seen changes every packet; publish for anything else, or every ~5 s.
                previous = slot.published
                changed = (
                    previous is None
                    or replace(status, last_seen_wall_s=previous.last_seen_wall_s) != previous
                    or status.last_seen_wall_s - previous.last_seen_wall_s > 5
                )
                if changed:
                    if previous is not None and previous.connected != status.connected:
                        logger.info(
                            "%s: %s",
                            status.device_id,
                            "connected" if status.connected else "disconnected",
                        )
                    slot.published = status
                    self.hub.publish(status_message(status))
            await asyncio.sleep(STATUS_INTERVAL_S)
