"""Retention: patient data leaves the room's disk a set time after it is no longer needed.

"No longer needed" (docs/data-protection.md): a measurement that must go to the broker
(``msg_id`` set) once its delivery was confirmed (PUBACK) ``retention_s`` ago; data that is
never sent (sample blocks, measurements while MQTT is off) once its session ended
``retention_s`` ago, or ``retention_s`` after it was received when it belongs to no session.
Undelivered measurements are never purged. Snapshots and notes (never sent) go with the rest
of their session's data; a snapshot taken outside a session ``retention_s`` after it was taken.
The session's patient JSON and participants' names are cleared when the session ended
``retention_s`` ago and nothing of it waits for delivery. Deletes run in chunks so the store
thread is never held for long.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from dataclasses import dataclass

from gateway.settings import StoreSettings
from gateway.store import Store

logger = logging.getLogger(__name__)

CHUNK_ROWS = 5000

_ENDED = "SELECT id FROM session WHERE ended_wall_s IS NOT NULL AND ended_wall_s <= :cut"
_MEASUREMENTS = f"""
    SELECT id FROM measurement WHERE
        (msg_id IS NOT NULL AND delivered_wall_s IS NOT NULL AND delivered_wall_s <= :cut)
        OR (msg_id IS NULL AND session_id IS NULL AND received_wall_s <= :cut)
        OR (msg_id IS NULL AND session_id IN ({_ENDED}))
    LIMIT {CHUNK_ROWS}
"""
_BLOCKS = f"""
    SELECT id FROM sample_block WHERE
        (session_id IS NULL AND received_wall_s <= :cut) OR session_id IN ({_ENDED})
    LIMIT {CHUNK_ROWS}
"""
_SNAPSHOTS = f"""
    SELECT id FROM snapshot WHERE
        (session_id IS NULL AND captured_wall_s <= :cut) OR session_id IN ({_ENDED})
    LIMIT {CHUNK_ROWS}
"""
_NOTES = f"SELECT id FROM note WHERE session_id IN ({_ENDED}) LIMIT {CHUNK_ROWS}"
_SETTLED = f"""
    SELECT s.id FROM session s WHERE s.id IN ({_ENDED}) AND NOT EXISTS (
        SELECT 1 FROM measurement m WHERE m.session_id = s.id
        AND m.msg_id IS NOT NULL AND m.delivered_wall_s IS NULL)
"""


@dataclass(frozen=True, slots=True)
class Purged:
    """Rows removed or cleared by one purge."""

    measurements: int = 0
    sample_blocks: int = 0
    sessions_cleared: int = 0
    names_cleared: int = 0
    records: int = 0  # snapshots and notes

    @property
    def total(self) -> int:
        return (
            self.measurements
            + self.sample_blocks
            + self.sessions_cleared
            + self.names_cleared
            + self.records
        )


def purge(db: sqlite3.Connection, retention_s: float, now_wall_s: float) -> Purged:
    """Delete what is past retention (on the store thread)."""
    cut = {"cut": now_wall_s - retention_s}
    n_meas = _chunked(db, f"DELETE FROM measurement WHERE id IN ({_MEASUREMENTS})", cut)
    n_blocks = _chunked(db, f"DELETE FROM sample_block WHERE id IN ({_BLOCKS})", cut)
    n_records = _chunked(db, f"DELETE FROM snapshot WHERE id IN ({_SNAPSHOTS})", cut)
    n_records += _chunked(db, f"DELETE FROM note WHERE id IN ({_NOTES})", cut)
    db.execute("BEGIN IMMEDIATE")
    try:
        n_sessions = db.execute(
            f"UPDATE session SET patient = NULL WHERE patient IS NOT NULL AND id IN ({_SETTLED})",
            cut,
        ).rowcount
        n_names = db.execute(
            "UPDATE participant SET name = NULL WHERE name IS NOT NULL"
            f" AND session_id IN ({_SETTLED})",
            cut,
        ).rowcount
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return Purged(n_meas, n_blocks, n_sessions, n_names, n_records)


def _chunked(db: sqlite3.Connection, sql: str, params: dict[str, float]) -> int:
    total = 0
    while True:
        db.execute("BEGIN IMMEDIATE")
        try:
            n = db.execute(sql, params).rowcount
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        total += n
        if n < CHUNK_ROWS:
            return total


async def run(store: Store, settings: StoreSettings) -> None:
    """Purge every ``purge_interval_s``, forever (a task in the gateway's TaskGroup)."""
    while True:
        purged = await store.call(purge, settings.retention_s, time.time())
        if purged.total:
            logger.info(
                "retention: purged %d measurements, %d sample blocks, %d snapshots and notes; "
                "cleared patient data of %d sessions and %d participant names",
                purged.measurements,
                purged.sample_blocks,
                purged.records,
                purged.sessions_cleared,
                purged.names_cleared,
            )
        await asyncio.sleep(settings.purge_interval_s)
