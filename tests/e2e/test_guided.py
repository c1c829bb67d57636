"""The Målinger screen's guided measurements, end to end.

A real gateway (``helserom run``) on a simulated room with a serial oximeter, the 8-lead
OpenBCI ECG, the serial spirometer and a Bluetooth LE blood-pressure cuff (on the simulated
bluetoothd); Debian's headless Chromium shows the kiosk. The simulated patient acts through the
room's control socket (cuff start, blows, an electrode coming off), and the tests check what the
nurse sees, in bokmål at 1280x800 and in English at 800x480 side by side.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Kiosk, KioskFactory
from tests.e2e.rooms import FULL_ROOM_DEVICES, full_room
from tests.gatewayproc import GatewayProcess, start_gateway, wait_for

pytestmark = pytest.mark.e2e

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DEVICES = FULL_ROOM_DEVICES
ROOM = full_room("guided-room")


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayProcess]:
    """The simulated room with ECG, spirometer, oximeter and BLE cuff (overrides conftest's)."""
    gw = start_gateway(config_text=ROOM)
    try:
        wait_for(lambda: all(gw.device(d)["connected"] for d in DEVICES), 40.0)
        yield gw
    finally:
        try:
            gw.stop_cleanly()
        finally:
            gw.remove()


def _pair(kiosk_factory: KioskFactory) -> tuple[Kiosk, Kiosk]:
    """A bokmål kiosk at 1280x800 and an English one at 800x480, both on Målinger."""
    nb = kiosk_factory(1280, 800)
    en = kiosk_factory(800, 480)
    en.page.get_by_test_id("lang-toggle").click()
    expect(en.page.locator("html")).to_have_attribute("lang", "en")
    for kiosk in (nb, en):
        kiosk.page.get_by_test_id("nav-measure").click()
        expect(kiosk.page.get_by_test_id("guided-list")).to_be_visible()
    return nb, en


def _open(page: Page, kind: str) -> None:
    page.get_by_test_id(f"measure-{kind}").click()
    guide = page.get_by_test_id("guide")
    expect(guide).to_be_visible()
    expect(guide).to_have_attribute("data-kind", kind)


def _fits(page: Page) -> None:
    """No horizontal scrolling; every visible button of the screen at least 48x48 px."""
    overflow = page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"{overflow} px of horizontal scrolling"
    # nothing cut off at the right edge either (a scrolling <main> would hide it)
    sticking_out = page.evaluate(
        """() => [...document.querySelectorAll('#screen-measure *')]
             .filter((e) => e.getClientRects().length
                     && e.getBoundingClientRect().right > window.innerWidth + 1)
             .map((e) => e.outerHTML.slice(0, 80))"""
    )
    assert not sticking_out, f"beyond the right edge: {sticking_out}"
    for button in page.locator("#screen-measure button:visible").all():
        box = button.bounding_box()
        assert box is not None and box["width"] >= 48 and box["height"] >= 48, (
            button.inner_text(),
            box,
        )


def _shoot(page: Page, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / name))


def test_list_shows_the_rooms_measurements_in_both_languages(kiosk_factory: KioskFactory) -> None:
    nb, en = _pair(kiosk_factory)
    titles = nb.page.locator(".guided-item-title")
    expect(titles).to_have_text(["Blodtrykk", "Oksygenmetning", "Spirometri", "EKG"])
    expect(en.page.locator(".guided-item-title")).to_have_text(
        ["Blood pressure", "Oxygen saturation", "Spirometry", "ECG"]
    )
    expect(nb.page.get_by_test_id("measure-bp")).to_contain_text("Klar")
    # the language switch relabels an open guide too
    _open(nb.page, "ecg")
    expect(nb.page.get_by_test_id("guide-title")).to_have_text("EKG")
    nb.page.get_by_test_id("lang-toggle").click()
    expect(nb.page.get_by_test_id("guide-title")).to_have_text("ECG")
    expect(nb.page.get_by_test_id("ecg-placed")).to_have_text("The electrodes are on")
    nb.page.get_by_test_id("guide-back").click()
    expect(nb.page.get_by_test_id("guided-list")).to_be_visible()
    expect(nb.page.locator(".guided-item-title").first).to_have_text("Blood pressure")
    _fits(en.page)


def test_blood_pressure_rest_cuff_pressure_and_result(
    kiosk_factory: KioskFactory, gateway: GatewayProcess
) -> None:
    nb, en = _pair(kiosk_factory)
    for kiosk in (nb, en):
        _open(kiosk.page, "bp")
    rest = nb.page.get_by_test_id("bp-rest-left")
    expect(rest).to_have_text(re.compile(r"Hvile: [45]:\d\d igjen"))
    expect(en.page.get_by_test_id("bp-rest-left")).to_have_text(re.compile(r"Rest: [45]:\d\d left"))
    first = rest.inner_text()
    expect(rest).not_to_have_text(first, timeout=3000)  # it counts down
    for kiosk in (nb, en):
        kiosk.page.get_by_test_id("bp-skip-rest").click()
        expect(kiosk.page.get_by_test_id("guide")).to_have_attribute("data-step", "cuff")
    expect(nb.page.get_by_test_id("bp-press-start")).to_have_text(
        "Trykk START på blodtrykksmåleren."
    )
    _fits(en.page)

    gateway.sim("start_measurement", device="cuff-1")
    pressure = nb.page.get_by_test_id("bp-cuff-pressure")
    seen: list[int] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = pressure.inner_text() if pressure.is_visible() else ""
        if text.isdigit() and (not seen or seen[-1] != int(text)):
            seen.append(int(text))
        if nb.page.get_by_test_id("bp-result").is_visible():
            break
        time.sleep(0.05)
    rising = [b for a, b in itertools.pairwise(seen) if b > a]
    assert len(rising) >= 3 and max(seen) > 120, f"cuff pressures shown: {seen}"

    expect(nb.page.get_by_test_id("bp-result")).to_be_visible(timeout=30000)
    expect(nb.page.get_by_test_id("bp-reading")).to_have_text(re.compile(r"^\d{2,3}/\d{2,3}$"))
    expect(nb.page.get_by_test_id("bp-verdict")).to_have_text("Pålitelig")
    expect(nb.page.get_by_test_id("bp-light")).to_have_text(re.compile(r"^Grønt: "))
    expect(nb.page.get_by_test_id("bp-pulse-value")).to_have_text(re.compile(r"^\d{2,3}$"))
    # the gateway's ESH 2023 category of this reading, in words
    reading = nb.page.get_by_test_id("bp-reading").inner_text()
    systolic, diastolic = (int(x) for x in reading.split("/"))
    expected = _esh_nb(systolic, diastolic)
    expect(nb.page.get_by_test_id("bp-esh")).to_have_text(f"ESH-kategori: {expected}")
    expect(en.page.get_by_test_id("bp-esh")).to_have_text(re.compile(r"^ESH category: "))
    expect(nb.page.get_by_test_id("bp-status-none")).to_have_text("Måleren meldte ingen problemer.")
    expect(en.page.get_by_test_id("bp-verdict")).to_have_text("Reliable")
    expect(en.page.get_by_test_id("bp-light")).to_have_text(re.compile(r"^Green: "))
    assert (
        nb.page.get_by_test_id("bp-reading").inner_text()
        == en.page.get_by_test_id("bp-reading").inner_text()
    )
    _fits(en.page)
    _fits(nb.page)
    _shoot(nb.page, "measure-bp-1280x800.png")
    _shoot(en.page, "measure-bp-800x480.png")


def _esh_nb(systolic: int, diastolic: int) -> str:
    """The ESH 2023 office category in bokmål, for readings the simulated patient gives."""
    if systolic >= 140 and diastolic < 90:
        return "isolert systolisk hypertensjon grad " + str(
            1 if systolic < 160 else 2 if systolic < 180 else 3
        )
    levels = ["optimalt", "normalt", "høyt normalt"] + [f"hypertensjon grad {n}" for n in (1, 2, 3)]
    sys_level = sum(systolic >= x for x in (120, 130, 140, 160, 180))
    dia_level = sum(diastolic >= x for x in (80, 85, 90, 100, 110))
    return levels[max(sys_level, dia_level)]


def _loop_pixels(page: Page) -> int:
    """Pixels of the current loop's colour (#5fd2ff) on the flow–volume canvas."""
    return int(
        page.evaluate(
            """() => {
              const c = document.querySelector('[data-testid=spiro-loop]');
              const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
              let n = 0;
              for (let i = 0; i < d.length; i += 4) {
                if (Math.abs(d[i] - 0x5f) < 12 && Math.abs(d[i + 1] - 0xd2) < 12
                    && Math.abs(d[i + 2] - 0xff) < 12) n += 1;
              }
              return n;
            }"""
        )
    )


def test_spirometry_coaching_loop_feedback_and_grade(
    kiosk_factory: KioskFactory, gateway: GatewayProcess
) -> None:
    nb, en = _pair(kiosk_factory)
    for kiosk in (nb, en):
        _open(kiosk.page, "spiro")
        kiosk.page.get_by_test_id("spiro-ready").click()
        expect(kiosk.page.get_by_test_id("guide")).to_have_attribute("data-step", "blow")
    coach = nb.page.get_by_test_id("spiro-coach")
    expect(coach).to_have_text("Pust helt inn – fyll lungene helt!")
    assert _loop_pixels(nb.page) == 0  # nothing drawn before the first blow

    gateway.sim("blow", device="spiro-1", profile="normal")
    expect(coach).to_have_attribute("data-phase", "blow", timeout=10000)
    expect(coach).to_have_text(re.compile(r"Blås så hardt|Fortsett å blåse"))
    expect(coach).to_have_text(re.compile(r"Fortsett å blåse … helt tom! \(\d+ s\)"))
    rows = nb.page.get_by_test_id("spiro-blows").locator("tbody tr")
    expect(rows).to_have_count(1, timeout=30000)
    expect(rows.first).to_have_attribute("data-fev1", "acceptable")
    expect(rows.first).to_contain_text("FEV1: godkjent, FVC: godkjent")
    expect(rows.first.locator("td").nth(1)).to_have_text(re.compile(r"^\d\.\d\d L$"))
    expect(nb.page.get_by_test_id("spiro-latest")).to_contain_text("Godkjent blåsing.")
    grade = nb.page.get_by_test_id("spiro-grade")
    expect(grade).to_have_text("Kvalitetsgrad (ATS/ERS): FEV1 E, FVC E")
    expect(en.page.get_by_test_id("spiro-grade")).to_have_text(
        "Quality grade (ATS/ERS): FEV1 E, FVC E"
    )
    assert _loop_pixels(nb.page) > 300, "no flow–volume loop drawn"
    assert _loop_pixels(en.page) > 100, "no flow–volume loop drawn at 800x480"

    # A hesitant start (a leak before the blast): too large a back-extrapolated volume,
    # neither FEV1 nor FVC usable (ATS/ERS 2019 Table 7), said in words.
    gateway.sim("blow", device="spiro-1", profile="hesitant")
    expect(rows).to_have_count(2, timeout=30000)
    expect(rows.nth(1)).to_have_attribute("data-fev1", "unusable")
    expect(rows.nth(1)).to_have_attribute("data-fvc", "unusable")
    expect(rows.nth(1)).to_contain_text("FEV1: ikke brukbar, FVC: ikke brukbar")
    expect(nb.page.get_by_test_id("spiro-latest")).to_contain_text(
        "Blåsingen kan ikke brukes. Prøv igjen."
    )
    reasons = nb.page.get_by_test_id("spiro-reasons")
    expect(reasons).to_contain_text("Treg start (for stort tilbakeekstrapolert volum, BEV)")
    expect(en.page.get_by_test_id("spiro-reasons")).to_contain_text(
        "Slow start (back-extrapolated volume too large, BEV)"
    )
    expect(grade).to_have_text("Kvalitetsgrad (ATS/ERS): FEV1 E, FVC E")  # still 1 acceptable
    expect(nb.page.get_by_test_id("spiro-count")).to_have_text("Blåsinger: 2 av høyst 8")
    expect(en.page.get_by_test_id("spiro-count")).to_have_text("Blows: 2 of at most 8")
    _fits(en.page)
    _fits(nb.page)
    _shoot(nb.page, "measure-spiro-1280x800.png")
    _shoot(en.page, "measure-spiro-800x480.png")

    # a new series starts with an empty loop and table
    nb.page.get_by_test_id("spiro-again").click()
    expect(rows).to_have_count(0)
    expect(nb.page.get_by_test_id("spiro-count")).to_have_text("Blåsinger: 0 av høyst 8")
    wait_for(lambda: _loop_pixels(nb.page) == 0, 5.0)


def test_ecg_lead_off_marked_and_cleared_then_ready(
    kiosk_factory: KioskFactory, gateway: GatewayProcess
) -> None:
    nb, en = _pair(kiosk_factory)
    for kiosk in (nb, en):
        _open(kiosk.page, "ecg")
        expect(kiosk.page.get_by_test_id("ecg-figure")).to_be_visible()
    expect(nb.page.locator(".guide-instructions li").nth(3)).to_contain_text("V1: 4. mellomrom")
    _fits(en.page)
    for kiosk in (nb, en):
        kiosk.page.get_by_test_id("ecg-placed").click()
    leads = ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]
    good = re.compile(r"^(on|questionable)$")  # a primary lead may have baseline wander
    for lead in leads:
        expect(nb.page.get_by_test_id(f"lead-{lead}")).to_have_attribute(
            "data-state", good, timeout=20000
        )
    expect(nb.page.get_by_test_id("ecg-hr-value")).to_have_text(re.compile(r"^\d{2,3}$"))

    gateway.sim("lead_off", device="ecg-1", channel=3, off=True)  # the 3rd channel: V1
    v1 = nb.page.get_by_test_id("lead-V1")
    expect(v1).to_have_attribute("data-state", "off", timeout=15000)
    expect(v1).to_contain_text("Løs / flat")
    expect(en.page.get_by_test_id("lead-V1")).to_contain_text("Off / flat", timeout=5000)
    expect(nb.page.get_by_test_id("ecg-progress")).to_have_text(
        "Sjekk elektroden for: V1. Trykk den godt fast."
    )
    for lead in ("I", "II", "V2", "V5"):
        expect(nb.page.get_by_test_id(f"lead-{lead}")).to_have_attribute("data-state", good)
    _fits(nb.page)
    _shoot(nb.page, "measure-ecg-1280x800.png")
    _shoot(en.page, "measure-ecg-800x480.png")

    gateway.sim("lead_off", device="ecg-1", channel=3, off=False)
    expect(v1).to_have_attribute("data-state", good, timeout=15000)
    expect(nb.page.get_by_test_id("ecg-done")).to_be_visible(timeout=25000)
    expect(nb.page.get_by_test_id("ecg-done")).to_have_text(
        "Alle avledninger er på og signalet er godt. Klar for registrering."
    )
    expect(en.page.get_by_test_id("ecg-done")).to_be_visible(timeout=5000)


def test_spo2_signal_lost_then_stable_reading_done(
    kiosk_factory: KioskFactory, gateway: GatewayProcess
) -> None:
    nb, en = _pair(kiosk_factory)
    for kiosk in (nb, en):
        _open(kiosk.page, "spo2")
    expect(nb.page.get_by_test_id("guide")).to_have_attribute("data-step", "measure")
    expect(nb.page.get_by_test_id("guide-spo2-value")).to_have_text(re.compile(r"^(9\d|100)$"))
    progress = nb.page.get_by_test_id("spo2-progress")
    expect(progress).to_have_text(re.compile(r"Stabil måling: \d+ av 10 s"))

    gateway.sim("sensor_off", device="oximeter-1")  # the finger comes out of the probe
    expect(progress).to_have_text(
        "Signalet er ikke stabilt. Hold hånden i ro og sjekk sensoren.", timeout=10000
    )
    expect(nb.page.get_by_test_id("guide-spo2-value")).to_have_text("--")
    expect(nb.page.get_by_test_id("guide-spo2")).to_contain_text("Sensor av")
    time.sleep(11)  # longer than the stable time: without a signal it must not finish
    expect(nb.page.get_by_test_id("guide")).to_have_attribute("data-step", "measure")

    gateway.sim("sensor_on", device="oximeter-1")
    expect(nb.page.get_by_test_id("spo2-done")).to_be_visible(timeout=30000)
    expect(nb.page.get_by_test_id("guide")).to_have_attribute("data-step", "done")
    expect(nb.page.get_by_test_id("spo2-done")).to_have_text("Stabil måling registrert.")
    expect(nb.page.get_by_test_id("guide-spo2-value")).to_have_text(re.compile(r"^(9\d|100)$"))
    # steady but possibly questionable (the simulated probe clips its pleth): said in words
    expect(nb.page.get_by_test_id("guide-spo2-verdict")).to_have_text(
        re.compile(r"^(Pålitelig|Usikker verdi)$")
    )
    expect(nb.page.get_by_test_id("guide-pulse-value")).to_have_text(re.compile(r"^\d{2,3}$"))
    expect(en.page.get_by_test_id("spo2-done")).to_have_text(
        "Stable reading recorded.", timeout=10000
    )
    _fits(en.page)

    # the probe's cable comes out: the guide says why nothing happens, until it is back
    down = nb.page.get_by_test_id("guide-device-down")
    expect(down).to_be_hidden()
    gateway.sim("unplug", device="oximeter-1")
    expect(down).to_have_text(
        "Måleren er frakoblet. Sjekk at den er slått på og koblet til.", timeout=15000
    )
    expect(en.page.get_by_test_id("guide-device-down")).to_contain_text(
        "The device is disconnected"
    )
    gateway.sim("replug", device="oximeter-1")
    expect(down).to_be_hidden(timeout=15000)


def test_a_specialists_request_opens_the_guide_with_its_reason(
    kiosk_factory: KioskFactory,
) -> None:
    kiosk = kiosk_factory(1280, 800)
    page = kiosk.page
    expect(page.get_by_test_id("ws-state")).to_have_attribute("data-state", "connected")
    page.evaluate(
        """() => import('/ui/bus.js').then(
             (bus) => bus.requestGuide('bp', 'Spesialisten ber om blodtrykk'))"""
    )
    expect(page.locator("#screen-measure")).to_be_visible()
    expect(page.get_by_test_id("guide")).to_have_attribute("data-kind", "bp")
    expect(page.get_by_test_id("guide-reason")).to_have_text("Spesialisten ber om blodtrykk")
    expect(page.get_by_test_id("guide")).to_have_attribute("data-step", "rest")
    # another request replaces the guide; one without a reason shows none
    page.evaluate("() => import('/ui/bus.js').then((bus) => bus.requestGuide('spiro'))")
    expect(page.get_by_test_id("guide")).to_have_attribute("data-kind", "spiro")
    expect(page.get_by_test_id("guide-reason")).to_be_hidden()
