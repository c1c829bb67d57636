"""The specialist's view end to end (tests/e2e/specialist_netns.py): joins with a real link,
sees vitals and ECG/pleth traces, asks for a blood pressure that the nurse starts on the kiosk,
watches the simulated cuff inflate and the result arrive, sees a declined request, a blow's
flow–volume loop, takes a still that shows in the gallery at full resolution, writes a note,
and leaves. Both pages in Debian's Chromium, bokmål and English, 1280x800 and 800x480."""

from __future__ import annotations

import re
import shutil
from typing import Any

import pytest

from tests.e2e.specialist_netns import run_in_netns
from tests.gatewayproc import REPO

pytestmark = pytest.mark.skipif(
    shutil.which("unshare") is None or shutil.which("ip") is None,
    reason="needs util-linux unshare and iproute2 (make apt-test)",
)
SHOTS = REPO / "docs" / "screenshots"


@pytest.fixture(scope="module")
def result() -> dict[str, Any]:
    return run_in_netns(SHOTS)


def test_vitals_and_traces(result: dict[str, Any]) -> None:
    assert result["ecg_lead"] == "II"  # lead II by default
    assert result["ecg_leads"] == ["I", "II", "V1", "V2", "V3", "V4", "V5", "V6"]
    assert result["ecg_lead_switched"] == "V1"
    # a drawn trace paints most of the canvas's columns (the runner waits ≤ 10 s for it)
    assert result["ecg_ink"] > 0.5 and result["ecg_ink_v1"] > 0.5 and result["pleth_ink"] > 0.5
    age, verdict, light = result["numeric_foot"].split(" · ")
    assert age == "akkurat nå" or age.endswith(" s siden")
    assert verdict in ("pålitelig", "usikker verdi") and light.startswith("grønt (")


def test_requested_blood_pressure_is_started_by_the_nurse_and_watched(
    result: dict[str, Any],
) -> None:
    assert result["prompt_nb"] == "Spesialisten (Dr. Berg) ber om blodtrykk"
    assert result["prompt_en"] == "The specialist (Dr. Berg) asks for a blood pressure"
    assert min(result["prompt_sizes"]) >= 48 and len(result["prompt_sizes"]) == 2
    assert result["kiosk_prompt_left"] == 0  # Start opened the guided measurement screen
    assert result["request_accepted"] == "Blodtrykk: sykepleieren starter nå"
    assert re.fullmatch(r"Mansjettrykk \d+ mmHg", result["watch_rising"])
    assert result["cuff_peak"] > 120  # the cuff inflated above systolic
    bp = result["bp_seen"]
    assert 90 < bp["systolic"] < 180 and 50 < bp["diastolic"] < bp["systolic"]
    assert result["bp_result"] == (
        f"Blodtrykk {bp['systolic']}/{bp['diastolic']} mmHg · pålitelig · grønt"
    )
    assert result["request_declined"] == "Spirometri: sykepleieren kan ikke nå"


def test_blow_draws_the_flow_volume_loop(result: dict[str, Any]) -> None:
    # stable-copd: FVC 3.4 L, PEF 4.2 L/s (hardware-sim/hwsim/scenarios/stable-copd.toml)
    m = re.fullmatch(r"Siste blåsing: (\d+,\d\d) L ut, topp (\d+,\d) L/s", result["loop_state"])
    assert m, result["loop_state"]
    assert abs(float(m[1].replace(",", ".")) - 3.4) < 0.15
    assert abs(float(m[2].replace(",", ".")) - 4.2) < 0.3
    assert result["loop_ink"] > 0.3 > result["waiting_ink"]  # the loop spans the volume axis


def test_gallery_and_notes(result: dict[str, Any]) -> None:
    assert re.fullmatch(
        r"\d\d:\d\d · room · tatt for Spesialist Dr. Berg", result["gallery_caption"]
    )
    assert result["full_size"] == [640, 480]
    [snap] = result["snapshots_api"]
    assert snap["requested_by"] == {"role": "specialist", "name": "Dr. Berg"}
    assert re.fullmatch(r"\d\d:\d\d · Spesialist Dr. Berg", result["note_head"])
    assert result["note_body"] == "Blodtrykket er fint.\nNy spirometri neste uke."
    [note] = result["notes_api"]
    assert note["author"] == {"role": "specialist", "name": "Dr. Berg"}


def test_english_touch_and_small_screen(result: dict[str, Any]) -> None:
    en = result["en"]
    assert en["lang"] == "en" and en["request"] == "Blood pressure" and en["leave"] == "Leave"
    assert en["trends"] == "Trends in this consultation"
    assert en["bp"].startswith("Blood pressure ") and en["bp"].endswith(" · reliable · green")
    assert min(result["button_sizes"]) >= 48
    assert result["no_hscroll_1280"] and result["no_hscroll_800"]
    for name in ("specialist-1280x800", "specialist-800x480", "specialist-gallery-1280x800"):
        assert (SHOTS / f"{name}.png").stat().st_size > 10_000


def test_leaves_cleanly_without_console_errors(result: dict[str, Any]) -> None:
    assert result["left_banner"].startswith("Du har forlatt konsultasjonen.")
    assert result["gateway_log_left"]  # the gateway closed the viewer on the DELETE
    assert result["anon_measurements"] == 401
    assert result["console_errors"] == []
    assert result["gateway_stopped_cleanly"]
