"""The specialist's consultation end to end, inside a private network namespace with only ``lo``
(like tests/e2e/media_netns.py): a real gateway on a simulated room (serial oximeter, ECG and
spirometer on pseudo-terminals, a BLE cuff on the simulated bluetoothd, the synthetic camera),
the nurse's kiosk and a specialist who joined with a real invitation link, both in Debian's
Chromium. The simulated patient is driven over the simulator's control socket.

``python -m tests.e2e.specialist_netns [screenshot_dir]`` prints one JSON object on stdout;
``run_in_netns()`` re-executes it that way for tests/e2e/test_specialist_view.py.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

import tests.gatewayproc
from tests.chromium import CHROMIUM
from tests.e2e.media_netns import CAMERA, CHROMIUM_ARGS, _stop_or_dump, json_from_netns
from tests.e2e.rooms import full_room
from tests.gatewayproc import GatewayProcess, start_gateway, wait_for

ROOM = full_room()
NO_HSCROLL_JS = "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
MIN_SIZE_JS = """(sel) => [...document.querySelectorAll(sel)].filter((e) => e.offsetParent)
  .map((e) => { const r = e.getBoundingClientRect(); return Math.min(r.width, r.height); })"""


def run_in_netns(screenshots: Path, timeout_s: float = 420.0) -> dict[str, Any]:
    """Run this module in ``unshare -n`` (root) and return its JSON result."""
    return json_from_netns(
        "tests.e2e.specialist_netns", str(screenshots.absolute()), timeout_s=timeout_s
    )


def _page(browser: Browser, errors: list[str], name: str, width: int, height: int) -> Page:
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(f"{name}: {message.text} ({message.location})")

    page.on("console", on_console)
    page.on("pageerror", lambda e: errors.append(f"{name} uncaught: {e}"))
    return page


def _text(page: Page, selector: str) -> str:
    return page.locator(selector).first.inner_text()


def scenario(browser: Browser, gw: GatewayProcess, shots: Path) -> dict[str, Any]:
    """The consultation; returns what the test asserts on."""
    out: dict[str, Any] = {}
    errors: list[str] = []
    wait_for(lambda: gw.device("cuff-1")["connected"], 60)
    with gw.client() as nurse_api:
        assert nurse_api.post("/api/v1/session", json={"live": True}).status_code == 201
        invite = nurse_api.post(
            "/api/v1/session/invites",
            json={"role": "specialist", "name": "Dr. Berg", "admit": True},
        ).json()
    kiosk = _page(browser, errors, "kiosk", 1280, 800)
    kiosk.goto(gw.login_url)
    spec = _page(browser, errors, "specialist", 1280, 800)
    spec.goto(invite["link"])
    spec.click("[data-testid=join-button]")
    spec.wait_for_url(f"{gw.base_url}/specialist/")
    # 1. vitals, numerics, ECG and pleth traces
    spec.wait_for_selector("[data-testid=media-state][data-state=connected]", timeout=30_000)
    wait_for(lambda: spec.evaluate("window.helseromWaves.ecgBlocks") > 5, 30)
    wait_for(lambda: spec.evaluate("window.helseromWaves.plethBlocks") > 5, 30)
    spec.wait_for_selector("[data-testid=numerics] li[data-light=green]", timeout=20_000)
    out["ecg_lead"] = spec.locator("[data-testid=ecg-lead]").input_value()
    out["ecg_leads"] = spec.locator("[data-testid=ecg-lead] option").all_inner_texts()
    out["waiting_ink"] = _ink(spec, "#loop")  # no blow yet: axes and labels only
    out["ecg_ink"] = _inked(spec, "#ecg-wave")
    out["pleth_ink"] = _inked(spec, "#wave")
    spec.select_option("[data-testid=ecg-lead]", "V1")
    out["ecg_lead_switched"] = spec.evaluate("window.helseromWaves.lead")
    out["ecg_ink_v1"] = _inked(spec, "#ecg-wave")
    spec.wait_for_selector("[data-testid=trend-spo2]:not([data-points='0'])", timeout=20_000)
    out["numeric_foot"] = _text(spec, "[data-testid=numerics] li[data-light=green] .foot")
    # 2. request a blood pressure → the kiosk's prompt → Start → the cuff runs
    spec.click("[data-testid=request-bp]")
    kiosk.wait_for_selector("[data-testid=request-prompt][data-kind=bp]", timeout=10_000)
    out["prompt_nb"] = _text(kiosk, "[data-testid=request-prompt] .request-text")
    out["prompt_sizes"] = kiosk.evaluate(MIN_SIZE_JS, "[data-testid=request-prompt] button")
    kiosk.click("[data-testid=lang-toggle]")
    out["prompt_en"] = _text(kiosk, "[data-testid=request-prompt] .request-text")
    kiosk.click("[data-testid=lang-toggle]")
    kiosk.click("[data-testid=request-start]")
    _until(kiosk, "location.hash === '#measure'")
    out["kiosk_prompt_left"] = kiosk.locator("[data-testid=request-prompt]").count()
    spec.wait_for_selector("[data-testid=requests] li[data-state=accepted]", timeout=10_000)
    out["request_accepted"] = _text(spec, "[data-testid=requests] li")
    gw.sim("start_measurement", device="cuff-1")
    _until(
        spec,
        "document.querySelector('[data-testid=watch-state]').textContent.startsWith('Mansjett')",
        20,
    )
    out["watch_rising"] = _text(spec, "[data-testid=watch-state]")
    spec.wait_for_selector("[data-testid=bp-result]:not([hidden])", timeout=60_000)
    out["bp_result"] = _text(spec, "[data-testid=bp-result]")
    out["cuff_peak"] = spec.evaluate("window.helseromRequests.cuffPeak")
    out["bp_seen"] = spec.evaluate("window.helseromRequests.bp")
    # 3. a request the nurse declines
    spec.click("[data-testid=request-spiro]")
    kiosk.click("[data-testid=request-prompt][data-kind=spiro] [data-testid=request-later]")
    spec.wait_for_selector("[data-testid=requests] li[data-state=declined]", timeout=10_000)
    out["request_declined"] = _text(spec, "[data-testid=requests] li[data-state=declined]")
    # 4. a spirometry blow draws the flow–volume loop
    gw.sim("blow", device="spiro-1")
    _until(
        spec,
        "document.querySelector('[data-testid=loop-state]').textContent.startsWith('Siste')",
        60,
    )
    out["loop_state"] = _text(spec, "[data-testid=loop-state]")
    out["loop_ink"] = _inked(spec, "#loop", 0.3)
    # 5. English, then back
    spec.click("#lang-toggle")
    out["en"] = {
        "request": _text(spec, "[data-testid=request-bp]"),
        "trends": _text(spec, "#trends-title"),
        "watch": _text(spec, "[data-testid=watch-state]"),
        "bp": _text(spec, "[data-testid=bp-result]"),
        "leave": _text(spec, "[data-testid=leave]"),
        "lang": spec.evaluate("document.documentElement.lang"),
    }
    spec.click("#lang-toggle")
    spec.evaluate("window.scrollTo(0, 0)")
    out["no_hscroll_1280"] = spec.evaluate(NO_HSCROLL_JS)
    out["button_sizes"] = spec.evaluate(MIN_SIZE_JS, "button, select")
    spec.screenshot(path=str(shots / "specialist-1280x800.png"))
    # 6. a snapshot → the gallery → full resolution
    spec.click("[data-testid=take-snapshot]")
    spec.wait_for_selector("[data-testid=gallery] .thumb img", timeout=10_000)
    _until(spec, "document.querySelector('[data-testid=gallery] img').naturalWidth > 0")
    out["gallery_caption"] = _text(spec, "[data-testid=gallery] .thumb span")
    spec.click("[data-testid=gallery] .thumb")
    spec.wait_for_selector("[data-testid=viewer][open] img")
    _until(spec, "document.querySelector('[data-testid=viewer] img').naturalWidth > 0")
    out["full_size"] = spec.evaluate(
        "(() => { const i = document.querySelector('[data-testid=viewer] img');"
        " return [i.naturalWidth, i.naturalHeight]; })()"
    )
    spec.screenshot(path=str(shots / "specialist-gallery-1280x800.png"))
    spec.click("[data-testid=viewer] .viewer-close")
    # 7. a note
    spec.fill("[data-testid=note-text]", "Blodtrykket er fint.\nNy spirometri neste uke.")
    spec.click("[data-testid=note-save]")
    spec.wait_for_selector("[data-testid=notes] .note-body", timeout=10_000)
    out["note_head"] = _text(spec, "[data-testid=notes] .note-head")
    out["note_body"] = _text(spec, "[data-testid=notes] .note-body")
    with gw.client() as nurse_api:
        out["notes_api"] = nurse_api.get("/api/v1/session/notes").json()["notes"]
        out["snapshots_api"] = nurse_api.get("/api/v1/session/snapshots").json()["snapshots"]
    # 8. the small screen
    spec.set_viewport_size({"width": 800, "height": 480})
    spec.evaluate("window.scrollTo(0, 0)")
    time.sleep(0.5)
    out["no_hscroll_800"] = spec.evaluate(NO_HSCROLL_JS)
    spec.screenshot(path=str(shots / "specialist-800x480.png"))
    # 9. leave: the WHEP resource is deleted, the page says so
    spec.click("[data-testid=leave]")
    spec.wait_for_selector("[data-testid=media-state][data-state=left]", timeout=10_000)
    out["left_banner"] = _text(spec, "#banner")
    wait_for(lambda: "left" in gw.stderr().split("joined (specialist")[-1], 10)
    out["gateway_log_left"] = True
    out["anon_measurements"] = httpx.get(f"{gw.base_url}/api/v1/session/measurements").status_code
    kiosk.context.close()  # before the gateway stops: its WebSocket must not see the stop
    spec.context.close()
    out["console_errors"] = list(errors)
    return out


def _until(page: Page, js: str, timeout_s: float = 10.0) -> None:
    """Poll a JS expression (wait_for_function would eval a string: the page's CSP refuses)."""
    wait_for(lambda: page.evaluate(js), timeout_s, 0.1)


def _ink(page: Page, selector: str) -> float:
    """The share of a canvas's columns with trace ink in them (a saturated colour: the traces
    are blue or green, the grid, axes and "waiting" text grey). A trace sweeps across most."""
    share: float = page.evaluate(
        """(sel) => { const c = document.querySelector(sel);
             const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             const cols = new Set();
             for (let i = 0; i < d.length; i += 4) {
               const px = [d[i], d[i + 1], d[i + 2]];
               const hi = Math.max(...px), lo = Math.min(...px);
               if (d[i + 3] > 128 && hi - lo > 60) cols.add((i / 4) % c.width);
             }
             return cols.size / c.width; }""",
        selector,
    )
    return share


def _inked(page: Page, selector: str, share: float = 0.5) -> float:
    """Wait (≤ 25 s: a loaded CI machine once needed more than 10 s after a lead switch) until
    a canvas shows a trace; its ink share."""
    wait_for(lambda: _ink(page, selector) > share, 25, 0.2)
    return _ink(page, selector)


def main() -> None:
    shots = Path(sys.argv[1])
    names = [n for _, n in __import__("socket").if_nameindex()]
    assert names == ["lo"], f"run me in a namespace with only lo (have {names})"
    tests.gatewayproc.START_TIMEOUT_S = 90.0
    gw = start_gateway(
        config_text=ROOM + CAMERA,
        extra_env={"HELSEROM_TEST_ALLOW_LOOPBACK_ICE": "1", "PYTHONFAULTHANDLER": "1"},
    )
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                result = scenario(browser, gw, shots)
                _stop_or_dump(gw)
                result["gateway_stopped_cleanly"] = True
            finally:
                browser.close()
    finally:
        if gw.process.poll() is None:
            gw.stop()
        gw.remove()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
