"""Runs one conversation scenario inside a private network namespace and prints JSON results.

``tests/e2e/test_conversation.py`` starts ``unshare -n python -m tests.e2e.conversation_netns
SCENARIO``: only ``lo`` (and what the scenario makes) exists, so nothing leaves the machine.
Here: a real gateway (``helserom run``), real coturn when asked, Debian's Chromium with fake
camera and microphone, one browser context per participant. The last stdout line is the JSON.

Scenarios: ``mesh`` (kiosk ↔ specialist, then a GP admitted and removed), ``relay`` (TURN only,
through a local coturn), ``restart`` (the relay goes away and comes back; ICE restart), ``path``
(the only address with candidates disappears and another appears; ICE restart).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from tests import gatewayproc
from tests.chromium import CHROMIUM, FAKE_MEDIA_ARGS, HEADLESS_ARGS
from tests.gatewayproc import CONFIG, GatewayProcess, start_gateway

gatewayproc.START_TIMEOUT_S = 60.0  # Chromium and the gateway share 2 busy cores

BASE_ARGS = [*HEADLESS_ARGS, *FAKE_MEDIA_ARGS]
LOOPBACK_ARG = "--allow-loopback-in-peer-connection"
PARTICIPANT_PAGE = "/specialist/"  # carries #conversation beside the gateway's media
CONNECT_TIMEOUT_S = 25.0
MIN_NEW_FRAMES = 10  # video flows again: at 15-30 fps, well under a second


def sh(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, text=True)


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Coturn:
    """coturn on 127.0.0.1 with use-auth-secret, restartable on the same port."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_udp_port()
        self.secret = secrets.token_hex(16)
        self.conf = root / "turnserver.conf"
        self.conf.write_text(
            "\n".join(
                [
                    f"listening-port={self.port}",
                    "listening-ip=127.0.0.1",
                    "relay-ip=127.0.0.1",
                    "min-port=40000",
                    "max-port=40200",
                    "use-auth-secret",
                    f"static-auth-secret={self.secret}",
                    "realm=helserom.test",
                    "fingerprint",
                    "no-tls",
                    "no-dtls",
                    "no-tcp-relay",
                    "allow-loopback-peers",
                    "no-cli",
                    f"pidfile={root}/turnserver.pid",
                    "simple-log",
                    f"log-file={root}/turnserver.log",
                ]
            )
            + "\n",
            encoding="utf-8",
        )
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["turnserver", "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(0.5)
        assert self.proc.poll() is None, f"turnserver exited with {self.proc.returncode}"

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None


class Room:
    """The gateway, the browser and the people in the conversation."""

    def __init__(self, gw: GatewayProcess, browser: Browser) -> None:
        self.gw = gw
        self.browser = browser
        self.api = gw.client()
        self.errors: list[str] = []
        self.contexts: list[BrowserContext] = []
        self.turn: Coturn | None = None

    def context(self, name: str) -> tuple[BrowserContext, Page]:
        context = self.browser.new_context()
        page = context.new_page()
        page.on(
            "console",
            lambda m: self.errors.append(f"{name}: {m.text}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: self.errors.append(f"{name}: uncaught {e}"))
        self.contexts.append(context)
        return context, page

    def kiosk(self) -> Page:
        _, page = self.context("kiosk")
        page.goto(self.gw.login_url)
        return page

    def invite(self, role: str, *, admit: bool) -> dict[str, Any]:
        r = self.api.post("/api/v1/session/invites", json={"role": role, "admit": admit})
        r.raise_for_status()
        result: dict[str, Any] = r.json()
        return result

    def participant(self, name: str, link: str) -> tuple[BrowserContext, Page, str]:
        """Open the link, press the button; returns where the gateway sent the browser."""
        context, page = self.context(name)
        page.goto(link)
        with page.expect_navigation() as nav:
            page.get_by_test_id("join-button").click()
        response = nav.value
        landed = page.url
        assert response is None or response.status in (200, 401), (name, response.status)
        return context, page, landed

    def close(self) -> None:
        for context in self.contexts:
            context.close()


def stats(page: Page) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = page.evaluate(
        "window.helseromConversation ? window.helseromConversation.stats() : []"
    )
    return result


def media_flowing(s: dict[str, Any]) -> bool:
    return (
        s["ice"] in ("connected", "completed")
        and s["framesDecoded"] > 0
        and s["videoWidth"] > 0
        and s["audioLive"]
        and s["audioPackets"] > 0
    )


def wait_until(what: str, check: Callable[[], bool], timeout_s: float = CONNECT_TIMEOUT_S) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if check():
            return round(time.monotonic() - start, 2)
        time.sleep(0.2)
    raise TimeoutError(f"{what}: not within {timeout_s} s")


def connected_to(page: Page, roles: set[str]) -> Callable[[], bool]:
    def check() -> bool:
        s = stats(page)
        return {p["role"] for p in s if media_flowing(p)} >= roles and len(s) == len(roles)

    return check


def frames_now(page: Page) -> dict[str, int]:
    """framesDecoded per peer id."""
    return {p["id"]: p["framesDecoded"] for p in stats(page)}


def frames_rising(page: Page, seconds: float = 2.0) -> dict[str, int]:
    """framesDecoded gained per peer over ``seconds``."""
    before = {p["id"]: p["framesDecoded"] for p in stats(page)}
    time.sleep(seconds)
    return {p["role"]: p["framesDecoded"] - before.get(p["id"], 0) for p in stats(page)}


def ice_generations(peer: dict[str, Any]) -> int:
    """How many ICE credentials this side has used: 2 or more after an ICE restart.

    Either side may restart (the other answers with new credentials too), so this counts the
    distinct ufrags of the descriptions the side sent.
    """
    return len({d["ufrag"] for d in peer["signalling"] if d["direction"] == "out"})


def summary(page: Page) -> list[dict[str, Any]]:
    return [
        {"ice_generations": ice_generations(p)}
        | {
            k: p[k]
            for k in (
                "role",
                "ice",
                "restarts",
                "localCandidate",
                "remoteCandidate",
                "videoCodec",
                "framesDecoded",
                "videoWidth",
                "audioLive",
            )
        }
        for p in stats(page)
    ]


# --- scenarios -----------------------------------------------------------------------------


def scenario_mesh(room: Room, out: dict[str, Any]) -> None:
    kiosk = room.kiosk()
    room.api.post("/api/v1/session", json={"live": True}).raise_for_status()
    spec_inv = room.invite("specialist", admit=True)
    _, spec, landed = room.participant("specialist", spec_inv["link"])
    out["specialist_landed"] = landed
    out["kiosk_to_specialist_s"] = wait_until(
        "kiosk sees specialist", connected_to(kiosk, {"specialist"})
    )
    out["specialist_to_kiosk_s"] = wait_until(
        "specialist sees kiosk", connected_to(spec, {"nurse"})
    )
    out["frames_rising_kiosk"] = frames_rising(kiosk)
    out["frames_rising_specialist"] = frames_rising(spec)

    gp_inv = room.invite("gp", admit=False)
    gp_ctx, gp, _ = room.participant("gp", gp_inv["link"])
    out["gp_before_admit_status"] = gp_ctx.request.get(
        room.gw.base_url + "/api/v1/session/ice-servers"
    ).status
    room.api.post(
        f"/api/v1/session/participants/{gp_inv['participant_id']}/admit"
    ).raise_for_status()
    # the GP waits in the waiting room (/waiting/), which moves on by itself once admitted
    gp.wait_for_url(room.gw.base_url + PARTICIPANT_PAGE, timeout=15_000)
    out["gp_mesh_s"] = wait_until("GP in the mesh", connected_to(gp, {"nurse", "specialist"}))
    wait_until("kiosk sees both", connected_to(kiosk, {"specialist", "gp"}))
    wait_until("specialist sees both", connected_to(spec, {"nurse", "gp"}))
    out["frames_rising_gp"] = frames_rising(gp)
    out["mesh"] = {"kiosk": summary(kiosk), "specialist": summary(spec), "gp": summary(gp)}

    room.api.delete(f"/api/v1/session/participants/{gp_inv['participant_id']}").raise_for_status()
    out["gp_removed_state_s"] = wait_until(
        "GP sees removal",
        lambda: gp.get_attribute("#conversation", "data-state") == "removed",
        5,
    )
    out["gp_after_remove_status"] = gp_ctx.request.get(room.gw.base_url + "/api/v1/session").status
    wait_until("kiosk drops GP", connected_to(kiosk, {"specialist"}), 10)
    out["session"] = room.api.get("/api/v1/session").json()["participants"]


def scenario_relay(room: Room, out: dict[str, Any]) -> None:
    kiosk = room.kiosk()
    room.api.post("/api/v1/session", json={"live": True}).raise_for_status()
    inv = room.invite("specialist", admit=True)
    _, spec, _ = room.participant("specialist", inv["link"])
    out["ice_servers"] = kiosk.evaluate("fetch('/api/v1/session/ice-servers').then(r => r.json())")
    out["kiosk_to_specialist_s"] = wait_until(
        "kiosk sees specialist", connected_to(kiosk, {"specialist"})
    )
    out["specialist_to_kiosk_s"] = wait_until(
        "specialist sees kiosk", connected_to(spec, {"nurse"})
    )
    out["frames_rising_kiosk"] = frames_rising(kiosk)
    out["kiosk"] = summary(kiosk)
    out["specialist"] = summary(spec)


def scenario_restart(room: Room, out: dict[str, Any]) -> None:
    assert room.turn is not None
    kiosk = room.kiosk()
    room.api.post("/api/v1/session", json={"live": True}).raise_for_status()
    inv = room.invite("specialist", admit=True)
    _, spec, _ = room.participant("specialist", inv["link"])
    out["connect_s"] = wait_until("kiosk sees specialist", connected_to(kiosk, {"specialist"}))
    wait_until("specialist sees kiosk", connected_to(spec, {"nurse"}))
    out["before"] = {"kiosk": summary(kiosk), "specialist": summary(spec)}
    # The path dies: the relay both sides use goes away (its allocations with it), then a
    # relay is back on the same address. Only new allocations, i.e. an ICE restart, recover.
    room.turn.stop()
    out["noticed_s"] = wait_until(
        "kiosk notices", lambda: all(p["ice"] != "connected" for p in stats(kiosk)), 20
    )
    time.sleep(1.0)
    stalled = {"kiosk": frames_now(kiosk), "specialist": frames_now(spec)}
    room.turn.start()
    back = time.monotonic()

    def recovered(page: Page, name: str) -> Callable[[], bool]:
        def check() -> bool:
            s = stats(page)
            return bool(s) and all(
                media_flowing(p)
                and ice_generations(p) >= 2
                and (p["localCandidate"] or {}).get("type") == "relay"
                and p["framesDecoded"] >= stalled[name].get(p["id"], 0) + MIN_NEW_FRAMES
                for p in s
            )

        return check

    wait_until("kiosk recovers", recovered(kiosk, "kiosk"), 40)
    wait_until("specialist recovers", recovered(spec, "specialist"), 20)
    out["recovered_after_relay_back_s"] = round(time.monotonic() - back, 2)
    out["frames_rising_after"] = {"kiosk": frames_rising(kiosk), "specialist": frames_rising(spec)}
    out["after"] = {"kiosk": summary(kiosk), "specialist": summary(spec)}


def scenario_path(room: Room, out: dict[str, Any]) -> None:
    kiosk = room.kiosk()
    room.api.post("/api/v1/session", json={"live": True}).raise_for_status()
    inv = room.invite("specialist", admit=True)
    _, spec, _ = room.participant("specialist", inv["link"])
    out["connect_s"] = wait_until("kiosk sees specialist", connected_to(kiosk, {"specialist"}))
    wait_until("specialist sees kiosk", connected_to(spec, {"nurse"}))
    out["before"] = {"kiosk": summary(kiosk), "specialist": summary(spec)}
    stalled = {"kiosk": frames_now(kiosk), "specialist": frames_now(spec)}
    # The network path dies: the only address with candidates goes away; another comes.
    cut = time.monotonic()
    sh("ip", "addr", "del", "10.77.0.1/24", "dev", "v0")
    sh("ip", "addr", "add", "10.77.0.2/24", "dev", "v0")

    def recovered(page: Page, name: str) -> Callable[[], bool]:
        def check() -> bool:
            s = stats(page)
            return bool(s) and all(
                media_flowing(p)
                and ice_generations(p) >= 2
                and (p["localCandidate"] or {}).get("address") == "10.77.0.2"
                and p["framesDecoded"] >= stalled[name].get(p["id"], 0) + MIN_NEW_FRAMES
                for p in s
            )

        return check

    wait_until("kiosk recovers", recovered(kiosk, "kiosk"), 40)
    wait_until("specialist recovers", recovered(spec, "specialist"), 20)
    out["recovered_s"] = round(time.monotonic() - cut, 2)
    out["after"] = {"kiosk": summary(kiosk), "specialist": summary(spec)}


SCENARIOS = {
    "mesh": scenario_mesh,
    "relay": scenario_relay,
    "restart": scenario_restart,
    "path": scenario_path,
}


def main(name: str) -> dict[str, Any]:
    sh("ip", "link", "set", "lo", "up")
    args = [*BASE_ARGS, LOOPBACK_ARG]
    extra_config = ""
    out: dict[str, Any] = {"scenario": name}
    root = Path(tempfile.mkdtemp(prefix="hs-conv-", dir="/tmp"))
    with contextlib.ExitStack() as stack:
        turn: Coturn | None = None
        if name in ("relay", "restart"):
            turn = Coturn(root)
            turn.start()
            stack.callback(turn.stop)
            (root / "turn-secret").write_text(turn.secret + "\n", encoding="utf-8")
            os.chmod(root / "turn-secret", 0o600)
            extra_config = (
                "[ice]\n"
                f'turn_urls = ["turn:127.0.0.1:{turn.port}?transport=udp"]\n'
                f'turn_secret_file = "{root}/turn-secret"\n'
                'transport_policy = "relay"\n'
                "restart_after_s = 1.0\n"
            )
        if name == "path":
            # Media over a veth address only (no loopback candidates): when it goes, only a
            # restart with the new address's candidates can reconnect.
            sh("ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1")
            sh("ip", "addr", "add", "10.77.0.1/24", "dev", "v0")
            sh("ip", "link", "set", "v0", "up")
            sh("ip", "link", "set", "v1", "up")
            args = BASE_ARGS
            extra_config = "[ice]\nrestart_after_s = 1.0\n"
        gw = start_gateway(root, config_text=CONFIG + extra_config)
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=args)
                room = Room(gw, browser)
                room.turn = turn
                try:
                    SCENARIOS[name](room, out)
                    out["ok"] = True
                except (TimeoutError, AssertionError, httpx.HTTPError) as exc:
                    out["ok"] = False
                    out["error"] = f"{type(exc).__name__}: {exc}"
                    with contextlib.suppress(Exception):
                        out["debug"] = {
                            f"ctx{i}": c.pages[0].evaluate("window.helseromConversation?.stats()")
                            for i, c in enumerate(room.contexts)
                        }
                finally:
                    out["console_errors"] = room.errors
                    room.close()
                    browser.close()
        finally:
            code, group_empty = gw.stop()
            out["gateway_group_empty"] = group_empty
            log = gw.stderr()
            out["gateway_exit"] = code
            out["gateway_errors"] = [
                line for line in log.splitlines() if " ERROR " in line or "Traceback" in line
            ]
            gw.remove()
    shutil.rmtree(root, ignore_errors=True)  # coturn writes its log until it stops
    return out


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])), flush=True)
