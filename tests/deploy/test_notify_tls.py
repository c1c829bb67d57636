"""A real gateway under a fake service manager: sd_notify READY/WATCHDOG/STOPPING on a datagram
socket, TLS on a second loopback address with the self-signed certificate it made, and watchdog
pings withheld while /healthz is failing (real event-loop lag: the process is SIGSTOPped).
"""

from __future__ import annotations

import os
import signal
import socket
import ssl
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.sdnotify import Notifier, watchdog_interval_s
from gateway.tls import spki_sha256_b64
from tests import gatewayproc
from tests.gatewayproc import CONFIG, GatewayProcess, start_gateway

WATCHDOG_USEC = 400_000  # pings every 0.2 s
TLS_CONFIG = CONFIG.replace(
    "[server]\nport = 0", '[server]\nhost = "127.0.0.2"\ntls = "on"\nport = 0'
)


class NotifyListener:
    """The service manager's side: an AF_UNIX datagram socket collecting messages."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        bind_to = "\0" + address[1:] if address.startswith("@") else address
        self.sock.bind(bind_to)
        self.sock.settimeout(0.05)
        self.messages: list[tuple[float, str]] = []

    def drain(self, seconds: float) -> list[tuple[float, str]]:
        """Collect for ``seconds``; return what arrived in that time."""
        got: list[tuple[float, str]] = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            for line in data.decode().split("\n"):
                got.append((time.monotonic(), line))
        self.messages += got
        return got

    def wait_for(self, line: str, timeout_s: float) -> None:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if any(m == line for _, m in self.drain(0.1)):
                return
        raise AssertionError(f"{line!r} not received in {timeout_s} s: {self.messages[-10:]}")


def test_notifier_to_path_and_abstract_sockets(tmp_path: Path) -> None:
    for address in (str(tmp_path / "notify.sock"), f"@helserom-test-{os.getpid()}"):
        listener = NotifyListener(address)
        notifier = Notifier.from_env({"NOTIFY_SOCKET": address})
        assert notifier.notify("READY=1", "STATUS=x")
        assert [m for _, m in listener.drain(0.2)] == ["READY=1", "STATUS=x"]
        notifier.close()
        listener.sock.close()
    assert not Notifier.from_env({}).notify("READY=1")  # outside systemd: a no-op
    assert watchdog_interval_s({"WATCHDOG_USEC": "4000000"}) == 2.0
    assert watchdog_interval_s({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_interval_s({}) is None


@pytest.fixture
def gateway(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[GatewayProcess, NotifyListener]]:
    address = f"@helserom-notify-{os.getpid()}-{time.monotonic_ns()}"
    listener = NotifyListener(address)
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.setenv("WATCHDOG_USEC", str(WATCHDOG_USEC))
    monkeypatch.setenv("RUNTIME_DIRECTORY", str(tmp_path))
    # 5 helpers share 2 cores: imports alone took > 20 s here at times
    monkeypatch.setattr(gatewayproc, "START_TIMEOUT_S", 90.0)
    gw = start_gateway(config_text=TLS_CONFIG)
    try:
        yield gw, listener
    finally:
        if gw.process.poll() is None:
            gw.stop(signal.SIGKILL)
        listener.sock.close()
        gw.remove()


def test_ready_watchdog_tls_and_stopping(gateway: tuple[GatewayProcess, NotifyListener]) -> None:
    gw, listener = gateway
    listener.wait_for("READY=1", 10)
    assert gw.base_url.startswith("https://127.0.0.2:"), gw.base_url

    # TLS: the self-signed certificate made on first start, key 0600; a real TLS client
    cert = gw.root / "state" / "tls" / "self-signed.crt"
    key = cert.with_suffix(".key")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    context = ssl.create_default_context(cafile=str(cert))
    with httpx.Client(base_url=gw.base_url, verify=context, timeout=10) as client:
        assert client.get("/healthz").status_code in (200, 503)
        assert client.get("/api/v1/devices").status_code == 401
        authed = client.get("/api/v1/devices", headers={"Authorization": f"Bearer {gw.token}"})
        assert authed.status_code == 200
        assert authed.headers["strict-transport-security"] == "max-age=31536000"
    with pytest.raises(httpx.ConnectError):  # no trust in the certificate: refused
        httpx.get(gw.base_url + "/healthz", timeout=10)
    with pytest.raises(httpx.RemoteProtocolError):  # plain HTTP to the TLS port: no answer
        httpx.get(gw.base_url.replace("https://", "http://") + "/healthz", timeout=10)

    # the kiosk unit's inputs in RuntimeDirectory: login URL and the certificate's SPKI pin
    runtime = Path(os.environ["RUNTIME_DIRECTORY"])
    assert (runtime / "kiosk-url").read_text().strip() == gw.login_url
    assert (runtime / "kiosk-spki").read_text().strip() == spki_sha256_b64(cert)
    assert stat.S_IMODE((runtime / "kiosk-url").stat().st_mode) == 0o640

    # watchdog: pings at about WATCHDOG_USEC / 2 while healthy
    pings = [t for t, m in listener.drain(2.0) if m == "WATCHDOG=1"]
    assert len(pings) >= 4, listener.messages[-20:]

    # real loop lag: the process is stopped for 1.5 s; on resume the lag monitor sees it,
    # /healthz is failing, and the main loop withholds pings (systemd would restart us)
    os.kill(gw.process.pid, signal.SIGSTOP)
    time.sleep(1.5)
    os.kill(gw.process.pid, signal.SIGCONT)
    after = listener.drain(3.0)
    statuses = [m for _, m in after if m.startswith("STATUS=")]
    assert any(s.startswith("STATUS=failing: event loop lag") for s in statuses), after
    failing_at = next(t for t, m in after if m.startswith("STATUS=failing"))
    late_pings = [t for t, m in after if m == "WATCHDOG=1" and t > failing_at]
    assert late_pings == [], after
    with httpx.Client(base_url=gw.base_url, verify=context, timeout=10) as client:
        assert client.get("/healthz").json()["status"] == "failing"

    # the lag leaves the 10-s window: health recovers and pings resume
    listener.wait_for("WATCHDOG=1", 15)

    gw.stop_cleanly()
    tail = [m for _, m in listener.drain(0.5)]
    assert "STOPPING=1" in [m for _, m in listener.messages] + tail
