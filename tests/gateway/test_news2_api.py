"""POST /api/v1/observations and GET /api/v1/news2 on a real store and the real app.

The device values are written the way the pipeline writes them (store.write with the engine's
verdicts, in the live session); the nurse's through the API. Totals are worked from RCP 2017
Chart 1 by hand in each case's comment.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from drivers.model import Measurement, Quantity, ReceiveTime
from gateway.api import create_app
from gateway.auth import KioskAuth
from gateway.clinical.careplan import load_careplan
from gateway.health import GatewayContext, LoopMonitor
from gateway.live import LiveHub
from gateway.pipeline import Pipeline
from gateway.sessions import Role, SessionManager
from gateway.settings import load
from gateway.signals.verdict import Assessed, Verdict
from gateway.store import Store
from tests.gateway.test_fhir_fixtures import CAREPLAN


@dataclass
class Room:
    client: httpx.AsyncClient
    store: Store
    sessions: SessionManager
    hub: LiveHub
    db_path: Path

    async def device(
        self,
        quantity: Quantity,
        value: float,
        *,
        verdict: Verdict = Verdict.VALID,
        age_s: float = 1.0,
        device_id: str = "dev-1",
    ) -> None:
        """A device value as the pipeline stores it (stamped with the live session)."""
        received = ReceiveTime(time.time() - age_s, time.monotonic() - age_s)
        m = Measurement(quantity, value, quantity.spec.ucum, device_id, received)
        await self.store.write([m], [Assessed(value, verdict)])

    async def vitals(self, spo2: float, pulse: float, systolic: float) -> None:
        await self.device(Quantity.SPO2, spo2, device_id="oximeter-1")
        await self.device(Quantity.PULSE_RATE, pulse, device_id="oximeter-1")
        await self.device(Quantity.BP_SYSTOLIC, systolic, device_id="cuff-1")

    async def observe(self, **body: Any) -> httpx.Response:
        return await self.client.post("/api/v1/observations", json=body)

    async def news2(self) -> dict[str, Any]:
        r = await self.client.get("/api/v1/news2")
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out


def _params(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["parameter"]: p for p in answer["parameters"]}


async def _room(tmp_path: Path, careplan: Path) -> AsyncIterator[Room]:
    config = tmp_path / "gw.toml"
    config.write_text(
        f'[gateway]\nstate_dir = "{tmp_path}"\n[clinical]\ncareplan = "{careplan}"\n',
        encoding="utf-8",
    )
    settings = load(config)
    auth = KioskAuth.load_or_create(tmp_path)
    async with Store(settings.store_path) as store:
        plan = load_careplan(careplan)
        pipeline = Pipeline(settings.pipeline, store, LiveHub(64), [], careplan=plan)
        ctx = GatewayContext(settings, pipeline, pipeline.hub, LoopMonitor())
        sessions = SessionManager(store)
        app = create_app(ctx, auth, sessions)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://127.0.0.1:8080",
            headers={"Authorization": f"Bearer {auth.token}"},
        ) as client:
            yield Room(client, store, sessions, pipeline.hub, settings.store_path)


@pytest.fixture
async def room(tmp_path: Path) -> AsyncIterator[Room]:
    async for r in _room(tmp_path, CAREPLAN):
        await r.sessions.start({"pseudonym": "PSN-1"}, live=True)
        yield r


@pytest.fixture
async def scale2_room(tmp_path: Path) -> AsyncIterator[Room]:
    plan = tmp_path / "copd.toml"
    plan.write_text(
        CAREPLAN.read_text(encoding="utf-8") + "\n[news2]\nspo2_scale = 2\n", encoding="utf-8"
    )
    async for r in _room(tmp_path, plan):
        await r.sessions.start(None, live=True)
        yield r


async def test_all_normal_scores_zero_low(room: Room) -> None:
    # Chart 1: RR 18 → 0, SpO2 97 → 0, air → 0, SBP 120 → 0, pulse 72 → 0, A → 0, 37.0 → 0
    await room.vitals(97, 72, 120)
    r = await room.observe(
        respiration_rate_per_min=18, consciousness="A", supplemental_oxygen=False, temperature_c=37
    )
    assert r.status_code == 201, r.text
    answer = await room.news2()
    assert (answer["total"], answer["risk"], answer["verdict"]) == (0, "low", "valid")
    assert answer["missing"] == [] and answer["spo2_scale"] == 1
    p = _params(answer)
    assert p["respiration_rate"]["value"] == 18 and p["respiration_rate"]["device_id"] == "nurse"
    assert p["consciousness"]["value"] == "A" and p["air_or_oxygen"]["value"] is False
    assert p["spo2"]["device_id"] == "oximeter-1" and 0 <= p["spo2"]["age_s"] < 60
    assert all(e["score"] == 0 and e["status"] == "ok" for e in p.values()), p


async def test_known_totals_and_risk_bands(room: Room) -> None:
    # RR 22 → 2, SpO2 93 → 2, oxygen → 2, SBP 105 → 1, pulse 115 → 2, A → 0, 38.5 → 1: 10, high
    await room.vitals(93, 115, 105)
    await room.observe(
        respiration_rate_per_min=22,
        consciousness="A",
        supplemental_oxygen=True,
        temperature_c=38.5,
    )
    answer = await room.news2()
    assert (answer["total"], answer["risk"]) == (10, "high")
    scores = {k: v["score"] for k, v in _params(answer).items()}
    assert scores == {
        "respiration_rate": 2,
        "spo2": 2,
        "air_or_oxygen": 2,
        "systolic_bp": 1,
        "pulse": 2,
        "consciousness": 0,
        "temperature": 1,
    }
    # newer values replace older ones: SpO2 94 → 1, pulse 95 → 1, air → 0, 37.0 → 0,
    # RR 22 → 2, SBP 105 → 1: total 5, medium
    await room.device(Quantity.SPO2, 94, age_s=0.5, device_id="oximeter-1")
    await room.device(Quantity.PULSE_RATE, 95, age_s=0.5, device_id="oximeter-1")
    await room.observe(supplemental_oxygen=False, temperature_c=37.0)
    answer = await room.news2()
    assert (answer["total"], answer["risk"]) == (5, "medium")
    # a single 3 (new confusion) with an aggregate ≤ 4 is low-medium (Chart 4)
    await room.device(Quantity.SPO2, 97, age_s=0.2, device_id="oximeter-1")
    await room.device(Quantity.PULSE_RATE, 72, age_s=0.2, device_id="oximeter-1")
    await room.device(Quantity.BP_SYSTOLIC, 120, age_s=0.2, device_id="cuff-1")
    await room.observe(respiration_rate_per_min=18, consciousness="C")
    answer = await room.news2()
    assert (answer["total"], answer["risk"]) == (3, "low_medium")


async def test_thermometer_value_is_used_when_newer(room: Room) -> None:
    await room.vitals(97, 72, 120)
    await room.observe(
        respiration_rate_per_min=18, consciousness="A", supplemental_oxygen=False, temperature_c=37
    )
    await room.device(Quantity.BODY_TEMPERATURE, 39.2, age_s=0.0, device_id="thermo-1")
    temp = _params(await room.news2())["temperature"]
    assert (temp["value"], temp["device_id"], temp["score"]) == (39.2, "thermo-1", 2)


async def test_care_plan_scale_2(scale2_room: Room) -> None:
    room = scale2_room
    # scale 2 on air: SpO2 90 → 0 (it would score 3 on scale 1)
    await room.vitals(90, 72, 120)
    await room.observe(
        respiration_rate_per_min=18, consciousness="A", supplemental_oxygen=False, temperature_c=37
    )
    answer = await room.news2()
    assert answer["spo2_scale"] == 2 and answer["total"] == 0
    # scale 2 on oxygen: SpO2 97 → 3, oxygen → 2
    await room.device(Quantity.SPO2, 97, age_s=0.0, device_id="oximeter-1")
    await room.observe(supplemental_oxygen=True)
    answer = await room.news2()
    assert _params(answer)["spo2"]["score"] == 3 and answer["total"] == 5


async def test_refused_when_missing_invalid_or_too_old(room: Room) -> None:
    await room.vitals(97, 72, 120)
    answer = await room.news2()  # nothing from the nurse yet
    assert answer["total"] is None and answer["risk"] is None and answer["verdict"] == "invalid"
    assert set(answer["missing"]) == {
        "respiration_rate",
        "consciousness",
        "air_or_oxygen",
        "temperature",
    }
    rr = _params(answer)["respiration_rate"]
    assert rr["status"] == "missing" and "no respiration_rate in this session" in rr["why"]
    assert all(p["score"] is None for p in answer["parameters"])

    await room.observe(
        respiration_rate_per_min=18, consciousness="A", supplemental_oxygen=False, temperature_c=37
    )
    assert (await room.news2())["total"] == 0
    # the probe comes off: the latest SpO2 is INVALID, so no score (no older value instead)
    await room.device(Quantity.SPO2, float("nan"), verdict=Verdict.INVALID, age_s=0.0)
    answer = await room.news2()
    spo2 = _params(answer)["spo2"]
    assert answer["total"] is None and answer["missing"] == ["spo2"]
    assert spo2["status"] == "invalid" and spo2["value"] is None
    assert "cannot be used" in spo2["why"]
    await room.device(Quantity.SPO2, 96, verdict=Verdict.QUESTIONABLE, age_s=0.0)
    answer = await room.news2()
    assert answer["total"] == 0 and answer["verdict"] == "questionable"
    assert _params(answer)["spo2"]["status"] == "questionable"
    # a blood pressure from two hours ago does not describe the patient now
    await room.device(Quantity.BP_SYSTOLIC, 125, age_s=0.0)
    await room.device(Quantity.BP_SYSTOLIC, 125, age_s=2 * 3600.0, device_id="cuff-2")
    assert (await room.news2())["total"] == 0  # the newest one counts
    # in a new session only the old one is there: refused, and the answer says why
    await room.sessions.end()
    await room.sessions.start(None, live=True)
    await room.device(Quantity.BP_SYSTOLIC, 125, age_s=2 * 3600.0)
    answer = await room.news2()
    old = _params(answer)["systolic_bp"]
    assert answer["total"] is None and "systolic_bp" in answer["missing"]
    assert old["status"] == "too_old" and "120 min old (at most 60)" in old["why"]
    assert old["value"] == 125 and old["age_s"] >= 7200


async def test_observations_are_stored_in_the_session_and_published(room: Room) -> None:
    with room.hub.subscribe() as queue:
        r = await room.observe(respiration_rate_per_min=18, consciousness="V", temperature_c=36.94)
        assert r.status_code == 201, r.text
        published = queue.drain_nowait()
    session_id = room.sessions.current.id if room.sessions.current else None
    assert r.json()["session_id"] == session_id
    assert [s["quantity"] for s in r.json()["stored"]] == [
        "respiration_rate",
        "consciousness_acvpu",
        "body_temperature",
    ]
    # on disk when the 201 came: read with a connection of our own
    with sqlite3.connect(room.db_path) as db:
        rows = db.execute(
            "SELECT quantity, value, unit, device_id, session_id, verdict FROM measurement "
            "ORDER BY id"
        ).fetchall()
    assert rows == [
        ("respiration_rate", 18.0, "/min", "nurse", session_id, "valid"),
        ("consciousness_acvpu", 2.0, "1", "nurse", session_id, "valid"),
        ("body_temperature", 36.9, "Cel", "nurse", session_id, "valid"),
    ]
    assert [(m["quantity"], m["value"], m["loinc"]) for m in published] == [
        ("respiration_rate", 18.0, "9279-1"),
        ("consciousness_acvpu", 2.0, "67775-7"),
        ("body_temperature", 36.9, "8310-5"),
    ]
    assert published[2]["traffic_light"]["colour"] == "green"  # the care plan's band


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"respiration_rate_per_min": 200}, "respiration_rate_per_min", "less than or equal to 80"),
        ({"respiration_rate_per_min": 1}, "respiration_rate_per_min", "greater than or equal"),
        ({"respiration_rate_per_min": "fast"}, "respiration_rate_per_min", "valid integer"),
        ({"consciousness": "X"}, "consciousness", "'A', 'C', 'V', 'P' or 'U'"),
        ({"supplemental_oxygen": "maybe"}, "supplemental_oxygen", "valid boolean"),
        ({"temperature_c": 98.6}, "temperature_c", "less than or equal to 45"),
        ({"pulse": 80}, "pulse", "Extra inputs are not permitted"),
        ({}, None, "give at least one of respiration_rate_per_min"),
    ],
)
async def test_bad_observations_get_422_naming_the_field(
    room: Room, body: dict[str, Any], field: str | None, words: str
) -> None:
    r = await room.observe(**body)
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    if field is not None:
        assert error["loc"] == ["body", field], error
    assert words in error["msg"], error


async def test_no_session_and_no_credentials(tmp_path: Path) -> None:
    async for room in _room(tmp_path, CAREPLAN):
        r = await room.observe(respiration_rate_per_min=18)
        assert r.status_code == 409 and "no open session" in r.json()["detail"]
        answer = await room.news2()  # polled before a consultation: an answer, not an error
        assert answer["session_id"] is None and answer["total"] is None
        assert len(answer["missing"]) == 7
        assert {p["why"] for p in answer["parameters"]} == {"no open session"}
        anonymous = {"Authorization": ""}
        r = await room.client.post(
            "/api/v1/observations", json={"respiration_rate_per_min": 18}, headers=anonymous
        )
        assert r.status_code == 401
        assert (await room.client.get("/api/v1/news2", headers=anonymous)).status_code == 401


async def test_a_specialist_reads_news2_but_only_the_kiosk_writes(room: Room) -> None:
    await room.vitals(97, 72, 120)
    await room.observe(
        respiration_rate_per_min=18, consciousness="A", supplemental_oxygen=False, temperature_c=37
    )
    invite = await room.sessions.invite(Role.SPECIALIST, admit=True)
    _, bearer = await room.sessions.redeem(invite.token)
    specialist = {"Authorization": f"Bearer {bearer}"}
    r = await room.client.get("/api/v1/news2", headers=specialist)
    assert r.status_code == 200 and r.json()["total"] == 0, r.text
    r = await room.client.post(
        "/api/v1/observations", json={"respiration_rate_per_min": 30}, headers=specialist
    )
    assert r.status_code in (401, 403), r.text
    assert _params(await room.news2())["respiration_rate"]["value"] == 18  # nothing written
