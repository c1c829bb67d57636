"""A real gateway process (``helserom run``) on a simulated room, for integration and e2e tests.

The gateway runs in its own session so ``stop()`` can prove that a signal stops it cleanly:
exit code, nothing left in its process group, no ERROR in its log.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import connect as ws_connect

REPO = Path(__file__).resolve().parents[1]
HELSEROM = Path(sys.executable).parent / "helserom"
DEVICE_ID = "oximeter-1"
CAREPLAN = REPO / "config" / "careplans" / "example.toml"
LINK = "usb-Nonin_Medical_Inc._Xpod-if00-port0"
START_TIMEOUT_S = 40.0  # generous: a loaded 2-core CI machine starts slowly
STOP_TIMEOUT_S = 10.0
KIOSK_LINE = re.compile(r"Kiosk: ((https?://[^/\s]+)/login\?token=(\S+))")
ERROR_LOG_LINE = re.compile(r"^\S+ \S+ (ERROR|CRITICAL) ", re.MULTILINE)

CONFIG = """\
# The simulated room of config/rooms/sim.toml, on a free port and in a private directory.
[gateway]
site = "test-site"
room = "test-room"
state_dir = "{root}/state"
[server]
port = 0
[[devices]]
id = "{device_id}"
uri = "serial://{root}/sim/by-id/{link}?codec=nonin2&baud=9600"
label = "Pulsoksymeter"
[sim]
enabled = true
dir = "{root}/sim"
[[sim.devices]]
id = "{device_id}"
kind = "nonin2-oximeter"
link = "{link}"
seed = 1
hr_bpm = 72
spo2_pct = 97
[clinical]
careplan = "{careplan}"
""".replace("{careplan}", str(CAREPLAN))


@dataclass
class GatewayProcess:
    """A started gateway; ``root`` holds its config, state and simulator directory."""

    root: Path
    process: subprocess.Popen[str]
    login_url: str = ""
    base_url: str = ""
    token: str = ""
    stdout_lines: list[str] = field(default_factory=list)
    later_lines: queue.Queue[str | None] | None = None  # stdout after the kiosk line

    @property
    def sim_dir(self) -> Path:
        return self.root / "sim"

    @property
    def control_socket(self) -> str:
        return str(self.sim_dir / "control.sock")

    @property
    def db_path(self) -> Path:
        return self.root / "state" / "helserom.sqlite3"

    def stderr(self) -> str:
        """Everything the gateway logged so far."""
        return (self.root / "gateway.stderr").read_text(encoding="utf-8", errors="replace")

    def client(self) -> httpx.Client:
        """An authenticated HTTP client."""
        return httpx.Client(
            base_url=self.base_url, headers={"Authorization": f"Bearer {self.token}"}, timeout=5
        )

    def device(self, device_id: str = DEVICE_ID) -> dict[str, Any]:
        """One device from /api/v1/devices."""
        with self.client() as client:
            devices = client.get("/api/v1/devices").json()
        found: dict[str, Any] = next(d for d in devices if d["id"] == device_id)
        return found

    def collect_live(
        self,
        seconds: float,
        until: Callable[[list[dict[str, Any]]], bool],
        then: Callable[[], object] | None = None,
    ) -> list[dict[str, Any]]:
        """Live messages until ``until(messages)``; ``then()`` runs once the stream is open.

        The hello is read first, so nothing ``then()`` triggers is missed.
        """
        url = self.base_url.replace("http://", "ws://") + "/api/v1/live"
        seen: list[dict[str, Any]] = []
        headers = {"Authorization": f"Bearer {self.token}"}
        with ws_connect(url, additional_headers=headers) as ws:
            seen.append(json.loads(ws.recv(timeout=5)))  # hello: subscribed from here on
            if then is not None:
                then()
            deadline = time.monotonic() + seconds
            while time.monotonic() < deadline and not until(seen):
                seen.append(json.loads(ws.recv(timeout=5)))
        return seen

    def sim(self, command: str, *, device: str | None = DEVICE_ID, **params: Any) -> dict[str, Any]:
        """Send a command to the simulated room's control socket (device None: room-wide)."""
        # Blocking on purpose: Playwright's sync API keeps an event loop in this thread.
        request = {"command": command, **params}
        if device is not None:
            request["device"] = device
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(self.control_socket)
            sock.sendall(json.dumps(request).encode() + b"\n")
            reply: dict[str, Any] = json.loads(sock.makefile("rb").readline())
        assert reply["ok"], reply
        return reply

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> tuple[int | None, bool]:
        """Signal the gateway; return (exit code or None on timeout, process group empty)."""
        pgid = self.process.pid  # start_new_session: the gateway leads its own group
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.process.pid, sig)
        try:
            code: int | None = self.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            code = None
        try:
            os.killpg(pgid, 0)
            group_empty = False
        except ProcessLookupError:
            group_empty = True
        if code is None or not group_empty:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            self.process.wait(5)
        return code, group_empty

    def stop_cleanly(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop and assert: exit 0 in time, empty process group, no ERROR or traceback logged."""
        code, group_empty = self.stop(sig)
        log = self.stderr()
        outcome = "still running" if code is None else f"exit code {code}"
        assert code == 0, f"{outcome} {STOP_TIMEOUT_S:.0f} s after {sig.name}; stderr:\n{log}"
        assert group_empty, f"processes left in the gateway's process group; stderr:\n{log}"
        assert not ERROR_LOG_LINE.findall(log), f"gateway logged at ERROR or above:\n{log}"
        assert "Traceback" not in log, log

    def remove(self) -> None:
        """Delete the gateway's directory (after it stopped)."""
        shutil.rmtree(self.root, ignore_errors=True)


def _pump(stream: Any, lines: queue.Queue[str | None]) -> None:
    # Keeps reading after the kiosk line so a chatty gateway never blocks on a full pipe.
    for line in stream:
        lines.put(line)
    lines.put(None)


def start_gateway(
    root: Path | None = None,
    *,
    via_make: bool = False,
    config_text: str = CONFIG,
    extra_args: tuple[str, ...] = (),
    extra_env: dict[str, str] | None = None,
) -> GatewayProcess:
    """Start ``helserom run`` (or ``make run``) on a simulated room; wait for its kiosk URL.

    ``config_text`` is a template: ``{root}`` is the gateway's private directory; ``extra_env``
    is added to the gateway's environment (after every inherited ``HELSEROM_`` is removed).
    """
    assert HELSEROM.exists(), f"{HELSEROM} missing: run `make setup` first"
    # sim.dir must stay < 80 characters: a short private directory under /tmp
    root = root or Path(tempfile.mkdtemp(prefix="hs-", dir="/tmp"))
    config = root / "gateway.toml"
    text = config_text.format(root=root, device_id=DEVICE_ID, link=LINK)
    config.write_text(text, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELSEROM_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra_env or {})
    with (root / "gateway.stderr").open("a", encoding="utf-8") as stderr:
        command = (
            ["make", "--no-print-directory", "run", f"CONFIG={config}"]
            if via_make
            else [str(HELSEROM), "run", "--config", str(config), *extra_args]
        )
        process = subprocess.Popen(
            command,
            cwd=REPO if via_make else root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            start_new_session=True,
        )
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
    gw = GatewayProcess(root, process, later_lines=lines)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not gw.login_url:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None:
            gw.stop()
            raise AssertionError(
                f"gateway printed no 'Kiosk: http://…' line within {START_TIMEOUT_S:.0f} s "
                f"(exit code {process.poll()}); stdout: {''.join(gw.stdout_lines)!r}\n"
                f"stderr:\n{gw.stderr()}"
            )
        gw.stdout_lines.append(line)
        match = KIOSK_LINE.search(line)
        if match:
            gw.login_url, gw.base_url, gw.token = match.groups()
    return gw


def wait_for(predicate: Callable[[], Any], timeout_s: float, interval_s: float = 0.05) -> float:
    """Poll until ``predicate()`` is true; return the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        if predicate():
            return time.monotonic() - start
        time.sleep(interval_s)
    raise AssertionError(f"condition not met within {timeout_s} s")
