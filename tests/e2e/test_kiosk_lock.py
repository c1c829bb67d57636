"""The kiosk locks itself after idle time and unlocks with the nurse's PIN, in real Chromium.

A real gateway with ``[security] idle_lock_s = 2`` and a PIN hash; the page (lock.js) shows the
lock screen when the server says locked, a wrong PIN is refused, the right one unlocks, and the
server refuses patient data (423) while locked.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from gateway.pin import hash_pin
from tests import gatewayproc
from tests.gatewayproc import CONFIG, GatewayProcess, start_gateway

PIN = "4826"
IDLE_LOCK_S = 6  # long enough for a loaded machine to load the page before it locks
LOCK_CONFIG = CONFIG + f'\n[security]\nidle_lock_s = {IDLE_LOCK_S}\npin_hash = "{hash_pin(PIN)}"\n'


@pytest.fixture(scope="module")
def locking_gateway() -> Iterator[GatewayProcess]:
    original = gatewayproc.START_TIMEOUT_S
    gatewayproc.START_TIMEOUT_S = 90.0  # a loaded CI machine can take > 20 s to import
    try:
        gw = start_gateway(config_text=LOCK_CONFIG)
    finally:
        gatewayproc.START_TIMEOUT_S = original
    try:
        yield gw
    finally:
        try:
            gw.stop_cleanly()
        finally:
            gw.remove()


def test_idle_lock_and_pin_unlock(browser: Browser, locking_gateway: GatewayProcess) -> None:
    gw = locking_gateway
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    uncaught: list[str] = []
    page.on("pageerror", lambda error: uncaught.append(str(error)))
    # the page's own reads (polls, refreshes on live messages) must not count as the nurse's
    # activity, or a kiosk showing a live oximeter would never lock
    polls: list[str | None] = []
    page.on(
        "request",
        lambda r: (
            polls.append(r.headers.get("x-helserom-background"))
            if r.url.split("?")[0].endswith(("/api/v1/news2", "/api/v1/session"))
            else None
        ),
    )
    try:
        with gw.client() as client:  # the fixture may have idled: start the idle time now
            client.post("/api/v1/kiosk/activity")
        page.goto(gw.login_url)
        overlay = page.get_by_test_id("lock-overlay")
        expect(overlay).to_have_count(0)
        # no input for IDLE_LOCK_S: the server locks, the page shows the lock screen
        expect(overlay).to_be_visible(timeout=(IDLE_LOCK_S + 15) * 1000)
        with gw.client() as client:
            assert client.get("/api/v1/devices").status_code == 423
        # no patient data flows to a locked kiosk: the gateway closed the live stream (4423)
        ws_state = page.get_by_test_id("ws-state")
        expect(ws_state).not_to_have_attribute("data-state", "connected", timeout=10_000)
        expect(page.locator("#banner")).to_be_hidden()  # locked is not "no connection"
        page.get_by_test_id("lock-pin").fill("0000")
        page.get_by_test_id("lock-submit").click()
        expect(page.get_by_test_id("lock-message")).to_contain_text("Feil PIN-kode")
        expect(overlay).to_be_visible()
        page.get_by_test_id("lock-pin").fill(PIN)
        page.get_by_test_id("lock-submit").click()
        expect(overlay).to_have_count(0, timeout=5_000)
        # the page reconnects at once after the unlock (not after its 60-s fallback)
        expect(ws_state).to_have_attribute("data-state", "connected", timeout=5_000)
        expect(page.get_by_test_id("spo2-value")).not_to_have_text("--", timeout=10_000)
        with gw.client() as client:
            assert client.get("/api/v1/devices").status_code == 200
        # the refused and the accepted unlock are in the audit log
        db = sqlite3.connect(gw.root / "state" / "audit.sqlite3")
        outcomes = [
            row[0]
            for row in db.execute(
                "SELECT outcome FROM audit WHERE action = 'POST /api/v1/kiosk/unlock' ORDER BY seq"
            )
        ]
        db.close()
        assert outcomes == ["403", "204"]
        assert polls and set(polls) == {"1"}, polls
    finally:
        context.close()
    assert not uncaught, uncaught
