"""The durable store: SQLite in WAL mode with synchronous=FULL, versioned migrations.

One connection, used from one dedicated thread, so the event loop never waits on fsync.
A batch of events is written in one transaction and is on disk when ``write()`` returns:
only then may anyone see it (the pipeline publishes after the write).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Self, TypeVar

from drivers.model import DeviceInfo, Measurement, SampleBlock
from gateway import outbox
from gateway.ids import uuid7
from gateway.outbox import OutboxPolicy, OutboxState
from gateway.signals.verdict import Assessed

logger = logging.getLogger(__name__)

StoredEvent = Measurement | SampleBlock | tuple[str, DeviceInfo]
T = TypeVar("T")

# Each entry upgrades the schema by one version (PRAGMA user_version). Never edit a shipped one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE device (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        uri TEXT NOT NULL,
        first_seen_wall_s REAL NOT NULL
    );
    CREATE TABLE measurement (
        id INTEGER PRIMARY KEY,
        device_id TEXT NOT NULL,
        quantity TEXT NOT NULL,
        value REAL,                      -- NULL: not computable / device sent "no value"
        unit TEXT NOT NULL,              -- UCUM
        device_time TEXT,                -- ISO 8601 with offset, as the device said
        device_clock_set INTEGER NOT NULL,
        received_wall_s REAL NOT NULL,
        received_monotonic_s REAL NOT NULL,
        quality INTEGER NOT NULL         -- drivers.model.QualityFlag bits
    );
    CREATE INDEX measurement_device_time ON measurement (device_id, received_wall_s);
    CREATE TABLE sample_block (
        id INTEGER PRIMARY KEY,
        device_id TEXT NOT NULL,
        quantity TEXT NOT NULL,
        channels TEXT NOT NULL,          -- JSON list
        fs_hz REAL NOT NULL,
        first_index INTEGER NOT NULL,
        n_samples INTEGER NOT NULL,
        unit TEXT NOT NULL,
        samples BLOB NOT NULL,           -- float32 little-endian, row-major [sample, channel]
        received_wall_s REAL NOT NULL,
        quality INTEGER NOT NULL
    );
    CREATE INDEX sample_block_device ON sample_block (device_id, first_index);
    """,
    """
    CREATE TABLE device_info (
        device_id TEXT NOT NULL,
        received_wall_s REAL NOT NULL,
        info TEXT NOT NULL               -- JSON of drivers.model.DeviceInfo
    );
    """,
    """
    CREATE TABLE session (
        id TEXT PRIMARY KEY,             -- UUIDv7
        state TEXT NOT NULL,             -- gateway.sessions.SessionState
        created_wall_s REAL NOT NULL,
        started_wall_s REAL,             -- went live
        ended_wall_s REAL,
        patient TEXT                     -- JSON (minimal, optional) or NULL
    );
    CREATE TABLE participant (
        id TEXT PRIMARY KEY,             -- UUIDv7
        session_id TEXT NOT NULL REFERENCES session (id),
        role TEXT NOT NULL,              -- specialist | gp
        name TEXT,
        invite_hash TEXT NOT NULL UNIQUE,  -- SHA-256 of the join token (the token is never stored)
        short_code TEXT NOT NULL,
        created_wall_s REAL NOT NULL,
        expires_wall_s REAL NOT NULL,
        redeemed_wall_s REAL,            -- single use: set once
        bearer_hash TEXT UNIQUE,         -- SHA-256 of the participant's bearer, set at redemption
        admitted_wall_s REAL,
        removed_wall_s REAL,
        left_wall_s REAL
    );
    CREATE INDEX participant_session ON participant (session_id);
    ALTER TABLE measurement ADD COLUMN session_id TEXT;
    ALTER TABLE measurement ADD COLUMN verdict TEXT;    -- valid | questionable | invalid | NULL
    ALTER TABLE measurement ADD COLUMN reasons TEXT;    -- JSON list of reason codes
    ALTER TABLE sample_block ADD COLUMN session_id TEXT;
    CREATE INDEX measurement_session ON measurement (session_id);
    """,
    """
    CREATE TABLE device_binding (
        id TEXT PRIMARY KEY,             -- device id, as in config
        uri TEXT NOT NULL,
        label TEXT NOT NULL,
        bound_wall_s REAL NOT NULL,
        forgotten_wall_s REAL            -- set when the nurse forgets the device
    );
    """,
    """
    CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- delivery order
        msg_id TEXT NOT NULL UNIQUE,     -- UUIDv7, the MQTT user property msg-id
        kind TEXT NOT NULL,              -- measurement | status | health
        topic TEXT NOT NULL,             -- below helserom/{site}/{room}/
        coalesce_key TEXT,               -- status/health: one undelivered row per key
        measurement_id INTEGER,          -- measurement.id for kind measurement
        payload TEXT NOT NULL,           -- JSON, docs/mqtt.md
        created_wall_s REAL NOT NULL
    );
    CREATE INDEX outbox_coalesce ON outbox (coalesce_key) WHERE coalesce_key IS NOT NULL;
    CREATE TABLE outbox_state (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        backlog_from INTEGER             -- first measurement left out while the outbox was full
    );
    ALTER TABLE measurement ADD COLUMN msg_id TEXT;            -- set when it must be delivered
    ALTER TABLE measurement ADD COLUMN delivered_wall_s REAL;  -- the broker's PUBACK
    CREATE INDEX measurement_delivered ON measurement (delivered_wall_s);
    """,
    """
    CREATE TABLE snapshot (
        id TEXT PRIMARY KEY,             -- random, in the URL /api/v1/snapshots/{id}
        session_id TEXT,                 -- the live session it was taken in, or NULL
        camera_id TEXT NOT NULL,
        width INTEGER NOT NULL,
        height INTEGER NOT NULL,
        captured_wall_s REAL NOT NULL,
        requested_role TEXT NOT NULL,    -- nurse | specialist | gp
        requested_by TEXT NOT NULL,      -- participant id, OIDC subject or "kiosk"
        requested_name TEXT,             -- the participant's name when the invitation had one
        jpeg BLOB NOT NULL
    );
    CREATE INDEX snapshot_session ON snapshot (session_id, captured_wall_s);
    CREATE TABLE note (
        id TEXT PRIMARY KEY,             -- UUIDv7
        session_id TEXT NOT NULL,
        author_role TEXT NOT NULL,       -- nurse | specialist | gp
        author_id TEXT NOT NULL,         -- participant id, OIDC subject or "kiosk"
        author_name TEXT,
        text TEXT NOT NULL,              -- at most 4000 characters
        created_wall_s REAL NOT NULL
    );
    CREATE INDEX note_session ON note (session_id, created_wall_s);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(Exception):
    """The store cannot be opened or written."""


class Store:
    """The gateway's SQLite database; use as an async context manager."""

    def __init__(self, path: Path, outbox_policy: OutboxPolicy | None = None) -> None:
        self.path = path
        # None: nothing leaves the room (MQTT disabled), measurements get no msg_id
        self.outbox_policy = outbox_policy
        self.outbox_state = OutboxState()
        self.outbox_changed = asyncio.Event()  # set after a write that queued outbox rows
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self._db: sqlite3.Connection | None = None
        self.session_id: str | None = None  # stamped on what is written while a session is live

    async def __aenter__(self) -> Self:
        await self._run(self._open)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._run(self._close)
        self._executor.shutdown(wait=True)

    async def _run(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(connection, *args)`` on the store's thread (for modules with their own SQL)."""
        result: T = await self._run(lambda: fn(self.db, *args))
        return result

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA busy_timeout=5000")
        self._db = db
        migrate(db, self.path)
        self.outbox_state = outbox.load_state(db)

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError(f"{self.path}: store is not open")
        return self._db

    async def register_device(self, device_id: str, kind: str, uri: str, wall_s: float) -> None:
        """Remember a configured device (idempotent)."""
        await self._run(self._register_device, device_id, kind, uri, wall_s)

    def _register_device(self, device_id: str, kind: str, uri: str, wall_s: float) -> None:
        with _transaction(self.db):
            self.db.execute(
                "INSERT INTO device (id, kind, uri, first_seen_wall_s) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET kind=excluded.kind, uri=excluded.uri",
                (device_id, kind, uri, wall_s),
            )
        self.outbox_state.device_kinds[device_id] = kind

    async def write(
        self,
        events: Sequence[StoredEvent],
        verdicts: Sequence[Assessed | None] | None = None,
        *,
        session_id: str | None = None,
    ) -> None:
        """Write a batch in one transaction; it is on disk (fsync) when this returns.

        ``verdicts`` (one per event, as the signal engine judged them) are stored with the
        measurements; the live session's id (or ``session_id``, for what the nurse enters in
        an open session) is stamped on every row. With an outbox policy each measurement gets
        a UUIDv7 ``msg_id`` and its outbox row in the same transaction.
        """
        if events:
            await self._run(self._write, events, verdicts, session_id)
            if self.outbox_policy is not None:
                self.outbox_changed.set()

    def _write(
        self,
        events: Sequence[StoredEvent],
        verdicts: Sequence[Assessed | None] | None,
        stamp: str | None = None,
    ) -> None:
        db = self.db
        session_id = stamp if stamp is not None else self.session_id
        state = self.outbox_state
        before = (state.depth, state.backlog_from, state.enqueued, state.backlogged)
        try:
            self._write_events(db, events, verdicts, session_id)
        except BaseException:
            # rolled back: the outbox counters go back with the rows
            state.depth, state.backlog_from, state.enqueued, state.backlogged = before
            raise

    def _write_events(
        self,
        db: sqlite3.Connection,
        events: Sequence[StoredEvent],
        verdicts: Sequence[Assessed | None] | None,
        session_id: str | None,
    ) -> None:
        with _transaction(db):
            for i, ev in enumerate(events):
                if isinstance(ev, Measurement):
                    self._write_measurement(
                        db, ev, verdicts[i] if verdicts is not None else None, session_id
                    )
                elif isinstance(ev, SampleBlock):
                    db.execute(
                        "INSERT INTO sample_block (device_id, quantity, channels, fs_hz,"
                        " first_index, n_samples, unit, samples, received_wall_s, quality,"
                        " session_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            ev.device_id,
                            ev.quantity.spec.key,
                            json.dumps(list(ev.channels)),
                            ev.fs_hz,
                            ev.first_index,
                            ev.n_samples,
                            ev.unit,
                            ev.values.astype("<f4").tobytes(),
                            ev.received.wall_s,
                            int(ev.quality),
                            session_id,
                        ),
                    )
                else:
                    device_id, info = ev
                    db.execute(
                        "INSERT INTO device_info (device_id, received_wall_s, info)"
                        " VALUES (?, ?, ?)",
                        (device_id, time.time(), json.dumps(info.as_dict())),
                    )

    def _write_measurement(
        self,
        db: sqlite3.Connection,
        ev: Measurement,
        judged: Assessed | None,
        session_id: str | None,
    ) -> None:
        policy = self.outbox_policy
        row: dict[str, Any] = {
            "device_id": ev.device_id,
            "quantity": ev.quantity.spec.key,
            "value": None if math.isnan(ev.value) else ev.value,
            "unit": ev.unit,
            "device_time": ev.device_time.isoformat() if ev.device_time else None,
            "device_clock_set": int(ev.device_clock_set),
            "received_wall_s": ev.received.wall_s,
            "received_monotonic_s": ev.received.monotonic_s,
            "quality": int(ev.quality),
            "session_id": session_id,
            "verdict": None if judged is None else judged.verdict.value,
            "reasons": None if judged is None else json.dumps(judged.reason_codes()),
            "msg_id": None if policy is None else str(uuid7()),
        }
        cursor = db.execute(
            f"INSERT INTO measurement ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
            tuple(row.values()),
        )
        if policy is not None:
            row["id"] = cursor.lastrowid
            outbox.enqueue_measurement(db, policy, self.outbox_state, row)

    async def count(self, table: str) -> int:
        """Rows in a table (for health and tests)."""
        if table not in (
            "measurement",
            "sample_block",
            "device",
            "device_info",
            "session",
            "participant",
            "outbox",
            "snapshot",
            "note",
        ):
            raise ValueError(table)
        row = await self._run(lambda: self.db.execute(f"SELECT count(*) FROM {table}").fetchone())
        return int(row[0])


def migrate(db: sqlite3.Connection, path: Path) -> None:
    """Bring the schema up to SCHEMA_VERSION, one migration per transaction."""
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path}: database schema v{version} is newer than this gateway knows "
            f"(v{SCHEMA_VERSION}); install the newer gateway or restore a backup"
        )
    for target in range(version + 1, SCHEMA_VERSION + 1):
        with _transaction(db):
            for statement in _statements(MIGRATIONS[target - 1]):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {target}")
        logger.info("%s: schema migrated to v%d", path, target)


def _statements(script: str) -> list[str]:
    lines = [line.split("--", 1)[0] for line in script.splitlines()]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


class _transaction:
    """BEGIN IMMEDIATE … COMMIT, or ROLLBACK on error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")
