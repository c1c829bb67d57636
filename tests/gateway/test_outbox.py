"""The outbox in the store: one transaction with the measurement, bound and backlog, coalescing."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from drivers.model import Measurement, QualityFlag, Quantity, ReceiveTime
from gateway import outbox
from gateway.mqtt import MqttLink
from gateway.outbox import MEASUREMENT_SCHEMA, OutboxPolicy
from gateway.settings import MqttSettings
from gateway.signals.verdict import Assessed, Verdict
from gateway.store import MIGRATIONS, SCHEMA_VERSION, Store, migrate

POLICY = OutboxPolicy("site-a", "room-1", max_rows=10, alert_rows=8)


def _m(i: int, device: str = "ox-1") -> Measurement:
    return Measurement(
        Quantity.SPO2,
        90.0 + i % 10,
        "%",
        device,
        ReceiveTime(1000.0 + i, float(i)),
        quality=QualityFlag.NONE,
    )


async def test_measurement_and_its_outbox_row_in_one_write(tmp_path: Path) -> None:
    async with Store(tmp_path / "gw.sqlite3", POLICY) as store:
        await store.register_device("ox-1", "nonin2-oximeter", "serial:///dev/x", 1.0)
        store.session_id = "sess-1"
        await store.write([_m(1)], [Assessed(91.0, Verdict.VALID)])
        (msg_id,) = store.db.execute("SELECT msg_id FROM measurement").fetchone()
        rows = await store.call(outbox.pending, 0, 10)
    assert len(rows) == 1 and rows[0].msg_id == msg_id
    assert rows[0].topic == "measurement/ox-1"
    body = json.loads(rows[0].payload)
    assert body == {
        "schema": MEASUREMENT_SCHEMA,
        "msg_id": msg_id,
        "site": "site-a",
        "room": "room-1",
        "measurement_id": 1,
        "session_id": "sess-1",
        "device": {"id": "ox-1", "kind": "nonin2-oximeter"},
        "quantity": "spo2",
        "value": 91.0,
        "unit": "%",
        "loinc": Quantity.SPO2.spec.loinc,
        "mdc": Quantity.SPO2.spec.mdc_ref,
        "received_s": 1001.0,
        "device_time": None,
        "device_clock_set": True,
        "quality": [],
        "verdict": "valid",
        "reasons": [],
    }
    assert msg_id[14] == "7"  # UUIDv7


async def test_a_failed_batch_leaves_neither_measurement_nor_outbox_row(tmp_path: Path) -> None:
    async with Store(tmp_path / "gw.sqlite3", POLICY) as store:
        with pytest.raises(IndexError):
            await store.write([_m(1), _m(2)], [None])  # the second event has no verdict slot
        assert await store.count("measurement") == 0
        assert await store.count("outbox") == 0
        assert store.outbox_state.depth == 0


async def test_without_mqtt_nothing_is_queued(tmp_path: Path) -> None:
    async with Store(tmp_path / "gw.sqlite3") as store:
        await store.write([_m(1)])
        assert await store.count("outbox") == 0
        assert store.db.execute("SELECT msg_id FROM measurement").fetchone() == (None,)


async def test_full_outbox_backlogs_then_backfills_in_order(tmp_path: Path) -> None:
    path = tmp_path / "gw.sqlite3"
    async with Store(path, POLICY) as store:
        for i in range(25):
            await store.write([_m(i, f"ox-{i % 2}")])
        assert store.outbox_state.depth == 10
        assert await store.count("measurement") == 25  # never dropped
        st = await store.call(outbox.stats, store.outbox_state)
        assert (st.depth, st.backlogged) == (10, 15)
    async with Store(path, POLICY) as store:  # the backlog survives a restart
        assert store.outbox_state.backlog_from == 11
        sent: list[int] = []
        while True:
            rows = await store.call(outbox.pending, 0, 4)
            if not rows:
                break
            sent += [json.loads(r.payload)["measurement_id"] for r in rows]
            await store.call(
                outbox.mark_delivered, store.outbox_state, [r.seq for r in rows], 2000.0
            )
            await store.call(outbox.backfill, POLICY, store.outbox_state)
        assert sent == list(range(1, 26))
        assert store.outbox_state.backlog_from is None
        undelivered = store.db.execute(
            "SELECT count(*) FROM measurement WHERE delivered_wall_s IS NULL"
        ).fetchone()[0]
        assert undelivered == 0
        # new measurements go straight to the outbox again
        await store.write([_m(99)])
        assert store.outbox_state.depth == 1


async def test_status_and_health_are_coalesced(tmp_path: Path) -> None:
    async with Store(tmp_path / "gw.sqlite3", POLICY) as store:
        for connected in (True, False, True):
            await store.call(
                outbox.enqueue_coalesced,
                "status",
                "status:ox-1",
                "status/ox-1",
                {"connected": connected},
            )
        await store.call(outbox.enqueue_coalesced, "health", "health", "health", {"status": "ok"})
        rows = await store.call(outbox.pending, 0, 10)
    assert [r.topic for r in rows] == ["status/ox-1", "health"]
    assert json.loads(rows[0].payload)["connected"] is True
    assert json.loads(rows[0].payload)["msg_id"] == rows[0].msg_id


async def test_v3_database_migrates_and_old_rows_are_not_sent(tmp_path: Path) -> None:
    path = tmp_path / "gw.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    for script in MIGRATIONS[:3]:
        for statement in script.split(";"):
            lines = [ln.split("--", 1)[0] for ln in statement.splitlines()]
            if "".join(lines).strip():
                db.execute("\n".join(lines))
    db.execute("PRAGMA user_version = 3")
    db.execute(
        "INSERT INTO measurement (device_id, quantity, value, unit, device_clock_set,"
        " received_wall_s, received_monotonic_s, quality)"
        " VALUES ('ox', 'spo2', 97, '%', 1, 1, 1, 0)"
    )
    db.close()
    async with Store(path, POLICY) as store:
        assert store.db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert await store.count("outbox") == 0
        await store.write([_m(1)])
        assert await store.count("outbox") == 1
    migrate(sqlite3.connect(path), path)  # idempotent


async def test_health_alerts_at_the_high_water_mark(tmp_path: Path) -> None:
    settings = MqttSettings(outbox_max_rows=10, outbox_alert_rows=8, broker_down_alert_s=1)
    async with Store(tmp_path / "gw.sqlite3", POLICY) as store:
        link = MqttLink(settings, store, "site-a", "room-1")
        await store.write([_m(i) for i in range(7)])
        await link.refresh_stats()
        assert not any("outbox" in p for p in link.problems())
        await store.write([_m(i) for i in range(7, 12)])
        await link.refresh_stats()
        problems = link.problems()
    assert any("MQTT outbox holds 12 undelivered measurements" in p for p in problems), problems
    link.stats.down_since_monotonic_s -= 5
    assert any("unreachable" in p for p in link.problems())
    health = link.health_dict()
    assert (health["outbox_depth"], health["outbox_backlog"]) == (10, 2)
    assert health["oldest_undelivered_age_s"] is not None
