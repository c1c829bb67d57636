"""The room's consultation session and who may join it, persisted in the store.

One session at a time per room. A session moves idle → preparing → inviting → live → ended;
the row survives a restart and the gateway resumes the session that was not ended.
Invitations are single-use join links with an expiry: the link carries a random token (only
its SHA-256 is stored) and a short code for typing; redeeming either once gives the
participant a bearer token (again stored only as a hash) for the API, the WHEP endpoint and
the signalling socket. Expired, used and unknown links are told apart so the page can say so.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import secrets
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from gateway.ids import uuid7
from gateway.store import Store

SHORT_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
SHORT_CODE_LENGTH = 8
DEFAULT_INVITE_TTL_S = 15 * 60.0


class SessionState(enum.Enum):
    """Where the session is in the nurse's workflow."""

    PREPARING = "preparing"
    INVITING = "inviting"
    LIVE = "live"
    ENDED = "ended"


class Role(enum.Enum):
    """Who a participant is. The nurse is the kiosk and needs no invitation."""

    SPECIALIST = "specialist"
    GP = "gp"


class InviteError(Exception):
    """A join link or code that cannot be used; ``reason`` is expired, used, unknown or ended."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"join link {reason}")
        self.reason = reason


class SessionError(Exception):
    """An action the session's state does not allow."""


@dataclass(frozen=True, slots=True)
class Session:
    """A session row."""

    id: str
    state: SessionState
    created_wall_s: float
    started_wall_s: float | None
    ended_wall_s: float | None
    patient: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Invite:
    """What the nurse hands out; ``token`` exists only here, never on disk."""

    participant_id: str
    session_id: str
    role: Role
    token: str
    short_code: str
    expires_wall_s: float


@dataclass(frozen=True, slots=True)
class Participant:
    """A remote participant (specialist or GP)."""

    id: str
    session_id: str
    role: Role
    name: str | None
    expires_wall_s: float
    redeemed_wall_s: float | None
    admitted_wall_s: float | None
    removed_wall_s: float | None

    @property
    def admitted(self) -> bool:
        return self.admitted_wall_s is not None and self.removed_wall_s is None


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


_SESSION_COLS = "id, state, created_wall_s, started_wall_s, ended_wall_s, patient"
_PARTICIPANT_COLS = (
    "id, session_id, role, name, expires_wall_s, redeemed_wall_s, admitted_wall_s, removed_wall_s"
)


def _session(row: tuple[Any, ...]) -> Session:
    return Session(
        id=row[0],
        state=SessionState(row[1]),
        created_wall_s=row[2],
        started_wall_s=row[3],
        ended_wall_s=row[4],
        patient=None if row[5] is None else json.loads(row[5]),
    )


def _participant(row: tuple[Any, ...]) -> Participant:
    return Participant(row[0], row[1], Role(row[2]), row[3], row[4], row[5], row[6], row[7])


class SessionManager:
    """The room's current session and its participants; every change is committed at once."""

    def __init__(self, store: Store, *, clock: Any = time.time) -> None:
        self.store = store
        self._clock = clock
        self.current: Session | None = None

    async def resume(self) -> Session | None:
        """Load the session that was not ended (after a restart) and stamp new data with it."""
        self.current = await self.store.call(_load_open)
        self.store.session_id = self._stamp(self.current)
        return self.current

    @staticmethod
    def _stamp(session: Session | None) -> str | None:
        # From the invitation on (the kiosk asks for the patient's consent before it invites):
        # what the nurse measures while the doctor is on the way belongs to the consultation.
        stamped = (SessionState.INVITING, SessionState.LIVE)
        return session.id if session is not None and session.state in stamped else None

    async def start(self, patient: dict[str, Any] | None = None, *, live: bool = False) -> Session:
        """A new session (preparing, or live at once). Refused while one is open."""
        if self.current is not None:
            raise SessionError(f"session {self.current.id} is {self.current.state.value}")
        now = self._clock()
        state = SessionState.LIVE if live else SessionState.PREPARING
        session = Session(str(uuid7()), state, now, now if live else None, None, patient)
        await self.store.call(_insert_session, session)
        self.current = session
        self.store.session_id = self._stamp(session)
        return session

    async def set_state(self, state: SessionState) -> Session:
        """Move the open session to ``state`` (ended closes it)."""
        session = self._open()
        now = self._clock()
        started = session.started_wall_s
        if state is SessionState.LIVE and started is None:
            started = now
        ended = now if state is SessionState.ENDED else None
        updated = Session(
            session.id, state, session.created_wall_s, started, ended, session.patient
        )
        await self.store.call(_update_session, updated)
        self.current = None if state is SessionState.ENDED else updated
        self.store.session_id = self._stamp(self.current)
        return updated

    async def set_patient(self, patient: dict[str, Any]) -> Session:
        """Replace the open session's patient record (the minimal context and the consent)."""
        session = self._open()
        updated = Session(
            session.id,
            session.state,
            session.created_wall_s,
            session.started_wall_s,
            session.ended_wall_s,
            patient,
        )
        await self.store.call(_update_patient, session.id, json.dumps(patient))
        self.current = updated
        return updated

    def now(self) -> float:
        """The session clock (wall time, s)."""
        t: float = self._clock()
        return t

    async def end(self) -> Session:
        """End the open session."""
        return await self.set_state(SessionState.ENDED)

    def _open(self) -> Session:
        if self.current is None:
            raise SessionError("no open session")
        return self.current

    async def invite(
        self,
        role: Role,
        *,
        ttl_s: float = DEFAULT_INVITE_TTL_S,
        name: str | None = None,
        admit: bool = False,
    ) -> Invite:
        """A single-use join link (token and short code) for the open session."""
        session = self._open()
        if not (ttl_s > 0 and math.isfinite(ttl_s)):
            raise ValueError(f"invite ttl_s={ttl_s!r}: expected a positive number of seconds")
        now = self._clock()
        token = secrets.token_urlsafe(24)
        code = "".join(secrets.choice(SHORT_CODE_ALPHABET) for _ in range(SHORT_CODE_LENGTH))
        invite = Invite(str(uuid7()), session.id, role, token, code, now + ttl_s)
        await self.store.call(_insert_invite, invite, name, now, now if admit else None)
        return invite

    async def redeem(self, token_or_code: str) -> tuple[Participant, str]:
        """Use a join token or short code once: the participant and its new bearer token."""
        bearer = secrets.token_urlsafe(32)
        participant = await self.store.call(
            _redeem, _normalise(token_or_code), _hash(bearer), self._clock()
        )
        return participant, bearer

    async def participant(self, bearer: str) -> Participant | None:
        """The live session's participant holding ``bearer``, if admitted and not removed."""
        p = await self.store.call(_by_bearer, _hash(bearer))
        if p is None or self.current is None or p.session_id != self.current.id:
            return None
        return p

    async def status(self, bearer: str) -> tuple[Participant, SessionState] | None:
        """The participant holding ``bearer`` (waiting, admitted or removed) and its session's
        state, for the waiting room; None for a bearer never issued."""
        return await self.store.call(_status_by_bearer, _hash(bearer))

    async def check(self, token_or_code: str) -> str | None:
        """Why a join link or code cannot be used (expired, used, unknown, ended), without
        using it; None if it can still be redeemed."""
        return await self.store.call(_check, _normalise(token_or_code), self._clock())

    async def participants(self) -> list[Participant]:
        """Everyone invited to the open session."""
        if self.current is None:
            return []
        return await self.store.call(_list_participants, self.current.id)

    async def admit(self, participant_id: str) -> None:
        """Let a waiting participant in."""
        await self.store.call(_set_time, participant_id, "admitted_wall_s", self._clock())

    async def remove(self, participant_id: str) -> None:
        """Remove a participant: their bearer stops working at once."""
        await self.store.call(_set_time, participant_id, "removed_wall_s", self._clock())


def _normalise(token_or_code: str) -> str:
    text = token_or_code.strip()
    compact = text.replace("-", "").replace(" ", "").upper()
    if len(compact) == SHORT_CODE_LENGTH and all(c in SHORT_CODE_ALPHABET for c in compact):
        return "code:" + compact
    return text


def _load_open(db: sqlite3.Connection) -> Session | None:
    row = db.execute(
        f"SELECT {_SESSION_COLS} FROM session WHERE state != 'ended' "
        "ORDER BY created_wall_s DESC LIMIT 1"
    ).fetchone()
    return None if row is None else _session(row)


def _insert_session(db: sqlite3.Connection, s: Session) -> None:
    with db:
        db.execute(
            f"INSERT INTO session ({_SESSION_COLS}) VALUES (?, ?, ?, ?, ?, ?)",
            (
                s.id,
                s.state.value,
                s.created_wall_s,
                s.started_wall_s,
                s.ended_wall_s,
                None if s.patient is None else json.dumps(s.patient),
            ),
        )


def _update_session(db: sqlite3.Connection, s: Session) -> None:
    with db:
        db.execute(
            "UPDATE session SET state = ?, started_wall_s = ?, ended_wall_s = ? WHERE id = ?",
            (s.state.value, s.started_wall_s, s.ended_wall_s, s.id),
        )


def _update_patient(db: sqlite3.Connection, session_id: str, patient_json: str) -> None:
    with db:
        db.execute("UPDATE session SET patient = ? WHERE id = ?", (patient_json, session_id))


def _insert_invite(
    db: sqlite3.Connection, inv: Invite, name: str | None, now: float, admitted: float | None
) -> None:
    with db:
        db.execute(
            "INSERT INTO participant (id, session_id, role, name, invite_hash, short_code,"
            " created_wall_s, expires_wall_s, admitted_wall_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                inv.participant_id,
                inv.session_id,
                inv.role.value,
                name,
                _hash(inv.token),
                inv.short_code,
                now,
                inv.expires_wall_s,
                admitted,
            ),
        )


def _lookup(db: sqlite3.Connection, key: str, now: float) -> str:
    """The participant id a link or code names, or InviteError why it cannot be used."""
    if key.startswith("code:"):
        where, arg = "p.short_code = ?", key[5:]
    else:
        where, arg = "p.invite_hash = ?", _hash(key)
    row = db.execute(
        f"SELECT p.id, p.expires_wall_s, p.redeemed_wall_s, p.removed_wall_s, s.state "
        f"FROM participant p JOIN session s ON s.id = p.session_id WHERE {where} "
        "ORDER BY p.created_wall_s DESC LIMIT 1",
        (arg,),
    ).fetchone()
    if row is None:
        raise InviteError("unknown")
    pid, expires, redeemed, removed, state = row
    if state == SessionState.ENDED.value:
        raise InviteError("ended")
    if redeemed is not None or removed is not None:
        raise InviteError("used")
    if now >= expires:
        raise InviteError("expired")
    return str(pid)


def _check(db: sqlite3.Connection, key: str, now: float) -> str | None:
    try:
        _lookup(db, key, now)
    except InviteError as exc:
        return exc.reason
    return None


def _redeem(db: sqlite3.Connection, key: str, bearer_hash: str, now: float) -> Participant:
    with db:  # check and mark in one transaction: two redeemers cannot both win
        db.execute("BEGIN IMMEDIATE")
        pid = _lookup(db, key, now)
        db.execute(
            "UPDATE participant SET redeemed_wall_s = ?, bearer_hash = ? WHERE id = ?",
            (now, bearer_hash, pid),
        )
        got = db.execute(
            f"SELECT {_PARTICIPANT_COLS} FROM participant WHERE id = ?", (pid,)
        ).fetchone()
    return _participant(got)


def _status_by_bearer(
    db: sqlite3.Connection, bearer_hash: str
) -> tuple[Participant, SessionState] | None:
    cols = ", ".join("p." + c.strip() for c in _PARTICIPANT_COLS.split(","))
    row = db.execute(
        f"SELECT {cols}, s.state FROM participant p JOIN session s ON s.id = p.session_id "
        "WHERE p.bearer_hash = ?",
        (bearer_hash,),
    ).fetchone()
    return None if row is None else (_participant(row[:-1]), SessionState(row[-1]))


def _by_bearer(db: sqlite3.Connection, bearer_hash: str) -> Participant | None:
    row = db.execute(
        f"SELECT {_PARTICIPANT_COLS} FROM participant WHERE bearer_hash = ? "
        "AND removed_wall_s IS NULL AND left_wall_s IS NULL",
        (bearer_hash,),
    ).fetchone()
    return None if row is None else _participant(row)


def _list_participants(db: sqlite3.Connection, session_id: str) -> list[Participant]:
    rows = db.execute(
        f"SELECT {_PARTICIPANT_COLS} FROM participant WHERE session_id = ? ORDER BY id",
        (session_id,),
    ).fetchall()
    return [_participant(r) for r in rows]


def _set_time(db: sqlite3.Connection, participant_id: str, column: str, now: float) -> None:
    if column not in ("admitted_wall_s", "removed_wall_s", "left_wall_s"):
        raise ValueError(column)
    with db:
        cur = db.execute(
            f"UPDATE participant SET {column} = ? WHERE id = ? AND {column} IS NULL",
            (now, participant_id),
        )
        if (
            cur.rowcount == 0
            and db.execute("SELECT 1 FROM participant WHERE id = ?", (participant_id,)).fetchone()
            is None
        ):
            raise SessionError(f"no participant {participant_id}")
