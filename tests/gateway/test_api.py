"""The HTTP API: authentication on every route but /healthz, login, devices, security headers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute

from drivers.devices import open_device
from gateway.api import create_app
from gateway.auth import COOKIE_NAME, KioskAuth
from gateway.health import GatewayContext, LoopMonitor
from gateway.live import LiveHub
from gateway.pipeline import DeviceSlot, Pipeline
from gateway.settings import Settings
from gateway.store import Store

OPEN_ROUTES = {"/healthz", "/login"}


@pytest.fixture
async def app_and_token(tmp_path: Path) -> AsyncIterator[tuple[object, str]]:
    settings = Settings(gateway={"state_dir": tmp_path})
    auth = KioskAuth.load_or_create(tmp_path)
    slot = DeviceSlot(open_device("ox-1", "serial:///nonexistent/tty?codec=nonin2"), "Oksymeter")
    async with Store(tmp_path / "gw.sqlite3") as store:
        pipeline = Pipeline(settings.pipeline, store, LiveHub(8), [slot])
        ctx = GatewayContext(settings, pipeline, pipeline.hub, LoopMonitor())
        yield create_app(ctx, auth), auth.token


def _client(app: object, **kw: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://127.0.0.1:8080",
        **kw,  # type: ignore[arg-type]
    )


async def test_every_route_but_healthz_refuses_without_credentials(
    app_and_token: tuple[object, str],
) -> None:
    app, _ = app_and_token
    routes = [r for r in app.routes if isinstance(r, APIRoute)]  # type: ignore[attr-defined]
    assert {r.path for r in routes} >= {"/healthz", "/api/v1/devices", "/openapi.json", "/docs"}
    async with _client(app) as client:
        for route in routes:
            path = re.sub(r"\{[^}]+\}", "x", route.path)
            for method in route.methods:
                response = await client.request(method, path)
                if route.path in OPEN_ROUTES:
                    continue
                assert response.status_code == 401, (method, path, response.status_code)
        # a wrong token is no better than none
        bad = await client.get("/api/v1/devices", headers={"Authorization": "Bearer " + "x" * 43})
        assert bad.status_code == 401
        assert (await client.get("/login?token=wrong")).status_code == 401


async def test_websocket_route_is_listed(app_and_token: tuple[object, str]) -> None:
    app, _ = app_and_token
    ws_paths = {r.path for r in app.routes if isinstance(r, APIWebSocketRoute)}  # type: ignore[attr-defined]
    assert ws_paths == {"/api/v1/live"}


async def test_healthz_open_and_reports_devices(app_and_token: tuple[object, str]) -> None:
    app, _ = app_and_token
    async with _client(app) as client:
        response = await client.get("/healthz")
    body = response.json()
    assert response.status_code == 200
    assert body["status"] == "degraded"  # the one device is not connected
    assert body["devices"] == [
        {"id": "ox-1", "connected": False, "frames_ok": 0, "frames_dropped": 0}
    ]
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_login_sets_cookie_then_pages_and_api_work(app_and_token: tuple[object, str]) -> None:
    app, token = app_and_token
    async with _client(app) as client:
        response = await client.get(f"/login?token={token}")
        assert response.status_code == 303
        assert response.headers["location"] == "/kiosk/"
        cookie = response.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE_NAME}=") and "HttpOnly" in cookie
        assert "SameSite=strict" in cookie
        client.cookies.set(COOKIE_NAME, token)
        devices = (await client.get("/api/v1/devices")).json()
        assert devices[0]["id"] == "ox-1" and devices[0]["label"] == "Oksymeter"
        assert devices[0]["connected"] is False
        assert devices[0]["uri"] == "serial:///nonexistent/tty?codec=nonin2"
        spec = (await client.get("/openapi.json")).json()
        assert "/api/v1/devices" in spec["paths"]
        page = await client.get("/kiosk/")
        assert page.status_code == 200
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert (await client.get("/ui/../settings.py")).status_code == 404


async def test_bearer_header_works(app_and_token: tuple[object, str]) -> None:
    app, token = app_and_token
    async with _client(app, headers={"Authorization": f"Bearer {token}"}) as client:
        assert (await client.get("/api/v1/devices")).status_code == 200


def test_token_file_is_private_and_stable(tmp_path: Path) -> None:
    first = KioskAuth.load_or_create(tmp_path)
    second = KioskAuth.load_or_create(tmp_path)
    assert first.token == second.token
    assert (tmp_path / "kiosk-token").stat().st_mode & 0o777 == 0o600
