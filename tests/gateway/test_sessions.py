"""Sessions and join links on a real SQLite file: single use, expiry, removal, restart."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from gateway.sessions import InviteError, Role, SessionError, SessionManager, SessionState
from gateway.store import Store


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_invite_is_single_use_and_gives_a_bearer(tmp_path: Path) -> None:
    async with Store(tmp_path / "gw.sqlite3") as store:
        sm = SessionManager(store)
        await sm.start(live=True)
        inv = await sm.invite(Role.SPECIALIST, admit=True)
        p, bearer = await sm.redeem(inv.token)
        assert p.role is Role.SPECIALIST and p.admitted
        assert (await sm.participant(bearer)) == p
        assert await sm.participant("not-a-bearer") is None
        with pytest.raises(InviteError) as err:
            await sm.redeem(inv.token)
        assert err.value.reason == "used"
        with pytest.raises(InviteError) as err:
            await sm.redeem("no-such-token-at-all-xxxxxxxxx")
        assert err.value.reason == "unknown"
    db = sqlite3.connect(tmp_path / "gw.sqlite3")
    stored = db.execute("SELECT invite_hash, bearer_hash FROM participant").fetchone()
    assert inv.token not in stored and bearer not in stored  # only hashes on disk


async def test_short_code_works_once_in_any_spelling(tmp_path: Path) -> None:
    async with Store(tmp_path / "gw.sqlite3") as store:
        sm = SessionManager(store)
        await sm.start(live=True)
        inv = await sm.invite(Role.GP)
        code = inv.short_code
        p, _ = await sm.redeem(f" {code[:4].lower()}-{code[4:]} ")
        assert p.role is Role.GP and not p.admitted  # waits for the nurse
        with pytest.raises(InviteError, match="used"):
            await sm.redeem(code)


async def test_expired_link_and_removed_participant(tmp_path: Path) -> None:
    clock = Clock()
    async with Store(tmp_path / "gw.sqlite3") as store:
        sm = SessionManager(store, clock=clock)
        await sm.start(live=True)
        late = await sm.invite(Role.SPECIALIST, ttl_s=60)
        clock.now += 60
        with pytest.raises(InviteError, match="expired"):
            await sm.redeem(late.token)
        inv = await sm.invite(Role.SPECIALIST, admit=True)
        p, bearer = await sm.redeem(inv.token)
        await sm.remove(p.id)
        assert await sm.participant(bearer) is None
        with pytest.raises(ValueError, match="ttl_s"):
            await sm.invite(Role.GP, ttl_s=0)


async def test_concurrent_redeem_has_one_winner(tmp_path: Path) -> None:
    async with Store(tmp_path / "gw.sqlite3") as store:
        sm = SessionManager(store)
        await sm.start(live=True)
        inv = await sm.invite(Role.SPECIALIST)
        results = await asyncio.gather(
            *(sm.redeem(inv.token) for _ in range(8)), return_exceptions=True
        )
        assert sum(not isinstance(r, Exception) for r in results) == 1


async def test_session_survives_restart_and_stamps_data(tmp_path: Path) -> None:
    path = tmp_path / "gw.sqlite3"
    async with Store(path) as store:
        sm = SessionManager(store)
        s = await sm.start(patient={"pseudonym": "P-17"})
        assert store.session_id is None  # preparing (no consent yet): not yet stamped
        with pytest.raises(SessionError):
            await sm.start()
        await sm.set_state(SessionState.INVITING)
        assert store.session_id == s.id  # measured while the doctor is on the way: in it
        await sm.set_state(SessionState.LIVE)
        assert store.session_id == s.id
    async with Store(path) as store:
        sm = SessionManager(store)
        resumed = await sm.resume()
        assert resumed is not None and resumed.id == s.id
        assert resumed.state is SessionState.LIVE and resumed.patient == {"pseudonym": "P-17"}
        assert store.session_id == s.id
        ended = await sm.end()
        assert ended.ended_wall_s is not None and store.session_id is None
        inv_err = None
        try:
            await sm.invite(Role.GP)
        except SessionError as exc:
            inv_err = exc
        assert inv_err is not None
    async with Store(path) as store:
        assert await SessionManager(store).resume() is None


async def test_measurements_carry_session_and_verdict(tmp_path: Path) -> None:
    from drivers.model import Measurement, Quantity, ReceiveTime
    from gateway.signals.verdict import Assessed, Verdict

    async with Store(tmp_path / "gw.sqlite3") as store:
        m = Measurement(Quantity.SPO2, 97.0, "%", "ox-1", ReceiveTime(1000.0, 5.0))
        await store.write([m], [None])
        sm = SessionManager(store)
        s = await sm.start(live=True)
        judged = Assessed(97.0, Verdict.QUESTIONABLE, (Verdict.VALID,))
        await store.write([m], [judged])
        rows = store.db.execute(
            "SELECT session_id, verdict, reasons FROM measurement ORDER BY id"
        ).fetchall()
    assert rows == [(None, None, None), (s.id, "questionable", '["valid"]')]
