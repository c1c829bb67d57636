"""The audit log: append-only triggers, hash chain, tamper detection, CLI, what gets audited."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.audit import AUDIT_FILE, GENESIS, AuditEntry, AuditLog, row_hash, verify
from gateway.cli import app
from tests.security.conftest import App, AppFactory

CLI = CliRunner()  # the real `helserom` command in-process (a subprocess costs ~10 s of imports)


def _filled(path: Path, n: int = 5) -> AuditLog:
    log = AuditLog(path)
    for i in range(n):
        log.record(AuditEntry(f"user{i}", "nurse", "GET /api/v1/devices", "200", "s1", "/x"))
    return log


def test_chain_holds_and_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / AUDIT_FILE
    _filled(path, 3).close()
    log = AuditLog(path)  # reopened: continues the chain
    assert log.record(AuditEntry("kiosk", "nurse", "live.open", "ok")) == 4
    log.close()
    result = verify(path)
    assert (result.ok, result.rows) == (True, 4)
    db = sqlite3.connect(path)
    first = db.execute("SELECT prev_hash, hash FROM audit WHERE seq = 1").fetchone()
    assert first[0] == GENESIS and len(first[1]) == 64


def test_update_and_delete_are_refused(tmp_path: Path) -> None:
    path = tmp_path / AUDIT_FILE
    _filled(path).close()
    db = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("UPDATE audit SET subject = 'x' WHERE seq = 2")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM audit WHERE seq = 2")


def _bypass(path: Path, sql: str) -> None:
    """What an attacker with file access does: drop the triggers, then edit."""
    db = sqlite3.connect(path)
    db.executescript("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;" + sql + ";")
    db.close()


@pytest.mark.parametrize(
    ("sql", "bad_seq", "reason"),
    [
        ("UPDATE audit SET subject = 'someone-else' WHERE seq = 3", 3, "content does not match"),
        ("DELETE FROM audit WHERE seq = 2", 2, "row 2 is missing"),
        ("UPDATE audit SET outcome = '403', hash = 'ab' || substr(hash, 3) WHERE seq = 4", 4, ""),
    ],
    ids=["edited-row", "deleted-row", "edited-row-and-hash"],
)
def test_tampering_is_found_and_named(tmp_path: Path, sql: str, bad_seq: int, reason: str) -> None:
    path = tmp_path / AUDIT_FILE
    _filled(path).close()
    _bypass(path, sql)
    result = verify(path)
    assert not result.ok and result.first_bad_seq == bad_seq, result
    assert reason in result.reason
    run = CLI.invoke(app, ["audit", "verify", "--file", str(path)])
    assert run.exit_code == 1, run.output
    assert f"BROKEN at row {bad_seq}" in run.stderr


def test_rewriting_the_whole_tail_consistently_is_still_detected_by_the_next_row(
    tmp_path: Path,
) -> None:
    # Re-hashing row 2 hides its edit from row 2's own check, but row 3 chains to the old hash.
    path = tmp_path / AUDIT_FILE
    _filled(path).close()
    db = sqlite3.connect(path)
    row = dict(
        zip(
            ("seq", "time_s", "subject", "role", "action", "session", "resource", "outcome"),
            db.execute(
                "SELECT seq, time_s, subject, role, action, session, resource, outcome "
                "FROM audit WHERE seq = 2"
            ).fetchone(),
            strict=True,
        )
    )
    prev = db.execute("SELECT hash FROM audit WHERE seq = 1").fetchone()[0]
    db.close()
    row["subject"] = "forged"
    _bypass(
        path, f"UPDATE audit SET subject = 'forged', hash = '{row_hash(prev, row)}' WHERE seq = 2"
    )
    result = verify(path)
    assert result.first_bad_seq == 3 and "prev_hash" in result.reason


def test_cli_verify_ok(tmp_path: Path) -> None:
    path = tmp_path / AUDIT_FILE
    _filled(path).close()
    run = CLI.invoke(app, ["audit", "verify", "--file", str(path)])
    assert run.exit_code == 0, run.output
    assert "ok, 5 rows" in run.stdout
    config = tmp_path / "g.toml"
    config.write_text(f'[gateway]\nstate_dir = "{tmp_path}"\n')
    by_config = CLI.invoke(app, ["audit", "verify", "--config", str(config)])
    assert by_config.exit_code == 0 and f"{path}: ok, 5 rows" in by_config.stdout
    missing = CLI.invoke(app, ["audit", "verify", "--file", str(tmp_path / "nope.sqlite3")])
    assert missing.exit_code == 2 and "no audit log" in missing.stderr


async def test_api_requests_are_audited_with_principal_and_outcome(make_app: AppFactory) -> None:
    gw: App = await make_app()
    async with gw.kiosk() as kiosk:
        assert (await kiosk.get("/api/v1/devices")).status_code == 200
    async with gw.client() as anon:
        assert (await anon.get("/api/v1/devices")).status_code == 401
        assert (await anon.get("/healthz")).status_code in (200, 503)  # not audited
    rows = list(reversed(gw.audit.tail(10)))
    assert [(r["subject"], r["role"], r["action"], r["outcome"]) for r in rows] == [
        ("kiosk", "nurse", "GET /api/v1/devices", "200"),
        ("anonymous", "none", "GET /api/v1/devices", "401"),
    ]
    assert verify(gw.state_dir / AUDIT_FILE).ok


async def test_participant_access_is_audited_with_session(make_app: AppFactory) -> None:
    from gateway.sessions import Role

    gw: App = await make_app()
    session = await gw.sessions.start(live=True)
    invite = await gw.sessions.invite(Role.SPECIALIST, admit=True)
    _, bearer = await gw.sessions.redeem(invite.token)
    async with gw.client(headers={"Authorization": f"Bearer {bearer}"}) as specialist:
        # devices is a kiosk route: a specialist is refused, and that is audited with who
        assert (await specialist.get("/api/v1/devices")).status_code == 401
    row = gw.audit.tail(1)[0]
    assert (row["role"], row["session"], row["outcome"]) == ("specialist", session.id, "401")
    assert row["subject"] == invite.participant_id


def test_off_box_anchors_catch_a_cut_back_or_regrown_log(tmp_path: Path) -> None:
    # The chain alone cannot show a log cut back to an earlier row, or deleted and regrown
    # from scratch: both are consistent chains. The heads published over MQTT can.
    path = tmp_path / AUDIT_FILE
    log = _filled(path, 5)
    early, head = (2, log.tail(5)[3]["hash"]), log.head()
    assert head[0] == 5 and head[1] == log.tail(1)[0]["hash"]
    log.close()
    assert verify(path, [early, head]).ok
    _bypass(path, "DELETE FROM audit WHERE seq > 3")
    cut = verify(path, [early, head])
    assert (cut.ok, cut.first_bad_seq, cut.rows) == (False, 5, 3), cut
    assert "anchored off-box (log cut back)" in cut.reason
    assert verify(path).ok  # without the anchor the shorter chain looks fine
    path.unlink()
    regrown = _filled(path, 5)  # same shape, different times: different hashes
    regrown.close()
    result = verify(path, [early, head])
    assert (result.first_bad_seq, result.rows) == (2, 1), result
    assert "differs from its off-box anchor" in result.reason
    run = CLI.invoke(
        app, ["audit", "verify", "--file", str(path), "--anchor", f"{head[0]}:{head[1]}"]
    )
    assert run.exit_code == 1 and "BROKEN at row 5" in run.stderr, run.output
    run = CLI.invoke(app, ["audit", "verify", "--file", str(path), "--anchor", "5:xyz"])
    assert run.exit_code == 2 and "expected SEQ:HASH (64 hex digits)" in run.stderr, run.output
    mine = AuditLog(path)
    regrown_head = mine.head()
    mine.close()
    run = CLI.invoke(
        app,
        [
            "audit",
            "verify",
            "--file",
            str(path),
            "--anchor",
            f"{regrown_head[0]}:{regrown_head[1]}",
        ],
    )
    assert run.exit_code == 0 and "1 off-box anchors hold" in run.stdout, run.output
