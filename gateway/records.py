"""What a consultation leaves behind besides measurements: camera snapshots and notes (schema v6).

Both are stamped with the session and with who asked or wrote (role, id, name). The SQL runs
on the store's thread (``Store.call``); the routes are in ``gateway.api_records``.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from gateway.auth import Principal
from gateway.ids import uuid7

NOTE_MAX_CHARS = 4000
MEASUREMENTS_MAX = 5000


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    """A stored still (without its JPEG)."""

    id: str
    session_id: str | None
    camera_id: str
    width: int
    height: int
    captured_wall_s: float
    requested_role: str
    requested_by: str
    requested_name: str | None

    def as_dict(self) -> dict[str, Any]:
        """The JSON of GET /api/v1/session/snapshots items."""
        return {
            "id": self.id,
            "url": f"/api/v1/snapshots/{self.id}",
            "camera_id": self.camera_id,
            "width": self.width,
            "height": self.height,
            "captured_s": self.captured_wall_s,
            "requested_by": {"role": self.requested_role, "name": self.requested_name},
        }


@dataclass(frozen=True, slots=True)
class NoteRow:
    """A note written during a session."""

    id: str
    session_id: str
    author_role: str
    author_id: str
    author_name: str | None
    text: str
    created_wall_s: float

    def as_dict(self) -> dict[str, Any]:
        """The JSON of the notes routes."""
        return {
            "id": self.id,
            "text": self.text,
            "created_s": self.created_wall_s,
            "author": {"role": self.author_role, "name": self.author_name},
        }


def author_id(who: Principal) -> str:
    """The stable id recorded for a principal (participant id, OIDC subject or role)."""
    return who.participant_id or who.subject or who.role


def participant_name(db: sqlite3.Connection, who: Principal) -> str | None:
    """The name on a participant's invitation (None for the nurse or without a name)."""
    if who.participant_id is None:
        return None
    row = db.execute("SELECT name FROM participant WHERE id = ?", (who.participant_id,)).fetchone()
    return None if row is None else row[0]


_SNAP_COLS = (
    "id, session_id, camera_id, width, height, captured_wall_s, requested_role, requested_by,"
    " requested_name"
)


def insert_snapshot(
    db: sqlite3.Connection, row: SnapshotRow, who: Principal, jpeg: bytes
) -> SnapshotRow:
    """Store a still with the name of who asked for it; the row as stored."""
    stored = SnapshotRow(
        row.id,
        row.session_id,
        row.camera_id,
        row.width,
        row.height,
        row.captured_wall_s,
        who.role,
        author_id(who),
        participant_name(db, who),
    )
    db.execute(
        f"INSERT INTO snapshot ({_SNAP_COLS}, jpeg) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (*_snap_values(stored), jpeg),
    )
    return stored


def _snap_values(r: SnapshotRow) -> tuple[Any, ...]:
    return (
        r.id,
        r.session_id,
        r.camera_id,
        r.width,
        r.height,
        r.captured_wall_s,
        r.requested_role,
        r.requested_by,
        r.requested_name,
    )


def snapshot_jpeg(db: sqlite3.Connection, snapshot_id: str) -> tuple[SnapshotRow, bytes] | None:
    """One still and its JPEG (None if unknown)."""
    row = db.execute(
        f"SELECT {_SNAP_COLS}, jpeg FROM snapshot WHERE id = ?", (snapshot_id,)
    ).fetchone()
    return None if row is None else (SnapshotRow(*row[:9]), bytes(row[9]))


def list_snapshots(db: sqlite3.Connection, session_id: str) -> list[SnapshotRow]:
    """The session's stills, oldest first."""
    rows = db.execute(
        f"SELECT {_SNAP_COLS} FROM snapshot WHERE session_id = ? ORDER BY captured_wall_s, id",
        (session_id,),
    ).fetchall()
    return [SnapshotRow(*r) for r in rows]


def snapshots_with_jpeg(db: sqlite3.Connection, session_id: str) -> list[tuple[SnapshotRow, bytes]]:
    """The session's stills with their JPEGs, oldest first (for the report)."""
    rows = db.execute(
        f"SELECT {_SNAP_COLS}, jpeg FROM snapshot WHERE session_id = ?"
        " ORDER BY captured_wall_s, id",
        (session_id,),
    ).fetchall()
    return [(SnapshotRow(*r[:9]), bytes(r[9])) for r in rows]


def insert_note(
    db: sqlite3.Connection, session_id: str, who: Principal, text: str, now_wall_s: float
) -> NoteRow:
    """Store a note by ``who`` in the session."""
    note = NoteRow(
        str(uuid7()),
        session_id,
        who.role,
        author_id(who),
        participant_name(db, who),
        text,
        now_wall_s,
    )
    db.execute(
        "INSERT INTO note (id, session_id, author_role, author_id, author_name, text,"
        " created_wall_s) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            note.id,
            note.session_id,
            note.author_role,
            note.author_id,
            note.author_name,
            note.text,
            note.created_wall_s,
        ),
    )
    return note


def list_notes(db: sqlite3.Connection, session_id: str) -> list[NoteRow]:
    """The session's notes, oldest first."""
    rows = db.execute(
        "SELECT id, session_id, author_role, author_id, author_name, text, created_wall_s"
        " FROM note WHERE session_id = ? ORDER BY created_wall_s, id",
        (session_id,),
    ).fetchall()
    return [NoteRow(*r) for r in rows]


@dataclass(frozen=True, slots=True)
class SpotRow:
    """A stored spot measurement as the trend charts need it."""

    device_id: str
    quantity: str
    value: float | None
    unit: str
    received_wall_s: float
    verdict: str | None
    reasons: tuple[str, ...]


def session_measurements(
    db: sqlite3.Connection,
    session_id: str,
    quantities: list[str] | None,
    since_wall_s: float | None,
    limit: int,
) -> list[SpotRow]:
    """The session's measurements (the newest ``limit``), oldest first."""
    where = ["session_id = ?"]
    args: list[Any] = [session_id]
    if quantities:
        where.append(f"quantity IN ({', '.join('?' * len(quantities))})")
        args.extend(quantities)
    if since_wall_s is not None:
        where.append("received_wall_s > ?")
        args.append(since_wall_s)
    rows = db.execute(
        "SELECT device_id, quantity, value, unit, received_wall_s, verdict, reasons"
        f" FROM measurement WHERE {' AND '.join(where)}"
        " ORDER BY received_wall_s DESC, id DESC LIMIT ?",
        (*args, min(limit, MEASUREMENTS_MAX)),
    ).fetchall()
    return [
        SpotRow(r[0], r[1], r[2], r[3], r[4], r[5], tuple(json.loads(r[6])) if r[6] else ())
        for r in reversed(rows)
    ]
