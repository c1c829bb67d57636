"""Every route of the app (HTTP, hidden, WebSocket, mounts) refuses a caller without credentials.

Generic on purpose: routes merged from other branches are walked too. The only exceptions are
listed here with their reason.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.testclient import TestClient
from starlette.websockets import WebSocketDisconnect

from tests.security.conftest import App, AppFactory

OPEN_PATHS = {
    "/healthz": "health for monitoring and systemd; no patient data",
    "/login": "exchanges the kiosk token for a cookie; refuses a wrong token itself",
}
# join pages and the redeem call: the join code is the credential (rate-limited per client IP)
OPEN_PREFIXES = ("/join", "/api/v1/join")
REFUSED = {401, 403}


def walk_routes(routes: list[Any], prefix: str = "") -> list[tuple[str, str]]:
    """(kind, path) for every route, descending into included routers and mounts.

    kind: an HTTP method, "WS", or "MOUNT". FastAPI >= 0.16x keeps included routers as
    lazy ``_IncludedRouter`` entries (``original_router`` + ``include_context.prefix``).
    """
    out: list[tuple[str, str]] = []
    for route in routes:
        original = getattr(route, "original_router", None)
        if original is not None:
            sub = prefix + getattr(route.include_context, "prefix", "")
            out += walk_routes(list(original.routes), sub)
        elif isinstance(route, Route):
            out += [(m, prefix + route.path) for m in sorted(route.methods or {"GET"})]
        elif isinstance(route, WebSocketRoute):
            out.append(("WS", prefix + route.path))
        elif isinstance(route, Mount):
            out.append(("MOUNT", prefix + route.path))
            out += walk_routes(list(route.routes), prefix + route.path)
        else:
            raise AssertionError(f"route of unknown type {type(route).__name__}: {route!r}")
    return out


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def _is_open(path: str) -> bool:
    return path in OPEN_PATHS or path.startswith(OPEN_PREFIXES)


async def test_every_http_route_refuses_without_credentials(make_app: AppFactory) -> None:
    app: App = await make_app()
    routes = walk_routes(list(app.app.routes))
    http = [(kind, path) for kind, path in routes if kind not in ("WS", "MOUNT")]
    # the walker sees at least everything the OpenAPI schema lists
    schema_paths = set(app.app.openapi()["paths"])
    assert schema_paths <= {path for _, path in http}, schema_paths - {p for _, p in http}
    assert {"/api/v1/devices", "/api/v1/admin/audit", "/api/v1/kiosk/unlock"} <= schema_paths
    checked = 0
    async with app.client() as client:
        for method, path in http + [("GET", p + "/x") for k, p in routes if k == "MOUNT"]:
            if _is_open(path):
                continue
            response = await client.request(method, _concrete(path))
            assert response.status_code in REFUSED, (method, path, response.status_code)
            # a wrong bearer, a malformed JWT and wrong cookies are no better
            for headers in (
                {"Authorization": "Bearer " + "x" * 43},
                {"Authorization": "Bearer a.b.c"},
                {"Cookie": "helserom_kiosk=nope; helserom_participant=nope"},
            ):
                r = await client.request(method, _concrete(path), headers=headers)
                assert r.status_code in REFUSED, (method, path, headers, r.status_code)
            checked += 1
    assert checked >= 12, f"only {checked} route/method pairs walked"


async def test_every_websocket_route_refuses_without_credentials(make_app: AppFactory) -> None:
    app: App = await make_app()
    ws_paths = [path for kind, path in walk_routes(list(app.app.routes)) if kind == "WS"]
    assert "/api/v1/live" in ws_paths

    def walk() -> None:
        with TestClient(app.app, base_url="http://127.0.0.1:8080") as client:
            for path in ws_paths:
                with (
                    pytest.raises(WebSocketDisconnect) as refused,
                    client.websocket_connect(_concrete(path)) as ws,
                ):
                    ws.receive_json()
                assert refused.value.code in (1008, 4401, 4403), (path, refused.value.code)
                # the right token from a foreign page (Origin) is refused too
                with (
                    pytest.raises(WebSocketDisconnect),
                    client.websocket_connect(
                        _concrete(path),
                        headers={
                            "Authorization": f"Bearer {app.token}",
                            "Origin": "https://evil.example",
                        },
                    ) as ws,
                ):
                    ws.receive_json()

    await asyncio.to_thread(walk)


async def test_admin_token_reaches_it_routes_but_not_patient_data(
    make_app: AppFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    admin = "a" * 40
    (creds / "admin-token").write_text(admin + "\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(creds))
    app: App = await make_app()
    async with app.client(headers={"Authorization": f"Bearer {admin}"}) as it:
        assert (await it.get("/api/v1/admin/audit")).status_code == 200
        assert (await it.get("/api/v1/admin/audit/verify")).json()["ok"] is True
    async with app.kiosk() as kiosk:
        assert (await kiosk.get("/api/v1/admin/audit")).status_code == 403  # nurse is not IT
    rows = app.audit.tail(10)
    assert [r["role"] for r in rows][:3] == ["nurse", "admin", "admin"]
    # the IT token opens nothing else: every other route refuses it (generic walk)
    walked = 0
    async with app.client(headers={"Authorization": f"Bearer {admin}"}) as it:
        for method, path in walk_routes(list(app.app.routes)):
            if method in ("WS", "MOUNT") or _is_open(path) or path.startswith("/api/v1/admin"):
                continue
            r = await it.request(method, _concrete(path))
            assert r.status_code in REFUSED, (method, path, r.status_code)
            walked += 1
    assert walked >= 10

    def ws_refused() -> None:
        with TestClient(app.app, base_url="http://127.0.0.1:8080") as client:
            for kind, path in walk_routes(list(app.app.routes)):
                if kind != "WS":
                    continue
                with (
                    pytest.raises(WebSocketDisconnect),
                    client.websocket_connect(
                        _concrete(path), headers={"Authorization": f"Bearer {admin}"}
                    ) as ws,
                ):
                    ws.receive_json()

    await asyncio.to_thread(ws_refused)
