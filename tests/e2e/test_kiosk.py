"""The nurse's kiosk page in real headless Chromium against the real gateway on the sim room."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Kiosk, KioskFactory
from tests.gatewayproc import DEVICE_ID, REPO, GatewayProcess

pytestmark = pytest.mark.e2e

SCREENSHOTS = REPO / "docs" / "screenshots"
LIVE_TIMEOUT_MS = 10_000  # from page load to live values (the brief: within 10 s of start)
SPO2_RANGE_PCT = (90, 100)  # the sim plays SpO2 97
PULSE_RANGE_BPM = (50, 110)  # the sim plays HR 72
TRACE_MIN_PIXELS = 300  # pixels in a trace colour: a pleth curve, not just the grid
SWEEP_FILL_S = 5.5  # the sweep is 5 s wide: wait this long for a full trace in screenshots
AGE_NB = re.compile(r"^(akkurat nå|for \d+ s siden)$")
AGE_EN = re.compile(r"^(just now|\d+ s ago)$")

# Counts pixels in the trace colours (cyan, or amber for poor-quality stretches), which the
# grid and the "waiting" text never use; and returns the image so two frames can be compared.
CANVAS_PROBE = """canvas => {
  const ctx = canvas.getContext("2d");
  const {data} = ctx.getImageData(0, 0, canvas.width, canvas.height);
  let trace = 0;
  for (let i = 0; i < data.length; i += 4) {
    const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
    if (a > 128 && ((b > 200 && g > 150 && r < 140) || (r > 200 && g > 150 && b < 120))) trace++;
  }
  return {trace, width: canvas.width, height: canvas.height, url: canvas.toDataURL()};
}"""


def _wait_live(page: Page) -> tuple[int, int]:
    """Wait for the link, the device and numeric SpO2 and pulse; return them."""
    expect(page.get_by_test_id("ws-state")).to_have_attribute(
        "data-state", "connected", timeout=LIVE_TIMEOUT_MS
    )
    expect(page.get_by_test_id(f"device-{DEVICE_ID}")).to_have_attribute(
        "data-connected", "true", timeout=LIVE_TIMEOUT_MS
    )
    spo2 = page.get_by_test_id("spo2-value")
    pulse = page.get_by_test_id("pulse-value")
    expect(spo2).to_have_text(re.compile(r"^\d+$"), timeout=LIVE_TIMEOUT_MS)
    expect(pulse).to_have_text(re.compile(r"^\d+$"), timeout=LIVE_TIMEOUT_MS)
    return int(spo2.inner_text()), int(pulse.inner_text())


def _canvas(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = page.get_by_test_id("pleth-canvas").evaluate(CANVAS_PROBE)
    return result


def _screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / name)


def test_live_values_trace_and_device_in_bokmal(kiosk: Kiosk) -> None:
    page = kiosk.page
    started = time.monotonic()
    spo2, pulse = _wait_live(page)
    assert time.monotonic() - started < LIVE_TIMEOUT_MS / 1000
    assert SPO2_RANGE_PCT[0] <= spo2 <= SPO2_RANGE_PCT[1], spo2
    assert PULSE_RANGE_BPM[0] <= pulse <= PULSE_RANGE_BPM[1], pulse
    assert page.locator("html").get_attribute("lang") == "nb"
    expect(page.locator("#spo2-title")).to_have_text("Oksygenmetning")
    expect(page.locator("#pulse-title")).to_have_text("Puls")
    expect(page.locator("#spo2-note")).to_have_text(AGE_NB)
    # the engine's verdict is shown with each value (the simulated patient is clean)
    for tile in ("spo2", "pulse"):
        expect(page.get_by_test_id(f"{tile}-verdict")).to_have_attribute("data-verdict", "valid")
        expect(page.get_by_test_id(f"{tile}-verdict")).to_have_text("Pålitelig")
    # and the care plan's traffic light, in words (example plan: SpO2 ≥ 92 % is green)
    expect(page.get_by_test_id("spo2-light")).to_have_attribute("data-light", "green")
    expect(page.get_by_test_id("spo2-light")).to_contain_text("Grønt: 92 % eller mer")
    expect(page.get_by_test_id("ws-state")).to_contain_text("Tilkoblet")
    device = page.get_by_test_id(f"device-{DEVICE_ID}")
    expect(device).to_contain_text("Pulsoksymeter")
    expect(device).to_contain_text("Tilkoblet")
    expect(device).to_contain_text("Rammer OK")
    expect(page.locator("#banner")).to_be_hidden()

    # The pleth trace is drawn and moves: two frames 0.5 s apart differ.
    expect(page.get_by_test_id("pleth-canvas")).to_be_visible()
    deadline = time.monotonic() + LIVE_TIMEOUT_MS / 1000
    first = _canvas(page)
    while first["trace"] < TRACE_MIN_PIXELS and time.monotonic() < deadline:
        page.wait_for_timeout(200)
        first = _canvas(page)
    assert first["trace"] >= TRACE_MIN_PIXELS, f"no pleth trace drawn: {first['trace']} pixels"
    page.wait_for_timeout(500)
    second = _canvas(page)
    assert second["trace"] >= TRACE_MIN_PIXELS, second["trace"]
    assert second["url"] != first["url"], "the pleth canvas did not change in 0.5 s"

    # Frames keep arriving: the device's frame count grows.
    frames = device.locator("[data-fact=framesOk] dd")
    before = int(re.sub(r"\D", "", frames.inner_text()))
    expect(frames).not_to_have_text(frames.inner_text(), timeout=5000)
    assert int(re.sub(r"\D", "", frames.inner_text())) > before

    page.wait_for_timeout(max(0.0, SWEEP_FILL_S - (time.monotonic() - started)) * 1000)
    _screenshot(page, "kiosk-nb.png")


def test_english_switch_changes_labels_and_persists(kiosk: Kiosk) -> None:
    page = kiosk.page
    _wait_live(page)
    toggle = page.get_by_test_id("lang-toggle")
    expect(toggle).to_have_text("English")
    toggle.click()
    expect(page.locator("#spo2-title")).to_have_text("Oxygen saturation")
    expect(page.locator("#pulse-title")).to_have_text("Pulse rate")
    expect(toggle).to_have_text("Norsk")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_test_id("ws-state")).to_contain_text("Connected")
    expect(page.get_by_test_id(f"device-{DEVICE_ID}")).to_contain_text("Frames OK")

    # After a reload the choice wins over the gateway's default language (hello says nb).
    page.reload()
    _wait_live(page)
    expect(page.locator("#spo2-title")).to_have_text("Oxygen saturation")
    expect(page.locator("#spo2-note")).to_have_text(AGE_EN)
    expect(page.get_by_test_id(f"device-{DEVICE_ID}")).to_contain_text("Connected")
    page.wait_for_timeout(SWEEP_FILL_S * 1000)
    expect(page.locator("#spo2-title")).to_have_text("Oxygen saturation")
    _screenshot(page, "kiosk-en.png")

    page.get_by_test_id("lang-toggle").click()
    expect(page.locator("#spo2-title")).to_have_text("Oksygenmetning")
    expect(page.get_by_test_id("lang-toggle")).to_have_text("English")


# Elements that must be whole on screen; anything else may wrap, but nothing may stick out.
MUST_FIT = [
    "spo2-value",
    "pulse-value",
    "pleth-canvas",
    "lang-toggle",
    "ws-state",
    f"device-{DEVICE_ID}",
]


def test_small_screen_fits_and_touch_targets(kiosk_factory: KioskFactory) -> None:
    kiosk: Kiosk = kiosk_factory(800, 480)
    page = kiosk.page
    _wait_live(page)
    scroll_width = page.evaluate("() => document.documentElement.scrollWidth")
    assert scroll_width <= 800, f"horizontal overflow at 800x480: scrollWidth {scroll_width}"
    overflowing = page.evaluate("""() => [...document.querySelectorAll("body *")]
        .filter(el => el.getClientRects().length && el.getBoundingClientRect().right > 800.5)
        .map(el => el.tagName + "." + el.className)""")
    assert overflowing == [], overflowing
    for testid in MUST_FIT:
        box = page.get_by_test_id(testid).bounding_box()
        assert box is not None, testid
        assert box["x"] >= 0 and box["x"] + box["width"] <= 800, (testid, box)
        assert box["width"] > 0 and box["height"] > 0, (testid, box)
    canvas = page.get_by_test_id("pleth-canvas").bounding_box()
    assert canvas is not None and canvas["height"] >= 100, canvas
    buttons = page.evaluate("""() => [...document.querySelectorAll(
        "button, [role=button], a[href], input, select")]
        .filter(el => el.getClientRects().length)
        .map(el => [el.textContent.trim(), el.getBoundingClientRect().width,
                    el.getBoundingClientRect().height])""")
    assert buttons, "no buttons found"
    small = [b for b in buttons if b[1] < 48 or b[2] < 48]
    assert small == [], f"touch targets under 48 px: {small}"


def _status(url: str, cookie: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_kiosk_needs_the_login_cookie(gateway: GatewayProcess) -> None:
    base = gateway.base_url
    for path in ("/kiosk/", "/ui/kiosk.js", "/ui/i18n.js", "/ui/kiosk.css", "/api/v1/devices"):
        assert _status(base + path) == 401, path
    assert _status(base + "/kiosk/", cookie="helserom_kiosk=" + "x" * 43) == 401
    assert _status(base + "/login?token=wrong") == 401
    assert _status(base + "/healthz") == 200


# Last in the module: it changes the shared simulated room (and puts it back).
def test_sensor_off_and_unplug_show_dashes_and_reasons(kiosk: Kiosk) -> None:
    page, gateway = kiosk.page, kiosk.gateway
    _wait_live(page)
    spo2 = page.get_by_test_id("spo2-value")
    device = page.get_by_test_id(f"device-{DEVICE_ID}")
    try:
        gateway.sim("sensor_off")
        expect(spo2).to_have_text("--", timeout=5000)
        expect(page.locator("#spo2-note")).to_contain_text("Ingen verdi fra måleren")
        expect(page.locator("#spo2-flags")).to_contain_text("Sensor av")
        expect(page.get_by_test_id("spo2-verdict")).to_have_attribute("data-verdict", "invalid")
        expect(page.get_by_test_id("spo2-verdict")).to_have_text("Kan ikke brukes")
        expect(page.get_by_test_id("spo2-light")).to_be_hidden()  # no colour for it
        gateway.sim("sensor_on")
        gateway.sim("unplug")
        expect(device).to_have_attribute("data-connected", "false", timeout=5000)
        expect(device).to_contain_text("Frakoblet")
        expect(spo2).to_have_text("--")
        expect(page.locator("#spo2-note")).to_have_text("Måleren er frakoblet")
        expect(page.get_by_test_id("pulse-value")).to_have_text("--")
    finally:
        gateway.sim("sensor_on")
        gateway.sim("replug")
    expect(device).to_have_attribute("data-connected", "true", timeout=10_000)
    expect(spo2).to_have_text(re.compile(r"^\d+$"), timeout=20_000)
