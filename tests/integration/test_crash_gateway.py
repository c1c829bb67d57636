"""SIGKILL the real gateway 20 times at random points while it stores and sends measurements.

The gateway processes are forked from a pre-imported parent (crash_zygote.py) so twenty
restarts do not spend minutes importing scipy; each is a real ``helserom run``.

Acknowledged means seen on the live WebSocket, which publishes only after the commit. After
every kill: ``PRAGMA integrity_check`` is ok, every acknowledged measurement is in the DB,
and every stored measurement is delivered, in the outbox, or in the outbox's backlog (the
measurement and its outbox row are one transaction). The seed is printed; set
HELSEROM_CRASH_SEED to replay a run.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.gatewayproc import CONFIG, DEVICE_ID, KIOSK_LINE, LINK
from tests.mosquitto import Broker, Pki

KILLS = 20
SITE, ROOM = "test-site", "test-room"

EXTRA_OXIMETERS = 3  # four oximeters: a steady burst of ~24 measurements/s
OXIMETER = """
[[devices]]
id = "oximeter-{n}"
uri = "serial://{{root}}/sim/by-id/ox{n}?codec=nonin2&baud=9600"
[[sim.devices]]
id = "oximeter-{n}"
kind = "nonin2-oximeter"
link = "ox{n}"
seed = {n}
"""

MQTT = """
[mqtt]
enabled = true
port = {port}
ca_file = "{ca}"
cert_file = "{cert}"
key_file = "{key}"
reconnect_max_s = 0.5
"""


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker(tmp_path / "broker", Pki(tmp_path / "pki"))
    b.start()
    yield b
    b.stop(signal.SIGKILL)


@pytest.fixture
def zygote() -> Iterator[subprocess.Popen[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HELSEROM_")}
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.crash_zygote"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    yield proc
    assert proc.stdin is not None
    proc.stdin.close()
    proc.wait(10)


def _fork_gateway(zygote: subprocess.Popen[str], config: Path, root: Path) -> tuple[int, str, str]:
    """Start a gateway; return (pid, base URL, kiosk token) once it prints its kiosk line."""
    assert zygote.stdin is not None and zygote.stdout is not None
    (root / "gateway.stdout").write_text("")
    zygote.stdin.write(f"{config} {root}\n")
    zygote.stdin.flush()
    pid = int(zygote.stdout.readline())
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        match = KIOSK_LINE.search((root / "gateway.stdout").read_text())
        if match:
            return pid, match.group(2), match.group(3)
        _alive(pid) or pytest.fail(
            f"gateway exited at start:\n{(root / 'gateway.stderr').read_text()}"
        )
        time.sleep(0.05)
    raise AssertionError("gateway did not start within 60 s")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _kill(pid: int) -> None:
    os.killpg(pid, signal.SIGKILL)  # the gateway leads its own session
    deadline = time.monotonic() + 10
    while _alive(pid):
        assert time.monotonic() < deadline, "SIGKILLed gateway still there"
        time.sleep(0.01)


def _acknowledged(base_url: str, token: str, run_s: float) -> list[tuple[str, str, float]]:
    """Measurements seen on the live socket during ``run_s`` seconds."""
    url = base_url.replace("http://", "ws://") + "/api/v1/live"
    seen: list[tuple[str, str, float]] = []
    deadline = time.monotonic() + run_s
    with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        while (left := deadline - time.monotonic()) > 0:
            try:
                message: dict[str, Any] = json.loads(ws.recv(timeout=left))
            except (TimeoutError, ConnectionClosed):
                break
            if message["type"] == "measurement":
                seen.append((message["device_id"], message["quantity"], message["received_s"]))
    return seen


def test_sigkill_20_times_loses_no_acknowledged_measurement(
    broker: Broker, zygote: subprocess.Popen[str]
) -> None:
    seed = int(os.environ.get("HELSEROM_CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    cert, key = broker.pki.issue(f"helserom-{SITE}-{ROOM}")
    root = Path(tempfile.mkdtemp(prefix="hs-", dir="/tmp"))  # sim.dir: short unix paths
    config = root / "gateway.toml"
    oximeters = "".join(OXIMETER.format(n=n) for n in range(2, 2 + EXTRA_OXIMETERS))
    text = (
        CONFIG
        + oximeters
        + MQTT.format(port=broker.port, ca=broker.pki.ca_file, cert=cert, key=key)
    )
    config.write_text(text.format(root=root, device_id=DEVICE_ID, link=LINK))
    db_path = root / "state" / "helserom.sqlite3"
    acked_total = 0
    for i in range(KILLS):
        pid, base_url, token = _fork_gateway(zygote, config, root)
        if i == 0:  # /healthz shows the link (unauthenticated, like every health check)
            deadline = time.monotonic() + 15
            while not (mqtt := httpx.get(f"{base_url}/healthz").json()["mqtt"])["connected"]:
                assert time.monotonic() < deadline, mqtt
                time.sleep(0.1)
            assert {"outbox_depth", "oldest_undelivered_age_s", "outbox_backlog"} <= set(mqtt)
        acked = _acknowledged(base_url, token, rng.uniform(0.3, 2.0))
        _kill(pid)
        db = sqlite3.connect(db_path)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok", f"kill {i}"
        missing = [
            a
            for a in acked
            if db.execute(
                "SELECT 1 FROM measurement WHERE device_id = ? AND quantity = ?"
                " AND received_wall_s = ?",
                a,
            ).fetchone()
            is None
        ]
        assert not missing, f"kill {i} (seed {seed}): acknowledged but not stored: {missing}"
        backlog = db.execute("SELECT backlog_from FROM outbox_state").fetchone()
        orphans = db.execute(
            "SELECT count(*) FROM measurement m WHERE m.delivered_wall_s IS NULL"
            " AND m.id < ? AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.measurement_id = m.id)",
            (backlog[0] if backlog and backlog[0] is not None else 1 << 62,),
        ).fetchone()[0]
        assert orphans == 0, f"kill {i}: {orphans} stored measurements neither sent nor queued"
        db.close()
        acked_total += len(acked)
    db = sqlite3.connect(db_path)
    stored, delivered = db.execute(
        "SELECT count(*), count(delivered_wall_s) FROM measurement"
    ).fetchone()
    print(
        f"\n{KILLS} SIGKILLs (seed {seed}): {acked_total} acknowledged measurements, all stored; "
        f"{stored} in the DB, {delivered} delivered to the broker, integrity ok every time"
    )
    assert acked_total > KILLS  # the kills landed while measurements flowed
    assert delivered > 0
    shutil.rmtree(root, ignore_errors=True)
