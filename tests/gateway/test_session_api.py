"""Session API, join links and the signalling relay, against a real gateway process.

Join links: GET never uses them; POST redeems once; expired/used/unknown/ended each get a
friendly page with its own status. Signalling: auth and Origin at the handshake, roster, relay
with ``from``, a removed participant's socket closed at once and its bearer refused.
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from gateway.api_session import router as session_router
from gateway.api_waiting import router as waiting_router
from tests import gatewayproc
from tests.gatewayproc import GatewayProcess, start_gateway

SESSION_ROUTES = [
    ("GET", "/api/v1/session"),
    ("POST", "/api/v1/session"),
    ("POST", "/api/v1/session/state"),
    ("PUT", "/api/v1/session/patient"),
    ("POST", "/api/v1/session/invites"),
    ("POST", "/api/v1/session/participants/x/admit"),
    ("DELETE", "/api/v1/session/participants/x"),
    ("GET", "/api/v1/session/ice-servers"),
    ("GET", "/api/v1/session/me"),  # the waiting room's routes: a redeemed link's bearer
    ("GET", "/waiting/"),
    ("GET", "/waiting/waiting.js"),
]


OPEN_JOIN_ROUTES = {  # the way in: they answer without credentials, by design
    ("GET", "/join"),
    ("GET", "/join.css"),
    ("GET", "/join/{token}"),
    ("POST", "/join"),
    ("POST", "/api/v1/join"),
}


def test_every_session_route_is_checked_here() -> None:
    routes = {
        (method, route.path)
        for route in [*session_router.routes, *waiting_router.routes]
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    listed = {(m, p.replace("/x", "/{participant_id}")) for m, p in SESSION_ROUTES}
    assert routes == listed | OPEN_JOIN_ROUTES


@pytest.fixture(autouse=True, scope="module")
def patient_start() -> Iterator[None]:
    """The gateway may take long to start when the machine's cores are busy."""
    before = gatewayproc.START_TIMEOUT_S
    gatewayproc.START_TIMEOUT_S = max(before, 60.0)
    yield
    gatewayproc.START_TIMEOUT_S = before


@pytest.fixture(scope="module")
def gw(patient_start: None) -> Iterator[GatewayProcess]:
    gw = start_gateway()
    try:
        yield gw
    finally:
        try:
            gw.stop_cleanly()
        finally:
            gw.remove()


@pytest.fixture
def session(gw: GatewayProcess) -> Iterator[httpx.Client]:
    """A live session for one test, ended afterwards; the client is the nurse's."""
    with gw.client() as nurse:
        r = nurse.post("/api/v1/session", json={"live": True, "patient": {"initials": "AB"}})
        assert r.status_code == 201, r.text
        yield nurse
        nurse.post("/api/v1/session/state", json={"state": "ended"})


def invite(nurse: httpx.Client, role: str = "specialist", **kw: Any) -> dict[str, Any]:
    r = nurse.post("/api/v1/session/invites", json={"role": role, **kw})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


def token_of(inv: dict[str, Any]) -> str:
    return str(inv["link"]).rsplit("/join/", 1)[1]


def join(gw: GatewayProcess, secret: str, field: str = "token") -> httpx.Response:
    return httpx.post(f"{gw.base_url}/join", data={field: secret}, follow_redirects=False)


def api_join(gw: GatewayProcess, **body: str) -> httpx.Response:
    return httpx.post(f"{gw.base_url}/api/v1/join", json=body)


def signal(gw: GatewayProcess, bearer: str, origin: str | None = None) -> ClientConnection:
    headers = {"Authorization": f"Bearer {bearer}"}
    if origin is not None:
        headers["Origin"] = origin
    url = gw.base_url.replace("http://", "ws://") + "/api/v1/session/signal"
    return connect(url, additional_headers=headers, open_timeout=5)


def recv(ws: ClientConnection) -> dict[str, Any]:
    message: dict[str, Any] = json.loads(ws.recv(timeout=5))
    return message


def test_session_routes_refuse_without_auth(gw: GatewayProcess) -> None:
    with httpx.Client(base_url=gw.base_url) as anon:
        for method, path in SESSION_ROUTES:
            assert anon.request(method, path).status_code == 401, (method, path)
            bad = anon.request(method, path, headers={"Authorization": "Bearer " + "x" * 43})
            assert bad.status_code == 401, (method, path)
    with pytest.raises(InvalidStatus) as refused:
        signal(gw, "x" * 43)
    assert refused.value.response.status_code == 403


def test_join_link_single_use_with_friendly_pages(
    gw: GatewayProcess, session: httpx.Client
) -> None:
    inv = invite(session, name="Dr. Berg")
    assert inv["qr_svg"].startswith("<svg") and inv["link"].startswith(gw.base_url + "/join/")
    token = token_of(inv)
    for _ in range(2):  # a link scanner's GET does not use the link
        page = httpx.get(f"{gw.base_url}/join/{token}")
        assert page.status_code == 200 and "Bli med / Join" in page.text
        assert page.headers["cache-control"] == "no-store"
    first = join(gw, token)
    # not admitted yet: to the waiting room, not the participant page
    assert first.status_code == 303 and first.headers["location"] == "/waiting/"
    cookie = first.headers["set-cookie"]
    assert "helserom_participant=" in cookie and "HttpOnly" in cookie
    assert "samesite=strict" in cookie.lower()
    # not admitted yet (no admit=True): the bearer opens nothing until the nurse admits
    bearer = first.cookies["helserom_participant"]
    with httpx.Client(base_url=gw.base_url, cookies={"helserom_participant": bearer}) as p:
        assert p.get("/api/v1/session").status_code == 401
        assert p.get("/api/v1/session/me").json()["standing"] == "waiting"
        waiting = p.get("/waiting/")
        assert waiting.status_code == 200 and "venterommet" in waiting.text
        assert '<script type="module" src="/waiting/waiting.js">' in waiting.text
        assert p.get("/waiting/waiting.js").headers["content-type"].startswith("text/javascript")
        assert p.get("/specialist/").headers["location"] == "/waiting/"
        assert session.post(
            f"/api/v1/session/participants/{inv['participant_id']}/admit"
        ).is_success
        state = p.get("/api/v1/session")
        assert state.status_code == 200, state.text
        [me] = state.json()["participants"]
        assert me["role"] == "specialist" and me["admitted"] and not me["removed"]
        assert me["name"] == "Dr. Berg"
        assert p.get("/api/v1/session/me").json()["standing"] == "admitted"
        assert p.get("/waiting/").headers["location"] == "/specialist/"
    used = join(gw, token)
    assert (
        used.status_code == 409 and "allerede brukt" in used.text and "Traceback" not in used.text
    )
    # the GET of a used link says so at once (without using anything)
    used_get = httpx.get(f"{gw.base_url}/join/{token}")
    assert used_get.status_code == 409 and "allerede brukt" in used_get.text
    unknown = join(gw, "no-such-token-" + "x" * 20)
    assert unknown.status_code == 404 and "Ukjent lenke" in unknown.text
    assert httpx.get(f"{gw.base_url}/join").status_code == 200  # the short-code form


def test_expired_link_and_short_code(gw: GatewayProcess, session: httpx.Client) -> None:
    short = invite(session, ttl_s=0.3)
    time.sleep(0.5)
    expired = join(gw, token_of(short))
    assert expired.status_code == 410 and "utløpt" in expired.text
    inv = invite(session, role="gp", admit=True)
    r = api_join(gw, code=inv["short_code"].lower())  # typed by hand: case and dash forgiven
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["role"] == "gp" and body["participant_id"] == inv["participant_id"]
    assert body["admitted"] is True
    assert api_join(gw, code=inv["short_code"]).json() == {"error": "used"}
    assert api_join(gw).status_code == 422


def test_patient_context_consent_and_summary(gw: GatewayProcess) -> None:
    with gw.client() as nurse:
        assert nurse.put("/api/v1/session/patient", json={"consent": True}).status_code == 409
        start = nurse.post("/api/v1/session", json={"patient": {"height_cm": 172}})
        assert start.status_code == 201
        sid = start.json()["session"]["id"]
        before = time.time()
        r = nurse.put(
            "/api/v1/session/patient",
            json={"pseudonym": " AB ", "birth_year": 1951, "consent": True},
        )
        assert r.status_code == 200, r.text
        patient = r.json()["session"]["patient"]
        assert patient["pseudonym"] == "AB" and patient["birth_year"] == 1951
        assert patient["height_cm"] == 172  # what others recorded is kept
        assert patient["consent"] is True and before - 1 <= patient["consent_s"] <= time.time()
        for bad, field in (
            ({"birth_year": 1800, "consent": True}, "birth_year"),
            ({"pseudonym": "x" * 41, "consent": True}, "pseudonym"),
            ({"name": "Ola Nordmann", "consent": True}, "name"),
            ({"pseudonym": "AB"}, "consent"),
        ):
            refused = nurse.put("/api/v1/session/patient", json=bad)
            assert refused.status_code == 422, (bad, refused.text)
            assert refused.json()["detail"][0]["loc"][-1] == field, refused.text
        cleared = nurse.put("/api/v1/session/patient", json={"pseudonym": None, "consent": False})
        patient = cleared.json()["session"]["patient"]
        assert "pseudonym" not in patient and patient["consent"] is False
        assert patient["consent_s"] is None
        assert nurse.get("/api/v1/session").json()["session"]["patient"] == patient
        invite(nurse, role="gp", name="Dr. Lie", admit=True)
        assert nurse.post("/api/v1/session/state", json={"state": "live"}).is_success
        assert nurse.post("/api/v1/session/state", json={"state": "ended"}).is_success
        summary = nurse.get(f"/api/v1/sessions/{sid}/summary").json()
        assert summary["id"] == sid and summary["state"] == "ended"
        assert summary["duration_s"] == summary["ended_s"] - summary["started_s"] >= 0
        assert summary["participants"] == [
            {"role": "gp", "name": "Dr. Lie", "joined": False, "admitted": True, "removed": False}
        ]
        assert isinstance(summary["measurements"], int)
        assert nurse.get("/api/v1/sessions/nope/summary").status_code == 404
        report = nurse.get(f"/api/v1/sessions/{sid}/report?format=html")
        assert report.headers["x-frame-options"] == "SAMEORIGIN"  # the kiosk frames it
        assert "frame-ancestors 'self'" in report.headers["content-security-policy"]
        assert nurse.get("/api/v1/devices").headers["x-frame-options"] == "DENY"


def test_waiting_room_standing_removed_and_ended(gw: GatewayProcess) -> None:
    with gw.client() as nurse:
        assert nurse.post("/api/v1/session", json={}).status_code == 201
        gp_inv, spec_inv = invite(nurse, role="gp"), invite(nurse)
        gp = api_join(gw, token=token_of(gp_inv)).json()["bearer"]
        spec = api_join(gw, token=token_of(spec_inv)).json()["bearer"]
        with (
            httpx.Client(base_url=gw.base_url, cookies={"helserom_participant": gp}) as gp_c,
            httpx.Client(base_url=gw.base_url, cookies={"helserom_participant": spec}) as s_c,
        ):
            me = gp_c.get("/api/v1/session/me").json()
            assert me["role"] == "gp" and me["standing"] == "waiting" and not me["admitted"]
            assert set(me) >= {"participant_id", "removed", "ended", "poll_s"}
            assert "patient" not in me  # the waiting room learns nothing about the patient
            assert nurse.delete(f"/api/v1/session/participants/{gp_inv['participant_id']}")
            assert gp_c.get("/api/v1/session/me").json()["standing"] == "removed"
            removed = gp_c.get("/waiting/")
            assert removed.status_code == 200 and "ikke lenger med" in removed.text
            assert "waiting.js" not in removed.text  # final: nothing polls any more
            assert nurse.post("/api/v1/session/state", json={"state": "ended"}).is_success
            assert s_c.get("/api/v1/session/me").json()["standing"] == "ended"
            assert "avsluttet" in s_c.get("/waiting/").text
        with httpx.Client(base_url=gw.base_url) as anon:
            assert anon.get("/api/v1/session/me").status_code == 401
            nobody = anon.get("/waiting/")
            assert nobody.status_code == 401 and "ikke med i en konsultasjon" in nobody.text
            assert anon.get("/waiting/waiting.js").status_code == 401


def test_ended_session_link(gw: GatewayProcess) -> None:
    with gw.client() as nurse:
        assert nurse.post("/api/v1/session", json={}).status_code == 201
        assert nurse.post("/api/v1/session", json={}).status_code == 409  # one at a time
        inv = invite(nurse)
        assert nurse.post("/api/v1/session/state", json={"state": "ended"}).is_success
        assert nurse.get("/api/v1/session").json() == {"session": None, "participants": []}
    ended = join(gw, token_of(inv))
    assert ended.status_code == 410 and "avsluttet" in ended.text


def test_signalling_relays_and_removal_closes(gw: GatewayProcess, session: httpx.Client) -> None:
    spec = api_join(gw, token=token_of(invite(session, admit=True))).json()
    gp = api_join(gw, token=token_of(invite(session, role="gp", admit=True))).json()
    with signal(gw, gw.token, origin=gw.base_url) as kiosk:
        hello = recv(kiosk)
        assert hello["type"] == "welcome" and hello["id"] == "kiosk" and hello["role"] == "nurse"
        with signal(gw, spec["bearer"]) as s:
            welcome = recv(s)
            assert welcome["id"] == spec["participant_id"]
            assert welcome["peers"] == [{"id": "kiosk", "role": "nurse"}]
            assert recv(kiosk) == {
                "type": "join",
                "peer": {"id": spec["participant_id"], "role": "specialist"},
            }
            s.send(json.dumps({"type": "offer", "to": "kiosk", "sdp": "v=0 fake"}))
            relayed = recv(kiosk)
            assert relayed == {
                "type": "offer",
                "from": spec["participant_id"],
                "to": "kiosk",
                "sdp": "v=0 fake",
            }
            s.send(json.dumps({"type": "offer", "to": "nobody", "sdp": "x"}))
            assert recv(s)["type"] == "error"
            s.send("not json")
            assert recv(s)["type"] == "error"
            s.send(b"\x00binary")
            assert recv(s)["error"] == "expected a text frame with JSON"
            with signal(gw, gp["bearer"]) as g:
                assert {p["id"] for p in recv(g)["peers"]} == {"kiosk", spec["participant_id"]}
                recv(kiosk), recv(s)  # join notices
                removed = session.delete(f"/api/v1/session/participants/{gp['participant_id']}")
                assert removed.is_success
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        g.recv(timeout=5)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
                assert recv(kiosk) == {"type": "leave", "id": gp["participant_id"]}
            with httpx.Client(base_url=gw.base_url) as c:
                auth = {"Authorization": f"Bearer {gp['bearer']}"}
                assert c.get("/api/v1/session", headers=auth).status_code == 401
                assert c.get("/api/v1/session/ice-servers", headers=auth).status_code == 401
            with pytest.raises(InvalidStatus):
                signal(gw, gp["bearer"])
    # a browser page from another origin may not signal, whatever it carries
    with pytest.raises(InvalidStatus):
        signal(gw, gw.token, origin="http://evil.example")


def test_ending_the_session_closes_participant_sockets(gw: GatewayProcess) -> None:
    with gw.client() as nurse:
        assert nurse.post("/api/v1/session", json={"live": True}).status_code == 201
        spec = api_join(gw, token=token_of(invite(nurse, admit=True))).json()
        with signal(gw, gw.token) as kiosk, signal(gw, spec["bearer"]) as s:
            recv(kiosk), recv(s), recv(kiosk)  # welcome, welcome, join
            assert nurse.post("/api/v1/session/state", json={"state": "ended"}).is_success
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    s.recv(timeout=5)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4410
            assert recv(kiosk) == {"type": "leave", "id": spec["participant_id"]}


def test_demo_session_prints_one_working_link() -> None:
    gw = start_gateway(extra_args=("--demo-session",))
    try:
        assert gw.later_lines is not None
        lines: list[str] = []
        deadline = time.monotonic() + 20
        while not any(line.startswith("Specialist link: ") for line in lines):
            try:
                line = gw.later_lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            lines.append(line)
        links = [line for line in lines if line.startswith("Specialist link: ")]
        assert len(links) == 1, lines
        link = links[0].removeprefix("Specialist link: ").strip()
        assert link.startswith(gw.base_url + "/join/"), link
        token = link.rsplit("/", 1)[1]
        first = join(gw, token)
        assert first.status_code == 303
        bearer = first.cookies["helserom_participant"]
        with httpx.Client(base_url=gw.base_url, cookies={"helserom_participant": bearer}) as p:
            state = p.get("/api/v1/session").json()  # admitted on join
            assert state["session"]["state"] == "live"
        assert join(gw, token).status_code == 409
        gw.stop_cleanly()
    finally:
        gw.stop()
        gw.remove()
