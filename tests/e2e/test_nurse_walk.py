"""The nurse's whole consultation in one walk, across the kiosk's four screens.

The other e2e tests check each screen on its own; this one checks that the pieces add up for a
consultation as a nurse runs it: start and consent → invite the specialist, who waits and is let
in → a guided blood-pressure measurement while the doctor watches → NEWS2 with the nurse's own
observations → end → the summary's report holds the reading, the observations and the doctor.
Real gateway on the simulated room (BLE cuff on the simulated bluetoothd, serial oximeter, ECG,
spirometer), real Chromium; the simulated patient's cuff is started through the control socket.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.e2e.conftest import Browsed, KioskFactory, participant
from tests.e2e.rooms import FULL_ROOM_DEVICES, full_room
from tests.e2e.test_session_flow import (
    STEP_MS,
    create_invite,
    open_session_screen,
    prepare,
    redeem,
    state_of,
)
from tests.gatewayproc import GatewayProcess, start_gateway, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayProcess]:
    """The simulated room with the BLE cuff (overrides conftest's oximeter-only room)."""
    gw = start_gateway(config_text=full_room("walk-room"))
    try:
        wait_for(lambda: all(gw.device(d)["connected"] for d in FULL_ROOM_DEVICES), 40.0)
        yield gw
    finally:
        try:
            gw.stop_cleanly()
        finally:
            gw.remove()


def test_a_whole_consultation_across_the_screens(
    kiosk_factory: KioskFactory,
    gateway: GatewayProcess,
    browser: Browser,
    participants: list[Browsed],
) -> None:
    kiosk = kiosk_factory(1280, 800)
    page = open_session_screen(kiosk)
    expect(state_of(page)).to_have_attribute("data-state", "idle")
    prepare(page, pseudonym="EF", year="1946")  # consent given, then inviting
    with gateway.client() as nurse:
        session_id = nurse.get("/api/v1/session").json()["session"]["id"]

    # the specialist redeems the link, waits, and is let in
    link = create_invite(page, "specialist", "Dr. Holm").get_by_test_id("invite-link").inner_text()
    doctor = participant(browser, participants)
    redeem(doctor, link)
    waiting = page.get_by_test_id("session-waiting")
    expect(waiting.locator(".session-person")).to_have_count(1, timeout=STEP_MS)
    waiting.locator('.session-person[data-role="specialist"]').get_by_test_id(
        "person-admit"
    ).click()
    expect(state_of(page)).to_have_attribute("data-state", "live")
    doctor.page.wait_for_url("**/specialist/", timeout=STEP_MS)

    # Målinger: a guided blood pressure; the patient's cuff is started on the device itself
    page.get_by_test_id("nav-measure").click()
    page.get_by_test_id("measure-bp").click()
    expect(page.get_by_test_id("guide")).to_have_attribute("data-kind", "bp")
    page.get_by_test_id("bp-skip-rest").click()
    expect(page.get_by_test_id("guide")).to_have_attribute("data-step", "cuff")
    gateway.sim("start_measurement", device="cuff-1")
    expect(page.get_by_test_id("bp-result")).to_be_visible(timeout=30_000)
    reading = page.get_by_test_id("bp-reading").inner_text()
    assert re.fullmatch(r"\d{2,3}/\d{2,3}", reading), reading
    systolic = reading.split("/")[0]

    # Overvåking: NEWS2 with the nurse's observations (breathing rate, alert, on air)
    page.get_by_test_id("nav-vitals").click()
    page.get_by_test_id("news2-open").click()
    expect(page.get_by_test_id("news2-dialog")).to_be_visible()
    page.get_by_test_id("news2-acvpu-A").click()
    page.get_by_test_id("news2-o2-air").click()
    page.get_by_test_id("news2-save").click()
    expect(page.get_by_test_id("news2-dialog")).to_be_hidden()
    with gateway.client() as nurse:
        news2 = nurse.get("/api/v1/news2").json()
    assert news2["session_id"] == session_id
    rr = next(p for p in news2["parameters"] if p["parameter"] == "respiration_rate")
    assert rr["device_id"] == "nurse" and rr["value"] == 16, rr  # the dialog's default

    # everything measured since the invitation belongs to this consultation
    db = sqlite3.connect(gateway.db_path)
    try:
        rows = dict(
            db.execute(
                "SELECT quantity, count(*) FROM measurement WHERE session_id = ? GROUP BY quantity",
                (session_id,),
            ).fetchall()
        )
    finally:
        db.close()
    assert rows.get("bp_systolic", 0) >= 1 and rows.get("respiration_rate", 0) >= 1, rows
    assert rows.get("spo2", 0) >= 1, rows

    # end → summary: the report has the doctor, the reading and the nurse's observation
    open_session_screen(kiosk)
    page.get_by_test_id("session-end").click()
    page.get_by_test_id("session-end-yes").click()
    expect(state_of(page)).to_have_attribute("data-state", "ended")
    expect(page.get_by_test_id("sum-participants")).to_have_text("Spesialist (Dr. Holm)")
    report = page.frame_locator("#session-report").locator("body")
    expect(report).to_contain_text("Dr. Holm", timeout=STEP_MS)
    expect(report).to_contain_text("Systolisk")
    expect(report).to_contain_text(systolic)
    expect(report).to_contain_text("Respirasjonsfrekvens")
    # the doctor's page: the consultation is over
    expect(doctor.page.get_by_test_id("waiting-title")).to_have_text(
        "Konsultasjonen er avsluttet", timeout=STEP_MS
    )
    page.get_by_test_id("session-new").click()
    expect(state_of(page)).to_have_attribute("data-state", "idle")

    # the largest screen the kiosk is made for: every screen fits without sideways scrolling
    page.set_viewport_size({"width": 1920, "height": 1080})
    for screen in ("session", "vitals", "measure", "devices"):
        page.get_by_test_id(f"nav-{screen}").click()
        expect(page.locator(f"#screen-{screen}")).to_be_visible()
        overflow = page.evaluate(
            "() => document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth"
        )
        assert overflow <= 0, f"{screen}: {overflow} px of sideways scrolling at 1920x1080"
