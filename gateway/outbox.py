"""The MQTT outbox: what must leave the room, in order, kept in the store until the broker acks.

Every function here takes the store's ``sqlite3.Connection`` and runs on the store thread
(``Store.call`` or inside ``Store._write``), so the in-memory counters need no lock.

Rows (table ``outbox``, schema v4) are sent in ``seq`` order and deleted when the broker's
PUBACK arrives; the measurement they carry gets ``delivered_wall_s`` in the same transaction.

The bound (``max_rows`` measurement rows): a measurement is always stored, but while the
outbox is full its outbox row is not written; ``backlog_from`` remembers the first
measurement left out and ``backfill()`` enqueues the backlog, oldest first, as rows drain.
While a backlog exists new measurements join it (so per-device order holds). Device status
and gateway health rows are coalesced: one undelivered row per key (a device, or the
gateway), the newest, so they never grow with time.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any

from drivers.model import QualityFlag, Quantity
from gateway.ids import uuid7

MEASUREMENT_SCHEMA = "helserom.measurement/1"
STATUS_SCHEMA = "helserom.device-status/1"
HEALTH_SCHEMA = "helserom.gateway-health/1"

# Columns read to rebuild a measurement's payload (backfill) — the same as _write inserts.
MEASUREMENT_COLUMNS = (
    "id",
    "device_id",
    "quantity",
    "value",
    "unit",
    "device_time",
    "device_clock_set",
    "received_wall_s",
    "quality",
    "session_id",
    "verdict",
    "reasons",
    "msg_id",
)


@dataclass(slots=True)
class OutboxPolicy:
    """Who the room is and how big its outbox may grow."""

    site: str
    room: str
    max_rows: int = 100_000
    alert_rows: int = 80_000


@dataclass(slots=True)
class OutboxState:
    """Counters kept in step with the table (store thread only)."""

    depth: int = 0  # measurement rows in the outbox
    backlog_from: int | None = None  # first measurement id not yet enqueued
    enqueued: int = 0
    backlogged: int = 0
    delivered: int = 0
    device_kinds: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Pending:
    """One undelivered row, as the publisher sends it."""

    seq: int
    msg_id: str
    topic: str  # below the room prefix: measurement/{device}, status/{device}, health
    payload: bytes


def load_state(db: sqlite3.Connection) -> OutboxState:
    """Read the counters from the table (at open)."""
    state = OutboxState()
    state.depth = int(
        db.execute("SELECT count(*) FROM outbox WHERE kind = 'measurement'").fetchone()[0]
    )
    row = db.execute("SELECT backlog_from FROM outbox_state WHERE id = 1").fetchone()
    state.backlog_from = None if row is None else row[0]
    state.device_kinds = dict(db.execute("SELECT id, kind FROM device").fetchall())
    return state


def measurement_payload(
    policy: OutboxPolicy, row: dict[str, Any], device_kind: str | None
) -> dict[str, Any]:
    """The JSON body of a measurement message (docs/mqtt.md), from its stored columns."""
    spec = Quantity.from_key(row["quantity"]).spec
    return {
        "schema": MEASUREMENT_SCHEMA,
        "msg_id": row["msg_id"],
        "site": policy.site,
        "room": policy.room,
        "measurement_id": row["id"],
        "session_id": row["session_id"],
        "device": {"id": row["device_id"], "kind": device_kind},
        "quantity": row["quantity"],
        "value": row["value"],
        "unit": row["unit"],
        "loinc": spec.loinc,
        "mdc": spec.mdc_ref,
        "received_s": row["received_wall_s"],
        "device_time": row["device_time"],
        "device_clock_set": bool(row["device_clock_set"]),
        "quality": QualityFlag(row["quality"]).names(),
        "verdict": row["verdict"],
        "reasons": json.loads(row["reasons"]) if row["reasons"] else [],
    }


def enqueue_measurement(
    db: sqlite3.Connection, policy: OutboxPolicy, state: OutboxState, row: dict[str, Any]
) -> bool:
    """Queue a just-inserted measurement (inside the caller's transaction); False: backlogged."""
    if state.backlog_from is None and state.depth >= policy.max_rows:
        state.backlog_from = int(row["id"])
        db.execute(
            "INSERT INTO outbox_state (id, backlog_from) VALUES (1, ?) "
            "ON CONFLICT(id) DO UPDATE SET backlog_from = excluded.backlog_from",
            (state.backlog_from,),
        )
    if state.backlog_from is not None:
        state.backlogged += 1
        return False
    _insert_measurement(db, policy, state, row)
    return True


def _insert_measurement(
    db: sqlite3.Connection, policy: OutboxPolicy, state: OutboxState, row: dict[str, Any]
) -> None:
    payload = measurement_payload(policy, row, state.device_kinds.get(row["device_id"]))
    db.execute(
        "INSERT INTO outbox (msg_id, kind, topic, coalesce_key, measurement_id, payload,"
        " created_wall_s) VALUES (?, 'measurement', ?, NULL, ?, ?, ?)",
        (
            row["msg_id"],
            f"measurement/{row['device_id']}",
            row["id"],
            json.dumps(payload, separators=(",", ":")),
            time.time(),
        ),
    )
    state.depth += 1
    state.enqueued += 1


def backfill(db: sqlite3.Connection, policy: OutboxPolicy, state: OutboxState) -> int:
    """Enqueue backlogged measurements while there is room; returns how many."""
    if state.backlog_from is None:
        return 0
    room = policy.max_rows - state.depth
    if room <= 0:
        return 0
    db.execute("BEGIN IMMEDIATE")
    try:
        rows = db.execute(
            f"SELECT {', '.join(MEASUREMENT_COLUMNS)} FROM measurement"
            " WHERE id >= ? AND msg_id IS NOT NULL AND delivered_wall_s IS NULL"
            " ORDER BY id LIMIT ?",
            (state.backlog_from, room + 1),
        ).fetchall()
        done = rows[:room]
        for values in done:
            _insert_measurement(
                db, policy, state, dict(zip(MEASUREMENT_COLUMNS, values, strict=True))
            )
        backlog_from = None if len(rows) <= room else int(rows[room][0])
        db.execute(
            "INSERT INTO outbox_state (id, backlog_from) VALUES (1, ?) "
            "ON CONFLICT(id) DO UPDATE SET backlog_from = excluded.backlog_from",
            (backlog_from,),
        )
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        state.depth = load_state(db).depth
        raise
    state.backlog_from = backlog_from
    state.backlogged -= len(done)
    return len(done)


def enqueue_coalesced(
    db: sqlite3.Connection, kind: str, key: str, topic: str, payload: dict[str, Any]
) -> str:
    """Queue a status or health message, replacing an undelivered one with the same key."""
    msg_id = str(uuid7())
    body = {**payload, "msg_id": msg_id}
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("DELETE FROM outbox WHERE coalesce_key = ?", (key,))
        db.execute(
            "INSERT INTO outbox (msg_id, kind, topic, coalesce_key, measurement_id, payload,"
            " created_wall_s) VALUES (?, ?, ?, ?, NULL, ?, ?)",
            (msg_id, kind, topic, key, json.dumps(body, separators=(",", ":")), time.time()),
        )
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return msg_id


def pending(db: sqlite3.Connection, after_seq: int, limit: int) -> list[Pending]:
    """Undelivered rows after ``after_seq``, in order."""
    rows = db.execute(
        "SELECT seq, msg_id, topic, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
        (after_seq, limit),
    ).fetchall()
    return [Pending(seq, msg_id, topic, payload.encode()) for seq, msg_id, topic, payload in rows]


def mark_delivered(
    db: sqlite3.Connection, state: OutboxState, seqs: list[int], wall_s: float
) -> int:
    """The broker acked these rows: stamp their measurements delivered and delete the rows."""
    if not seqs:
        return 0
    marks = ",".join("?" * len(seqs))
    # A lost delivery mark only means a resend (consumers dedupe), so this commit skips the
    # fsync: in WAL mode synchronous=NORMAL keeps the database consistent, and the next
    # FULL commit makes it durable too.
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute(
            "UPDATE measurement SET delivered_wall_s = ? WHERE id IN"
            f" (SELECT measurement_id FROM outbox WHERE seq IN ({marks})"
            "  AND measurement_id IS NOT NULL)",
            (wall_s, *seqs),
        )
        n_meas = db.execute(
            f"DELETE FROM outbox WHERE seq IN ({marks}) AND kind = 'measurement'", seqs
        ).rowcount
        n_other = db.execute(f"DELETE FROM outbox WHERE seq IN ({marks})", seqs).rowcount
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    finally:
        db.execute("PRAGMA synchronous=FULL")
    state.depth -= n_meas
    state.delivered += n_meas + n_other
    return int(n_meas + n_other)


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """What /healthz shows of the outbox."""

    depth: int  # measurement rows waiting
    total_rows: int  # every row waiting (with status and health)
    backlogged: int  # measurements stored but not yet in the outbox (it was full)
    oldest_age_s: float | None
    delivered: int


def stats(db: sqlite3.Connection, state: OutboxState) -> OutboxStats:
    """Depth, backlog and the age of the oldest undelivered row."""
    total, oldest = db.execute("SELECT count(*), min(created_wall_s) FROM outbox").fetchone()
    backlogged = 0
    if state.backlog_from is not None:
        backlogged = int(
            db.execute(
                "SELECT count(*) FROM measurement WHERE id >= ? AND msg_id IS NOT NULL"
                " AND delivered_wall_s IS NULL",
                (state.backlog_from,),
            ).fetchone()[0]
        )
        first = db.execute(
            "SELECT received_wall_s FROM measurement WHERE id = ?", (state.backlog_from,)
        ).fetchone()
        if first is not None:
            oldest = first[0] if oldest is None else min(oldest, first[0])
    return OutboxStats(
        depth=state.depth,
        total_rows=int(total),
        backlogged=backlogged,
        oldest_age_s=None if oldest is None else max(0.0, time.time() - float(oldest)),
        delivered=state.delivered,
    )
