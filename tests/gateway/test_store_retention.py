"""Retention: what is purged, when, and what is never purged (undelivered data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from drivers.model import Measurement, Quantity, ReceiveTime, SampleBlock
from gateway import outbox
from gateway.outbox import OutboxPolicy
from gateway.retention import purge
from gateway.settings import ConfigError, load
from gateway.store import Store

DAY = 86400.0
NOW = 1_800_000_000.0
RETENTION = 7 * DAY


def _m(at: float) -> Measurement:
    return Measurement(Quantity.SPO2, 97.0, "%", "ox", ReceiveTime(at, 0.0))


def _block(at: float) -> SampleBlock:
    return SampleBlock(
        Quantity.PLETH, "ox", ("pleth",), 75.0, 0, np.zeros((2, 1)), "1", ReceiveTime(at, 0.0)
    )


def _session(store: Store, sid: str, ended: float | None) -> None:
    store.db.execute(
        "INSERT INTO session (id, state, created_wall_s, ended_wall_s, patient)"
        " VALUES (?, 'ended', 0, ?, '{\"name\": \"Kari\"}')",
        (sid, ended),
    )
    store.db.execute(
        "INSERT INTO participant (id, session_id, role, name, invite_hash, short_code,"
        " created_wall_s, expires_wall_s) VALUES (?, ?, 'gp', 'Dr. Lege', ?, 'x', 0, 0)",
        (f"p-{sid}", sid, f"h-{sid}"),
    )


async def test_purge_after_confirmed_delivery_never_before(tmp_path: Path) -> None:
    async with Store(tmp_path / "gw.sqlite3", OutboxPolicy("s", "r")) as store:
        _session(store, "old", NOW - 8 * DAY)
        store.session_id = "old"
        await store.write([_m(NOW - 9 * DAY) for _ in range(3)] + [_block(NOW - 9 * DAY)])
        rows = await store.call(outbox.pending, 0, 10)
        # first delivered 8 days ago, second 1 day ago, third never
        await store.call(outbox.mark_delivered, store.outbox_state, [rows[0].seq], NOW - 8 * DAY)
        await store.call(outbox.mark_delivered, store.outbox_state, [rows[1].seq], NOW - DAY)
        purged = await store.call(purge, RETENTION, NOW)
        assert (purged.measurements, purged.sample_blocks) == (1, 1)
        # the session still has an undelivered measurement: its patient data stays
        assert purged.sessions_cleared == 0 and purged.names_cleared == 0
        left = store.db.execute("SELECT delivered_wall_s FROM measurement ORDER BY id").fetchall()
        assert left == [(NOW - DAY,), (None,)]
        rows = await store.call(outbox.pending, 0, 10)
        await store.call(outbox.mark_delivered, store.outbox_state, [rows[0].seq], NOW - 8 * DAY)
        purged = await store.call(purge, RETENTION, NOW)
        assert (purged.measurements, purged.sessions_cleared, purged.names_cleared) == (1, 1, 1)
        assert store.db.execute("SELECT patient FROM session").fetchone() == (None,)
        assert store.db.execute("SELECT name FROM participant").fetchone() == (None,)
        assert await store.count("measurement") == 1  # delivered a day ago: kept for now


async def test_data_never_sent_goes_after_its_session_ended(tmp_path: Path) -> None:
    async with Store(tmp_path / "gw.sqlite3") as store:  # MQTT off: nothing to deliver
        _session(store, "ended", NOW - 8 * DAY)
        _session(store, "recent", NOW - DAY)
        _session(store, "open", None)
        for sid in ("ended", "recent", "open", None):
            store.session_id = sid
            await store.write([_m(NOW - 30 * DAY), _block(NOW - 30 * DAY)])
        purged = await store.call(purge, RETENTION, NOW)
        assert (purged.measurements, purged.sample_blocks) == (2, 2)  # "ended" and no session
        assert purged.sessions_cleared == 1
        kept = store.db.execute("SELECT DISTINCT session_id FROM measurement").fetchall()
        assert sorted(k[0] for k in kept) == ["open", "recent"]
        assert (await store.call(purge, RETENTION, NOW)).total == 0  # idempotent


def test_mqtt_settings_refuse_missing_certificates(tmp_path: Path) -> None:
    config = tmp_path / "gw.toml"
    config.write_text("[mqtt]\nenabled = true\n")
    with pytest.raises(ConfigError) as err:
        load(config)
    assert err.value.problems == [
        "mqtt: got {'enabled': True}; expected ca_file, cert_file, key_file set when enabled "
        "and tls are true (the room's client certificate is its identity)"
    ]
    config.write_text(
        '[mqtt]\nenabled = true\nca_file = "/nonexistent/ca.pem"\n'
        'cert_file = "/nonexistent/c.pem"\nkey_file = "/nonexistent/k.pem"\n'
    )
    with pytest.raises(ConfigError, match="ca_file to be an existing file"):
        load(config)
    config.write_text("[mqtt]\noutbox_max_rows = 100\noutbox_alert_rows = 200\n")
    with pytest.raises(ConfigError, match="outbox_alert_rows \\(200\\) at most outbox_max_rows"):
        load(config)
    config.write_text('[mqtt]\nenabled = true\ntls = false\nhost = "broker.example"\n')
    with pytest.raises(ConfigError, match="tls = true for a broker that is not on loopback"):
        load(config)
    config.write_text("[store]\nretention_s = -1\n")
    with pytest.raises(ConfigError, match=r"store\.retention_s: got -1"):
        load(config)


async def test_snapshots_and_notes_go_with_their_session(tmp_path: Path) -> None:
    from gateway import records
    from gateway.auth import Principal

    nurse = Principal("nurse", subject="kiosk")
    async with Store(tmp_path / "gw.sqlite3") as store:
        _session(store, "ended", NOW - 8 * DAY)
        _session(store, "recent", NOW - DAY)
        for sid, taken in (("ended", NOW - 9 * DAY), ("recent", NOW - 9 * DAY),
                           (None, NOW - 8 * DAY), (None, NOW - DAY)):  # fmt: skip
            row = records.SnapshotRow(f"s-{sid}-{taken}", sid, "room", 1, 1, taken, "", "", None)
            await store.call(records.insert_snapshot, row, nurse, b"jpeg")
        for sid in ("ended", "recent"):
            await store.call(records.insert_note, sid, nurse, "notat", NOW - 9 * DAY)
        purged = await store.call(purge, RETENTION, NOW)
        assert purged.records == 3  # the ended session's still and note, the old loose still
        left = store.db.execute("SELECT session_id, captured_wall_s FROM snapshot").fetchall()
        assert sorted(left, key=str) == sorted([("recent", NOW - 9 * DAY), (None, NOW - DAY)],
                                               key=str)  # fmt: skip
        assert [n.session_id for n in await store.call(records.list_notes, "recent")] == ["recent"]
        assert await store.count("note") == 1
        assert (await store.call(purge, RETENTION, NOW)).total == 0
