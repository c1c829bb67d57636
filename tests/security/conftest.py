"""An in-process app with every router on this branch, a real store and a real audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from drivers.devices import open_device
from gateway.api import create_app
from gateway.audit import AUDIT_FILE, AuditLog
from gateway.auth import KioskAuth
from gateway.health import GatewayContext, LoopMonitor
from gateway.live import LiveHub
from gateway.pipeline import DeviceSlot, Pipeline
from gateway.sessions import SessionManager
from gateway.settings import Settings
from gateway.store import Store


@dataclass
class App:
    app: FastAPI
    token: str
    audit: AuditLog
    sessions: SessionManager
    state_dir: Path

    def client(self, **kw: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, client=("192.0.2.10", 50000)),
            base_url="http://127.0.0.1:8080",
            **kw,
        )

    def kiosk(self) -> httpx.AsyncClient:
        return self.client(headers={"Authorization": f"Bearer {self.token}"})


AppFactory = Callable[..., Any]


@pytest.fixture
async def make_app(tmp_path: Path) -> AsyncIterator[AppFactory]:
    """``await make_app(security={...})`` → App; closed after the test."""
    opened: list[tuple[Store, AuditLog]] = []

    async def make(**sections: Any) -> App:
        state = tmp_path / f"state{len(opened)}"
        settings = Settings(gateway={"state_dir": state}, **sections)
        auth = KioskAuth.load_or_create(state)
        slot = DeviceSlot(open_device("ox-1", "serial:///nonexistent/tty?codec=nonin2"), "Oks")
        store = Store(state / "gw.sqlite3")
        await store.__aenter__()
        audit = AuditLog(state / AUDIT_FILE)
        opened.append((store, audit))
        pipeline = Pipeline(settings.pipeline, store, LiveHub(8), [slot])
        ctx = GatewayContext(settings, pipeline, pipeline.hub, LoopMonitor())
        sessions = SessionManager(store)
        app = create_app(ctx, auth, sessions, audit)
        return App(app, auth.token, audit, sessions, state)

    yield make
    for store, audit in opened:
        audit.close()
        await store.__aexit__(None, None, None)
