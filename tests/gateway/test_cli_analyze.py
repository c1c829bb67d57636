"""`helserom analyze ecg|spiro|ppg`: recordings in, JSON out, exit 2 with one line on bad input.

Each runs the real CLI in a process, on recordings with an independent truth: MIT-BIH record 100
with its reference beat annotations (Moody & Mark 2001), hwsim's analytic spirometry manoeuvres,
hwsim's pleth at a known rate.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import wfdb
from hwsim.physiology import synth_pleth
from hwsim.spiro_model import manoeuvre

from gateway.signals.ecg import match_beats

CLI = [sys.executable, "-m", "gateway", "analyze"]
MITDB = Path(__file__).resolve().parents[3] / "shared" / "data" / "mitdb"
BEATS = frozenset("NLRBAaJSVrFejnE/fQ?")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, check=False)


def _ok(*args: str) -> dict[str, Any]:
    res = _run(*args)
    assert res.returncode == 0, res.stderr
    out: dict[str, Any] = json.loads(res.stdout)
    return out


def test_ecg_on_mitdb_100_finds_the_annotated_beats(tmp_path: Path) -> None:
    n = 360 * 120
    rec = wfdb.rdrecord(str(MITDB / "100"), sampto=n)
    ann = wfdb.rdann(str(MITDB / "100"), "atr", sampto=n)
    ref = np.array([s for s, sym in zip(ann.sample, ann.symbol, strict=True) if sym in BEATS])
    path = tmp_path / "100.csv"
    np.savetxt(path, rec.p_signal, delimiter=",", header="MLII,V5", comments="", fmt="%.4f")
    out = _ok("ecg", "--fs", "360", "--input", str(path), "--lead", "MLII")
    tp, fn, fp = match_beats(ref, np.array(out["r_peaks"], dtype=np.int64), round(0.15 * 360))
    assert fn == 0 and fp == 0, (tp, fn, fp)
    assert 70 < out["heart_rate_bpm"] < 80 and out["quality"]["verdict"] == "valid"
    assert out["compute_ms"] > 0


def test_spiro_session_with_reference_values(tmp_path: Path) -> None:
    paths = []
    for k in range(3):
        m = manoeuvre(100.0, 4.5 + 0.04 * k, 3.6 + 0.03 * k)
        path = tmp_path / f"blow{k}.csv"
        np.savetxt(path, m.flow_lps, header="flow_lps", comments="", fmt="%.6f")
        paths += ["--input", str(path)]
    out = _ok("spiro", "--fs", "100", *paths, "--sex", "male", "--age", "50", "--height-cm", "180")
    assert out["grade_fev1"] == "A" and out["grade_fvc"] == "A"
    assert [round(m["fvc_l"], 2) for m in out["manoeuvres"]] == [4.5, 4.54, 4.58]
    assert set(out["manoeuvres"][0]) >= {
        "fev1_l", "fvc_l", "fev1_fvc", "pef_lps", "fef25_75_lps", "bev_l", "fet_s",
        "acceptable_fev1", "acceptable_fvc", "usable_fev1", "usable_fvc", "reasons",
    }  # fmt: skip
    ref = out["reference"]["fev1_l"]
    assert set(ref) == {"predicted", "lln", "z", "percent_predicted"}
    assert 3.0 < ref["predicted"] < 5.0 and ref["lln"] < ref["predicted"]


def test_ppg_rate(tmp_path: Path) -> None:
    path = tmp_path / "pleth.csv"
    np.savetxt(path, synth_pleth(60.0, hr_bpm=66.0, seed=2), header="pleth", comments="", fmt="%d")
    out = _ok("ppg", "--fs", "75", "--input", str(path))
    assert abs(out["pulse_rate_bpm"] - 66.0) < 2.0 and out["verdict"] == "valid"
    assert out["perfusion_index_pct"] is None  # a display pleth has no DC reference


def test_bad_input_is_one_line_and_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("flow_lps\n0.1\nabc\n", encoding="utf-8")
    cases = {
        ("spiro", "--fs", "100", "--input", str(bad)): (
            f"error: {bad}: line 3, column 'flow_lps': 'abc' is not a number"
        ),
        ("spiro", "--fs", "100", "--input", str(tmp_path / "none.csv")): (
            f"error: {tmp_path / 'none.csv'}: no such file"
        ),
        ("ppg", "--fs", "75", "--input", str(bad)): (
            f"error: {bad}: line 3, column 'flow_lps': 'abc' is not a number"
        ),
    }
    for args, message in cases.items():
        res = _run(*args)
        assert res.returncode == 2 and res.stderr.strip() == message, res.stderr
        assert "Traceback" not in res.stderr
