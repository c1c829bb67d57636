"""Append-only audit log with a hash chain (``<state_dir>/audit.sqlite3``).

Each row records who (subject), role, action, session, resource, time and outcome. Rows are
chained: ``hash = sha256(prev_hash || canonical JSON of the row)``, the first row's prev_hash
is 64 zeros. SQLite triggers refuse UPDATE and DELETE; the chain makes an edit that bypasses
them (or a deleted row) visible to ``helserom audit verify``, which names the first bad row.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

AUDIT_FILE = "audit.sqlite3"
GENESIS = "0" * 64
FIELDS = ("seq", "time_s", "subject", "role", "action", "session", "resource", "outcome")

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    time_s REAL NOT NULL,
    subject TEXT NOT NULL,
    role TEXT NOT NULL,
    action TEXT NOT NULL,
    session TEXT,
    resource TEXT,
    outcome TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
"""


def row_hash(prev_hash: str, row: dict[str, Any]) -> str:
    """The chain hash of one row (its FIELDS, canonical JSON) after ``prev_hash``."""
    canonical = json.dumps(
        {k: row[k] for k in FIELDS}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One thing that happened."""

    subject: str
    role: str
    action: str
    outcome: str
    session: str | None = None
    resource: str | None = None


class AuditLog:
    """The audit log of one gateway; ``record`` is thread-safe and durable when it returns."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        path.chmod(0o600)  # who saw which patient is itself personal data
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        last = self._db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        self._seq: int = int(last[0]) if last else 0
        self._prev: str = str(last[1]) if last else GENESIS

    def record(self, entry: AuditEntry, time_s: float | None = None) -> int:
        """Append ``entry``; return its sequence number."""
        with self._lock:
            row: dict[str, Any] = {
                "seq": self._seq + 1,
                "time_s": round(time.time() if time_s is None else time_s, 6),
                "subject": entry.subject,
                "role": entry.role,
                "action": entry.action,
                "session": entry.session,
                "resource": entry.resource,
                "outcome": entry.outcome,
            }
            digest = row_hash(self._prev, row)
            self._db.execute(
                "INSERT INTO audit (seq, time_s, subject, role, action, session, resource, "
                "outcome, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (*(row[k] for k in FIELDS), self._prev, digest),
            )
            self._seq, self._prev = self._seq + 1, digest
            return self._seq

    def head(self) -> tuple[int, str]:
        """(sequence number, hash) of the newest row: the anchor to keep off the box.

        Published with the gateway's health over MQTT, so a consumer holds a copy the room
        cannot change; ``verify(path, anchors=…)`` then detects a log cut back or rewritten
        from scratch with a consistent chain (which the chain alone cannot show)."""
        with self._lock:
            return self._seq, self._prev

    def tail(self, limit: int = 100) -> list[dict[str, Any]]:
        """The newest ``limit`` rows, newest first."""
        with self._lock:
            cur = self._db.execute(
                "SELECT seq, time_s, subject, role, action, session, resource, outcome, hash "
                "FROM audit ORDER BY seq DESC LIMIT ?",
                (limit,),
            )
            names = [d[0] for d in cur.description]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]

    def close(self) -> None:
        with self._lock:
            self._db.close()


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """Outcome of ``verify``: rows checked and the first bad row (None if the chain holds)."""

    rows: int
    first_bad_seq: int | None = None
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.first_bad_seq is None


def verify(path: Path, anchors: Sequence[tuple[int, str]] = ()) -> VerifyResult:
    """Walk the chain from the first row; stop at the first row that does not hold.

    ``anchors`` are (seq, hash) pairs kept off the box (``AuditLog.head``, published in the
    MQTT health message): each row must still be there with that hash."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no audit log here")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        cur = db.execute(
            "SELECT seq, time_s, subject, role, action, session, resource, outcome, prev_hash, "
            "hash FROM audit ORDER BY seq"
        )
        prev, expected_seq, count = GENESIS, 1, 0
        wanted = dict(anchors)
        for values in cur:
            row = dict(zip((*FIELDS, "prev_hash", "hash"), values, strict=True))
            seq = row["seq"]
            if seq != expected_seq:
                return VerifyResult(count, expected_seq, f"row {expected_seq} is missing")
            if row["prev_hash"] != prev:
                return VerifyResult(
                    count, seq, f"row {seq}: prev_hash does not match row {seq - 1}"
                )
            if row_hash(prev, row) != row["hash"]:
                return VerifyResult(count, seq, f"row {seq}: content does not match its hash")
            prev, expected_seq, count = row["hash"], seq + 1, count + 1
            anchored = wanted.get(seq)
            if anchored is not None and anchored != row["hash"]:
                return VerifyResult(
                    count - 1, seq, f"row {seq}: hash differs from its off-box anchor (rewritten)"
                )
        beyond = [seq for seq in wanted if seq >= expected_seq]
        if beyond:
            seq = min(beyond)
            return VerifyResult(
                count, seq, f"row {seq} is missing but was anchored off-box (log cut back)"
            )
        return VerifyResult(count)
    finally:
        db.close()
