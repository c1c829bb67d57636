"""bench/bench_ble.py still runs end to end (a 3-cycle version), so the benchmark cannot rot.

Runs the script as the integrator would, in its own process: simulator, bleak, BleDevice and a
real Pipeline. Checks that every number is printed and finite, and that the private dbus-daemon
is gone afterwards; it asserts no speed (that is what the benchmark prints).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_ble.py"
ROWS = (
    "bare bleak start_notify callback (floor)",
    "gateway: BleLink's bleak callback",
    "gateway: BleDevice yields Measurement",
    "gateway: LiveHub subscriber (after fsync)",
    "out_of_range/back_in_range       n= 3",
    "adapter power_off/power_on       n= 1",
    "bluetoothd restart(crash=False)  n= 1",
    "bluetoothd restart(crash=True)   n= 1",
)


def test_bench_ble_smoke() -> None:
    args = ["--notes", "40", "--rate-hz", "100", "--cycles", "3", "--short-cycles", "1"]
    args += ["--crash-cycles", "1"]
    proc = subprocess.run(
        [sys.executable, str(BENCH), *args, "--hold-s", "0.3", "--log", "WARNING"],
        capture_output=True,
        text=True,
        timeout=100,
        cwd=BENCH.parents[1],
        check=False,
    )
    print(proc.stdout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for row in ROWS:
        assert row in proc.stdout, row
    assert "nan" not in proc.stdout.lower()
    assert proc.stdout.count("p50 split:") == 4
    assert "private dbus-daemon (pid" in proc.stdout and "stopped" in proc.stdout
