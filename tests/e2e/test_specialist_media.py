"""The specialist page in Debian's Chromium decodes the gateway's camera (H.264 from aiortc)
and receives vitals over the data channel; the run happens in a private network namespace
with only lo (tests/e2e/media_netns.py), so nothing leaves the machine."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from tests.e2e.media_netns import in_netns

pytestmark = pytest.mark.skipif(
    shutil.which("unshare") is None or shutil.which("ip") is None,
    reason="needs util-linux unshare and iproute2 (make apt-test)",
)


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    return in_netns("check")


def test_page_decodes_gateway_video(result: dict[str, Any]) -> None:
    first, later = result["first"], result["later"]
    assert later["framesDecoded"] > first["framesDecoded"] + 10  # 1.5 s at 30 fps: rising
    assert later["videoWidth"] == 640 and later["videoHeight"] == 480
    assert later["codec"] == "video/H264"
    # the capture stamp hwsim writes survives H.264 and reads back on a canvas
    lags = result["videoLatencyMs"]
    assert lags and all(0 <= lag < 2000 for lag in lags), lags


def test_page_receives_vitals_with_send_time(result: dict[str, Any]) -> None:
    hello = result["hello"]
    assert hello["type"] == "hello" and hello["schema"] == 1 and hello["sent_at_ms"] > 0
    assert [c["id"] for c in hello["cameras"]] == ["room"]
    assert [d["id"] for d in hello["devices"]] == ["oximeter-1"]
    assert result["schema"] == 1
    assert result["later"]["vitals"] > 3
    ages = result["vitalsLatencyMs"]
    assert ages and all(-5 < a < 1000 for a in ages), ages  # same clock: receive − sent_at_ms
    assert result["numerics"] >= 1  # SpO2 / pulse from the simulated oximeter shown
    assert (result["title_nb"], result["title_en"]) == ("Målinger", "Measurements")
    assert result["age_en"] == "just now" or result["age_en"].endswith(" s ago")


def test_snapshot_ack_and_full_resolution_jpeg(result: dict[str, Any]) -> None:
    ack = result["snapshot_ack"]
    assert ack["ok"] and ack["id"] == 1 and ack["url"].startswith("/api/v1/snapshots/")
    assert (ack["width"], ack["height"]) == (640, 480)
    assert result["snapshot_size"] == [640, 480]


def test_no_browser_console_errors(result: dict[str, Any]) -> None:
    assert result["console_errors"] == []


def test_no_auth_no_media(result: dict[str, Any]) -> None:
    assert result["anon_specialist_status"] == 401
    assert result["anon_whep_status"] == 401
    assert result["viewers_before_stop"] == 1  # SIGTERM with a live viewer: still clean
    assert result["gateway_stopped_cleanly"]
