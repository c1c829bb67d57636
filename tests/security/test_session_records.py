"""The session record routes (trends, snapshots, notes) on the in-process app with a real store,
care plan and audit log: who may read and write, what comes back, bad input, the audit trail."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from gateway import records
from gateway.auth import Principal
from gateway.clinical.careplan import load_careplan
from gateway.records import SnapshotRow
from gateway.sessions import Role
from gateway.store import MIGRATIONS, SCHEMA_VERSION, Store, _statements
from tests.gateway.test_fhir_fixtures import CAREPLAN, SPOTS, _assessed, _measurement
from tests.security.conftest import App, AppFactory

MEAS = "/api/v1/session/measurements"
NOTES = "/api/v1/session/notes"
SNAPS = "/api/v1/session/snapshots"


async def _room(make_app: AppFactory) -> tuple[App, dict[str, str]]:
    """A live session with the example spot values; bearers by who holds them."""
    gw: App = await make_app(clinical={"careplan": str(CAREPLAN)})
    gw.app.state.context.pipeline.careplan = load_careplan(CAREPLAN)  # as runtime.py does
    await gw.sessions.start(live=True)
    store = gw.sessions.store
    await store.write([_measurement(s) for s in SPOTS], [_assessed(s) for s in SPOTS])
    bearers = {"nurse": gw.token}
    for who, admit in (("specialist", True), ("gp", True), ("waiting", False)):
        role = Role.GP if who == "gp" else Role.SPECIALIST
        inv = await gw.sessions.invite(role, admit=admit, name=f"Dr. {who.title()}")
        _, bearers[who] = await gw.sessions.redeem(inv.token)
        bearers[f"{who}-id"] = inv.participant_id
    return gw, bearers


def _as(bearer: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {bearer}"}


async def test_trends_for_nurse_and_admitted_participants_only(make_app: AppFactory) -> None:
    gw, bearers = await _room(make_app)
    async with gw.client() as c:
        for who in ("nurse", "specialist", "gp"):
            r = await c.get(MEAS, params={"quantity": "spo2"}, headers=_as(bearers[who]))
            assert r.status_code == 200, (who, r.text)
        body = r.json()
        spo2 = body["measurements"]
        assert body["session_id"] == gw.sessions.current.id  # type: ignore[union-attr]
        assert [m["value"] for m in spo2] == [95.0, 89.0, 85.0, None]  # oldest first
        assert [m["verdict"] for m in spo2] == ["valid", "questionable", "invalid", "invalid"]
        lights = [m["traffic_light"] for m in spo2]
        assert lights[0]["colour"] == "green" and lights[1]["colour"] == "yellow"
        assert lights[1]["questionable"] is True
        assert lights[2] is None and lights[3] is None  # never a light for an invalid value
        assert spo2[0]["reasons"] == [] and spo2[1]["reasons"] == ["flat"]
        both = await c.get(
            MEAS, params=[("quantity", "bp_systolic"), ("quantity", "pulse_rate")],
            headers=_as(bearers["nurse"]),
        )  # fmt: skip
        got = [(m["quantity"], m["value"]) for m in both.json()["measurements"]]
        assert got == [("pulse_rate", 130.0), ("bp_systolic", 150.0), ("bp_systolic", 85.0)]
        assert both.json()["measurements"][0]["traffic_light"]["colour"] == "red"
        newest = await c.get(MEAS, params={"limit": 2}, headers=_as(bearers["nurse"]))
        assert len(newest.json()["measurements"]) == 2
        later = await c.get(
            MEAS, params={"since_s": spo2[1]["received_s"], "quantity": "spo2"},
            headers=_as(bearers["nurse"]),
        )  # fmt: skip
        assert [m["value"] for m in later.json()["measurements"]] == [85.0, None]
        # not admitted yet, no credentials, a wrong bearer: no principal at all
        for headers in (_as(bearers["waiting"]), {}, _as("x" * 43)):
            assert (await c.get(MEAS, headers=headers)).status_code == 401


async def test_removed_participant_and_other_principals_are_refused(
    make_app: AppFactory,
) -> None:
    gw, bearers = await _room(make_app)
    async with gw.client() as c:
        assert (await c.get(NOTES, headers=_as(bearers["gp"]))).status_code == 200
        await gw.sessions.remove(bearers["gp-id"])
        for url in (MEAS, NOTES, SNAPS):
            assert (await c.get(url, headers=_as(bearers["gp"]))).status_code == 401, url
        r = await c.post(NOTES, json={"text": "hei"}, headers=_as(bearers["gp"]))
        assert r.status_code == 401
    # the open-session check itself: a clinician who is no participant of it (OIDC) is refused
    from fastapi import HTTPException

    from gateway.api_records import open_session_of

    with pytest.raises(HTTPException) as refused:
        open_session_of(Principal("specialist", subject="helseid-123"), gw.sessions)
    assert refused.value.status_code == 403
    other = Principal("specialist", participant_id="p-x", session_id="another-session")
    with pytest.raises(HTTPException):
        open_session_of(other, gw.sessions)
    rows = gw.audit.tail(20)
    refused_rows = [r for r in rows if r["outcome"] == "401" and r["action"].startswith("GET")]
    assert {r["action"] for r in refused_rows} >= {f"GET {MEAS}", f"GET {NOTES}", f"GET {SNAPS}"}


async def test_bad_quantity_and_no_session(make_app: AppFactory) -> None:
    gw, bearers = await _room(make_app)
    async with gw.client() as c:
        r = await c.get(MEAS, params={"quantity": "spo3"}, headers=_as(bearers["nurse"]))
        assert r.status_code == 422
        assert r.json()["detail"].startswith("quantity: unknown 'spo3' (expected one of spo2,")
        r = await c.get(MEAS, params={"limit": 0}, headers=_as(bearers["nurse"]))
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["query", "limit"]
        await gw.sessions.end()
        for url, key in ((MEAS, "measurements"), (NOTES, "notes"), (SNAPS, "snapshots")):
            r = await c.get(url, headers=_as(bearers["nurse"]))  # the nurse before a session
            assert r.json() == {"session_id": None, key: []}, url
        r = await c.post(NOTES, json={"text": "hei"}, headers=_as(bearers["nurse"]))
        assert r.status_code == 409 and r.json()["detail"].startswith("no open session")
        # the participant's bearer belonged to the ended session: no longer a principal
        assert (await c.get(NOTES, headers=_as(bearers["specialist"]))).status_code == 401


async def test_notes_are_signed_listed_and_checked(make_app: AppFactory) -> None:
    gw, bearers = await _room(make_app)
    async with gw.client() as c:
        r = await c.post(
            NOTES, json={"text": "Lytt på lungene.\nNy måling om 5 min."},
            headers=_as(bearers["specialist"]),
        )  # fmt: skip
        assert r.status_code == 201, r.text
        assert r.json()["author"] == {"role": "specialist", "name": "Dr. Specialist"}
        r = await c.post(NOTES, json={"text": "Pasienten er sliten."}, headers=_as(gw.token))
        assert r.status_code == 201 and r.json()["author"] == {"role": "nurse", "name": None}
        listed = (await c.get(NOTES, headers=_as(bearers["gp"]))).json()["notes"]
        assert [n["text"] for n in listed] == [
            "Lytt på lungene.\nNy måling om 5 min.",
            "Pasienten er sliten.",
        ]
        assert listed[0]["created_s"] <= listed[1]["created_s"]
        for bad, field_error in (
            ({"text": "x" * 4001}, "at most 4000 characters"),
            ({"text": "   "}, "text: expected some words"),
            ({}, "Field required"),
            ({"text": 5}, "valid string"),
        ):
            r = await c.post(NOTES, json=bad, headers=_as(gw.token))
            assert r.status_code == 422, bad
            detail = r.json()["detail"][0]
            assert detail["loc"] == ["body", "text"] and field_error in detail["msg"], detail
        assert (await c.post(NOTES, json={"text": "x" * 4000}, headers=_as(gw.token))).is_success
    with sqlite3.connect(gw.state_dir / "gw.sqlite3") as db:
        rows = db.execute("SELECT author_role, author_id FROM note ORDER BY created_wall_s")
        assert [r[0] for r in rows] == ["specialist", "nurse", "nurse"]


async def test_snapshot_list_of_the_session_only(make_app: AppFactory) -> None:
    gw, bearers = await _room(make_app)
    store = gw.sessions.store
    specialist = Principal("specialist", bearers["specialist-id"], store.session_id)
    row = SnapshotRow("snap-1", store.session_id, "room", 640, 480, 1000.0, "", "", None)
    stored = await store.call(records.insert_snapshot, row, specialist, b"\xff\xd8jpeg")
    assert (stored.requested_role, stored.requested_name) == ("specialist", "Dr. Specialist")
    other = SnapshotRow("snap-0", None, "room", 640, 480, 999.0, "", "", None)
    await store.call(records.insert_snapshot, other, Principal("nurse", subject="kiosk"), b"x")
    async with gw.client() as c:
        r = await c.get(SNAPS, headers=_as(bearers["gp"]))
    snaps: list[dict[str, Any]] = r.json()["snapshots"]
    assert snaps == [
        {
            "id": "snap-1",
            "url": "/api/v1/snapshots/snap-1",
            "camera_id": "room",
            "width": 640,
            "height": 480,
            "captured_s": 1000.0,
            "requested_by": {"role": "specialist", "name": "Dr. Specialist"},
        }
    ]


async def test_store_migrates_v5_to_v6_keeping_rows(tmp_path: Path) -> None:
    path = tmp_path / "gw.sqlite3"
    db = sqlite3.connect(path)
    for script in MIGRATIONS[:5]:
        for statement in _statements(script):
            db.execute(statement)
    db.execute("PRAGMA user_version = 5")
    db.execute("INSERT INTO session (id, state, created_wall_s) VALUES ('s-1', 'live', 1.0)")
    db.commit()
    db.close()
    assert SCHEMA_VERSION == 6
    async with Store(path) as store:
        assert await store.count("session") == 1
        assert await store.count("snapshot") == 0 and await store.count("note") == 0
        nurse = Principal("nurse", subject="kiosk")
        await store.call(records.insert_note, "s-1", nurse, "første notat", 2.0)
        notes = await store.call(records.list_notes, "s-1")
    assert [(n.text, n.author_id) for n in notes] == [("første notat", "kiosk")]
    check = sqlite3.connect(path)
    assert check.execute("PRAGMA user_version").fetchone()[0] == 6
    cols = {r[1] for r in check.execute("PRAGMA table_info(snapshot)")}
    assert {"session_id", "camera_id", "requested_role", "requested_name", "jpeg"} <= cols
