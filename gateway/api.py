"""HTTP and WebSocket API (FastAPI). Everything but /healthz needs the kiosk token."""

from __future__ import annotations

import asyncio
import logging
import time
from importlib import resources
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request, WebSocket
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel
from starlette.websockets import WebSocketDisconnect

from gateway.api_devices import router as devices_router
from gateway.api_export import router as export_router
from gateway.api_media import router as media_router
from gateway.api_news2 import router as news2_router
from gateway.api_records import router as records_router
from gateway.api_session import router as session_router
from gateway.api_waiting import router as waiting_router
from gateway.audit import AuditLog
from gateway.auth import (
    COOKIE_NAME,
    NURSE,
    KioskAuth,
    require_kiosk,
    require_principal,
    websocket_allowed,
)
from gateway.health import GatewayContext
from gateway.live import SCHEMA_VERSION, status_dict
from gateway.pin import KioskLock
from gateway.security_api import audit_entry, install_security
from gateway.sessions import SessionManager
from gateway.signalling import SignalHub

logger = logging.getLogger(__name__)

LIVE_LOCKED_CODE = 4423  # the live WebSocket closes (or refuses) while the kiosk is locked
UI_FILES = {  # name -> media type; only these are served
    "kiosk.html": "text/html; charset=utf-8",
    "kiosk.js": "text/javascript; charset=utf-8",
    "kiosk.css": "text/css; charset=utf-8",
    "i18n.js": "text/javascript; charset=utf-8",
    "pleth.js": "text/javascript; charset=utf-8",
    "lock.js": "text/javascript; charset=utf-8",
    "conversation.js": "text/javascript; charset=utf-8",
    "conversation.css": "text/css; charset=utf-8",
    "specialist.html": "text/html; charset=utf-8",
    "specialist.js": "text/javascript; charset=utf-8",
    "specialist.css": "text/css; charset=utf-8",
    "whep.js": "text/javascript; charset=utf-8",
    "bus.js": "text/javascript; charset=utf-8",
    "shell.js": "text/javascript; charset=utf-8",
    "spec_waves.js": "text/javascript; charset=utf-8",
    "spec_trends.js": "text/javascript; charset=utf-8",
    "spec_requests.js": "text/javascript; charset=utf-8",
    "spec_gallery.js": "text/javascript; charset=utf-8",
    "requests.js": "text/javascript; charset=utf-8",
    "requests.css": "text/css; charset=utf-8",
    "session.js": "text/javascript; charset=utf-8",
    "session.css": "text/css; charset=utf-8",
    "session-text.js": "text/javascript; charset=utf-8",
    "session-people.js": "text/javascript; charset=utf-8",
    "waiting.js": "text/javascript; charset=utf-8",  # participants get it at /waiting/waiting.js
    "verdict.js": "text/javascript; charset=utf-8",
    "guided.js": "text/javascript; charset=utf-8",
    "guided_ui.js": "text/javascript; charset=utf-8",
    "guided_bp.js": "text/javascript; charset=utf-8",
    "guided_spo2.js": "text/javascript; charset=utf-8",
    "guided_spiro.js": "text/javascript; charset=utf-8",
    "guided_loop.js": "text/javascript; charset=utf-8",
    "guided_ecg.js": "text/javascript; charset=utf-8",
    "guided_figure.js": "text/javascript; charset=utf-8",
    "guided.css": "text/css; charset=utf-8",
    "devices.js": "text/javascript; charset=utf-8",
    "devices.css": "text/css; charset=utf-8",
    "news2.js": "text/javascript; charset=utf-8",
    "news2.css": "text/css; charset=utf-8",
}
# what the specialist's page loads: any principal (the nurse or an admitted participant);
# everything else only the kiosk
PARTICIPANT_UI = {
    "i18n.js",
    "pleth.js",
    "conversation.js",
    "conversation.css",
    "specialist.js",
    "specialist.css",
    "whep.js",
    "bus.js",
    "spec_waves.js",
    "spec_trends.js",
    "spec_requests.js",
    "spec_gallery.js",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
LIVE_BATCH_MAX = 64


def get_context(request: Request) -> GatewayContext:
    """The running gateway's context."""
    ctx: GatewayContext = request.app.state.context
    return ctx


ContextDep = Annotated[GatewayContext, Depends(get_context)]


class DeviceOut(BaseModel):
    """A device's status (see docs/api.md)."""

    id: str
    kind: str
    uri: str
    label: str
    connected: bool
    battery_pct: float | None
    last_seen_s: float | None
    frames_ok: int
    frames_dropped: int
    bytes_dropped: int
    reconnects: int
    last_error: str | None
    info: dict[str, str | None]


def create_app(
    context: GatewayContext,
    auth: KioskAuth,
    sessions: SessionManager | None = None,
    audit: AuditLog | None = None,
) -> FastAPI:
    """The FastAPI application for a running gateway."""
    app = FastAPI(
        title="Helserom Gateway",
        version="0.1.0",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.context = context
    app.state.auth = auth
    app.state.sessions = sessions
    app.state.signal_hub = SignalHub()
    app.include_router(session_router)
    app.include_router(waiting_router)

    install_security(app, context.settings, audit)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        for key, value in SECURITY_HEADERS.items():
            response.headers.setdefault(key, value)
        return response

    @app.get("/healthz", tags=["health"])
    async def healthz(ctx: ContextDep) -> JSONResponse:
        """Gateway, loop and device health. The only route without authentication."""
        body = ctx.health()
        return JSONResponse(body, status_code=200 if body["status"] != "failing" else 503)

    @app.get("/login", include_in_schema=False)
    async def login(token: Annotated[str, Query(max_length=200)] = "") -> Response:
        if not auth.valid(token):
            return HTMLResponse(_LOGIN_REFUSED, status_code=401)
        response = RedirectResponse("/kiosk/", status_code=303)
        response.set_cookie(COOKIE_NAME, token, httponly=True, samesite="strict", path="/")
        return response

    auth_required = [Depends(require_kiosk)]
    app.include_router(devices_router)
    app.include_router(export_router)
    app.include_router(news2_router)

    @app.get("/", dependencies=auth_required, include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse("/kiosk/", status_code=303)

    @app.get("/kiosk/", dependencies=auth_required, include_in_schema=False)
    async def kiosk() -> Response:
        return _ui_file("kiosk.html")

    @app.get("/ui/{name}", include_in_schema=False)
    async def ui_file(name: str, request: Request) -> Response:
        if name in PARTICIPANT_UI:
            await require_principal(request)
        else:
            require_kiosk(request)
        return _ui_file(name)

    @app.get(
        "/api/v1/devices",
        dependencies=auth_required,
        response_model=list[DeviceOut],
        tags=["devices"],
    )
    async def devices(ctx: ContextDep) -> list[dict[str, Any]]:
        """Every configured device: connection, link counters (frames ok/dropped), identity."""
        return _device_list(ctx)

    @app.get("/openapi.json", dependencies=auth_required, include_in_schema=False)
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", dependencies=auth_required, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Helserom Gateway API")

    @app.websocket("/api/v1/live")
    async def live(ws: WebSocket) -> None:
        """Stream of live messages (docs/api.md): hello, then measurement/waveform/status."""
        if not websocket_allowed(ws):
            await ws.close(code=4401, reason="authentication or origin refused")  # 403 handshake
            return
        ctx: GatewayContext = ws.app.state.context
        lock: KioskLock | None = getattr(ws.app.state, "kiosk_lock", None)
        await ws.accept()
        if lock is not None and lock.locked:
            # patient data waits for the PIN; the page reconnects once unlocked (docs/api.md)
            await ws.close(code=LIVE_LOCKED_CODE, reason="kiosk locked")
            return
        if audit is not None:
            await asyncio.to_thread(
                audit.record, audit_entry(NURSE, "live.open", "ok", ws.url.path)
            )
        with ctx.hub.subscribe() as queue:
            receiver: asyncio.Future[Any] | None = None
            getter: asyncio.Future[Any] | None = None
            try:  # the client may be gone already (it may close right after the handshake)
                await ws.send_json({**hello_message(ctx), "sent_s": time.time()})
                receiver = asyncio.ensure_future(ws.receive())
                while True:
                    getter = asyncio.ensure_future(queue.get_batch(LIVE_BATCH_MAX))
                    done, _ = await asyncio.wait(
                        {getter, receiver}, return_when=asyncio.FIRST_COMPLETED
                    )
                    if receiver in done:
                        getter.cancel()
                        message = receiver.result()
                        if message["type"] == "websocket.disconnect":
                            return
                        receiver = asyncio.ensure_future(ws.receive())  # ignore client chatter
                        continue
                    if lock is not None and lock.locked:
                        await ws.close(code=LIVE_LOCKED_CODE, reason="kiosk locked")
                        return
                    for msg in getter.result():
                        await ws.send_json({**msg, "sent_s": time.time()})
            except WebSocketDisconnect:
                return
            finally:  # also when this handler is cancelled: no waiter outlives it
                for pending in (receiver, getter):
                    if pending is not None:
                        pending.cancel()
                if audit is not None:
                    closed = audit_entry(NURSE, "live.close", "ok", ws.url.path)
                    await asyncio.to_thread(audit.record, closed)

    app.include_router(media_router)
    app.include_router(records_router)
    return app


def hello_message(ctx: GatewayContext) -> dict[str, Any]:
    """The first live message (WebSocket and the ``vitals`` data channel)."""
    return {
        "type": "hello",
        "schema": SCHEMA_VERSION,
        "site": ctx.settings.gateway.site,
        "room": ctx.settings.gateway.room,
        "language": ctx.settings.gateway.language,
        "devices": _device_list(ctx),
    }


def _device_list(ctx: GatewayContext) -> list[dict[str, Any]]:
    """Every device's status with its label (GET /api/v1/devices and the live hello)."""
    return [
        {**status_dict(slot.status(ctx.settings.pipeline.silence_timeout_s)), "label": slot.label}
        for slot in ctx.pipeline.slots.values()
    ]


def _ui_file(name: str) -> Response:
    if name not in UI_FILES:
        raise HTTPException(404, "not found")
    data = resources.files("gateway.ui").joinpath(name).read_bytes()
    return Response(data, media_type=UI_FILES[name], headers={"Cache-Control": "no-cache"})


_LOGIN_REFUSED = """<!doctype html><html lang="nb"><meta charset="utf-8">
<title>Ugyldig lenke</title><link rel="stylesheet" href="/join.css">
<link rel="icon" href="data:,">
<body><main class="join"><p class="app-name">Helserom</p>
<h1>Lenken er ugyldig eller utløpt</h1>
<p>Start kiosken på nytt, eller be IT om en ny innloggingslenke.</p>
<p class="english" lang="en">This link is invalid or has expired. Restart the kiosk or ask IT
for a new login link.</p></main></body></html>"""
