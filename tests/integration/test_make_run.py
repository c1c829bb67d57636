"""`make run` itself: starts the room and the gateway, and Ctrl-C stops everything."""

from __future__ import annotations

import os
import signal
import sqlite3
import time

from tests.gatewayproc import start_gateway, wait_for


def test_make_run_serves_live_data_and_ctrl_c_stops_everything() -> None:
    started = time.monotonic()
    gw = start_gateway(via_make=True)
    try:
        took = wait_for(lambda: gw.device()["connected"] and gw.device()["frames_ok"] > 0, 10)
        print(
            f"make run: live data {time.monotonic() - started:.1f} s after start"
            f" ({took:.1f} s after the URL)"
        )
        with gw.client() as client:
            assert client.get("/healthz").json()["status"] == "ok"
    finally:
        # Ctrl-C in a terminal signals the whole foreground process group
        os.killpg(gw.process.pid, signal.SIGINT)
        gw.process.wait(10)  # make itself exits non-zero when interrupted, as make does
        wait_for(lambda: "stopped on request" in gw.stderr(), 10)
    try:
        os.killpg(gw.process.pid, 0)
        raise AssertionError(f"processes left after Ctrl-C:\n{gw.stderr()}")
    except ProcessLookupError:
        pass
    assert not gw.sim_dir.exists()
    assert "Traceback" not in gw.stderr(), gw.stderr()
    db = sqlite3.connect(gw.db_path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    gw.remove()
