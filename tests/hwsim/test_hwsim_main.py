"""`python -m hwsim`: a standalone room driven from another process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import serial


def test_standalone_room_runs_answers_and_cleans_up() -> None:
    directory = Path(tempfile.mkdtemp(prefix="hwsim-")) / "room"  # made and removed by hwsim
    proc = subprocess.Popen(
        [sys.executable, "-m", "hwsim", "--dir", str(directory), "--hr", "64"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=directory.parent,  # not the repo: tests/hwsim must not shadow the hwsim package
    )
    try:
        assert proc.stdout is not None
        device_id, uri = proc.stdout.readline().split()
        assert device_id == "oximeter-1"
        assert uri.startswith(f"serial://{directory}/serial/by-id/usb-Nonin_")
        assert uri.endswith("?codec=nonin2&baud=9600")
        assert proc.stdout.readline().split() == ["control", str(directory / "control.sock")]
        link = uri.removeprefix("serial://").split("?")[0]
        with serial.Serial(link, 9600, timeout=1.0) as ser:
            assert len(ser.read(20)) == 20
        sent = subprocess.run(
            [sys.executable, "-m", "hwsim", "--dir", str(directory), "--send",
             '{"device": "oximeter-1", "command": "status"}'],
            capture_output=True, text=True, timeout=10, check=True, cwd=directory.parent,
        )  # fmt: skip
        reply = json.loads(sent.stdout)
        assert reply["ok"] is True and reply["status"]["vitals"]["hr_bpm"] == 64.0
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=5) == 0
        if proc.stdout is not None:
            proc.stdout.close()
    assert not os.path.exists(directory)
    directory.parent.rmdir()
