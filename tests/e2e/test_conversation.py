"""The conversation, browser to browser, in real Chromium with fake camera and microphone.

Each scenario runs in its own private network namespace (``unshare -n``: only ``lo``, nothing
leaves the machine) through ``tests/e2e/conversation_netns.py``, which starts the real gateway,
coturn when needed, and Chromium, and prints its observations as JSON; the assertions are here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from functools import cache
from typing import Any

import pytest

from tests.gatewayproc import REPO

SCENARIO_TIMEOUT_S = 170


@cache
def run_scenario(name: str) -> dict[str, Any]:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) for a private network namespace")
    proc = subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "tests.e2e.conversation_netns", name],
        cwd=REPO,
        check=False,
        capture_output=True,
        text=True,
        timeout=SCENARIO_TIMEOUT_S,
    )
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 0 and lines, f"exit {proc.returncode}\n{proc.stderr[-4000:]}"
    result: dict[str, Any] = json.loads(lines[-1])
    assert result["ok"], json.dumps(result, indent=1)[:6000]
    assert result["gateway_exit"] == 0 and result["gateway_group_empty"], result
    assert result["gateway_errors"] == [], result["gateway_errors"]
    return result


def unexpected_console_errors(result: dict[str, Any]) -> list[str]:
    # The GP's first page load before being admitted is a 401 on purpose.
    expected = ("gp: Failed to load resource: the server responded with a status of 401",)
    return [e for e in result["console_errors"] if not e.startswith(expected)]


def assert_media(peer: dict[str, Any]) -> None:
    assert peer["ice"] in ("connected", "completed"), peer
    assert peer["videoWidth"] > 0 and peer["framesDecoded"] > 0, peer
    assert peer["audioLive"], peer
    assert peer["videoCodec"] == "video/VP8", peer  # setCodecPreferences took effect


def test_kiosk_and_specialist_both_ways_then_gp_joins_and_is_removed() -> None:
    r = run_scenario("mesh")
    assert r["specialist_landed"].endswith("/specialist/")  # the join redirect
    assert r["kiosk_to_specialist_s"] < 20 and r["specialist_to_kiosk_s"] < 20
    assert r["frames_rising_kiosk"]["specialist"] > 0
    assert r["frames_rising_specialist"]["nurse"] > 0
    # the GP's link works, but nothing opens before the nurse admits
    assert r["gp_before_admit_status"] == 401
    assert r["frames_rising_gp"]["nurse"] > 0 and r["frames_rising_gp"]["specialist"] > 0
    mesh = r["mesh"]
    assert sorted(p["role"] for p in mesh["kiosk"]) == ["gp", "specialist"]
    assert sorted(p["role"] for p in mesh["specialist"]) == ["gp", "nurse"]
    assert sorted(p["role"] for p in mesh["gp"]) == ["nurse", "specialist"]
    for peers in mesh.values():
        for peer in peers:
            assert_media(peer)
    # removal: the GP's signalling closes at once and its bearer stops working
    assert r["gp_removed_state_s"] < 5
    assert r["gp_after_remove_status"] == 401
    gp = next(p for p in r["session"] if p["role"] == "gp")
    assert gp["removed"] and gp["admitted"] and gp["joined"]
    assert unexpected_console_errors(r) == []


def test_relay_only_call_through_local_coturn() -> None:
    r = run_scenario("relay")
    ice = r["ice_servers"]
    assert ice["iceTransportPolicy"] == "relay"
    [turn] = ice["iceServers"]
    expiry, user = turn["username"].split(":")
    assert user == "kiosk" and int(expiry) > 0 and turn["credential"]
    assert r["frames_rising_kiosk"]["specialist"] > 0
    for side in (r["kiosk"], r["specialist"]):
        [peer] = side
        assert_media(peer)
        assert peer["localCandidate"]["type"] == "relay", peer
        assert peer["remoteCandidate"]["type"] == "relay", peer
    assert unexpected_console_errors(r) == []


def test_lost_relay_recovers_by_ice_restart() -> None:
    r = run_scenario("restart")
    assert sum(p["restarts"] for side in r["after"].values() for p in side) >= 1  # restartIce()
    assert r["noticed_s"] < 15  # the browsers saw the path die
    assert r["recovered_after_relay_back_s"] < 20
    for side in ("kiosk", "specialist"):
        [before] = r["before"][side]
        [after] = r["after"][side]
        assert before["ice_generations"] == 1 and after["ice_generations"] >= 2, (before, after)
        assert_media(after)
        assert after["localCandidate"]["type"] == "relay"
        assert after["localCandidate"]["port"] != before["localCandidate"]["port"]  # new relay
    assert all(n > 0 for side in r["frames_rising_after"].values() for n in side.values())
    assert unexpected_console_errors(r) == []


def test_lost_network_address_recovers_by_ice_restart() -> None:
    r = run_scenario("path")
    assert sum(p["restarts"] for side in r["after"].values() for p in side) >= 1  # restartIce()
    assert r["recovered_s"] < 30
    for side in ("kiosk", "specialist"):
        [before] = r["before"][side]
        [after] = r["after"][side]
        assert before["localCandidate"]["address"] == "10.77.0.1", before
        assert before["ice_generations"] == 1 and after["ice_generations"] >= 2, (before, after)
        assert_media(after)
        assert after["localCandidate"]["address"] == "10.77.0.2", after
    assert unexpected_console_errors(r) == []
