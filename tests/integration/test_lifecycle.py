"""Start and stop: SIGTERM drains and leaves no process, pty, link or socket behind."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.gatewayproc import HELSEROM, start_gateway, wait_for


def _pts_open_by(pid: int) -> list[str]:
    out = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("/dev/pts/") or target == "/dev/ptmx":
            out.append(target)
    return out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_everything_cleanly(sig: signal.Signals) -> None:
    gw = start_gateway()
    wait_for(lambda: gw.device()["frames_ok"] > 100, 10)
    assert _pts_open_by(gw.process.pid), "the gateway should hold the simulated pty open"
    assert (gw.sim_dir / "control.sock").exists()
    gw.stop_cleanly(sig)  # exit 0 within 10 s, empty process group, no ERROR logged
    assert not gw.sim_dir.exists(), list(gw.sim_dir.rglob("*"))
    assert "stopped on request" in gw.stderr()
    db = sqlite3.connect(gw.db_path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert db.execute("SELECT count(*) FROM measurement").fetchone()[0] > 0
    assert db.execute("SELECT count(*) FROM sample_block").fetchone()[0] > 0
    gw.remove()


def _measurements(db_path: Path) -> int:
    db = sqlite3.connect(db_path)
    try:
        return int(db.execute("SELECT count(*) FROM measurement").fetchone()[0])
    finally:
        db.close()


def test_restart_reuses_store_and_token() -> None:
    gw = start_gateway()
    wait_for(lambda: gw.device()["frames_ok"] > 30, 10)
    gw.stop_cleanly()
    rows = _measurements(gw.db_path)
    again = start_gateway(gw.root)
    try:
        assert again.token == gw.token
        wait_for(lambda: again.device()["frames_ok"] > 30, 10)
        # a spot measurement comes about once a second: wait for one written by this run
        # (frames alone can arrive before the first measurement is due)
        wait_for(lambda: _measurements(gw.db_path) > rows, 20)
    finally:
        again.stop_cleanly()
    assert _measurements(gw.db_path) > rows
    gw.remove()


def test_bad_config_refuses_to_start(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    # a remote listener without TLS: refused (with TLS it would be allowed)
    config.write_text('[server]\nhost = "0.0.0.0"\ntls = "off"\n', encoding="utf-8")
    start = time.monotonic()
    res = subprocess.run(
        [HELSEROM, "run", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert res.returncode == 2
    assert f"{config}: server: got " in res.stderr
    assert "expected tls = 'auto' or 'on' for host '0.0.0.0'" in res.stderr
    assert "Traceback" not in res.stderr
    assert time.monotonic() - start < 30


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    config = tmp_path / "gw.toml"
    config.write_text(f'[gateway]\nstate_dir = "{tmp_path}"\n[server]\nport = {port}\n')
    try:
        res = subprocess.run(
            [HELSEROM, "run", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    finally:
        holder.close()
    assert res.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in res.stderr
    assert "Traceback" not in res.stderr


def test_python_module_entry_point() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "gateway", "--help"], capture_output=True, text=True, check=False
    )
    assert res.returncode == 0 and "decode" in res.stdout


def test_helserom_sim_runs_the_room_alone() -> None:
    import tempfile

    import serial

    from tests.gatewayproc import CONFIG, DEVICE_ID, LINK

    root = Path(tempfile.mkdtemp(prefix="hs-", dir="/tmp"))
    config = root / "gateway.toml"
    config.write_text(CONFIG.format(root=root, device_id=DEVICE_ID, link=LINK), encoding="utf-8")
    proc = subprocess.Popen(
        [HELSEROM, "sim", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().split()
        assert first[0] == DEVICE_ID and first[1].startswith("serial://"), first
        link = root / "sim" / "by-id" / LINK
        assert first[1].startswith(f"serial://{link}?codec=nonin2")
        with serial.Serial(str(link), 9600, timeout=2) as port:
            data = port.read(200)
        assert data.count(b"\x01") >= 10, data.hex()  # frames arrive through the link
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(10)
    assert code == 0, proc.stderr.read() if proc.stderr else ""
    assert not link.exists()
    assert not (root / "sim").exists()
    shutil.rmtree(root)
