"""The MQTT link: drains the outbox to a broker (MQTT v5, QoS 1, TLS client certificate).

Threading: paho's own network thread (``loop_start``), one paho client per connection.
paho's socket-callback mode would put the TLS handshake and socket reads on the event loop
and needs hand-written timers; its thread is the mode paho tests most. Callbacks only hand
events to the loop with ``call_soon_threadsafe``; nothing else touches the client off-loop.

Delivery: rows go out in outbox order, up to ``inflight`` unacknowledged; a row is marked
delivered only on its PUBACK with a success reason code. After any disconnect the client
is dropped and the next connection resends every undelivered row from the store, in order
(so a consumer may see a message twice; it dedupes by the ``msg-id`` user property).
``clean_start=False`` with a session expiry keeps the broker's session across reconnects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from drivers.model import DeviceStatus
from gateway import outbox
from gateway.outbox import HEALTH_SCHEMA, STATUS_SCHEMA, OutboxStats
from gateway.settings import MqttSettings
from gateway.store import Store

logger = logging.getLogger(__name__)

MSG_ID_PROPERTY = "msg-id"
IDLE_POLL_S = 0.5
STATUS_POLL_S = 1.0
CONNECT_TIMEOUT_S = 10.0


class MqttError(Exception):
    """The broker cannot be reached or refused the room."""


@dataclass(slots=True)
class LinkStats:
    """What /healthz shows of the broker link."""

    connected: bool = False
    connects: int = 0
    published: int = 0
    acked: int = 0
    rejected: int = 0
    last_error: str | None = None
    down_since_monotonic_s: float = math.nan  # NaN while connected
    session_present: bool | None = None


class _Connection:
    """One paho client and the events its thread hands to the loop."""

    def __init__(self, link: MqttLink, loop: asyncio.AbstractEventLoop) -> None:
        s = link.settings
        self.loop = loop
        self.connected = asyncio.Event()
        self.closed = asyncio.Event()
        self.acks: list[tuple[int, int]] = []  # (mid, reason code value), at most inflight
        self.acked = asyncio.Event()
        self.refused: str | None = None
        self.session_present: bool | None = None
        client = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=link.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            reconnect_on_failure=False,
        )
        if s.tls:
            ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(s.ca_file))
            ctx.load_cert_chain(str(s.cert_file), str(s.key_file))
            client.tls_set_context(ctx)
        client.max_inflight_messages_set(s.inflight)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self.client = client

    # paho thread ---------------------------------------------------------------------------
    def _on_connect(
        self, _c: Any, _u: Any, flags: Any, reason: ReasonCode, _p: Properties | None
    ) -> None:
        if reason.is_failure:
            self.loop.call_soon_threadsafe(self._refused, str(reason))
        else:
            self.loop.call_soon_threadsafe(self._up, bool(flags.session_present))

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self.loop.call_soon_threadsafe(self._down, str(reason))

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
        self.loop.call_soon_threadsafe(self._ack, mid, reason.value)

    # event loop ----------------------------------------------------------------------------
    def _up(self, session_present: bool) -> None:
        self.session_present = session_present
        self.connected.set()

    def _refused(self, reason: str) -> None:
        self.refused = reason
        self.closed.set()

    def _down(self, reason: str) -> None:
        self.refused = self.refused or reason
        self.closed.set()
        self.acked.set()

    def _ack(self, mid: int, code: int) -> None:
        self.acks.append((mid, code))
        self.acked.set()


class MqttLink:
    """Owns the broker connection; ``run()`` is a task in the gateway's TaskGroup."""

    def __init__(
        self,
        settings: MqttSettings,
        store: Store,
        site: str,
        room: str,
        *,
        health: Callable[[], dict[str, Any]] | None = None,
        statuses: Callable[[], list[DeviceStatus]] | None = None,
        audit_head: Callable[[], tuple[int, str]] | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.audit_head = audit_head
        self.site = site
        self.room = room
        self.client_id = settings.client_id or f"helserom-{site}-{room}"
        self.prefix = f"{settings.topic_prefix}/{site}/{room}/"
        self.health_fn = health
        self.statuses_fn = statuses
        self.stats = LinkStats(down_since_monotonic_s=time.monotonic())
        self.outbox_stats = OutboxStats(0, 0, 0, None, 0)
        self._alerting = False

    async def run(self) -> None:
        """Connect, drain, reconnect with backoff; forever (cancel to stop)."""
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._deliver_forever(), name="mqtt-deliver")
            tg.create_task(self._enqueue_status_forever(), name="mqtt-status")
            tg.create_task(self._enqueue_health_forever(), name="mqtt-health")

    async def refresh_stats(self) -> OutboxStats:
        """Re-read the outbox's depth and oldest age (for /healthz)."""
        self.outbox_stats = o = await self.store.call(outbox.stats, self.store.outbox_state)
        waiting = o.depth + o.backlogged
        alerting = waiting >= self.settings.outbox_alert_rows
        if alerting != self._alerting:
            self._alerting = alerting
            if alerting:
                logger.warning(
                    "mqtt: %d measurements wait for delivery (alert at %d); oldest %.0f s",
                    waiting,
                    self.settings.outbox_alert_rows,
                    o.oldest_age_s or 0.0,
                )
            else:
                logger.info("mqtt: outbox below its alert mark again (%d waiting)", waiting)
        return o

    def problems(self) -> list[str]:
        """Alert texts for /healthz (empty: all well)."""
        out = []
        o = self.outbox_stats
        waiting = o.depth + o.backlogged
        if waiting >= self.settings.outbox_alert_rows:
            out.append(
                f"MQTT outbox holds {waiting} undelivered measurements "
                f"(alert at {self.settings.outbox_alert_rows}, max {self.settings.outbox_max_rows})"
            )
        down_s = time.monotonic() - self.stats.down_since_monotonic_s
        if not self.stats.connected and down_s >= self.settings.broker_down_alert_s:
            out.append(
                f"MQTT broker {self.settings.host}:{self.settings.port} unreachable for "
                f"{down_s:.0f} s ({self.stats.last_error or 'no answer'})"
            )
        return out

    def health_dict(self) -> dict[str, Any]:
        """The ``mqtt`` section of /healthz."""
        o = self.outbox_stats
        return {
            "connected": self.stats.connected,
            "session_present": self.stats.session_present,
            "last_error": self.stats.last_error,
            "published": self.stats.published,
            "acked": self.stats.acked,
            "rejected": self.stats.rejected,
            "outbox_depth": o.depth,
            "outbox_rows": o.total_rows,
            "outbox_backlog": o.backlogged,
            "oldest_undelivered_age_s": None
            if o.oldest_age_s is None
            else round(o.oldest_age_s, 1),
        }

    async def _deliver_forever(self) -> None:
        backoff_s = 0.1
        while True:
            try:
                await self._connect_and_drain()
                backoff_s = 0.1
            except (OSError, MqttError, ssl.SSLError) as exc:
                if self.stats.last_error != str(exc):
                    logger.warning("mqtt %s:%d: %s", self.settings.host, self.settings.port, exc)
                self.stats.last_error = str(exc)
            if self.stats.connected:
                self.stats.connected = False
                self.stats.down_since_monotonic_s = time.monotonic()
            with contextlib.suppress(Exception):
                await self.refresh_stats()
            await asyncio.sleep(backoff_s)
            backoff_s = min(backoff_s * 2, self.settings.reconnect_max_s)

    async def _connect_and_drain(self) -> None:
        conn = _Connection(self, asyncio.get_running_loop())
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = self.settings.session_expiry_s
        s = self.settings
        try:
            await asyncio.to_thread(
                conn.client.connect,
                s.host,
                s.port,
                s.keepalive_s,
                clean_start=False,
                properties=props,
            )
        except ssl.SSLError as exc:
            raise MqttError(f"TLS handshake failed: {exc} (check ca_file/cert_file)") from exc
        conn.client.loop_start()
        try:
            waiters = [
                asyncio.ensure_future(conn.connected.wait()),
                asyncio.ensure_future(conn.closed.wait()),
            ]
            try:
                await asyncio.wait(
                    waiters, timeout=CONNECT_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                for w in waiters:
                    w.cancel()
            if not conn.connected.is_set():
                raise MqttError(
                    f"broker refused the connection: {conn.refused}"
                    if conn.refused
                    else f"no CONNACK within {CONNECT_TIMEOUT_S:.0f} s"
                )
            self.stats.connected = True
            self.stats.connects += 1
            self.stats.session_present = conn.session_present
            self.stats.last_error = None
            logger.info(
                "mqtt: connected to %s:%d as %s (session present: %s)",
                s.host,
                s.port,
                self.client_id,
                conn.session_present,
            )
            await self._drain(conn)
            raise MqttError(f"connection lost: {conn.refused}")
        finally:
            with contextlib.suppress(Exception):
                conn.client.disconnect()
            await asyncio.to_thread(conn.client.loop_stop)

    async def _drain(self, conn: _Connection) -> None:
        """Publish undelivered rows in order while connected; resolve PUBACKs."""
        inflight: dict[int, int] = {}  # mid -> outbox seq
        cursor = 0
        changed = self.store.outbox_changed
        last_stats = 0.0
        while not conn.closed.is_set():
            changed.clear()  # before reading: a write after this wakes the wait below
            room = self.settings.inflight - len(inflight)
            if room > 0:
                rows = await self.store.call(outbox.pending, cursor, room)
                for row in rows:
                    props = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
                    props.UserProperty = (MSG_ID_PROPERTY, row.msg_id)
                    info = conn.client.publish(
                        self.prefix + row.topic, row.payload, 1, False, props
                    )
                    if info.rc != paho.MQTT_ERR_SUCCESS:
                        raise MqttError(f"publish failed: {paho.error_string(info.rc)}")
                    inflight[info.mid] = row.seq
                    cursor = row.seq
                    self.stats.published += 1
            if not conn.acks:
                waiters = [asyncio.ensure_future(conn.acked.wait())]
                if len(inflight) < self.settings.inflight:
                    waiters.append(asyncio.ensure_future(changed.wait()))
                try:
                    await asyncio.wait(
                        waiters, timeout=IDLE_POLL_S, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:  # also when this task is cancelled: no waiter outlives it
                    for p in waiters:
                        p.cancel()
            conn.acked.clear()
            acks, conn.acks = conn.acks, []
            done = []
            for mid, code in acks:
                seq = inflight.pop(mid, None)
                if seq is None:
                    continue
                if code < 0x80:
                    done.append(seq)
                else:
                    self.stats.rejected += 1
                    logger.warning("mqtt: broker rejected outbox row %d (reason 0x%02x)", seq, code)
            if done:
                await self.store.call(
                    outbox.mark_delivered, self.store.outbox_state, done, time.time()
                )
                self.stats.acked += len(done)
            policy = self.store.outbox_policy
            if policy is not None and self.store.outbox_state.backlog_from is not None:
                await self.store.call(outbox.backfill, policy, self.store.outbox_state)
            now = time.monotonic()
            if now - last_stats >= 1.0:
                last_stats = now
                await self.refresh_stats()

    async def _enqueue_status_forever(self) -> None:
        """Queue a device's status when its connection, error or battery changes."""
        sent: dict[str, tuple[Any, ...]] = {}
        while self.statuses_fn is not None:
            for st in self.statuses_fn():
                battery = None if math.isnan(st.battery_pct) else round(st.battery_pct)
                key = (st.connected, st.last_error, battery)
                if sent.get(st.device_id) == key:
                    continue
                sent[st.device_id] = key
                payload = {
                    "schema": STATUS_SCHEMA,
                    "site": self.site,
                    "room": self.room,
                    "device": {"id": st.device_id, "kind": st.kind},
                    "connected": st.connected,
                    "battery_pct": battery,
                    "last_error": st.last_error,
                    "reconnects": st.reconnects,
                    "sent_s": time.time(),
                }
                await self.store.call(
                    outbox.enqueue_coalesced,
                    "status",
                    f"status:{st.device_id}",
                    f"status/{st.device_id}",
                    payload,
                )
                self.store.outbox_changed.set()
            await asyncio.sleep(STATUS_POLL_S)

    async def _enqueue_health_forever(self) -> None:
        """Queue the gateway's health every ``health_interval_s`` (only the newest waits)."""
        while self.health_fn is not None:
            health = self.health_fn()
            payload = {
                "schema": HEALTH_SCHEMA,
                "site": self.site,
                "room": self.room,
                "status": health.get("status"),
                "problems": health.get("problems", []),
                "uptime_s": health.get("uptime_s"),
                "outbox": {k: v for k, v in self.health_dict().items() if k != "last_error"},
                "sent_s": time.time(),
            }
            if self.audit_head is not None:
                seq, digest = self.audit_head()
                payload["audit"] = {"seq": seq, "hash": digest}  # the off-box anchor
            await self.store.call(outbox.enqueue_coalesced, "health", "health", "health", payload)
            self.store.outbox_changed.set()
            await asyncio.sleep(self.settings.health_interval_s)
