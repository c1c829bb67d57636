"""`helserom decode`: JSON on success, a one-line error and exit 2 otherwise, never a traceback."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import pytest

CLI = [sys.executable, "-m", "gateway", "decode"]


def _frame(status: int, pleth: int, byte4: int) -> bytes:
    head = bytes([0x01, status, pleth, byte4])
    return head + bytes([sum(head) % 256])


def _run(hex_arg: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "serial.nonin2", hex_arg], capture_output=True, text=True, check=False
    )


def test_decode_a_packet() -> None:
    # A packet built here from the format table: HR 72 (MSB 0, LSB 72), SpO2 97, green perfusion.
    byte4 = [0] * 25
    byte4[0], byte4[1], byte4[2] = 0x00, 72, 97
    frames = b"".join(
        _frame(0x80 | 0x02 | (0x01 if i == 0 else 0), 100 + i, byte4[i]) for i in range(25)
    )
    res = _run(frames.hex(" "))
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["pulse_bpm"] == 72
    assert out["spo2_pct"] == 97
    assert isinstance(out["warnings"], list)


@pytest.mark.parametrize(
    ("hex_arg", "needle"),
    [("zz", "HEX is not hexadecimal"), ("", "error:"), ("01 81 80 00 00", "error:")],
)
def test_decode_errors_are_one_line(hex_arg: str, needle: str) -> None:
    res = _run(hex_arg)
    assert res.returncode == 2
    assert needle in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert "Traceback" not in res.stderr


def test_unknown_codec() -> None:
    res = subprocess.run([*CLI, "serial.nope", "00"], capture_output=True, text=True, check=False)
    assert res.returncode == 2 and "serial.nonin2" in res.stderr


def test_random_bytes_never_traceback() -> None:
    seed = random.randrange(2**32)
    print(f"seed {seed}")
    rng = random.Random(seed)
    for _ in range(5):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        res = _run(data.hex())
        assert res.returncode in (0, 2), (seed, res.stderr)
        assert "Traceback" not in res.stderr, seed
