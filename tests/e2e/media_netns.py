"""Run inside a private network namespace with only ``lo`` (``unshare -n``): a real gateway
with hwsim's synthetic camera, and Debian's Chromium on the specialist page over WebRTC.

``python -m tests.e2e.media_netns check|bench [seconds]`` prints one JSON object on stdout.
``in_netns()`` re-executes this module that way; the e2e test and bench/bench_webrtc.py use it.
Loopback ICE candidates are allowed only here (HELSEROM_TEST_ALLOW_LOOPBACK_ICE=1, see
webrtc/loopback.py), so nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, sync_playwright

import tests.gatewayproc
from tests.chromium import CHROMIUM, FAKE_MEDIA_ARGS, HEADLESS_ARGS
from tests.gatewayproc import CONFIG, REPO, GatewayProcess, start_gateway, wait_for

CHROMIUM_ARGS = [
    *HEADLESS_ARGS,
    "--allow-loopback-in-peer-connection",
    *FAKE_MEDIA_ARGS,
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]
CAMERA = """
[[cameras]]
id = "room"
label = "Oversikt"
source = "sim:pattern"
width = 640
height = 480
fps = 30
"""
VIDEO_STATS_JS = """async () => {
  const pc = window.helseromPc;
  const v = document.querySelector('video');
  let decoded = 0, codec = null;
  if (pc) {
    const report = await pc.getStats();
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') {
        decoded += s.framesDecoded || 0;
        const c = report.get(s.codecId); if (c) codec = c.mimeType;
      }
    });
  }
  return {framesDecoded: decoded, codec, videoWidth: v ? v.videoWidth : 0,
          videoHeight: v ? v.videoHeight : 0, vitals: window.helseromMedia.vitals};
}"""
WS_BASELINE_JS = """(seconds) => new Promise((resolve) => {
  const lat = [];
  const ws = new WebSocket(`ws://${location.host}/api/v1/live`);
  ws.onmessage = (ev) => {
    const now = performance.timeOrigin + performance.now();
    const msg = JSON.parse(ev.data);
    if (typeof msg.sent_s === 'number') lat.push(now - msg.sent_s * 1000);
  };
  setTimeout(() => { ws.close(); resolve(lat); }, seconds * 1000);
})"""


def in_netns(mode: str, seconds: float = 0.0, timeout_s: float = 240.0) -> dict[str, Any]:
    """Run this module in ``unshare -n`` (root) and return its JSON result."""
    return json_from_netns("tests.e2e.media_netns", mode, str(seconds), timeout_s=timeout_s)


def json_from_netns(module: str, *args: str, timeout_s: float) -> dict[str, Any]:
    """``python -m module args`` in a private network namespace with only ``lo`` (root,
    ``unshare -n``); returns the last JSON line it printed."""
    script = f"ip link set lo up && exec {sys.executable} -m {module} {' '.join(args)}"
    out = subprocess.run(
        ["unshare", "-n", "sh", "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env={**os.environ, "PYTHONPATH": f"{REPO}:{REPO / 'hardware-sim'}"},
        check=False,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise AssertionError(f"netns run failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


CONSOLE_ERRORS: list[str] = []


def _open_specialist(browser: Browser, gw: GatewayProcess) -> Page:
    context = browser.new_context()
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and CONSOLE_ERRORS.append(m.text))
    page.on("pageerror", lambda e: CONSOLE_ERRORS.append(f"uncaught: {e}"))
    # The nurse's cookie is a principal too; participant join links are H-talk's routes.
    page.goto(gw.login_url)
    page.add_init_script(
        "const P = RTCPeerConnection; window.RTCPeerConnection = function (...a) {"
        " const pc = new P(...a); window.helseromPc = pc; return pc; };"
        " window.RTCPeerConnection.prototype = P.prototype;"
    )
    response = page.goto(f"{gw.base_url}/specialist/")
    assert response is not None and response.status == 200, response
    return page


def _video(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(VIDEO_STATS_JS)
    return result


def check(browser: Browser, gw: GatewayProcess) -> dict[str, Any]:
    """What the e2e test asserts on."""
    out: dict[str, Any] = {}
    anon = browser.new_context()
    out["anon_specialist_status"] = anon.request.get(f"{gw.base_url}/specialist/").status
    out["anon_whep_status"] = anon.request.post(
        f"{gw.base_url}/api/v1/whep", data="v=0", headers={"Content-Type": "application/sdp"}
    ).status
    anon.close()
    page = _open_specialist(browser, gw)
    wait_for(lambda: _video(page)["framesDecoded"] > 5, 20)
    first = _video(page)
    time.sleep(1.5)
    out["first"], out["later"] = first, _video(page)
    wait_for(lambda: page.evaluate("window.helseromMedia.vitals") > 3, 10)
    media = page.evaluate(
        "({hello: window.helseromMedia.hello, schema: window.helseromMedia.schema,"
        " vitalsLatencyMs: window.helseromMedia.vitalsLatencyMs.slice(-50),"
        " videoLatencyMs: window.helseromMedia.videoLatencyMs.slice(-50)})"
    )
    out.update(media)
    out["numerics"] = page.locator("[data-testid=numerics] li").count()
    out["title_nb"] = page.locator("#numerics-title").inner_text()
    page.click("#lang-toggle")
    out["title_en"] = page.locator("#numerics-title").inner_text()
    out["age_en"] = page.locator("[data-testid=numerics] li .age").first.inner_text()
    page.click("#lang-toggle")
    shot = os.environ.get("HELSEROM_SCREENSHOT")
    if shot:
        page.screenshot(path=shot)
    ack = page.evaluate("window.helseromSnapshot(0)")
    out["snapshot_ack"] = ack
    out["snapshot_size"] = page.evaluate(
        """(url) => new Promise((ok, bad) => { const i = new Image(); i.onerror = bad;
             i.onload = () => ok([i.naturalWidth, i.naturalHeight]); i.src = url; })""",
        ack["url"],
    )
    out["console_errors"] = list(CONSOLE_ERRORS)
    out["viewers_before_stop"] = len(page.context.pages)  # left open: SIGTERM with a live viewer
    return out


def bench(browser: Browser, gw: GatewayProcess, seconds: float) -> dict[str, Any]:
    """Latency and CPU figures with 640x480@30 video running (bench/bench_webrtc.py)."""
    pid = gw.process.pid
    out: dict[str, Any] = {"seconds": seconds}

    def cpu_over(s: float) -> float:
        c0, t0 = _cpu_s(pid), time.monotonic()
        time.sleep(s)
        return round(100.0 * (_cpu_s(pid) - c0) / (time.monotonic() - t0), 1)

    out["cpu_idle_pct"] = cpu_over(min(5.0, seconds))
    pages = [_open_specialist(browser, gw)]
    wait_for(lambda: _video(pages[0])["framesDecoded"] > 30, 20)
    out["cpu_1_viewer_pct"] = cpu_over(seconds)
    # One Chromium viewer and, over the same window, a Python viewer (aiortc data channel and
    # a WebSocket, bench/vitals_probe.py): the page's figure minus the probe's is the page's.
    pages[0].evaluate("window.helseromMedia.vitalsLatencyMs = []")
    probe = subprocess.Popen(
        [sys.executable, "bench/vitals_probe.py", gw.base_url, gw.token, str(seconds)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "HELSEROM_TEST_ALLOW_LOOPBACK_ICE": "1"},
    )
    probe_out, _ = probe.communicate(timeout=seconds + 60)
    one = pages[0].evaluate("window.helseromMedia.vitalsLatencyMs")
    out["one_viewer_vitals_dc_ms"] = {"n": len(one), "p50": _pct(one, 0.5), "p99": _pct(one, 0.99)}
    out["probe"] = json.loads(probe_out.strip().splitlines()[-1]) if probe_out.strip() else None
    pages.append(_open_specialist(browser, gw))
    wait_for(lambda: _video(pages[1])["framesDecoded"] > 30, 20)
    out["cpu_2_viewers_pct"] = cpu_over(seconds)
    out["marginal_cpu_2nd_viewer_pct"] = round(
        out["cpu_2_viewers_pct"] - out["cpu_1_viewer_pct"], 1
    )
    out["codec"] = _video(pages[0])["codec"]
    out["frames_decoded"] = [_video(p)["framesDecoded"] for p in pages]
    # Steady state, one window for the data channel and the WebSocket baseline (same page,
    # same load; the join transient is left out), the page as a specialist runs it.
    pages[0].evaluate("window.helseromMedia.vitalsLatencyMs = []")
    ws: list[float] = pages[0].evaluate(WS_BASELINE_JS, seconds)
    vit = pages[0].evaluate("window.helseromMedia.vitalsLatencyMs")
    # Then video: the capture stamp read back from every frame (pixel read-back on the page's
    # main thread, which is why it has a window of its own).
    pages[0].evaluate(
        "window.helseromMedia.videoLatencyMs = []; window.helseromMedia.everyVideoFrame = true"
    )
    time.sleep(seconds)
    vid = pages[0].evaluate("window.helseromMedia.videoLatencyMs")
    out["vitals_dc_ms"] = {"n": len(vit), "p50": _pct(vit, 0.5), "p99": _pct(vit, 0.99)}
    out["video_capture_to_frame_ms"] = {
        "n": len(vid),
        "p50": _pct(vid, 0.5),
        "p99": _pct(vid, 0.99),
    }
    out["vitals_ws_ms"] = {"n": len(ws), "p50": _pct(ws, 0.5), "p99": _pct(ws, 0.99)}
    out["vitals_dc_mean_ms"] = round(statistics.fmean(vit), 2) if vit else None
    out["load_avg_1min"] = os.getloadavg()[0]
    for p in pages:
        p.context.close()
    return out


def _stop_or_dump(gw: GatewayProcess) -> None:
    """SIGTERM; if the gateway hangs, SIGABRT makes faulthandler print every thread's stack."""
    gw.process.send_signal(signal.SIGTERM)
    try:
        gw.process.wait(tests.gatewayproc.STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        gw.process.send_signal(signal.SIGABRT)
        time.sleep(2)
    gw.stop_cleanly()  # asserts exit code 0, empty process group, no ERROR logged


def main() -> None:
    mode = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0
    names = [n for _, n in __import__("socket").if_nameindex()]
    assert names == ["lo"], f"run me in a namespace with only lo (have {names})"
    # imports alone (scipy, aiortc) take ~20 s on this 2-core box when other jobs run
    tests.gatewayproc.START_TIMEOUT_S = 60.0
    gw = start_gateway(
        config_text=CONFIG + CAMERA,
        extra_env={"HELSEROM_TEST_ALLOW_LOOPBACK_ICE": "1", "PYTHONFAULTHANDLER": "1"},
    )
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                result = check(browser, gw) if mode == "check" else bench(browser, gw, seconds)
                # check mode leaves its viewer connected: the gateway must still stop cleanly
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
