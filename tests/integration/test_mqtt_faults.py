"""MQTT delivery faults against a real mosquitto (TLS client certificates, persistence on).

Counts are printed (``pytest -s``) and asserted: every measurement delivered, in order per
device, no duplicate left after the consumer dedupes by msg-id.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from drivers.model import DeviceStatus, Measurement, Quantity, ReceiveTime
from gateway.audit import AUDIT_FILE, AuditEntry, AuditLog, verify
from gateway.mqtt import MqttLink
from gateway.outbox import OutboxPolicy
from gateway.settings import MqttSettings
from gateway.store import Store
from tests.mosquitto import Broker, Consumer, Pki

SITE, ROOM = "test-site", "test-room"
CLIENT_ID = f"helserom-{SITE}-{ROOM}"
DEVICES = ("ox-1", "ox-2", "bp-1", "ecg-1")


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path / "pki")


@pytest.fixture
def broker(tmp_path: Path, pki: Pki) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker", pki)
    b.start()
    yield b
    b.stop(signal.SIGKILL)


def _settings(broker: Broker, pki: Pki, **kw: Any) -> MqttSettings:
    cert, key = pki.issue(CLIENT_ID)
    return MqttSettings(
        enabled=True,
        port=broker.port,
        ca_file=pki.ca_file,
        cert_file=cert,
        key_file=key,
        reconnect_max_s=0.5,
        **kw,
    )


def _batch(start: int, n: int) -> list[Measurement]:
    out = []
    for i in range(start, start + n):
        dev = DEVICES[i % len(DEVICES)]
        out.append(
            Measurement(Quantity.SPO2, 90.0 + i % 10, "%", dev, ReceiveTime(1e9 + i, float(i)))
        )
    return out


async def _write(store: Store, n: int, batch: int = 50, start: int = 0) -> None:
    for i in range(start, start + n, batch):
        await store.write(_batch(i, min(batch, start + n - i)))


async def _until(pred: Any, timeout_s: float, what: str) -> float:
    t0 = time.monotonic()
    while not pred():
        assert time.monotonic() - t0 < timeout_s, f"{what}: not within {timeout_s} s"
        await asyncio.sleep(0.05)
    return time.monotonic() - t0


def _subscribe_once(broker: Broker) -> Consumer:
    """The hospital's subscriber makes its persistent session, then goes away."""
    consumer = Consumer(broker, "hospital", f"helserom/{SITE}/{ROOM}/measurement/#")
    consumer.connect()
    consumer.wait_connected()
    time.sleep(0.3)  # SUBACK
    consumer.close()
    return consumer


def _check_order(messages: list[dict[str, Any]]) -> None:
    per_device: dict[str, list[int]] = defaultdict(list)
    for m in messages:
        per_device[m["device"]["id"]].append(m["measurement_id"])
    for dev, ids in per_device.items():
        assert ids == sorted(ids), f"{dev}: out of order"


class _Running:
    def __init__(self, store: Store, link: MqttLink) -> None:
        self.store, self.link = store, link


async def _run_link(
    path: Path, settings: MqttSettings, max_rows: int = 100_000
) -> AsyncIterator[_Running]:
    policy = OutboxPolicy(SITE, ROOM, max_rows=max_rows, alert_rows=max_rows)
    async with Store(path, policy) as store:
        link = MqttLink(settings, store, SITE, ROOM)
        task = asyncio.create_task(link.run())
        try:
            yield _Running(store, link)
        finally:
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task


async def test_broker_down_while_10000_queue(tmp_path: Path, pki: Pki, broker: Broker) -> None:
    consumer = _subscribe_once(broker)
    broker.stop()  # SIGTERM: saves the consumer's session
    # Autosave after every change rewrites the file per message (O(n^2) for a backlog);
    # this test is about the gateway's queue, the SIGKILL test below keeps interval 1.
    broker.autosave_interval = 1000
    n = 10_000
    gen = _run_link(tmp_path / "gw.sqlite3", _settings(broker, pki))
    run = await anext(gen)
    try:
        t0 = time.monotonic()
        await _write(run.store, n)
        write_s = time.monotonic() - t0
        assert run.store.outbox_state.depth == n
        assert not run.link.stats.connected
        broker.start()
        consumer.connect()
        drain_s = await _until(lambda: run.store.outbox_state.depth == 0, 60, "outbox drained")
        await _until(lambda: len(consumer.unique()) >= n, 30, "consumer got all")
    finally:
        await gen.aclose()
        consumer.close()
    got = consumer.unique()
    print(
        f"\n10000 queued with broker down: wrote in {write_s:.2f} s, drained in {drain_s:.2f} s; "
        f"consumer received {consumer.received}, unique {len(got)}, "
        f"duplicates dropped {consumer.duplicates}, without msg-id {consumer.without_id}"
    )
    assert len(got) == n
    assert len({m["msg_id"] for m in got}) == n  # 0 duplicates left after dedupe
    assert consumer.without_id == 0
    _check_order(got)
    db = sqlite3.connect(tmp_path / "gw.sqlite3")
    undelivered = db.execute(
        "SELECT count(*) FROM measurement WHERE delivered_wall_s IS NULL"
    ).fetchone()[0]
    assert undelivered == 0
    assert db.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0


async def test_broker_sigkill_persistent_session_survives(
    tmp_path: Path, pki: Pki, broker: Broker
) -> None:
    consumer = _subscribe_once(broker)
    gen = _run_link(tmp_path / "gw.sqlite3", _settings(broker, pki))
    run = await anext(gen)
    try:
        await _until(lambda: run.link.stats.connected, 10, "gateway connected")
        await _write(run.store, 500)
        await _until(lambda: run.store.outbox_state.depth == 0, 20, "first 500 acked")
        await asyncio.sleep(1.5)  # autosave_on_changes has written the queued messages
        broker.stop(signal.SIGKILL)
        await _write(run.store, 500, start=500)  # queued while the broker is dead
        broker.start()
        await _until(lambda: run.store.outbox_state.depth == 0, 30, "second 500 acked")
        consumer.connect()
        await _until(lambda: len(consumer.unique()) >= 1000, 30, "consumer got all")
    finally:
        await gen.aclose()
        consumer.close()
    got = consumer.unique()
    print(
        f"\nbroker SIGKILL: gateway connects {run.link.stats.connects}, session present after "
        f"restart {run.link.stats.session_present}; consumer sessions {consumer.session_present}, "
        f"unique {len(got)}, duplicates dropped {consumer.duplicates}"
    )
    assert run.link.stats.connects >= 2
    assert run.link.stats.session_present is True  # the gateway's session survived SIGKILL
    assert consumer.session_present[-1] is True  # and the consumer's, with its queue
    assert len(got) == 1000
    _check_order(got)


async def test_status_and_health_arrive_and_the_broker_acl_sees_the_room_identity(
    tmp_path: Path, pki: Pki
) -> None:
    # The broker lets the certificate's identity write only below its own room's topics.
    acl = f"user {CLIENT_ID}\ntopic write helserom/{SITE}/{ROOM}/#\n\nuser hospital\ntopic read #\n"
    broker = Broker(tmp_path / "acl-broker", pki, acl=acl)
    broker.start()
    consumer = Consumer(broker, "hospital", "#")
    consumer.connect()
    consumer.wait_connected()
    statuses = [DeviceStatus("ox-1", "nonin2-oximeter", "serial:///x", connected=True)]
    policy = OutboxPolicy(SITE, ROOM)
    audit = AuditLog(tmp_path / AUDIT_FILE)
    audit.record(AuditEntry("kiosk", "nurse", "live.open", "ok"))
    try:
        async with Store(tmp_path / "gw.sqlite3", policy) as store:
            link = MqttLink(
                _settings(broker, pki),
                store,
                SITE,
                ROOM,
                health=lambda: {"status": "ok", "problems": [], "uptime_s": 1.0},
                statuses=lambda: statuses,
                audit_head=audit.head,
            )
            task = asyncio.create_task(link.run())
            await _write(store, 10)
            await _until(lambda: len(consumer.unique("")) >= 12, 20, "12 messages")
            await _until(lambda: store.outbox_state.depth == 0, 20, "all acked")
            assert link.health_dict()["rejected"] == 0
            # A room that writes outside its topics is refused per message (PUBACK 0x87):
            # the row stays queued, counted as rejected, never marked delivered.
            wrong = MqttLink(_settings(broker, pki, topic_prefix="elsewhere"), store, SITE, ROOM)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await _write(store, 1, start=10)
            task = asyncio.create_task(wrong.run())
            await _until(lambda: wrong.stats.rejected >= 1, 20, "a rejection")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert store.outbox_state.depth == 1
    finally:
        consumer.close()
        broker.stop(signal.SIGKILL)
    topics = sorted(
        {
            t.rsplit("/", 1)[0] if "/status/" in t or "/measurement/" in t else t
            for t, _ in consumer.messages
        }
    )
    assert topics == [
        f"helserom/{SITE}/{ROOM}/health",
        f"helserom/{SITE}/{ROOM}/measurement",
        f"helserom/{SITE}/{ROOM}/status",
    ]
    status = consumer.unique("status/")
    assert status[0]["schema"] == "helserom.device-status/1" and status[0]["connected"] is True
    health = consumer.unique("health")
    assert health[0]["schema"] == "helserom.gateway-health/1" and health[0]["status"] == "ok"
    # the audit log's head leaves the box with the health: the anchor `audit verify` checks
    assert health[0]["audit"] == {"seq": 1, "hash": audit.head()[1]}
    audit.close()
    assert verify(tmp_path / AUDIT_FILE, [(1, health[0]["audit"]["hash"])]).ok
    assert consumer.without_id == 0
