"""An aiortc client holding a participant's bearer joins exactly as the browser does (WHEP), on
the real app routes, a real SQLite session store and hwsim's synthetic camera: it decodes video
whose capture stamp reads back, receives vitals with sent_at_ms, gets snapshot acks (stills
stored with the session), and asks the nurse for a measurement (forwarded, answered)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from fastapi import FastAPI
from hwsim.camera import read_stamp

from gateway.api_media import router
from gateway.api_records import router as records_router
from gateway.auth import KioskAuth
from gateway.live import LiveHub
from gateway.media import MediaHub
from gateway.sessions import Role, SessionManager
from gateway.settings import Settings
from gateway.store import Store
from webrtc.peer import rtc_configuration

HELLO = {"type": "hello", "site": "test-site", "room": "test-room", "devices": []}


@dataclass
class Room:
    client: httpx.AsyncClient
    media: MediaHub
    hub: LiveHub
    bearer: str
    sessions: SessionManager
    participant_id: str


@pytest.fixture
async def room(tmp_path: Path) -> AsyncIterator[Room]:
    settings = Settings(
        cameras=[{"id": "room", "label": "Oversikt", "source": "sim:pattern", "fps": 15}],
        webrtc={"max_viewers": 2},
        devices=[
            {"id": "cuff-1", "uri": "ble://C0:FF:EE:00:00:02?profile=bp"},
            {"id": "thermo-1", "uri": "ble://C0:FF:EE:00:00:03?profile=thermometer"},
        ],
    )
    async with Store(tmp_path / "gw.sqlite3") as store:
        sessions = SessionManager(store)
        await sessions.start(live=True)
        invite = await sessions.invite(Role.SPECIALIST, admit=True, name="Dr. Hjerte")
        participant, bearer = await sessions.redeem(invite.token)
        hub = LiveHub(64)
        media = MediaHub(settings, hub, lambda: dict(HELLO), store=store)
        app = FastAPI()
        app.state.auth = KioskAuth("k" * 40)
        app.state.sessions = sessions
        app.state.media = media
        app.include_router(router)
        app.include_router(records_router)
        transport = httpx.ASGITransport(app=app)
        async with asyncio.TaskGroup() as tg:
            runner = tg.create_task(media.run())
            await media.running.wait()
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                yield Room(client, media, hub, bearer, sessions, participant.id)
            runner.cancel()


async def _join(room: Room, bearer: str | None = None) -> tuple[RTCPeerConnection, dict[str, Any]]:
    pc = RTCPeerConnection(rtc_configuration([]))
    pc.addTransceiver("video", direction="recvonly")
    got: dict[str, Any] = {"frames": [], "vitals": [], "acks": [], "control": None}
    vitals = pc.createDataChannel("vitals")
    control = pc.createDataChannel("control")
    got["control"] = control
    vitals.on("message", lambda m: got["vitals"].append((time.time() * 1000, json.loads(m))))
    control.on("message", lambda m: got["acks"].append(json.loads(m)))

    @pc.on("track")
    def on_track(track: Any) -> None:
        async def pull() -> None:
            with contextlib.suppress(Exception):
                while True:
                    frame = await track.recv()
                    got["frames"].append((time.time() * 1000, frame.to_ndarray(format="bgr24")))

        got["puller"] = asyncio.ensure_future(pull())

    await pc.setLocalDescription(await pc.createOffer())  # aiortc gathers fully here
    r = await room.client.post(
        "/api/v1/whep",
        content=pc.localDescription.sdp,
        headers={
            "Content-Type": "application/sdp",
            "Authorization": f"Bearer {bearer or room.bearer}",
        },
    )
    assert r.status_code == 201, r.text
    assert r.headers["location"].startswith("/api/v1/whep/")
    got["location"] = r.headers["location"]
    await pc.setRemoteDescription(RTCSessionDescription(r.text, "answer"))
    return pc, got


async def _until(cond: Any, timeout_s: float = 15.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_aiortc_client_joins_with_the_link_bearer(room: Room) -> None:
    pc, got = await _join(room)
    try:
        await _until(lambda: len(got["frames"]) >= 10)
        received_ms, img = got["frames"][-1]
        assert img.shape == (480, 640, 3)
        stamp = read_stamp(img)
        assert stamp is not None, "capture stamp unreadable after H.264"
        assert 0 <= received_ms - stamp < 2000
        await _until(lambda: len(got["vitals"]) >= 1)
        hello = got["vitals"][0][1]
        assert hello["type"] == "hello" and hello["schema"] == 1
        assert hello["cameras"][0]["id"] == "room"
        room.hub.publish(
            {
                "type": "measurement",
                "device_id": "ox",
                "quantity": "spo2",
                "value": 97.0,
                "received_s": time.time(),
                "device_time": None,
            }
        )
        await _until(lambda: len(got["vitals"]) >= 2)
        at_ms, msg = got["vitals"][1]
        assert msg["quantity"] == "spo2" and msg["schema"] == 1
        assert 0 <= at_ms - msg["sent_at_ms"] < 1000

        got["control"].send(json.dumps({"id": 7, "type": "snapshot"}))
        got["control"].send(json.dumps({"id": 8, "type": "measure", "device_id": "nope"}))
        got["control"].send("not json")
        await _until(lambda: len(got["acks"]) >= 3)
        snap, measure, bad = got["acks"]
        assert snap["id"] == 7 and snap["ok"] and snap["width"] == 640 and snap["height"] == 480
        r = await room.client.get(snap["url"])
        assert r.status_code == 401  # auth required
        r = await room.client.get(snap["url"], headers={"Authorization": f"Bearer {room.bearer}"})
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        still = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_COLOR)
        assert still.shape == (480, 640, 3) and read_stamp(still) is not None
        assert measure == {
            "type": "ack",
            "id": 8,
            "request": "measure",
            "ok": False,
            "error": "device_id: unknown device 'nope' (known: cuff-1, thermo-1)",
        }
        # the still is in the store, stamped with the session and who asked
        row = room.media.store.db.execute(  # type: ignore[union-attr]
            "SELECT session_id, requested_role, requested_name, width FROM snapshot"
        ).fetchone()
        assert row == (room.sessions.current.id, "specialist", "Dr. Hjerte", 640)  # type: ignore[union-attr]
        assert bad["ok"] is False and bad["id"] is None

        # switch camera: the transceiver gets a new track (same camera here), video goes on
        got["control"].send(json.dumps({"id": 9, "type": "camera", "camera_id": "room"}))
        got["control"].send(json.dumps({"id": 10, "type": "camera", "camera_id": "derm"}))
        await _until(lambda: len(got["acks"]) >= 5)
        switched, unknown = got["acks"][3:5]
        assert switched == {
            "type": "ack",
            "id": 9,
            "request": "camera",
            "ok": True,
            "transceiver": 0,
            "camera_id": "room",
        }
        assert unknown["ok"] is False and unknown["error"] == "unknown camera 'derm' (known: room)"
        before = len(got["frames"])
        await _until(lambda: len(got["frames"]) >= before + 10)
        assert read_stamp(got["frames"][-1][1]) is not None

        # only the creator may DELETE; then the viewer is gone
        r = await room.client.delete(got["location"], headers={"Authorization": "Bearer kkk"})
        assert r.status_code == 401
        r = await room.client.delete(
            got["location"], headers={"Authorization": f"Bearer {'k' * 40}"}
        )
        assert r.status_code == 403
        r = await room.client.delete(
            got["location"], headers={"Authorization": f"Bearer {room.bearer}"}
        )
        assert r.status_code == 204
        assert room.media.viewers == {}
    finally:
        got.get("puller") and got["puller"].cancel()
        await pc.close()


async def test_whep_refuses_without_auth_bad_type_bad_offer_and_full(room: Room) -> None:
    auth = {"Authorization": f"Bearer {room.bearer}"}
    r = await room.client.post(
        "/api/v1/whep", content="v=0", headers={"Content-Type": "application/sdp"}
    )
    assert r.status_code == 401
    r = await room.client.get("/api/v1/cameras")
    assert r.status_code == 401
    r = await room.client.get("/api/v1/cameras", headers=auth)
    assert r.json() == [
        {"id": "room", "label": "Oversikt", "width": 640, "height": 480, "fps": 15.0}
    ]
    r = await room.client.post(
        "/api/v1/whep", content="{}", headers={**auth, "Content-Type": "application/json"}
    )
    assert r.status_code == 415
    r = await room.client.post(
        "/api/v1/whep", content="garbage", headers={**auth, "Content-Type": "application/sdp"}
    )
    assert r.status_code == 400
    pc1, _ = await _join(room)
    pc2, _ = await _join(room)
    pc3 = RTCPeerConnection(rtc_configuration([]))
    pc3.addTransceiver("video", direction="recvonly")
    await pc3.setLocalDescription(await pc3.createOffer())
    r = await room.client.post(
        "/api/v1/whep",
        content=pc3.localDescription.sdp,
        headers={**auth, "Content-Type": "application/sdp"},
    )
    assert r.status_code == 503 and "max_viewers" in r.text
    # let both connect first: aiortc logs an unretrieved InvalidStateError when a peer
    # connection is closed while its ICE transport is starting (aiortc issue #429)
    await _until(
        lambda: all(e.viewer.channel_open["vitals"].is_set() for e in room.media.viewers.values())
    )
    assert await room.media.remove_participant(room.participant_id) == 2
    assert room.media.viewers == {}
    for pc in (pc1, pc2, pc3):
        await pc.close()


async def test_measure_request_is_forwarded_to_the_nurse_and_answered(room: Room) -> None:
    pc, got = await _join(room)
    kiosk = {"Authorization": f"Bearer {'k' * 40}"}
    try:
        with room.hub.subscribe() as kiosk_feed:  # what the kiosk's WebSocket gets
            await _until(lambda: len(got["vitals"]) >= 1)
            for i, body in enumerate(
                (
                    {"kind": "bp"},
                    {"device_id": "cuff-1"},
                    {"kind": "spiro", "device_id": "cuff-1"},
                    {"device_id": "thermo-1"},
                    {"kind": "xray"},
                    {},
                ),
                start=20,
            ):
                got["control"].send(json.dumps({"id": i, "type": "measure", **body}))
            await _until(lambda: len(got["acks"]) >= 6)
            bp, by_device, mismatch, no_guide, bad_kind, empty = got["acks"]
            assert bp["ok"] and bp["forwarded"] == "nurse" and bp["request"] == "measure"
            assert (bp["kind"], bp["device_id"]) == ("bp", None)
            assert (by_device["kind"], by_device["device_id"]) == ("bp", "cuff-1")
            assert mismatch == {
                "type": "ack",
                "id": 22,
                "request": "measure",
                "ok": False,
                "error": "kind: 'spiro' does not match device 'cuff-1' (bp)",
            }
            assert no_guide["error"].startswith("device_id: 'thermo-1' has no guided measurement")
            assert bad_kind["error"] == "kind: 'xray' is not one of bp, spo2, spiro, ecg"
            assert empty["error"].startswith("kind or device_id: give one")
            forwarded = await kiosk_feed.get_batch(8)
            assert [m["type"] for m in forwarded] == ["request", "request"]
            assert forwarded[0] == {
                "type": "request",
                "request_id": bp["request_id"],
                "kind": "bp",
                "device_id": None,
                "from": {"role": "specialist", "name": "Dr. Hjerte"},
                "requested_s": forwarded[0]["requested_s"],
            }
        r = await room.client.get("/api/v1/session/requests", headers=kiosk)
        assert [q["request_id"] for q in r.json()["requests"]] == [
            bp["request_id"],
            by_device["request_id"],
        ]
        url = f"/api/v1/session/requests/{bp['request_id']}"
        specialist = {"Authorization": f"Bearer {room.bearer}"}
        assert (await room.client.post(url, json={"answer": "declined"})).status_code == 401
        r = await room.client.post(url, json={"answer": "declined"}, headers=specialist)
        assert r.status_code == 401  # only the nurse answers
        r = await room.client.post(url, json={"answer": "maybe"}, headers=kiosk)
        assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "answer"]
        r = await room.client.post(url, json={"answer": "declined"}, headers=kiosk)
        assert r.status_code == 200 and r.json()["state"] == "declined"
        r = await room.client.post(url, json={"answer": "accepted"}, headers=kiosk)
        assert r.status_code == 409 and "already declined" in r.json()["detail"]
        r = await room.client.post("/api/v1/session/requests/nope", json={"answer": "accepted"},
                                   headers=kiosk)  # fmt: skip
        assert r.status_code == 404
        # the requester sees the request and then the nurse's answer on its vitals channel
        await _until(lambda: any(m["type"] == "request_update" for _, m in got["vitals"]))
        update = next(m for _, m in got["vitals"] if m["type"] == "request_update")
        assert update["request_id"] == bp["request_id"] and update["state"] == "declined"
        assert update["kind"] == "bp" and update["schema"] == 1 and update["sent_at_ms"] > 0
    finally:
        await pc.close()
