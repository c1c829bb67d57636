"""Bluetooth LE vectors in tests/vectors/ble checked whole through ``helserom decode``'s registry,
plus the registry entries themselves."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drivers.codecs import CODECS, describe

VECTORS = Path(__file__).parents[1] / "vectors" / "ble"
VECTOR_NAMES = sorted(p.stem for p in VECTORS.glob("*.hex"))
BLE_CODECS = (
    "ble.bpm",
    "ble.icp",
    "ble.plx-spot",
    "ble.plx-continuous",
    "ble.temperature",
    "ble.weight",
    "ble.hr",
    "polar.pmd-ecg",
)


def load_vector(name: str) -> tuple[str, bytes]:
    """(codec, bytes) of a .hex vector: line 1 names the source, line 2 the codec."""
    lines = (VECTORS / f"{name}.hex").read_text().splitlines()
    assert lines[0].startswith("# source: "), "every vector names its source on line 1"
    assert lines[1].startswith("# codec: "), "line 2 names the codec"
    codec = lines[1].removeprefix("# codec: ").strip()
    return codec, bytes.fromhex(" ".join(line.split("#", 1)[0] for line in lines))


def test_vectors_present_with_expectations_and_provenance() -> None:
    assert len(VECTOR_NAMES) >= 20
    readme = (VECTORS / "README.md").read_text()
    for name in VECTOR_NAMES:
        assert (VECTORS / f"{name}.json").exists(), f"{name}.hex has no expected JSON beside it"
        if not name.startswith("spec_"):
            assert f"`{name}.hex`" in readme, f"{name}: a real vector needs its provenance"
    covered = {load_vector(n)[0] for n in VECTOR_NAMES}
    assert covered == set(BLE_CODECS)


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_vector_describe_whole(name: str) -> None:
    codec, data = load_vector(name)
    result = describe(codec, data)
    assert result == json.loads((VECTORS / f"{name}.json").read_text())
    assert result["codec"] == codec
    json.dumps(result, allow_nan=False)  # JSON-ready: no NaN, no enums


def test_registry_has_every_ble_codec() -> None:
    for name in BLE_CODECS:
        assert name in CODECS


@pytest.mark.parametrize(
    ("codec", "hex_", "key", "value"),
    [
        ("ble.bpm", "00 7800 5000 5d00", "systolic_mmhg", 120.0),
        ("ble.icp", "00 9600 ff07 ff07", "cuff_pressure_mmhg", 150.0),
        ("ble.plx-spot", "00 6100 4000", "spo2_pct", 97.0),
        ("ble.plx-continuous", "00 6100 4000", "pulse_bpm", 64.0),
        ("ble.temperature", "00 6e0100ff", "temperature_c", 36.6),
        ("ble.weight", "00 a438", "weight_kg", 72.5),
        ("ble.hr", "10 48 0004", "rr_intervals_ms", [1000.0]),
        ("polar.pmd-ecg", "00 0000000000000000 00 680000", "ecg_uv", [104]),
    ],
)
def test_brief_keys(codec: str, hex_: str, key: str, value: object) -> None:
    result = describe(codec, bytes.fromhex(hex_))
    assert result[key] == value
    assert isinstance(result["warnings"], list)


def test_cli_decodes_a_real_capture_and_reports_an_exact_error() -> None:
    """``helserom decode`` in a real process: JSON out, or exit 2 with the one-line error."""
    import subprocess
    import sys

    cli = [sys.executable, "-m", "gateway", "decode"]
    ok = subprocess.run(
        [*cli, "ble.bpm", "16 ff07 ff07 ff07 e80706170e230a ff07 0000"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    result = json.loads(ok.stdout)
    assert result["all_nan"] is True and result["systolic_mmhg"] is None
    bad = subprocess.run(
        [*cli, "ble.plx-spot", "01 6100 4000 ea07"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "error: ble.plx-spot: offset 5: timestamp needs 7 byte(s), 2 left (payload is 7 bytes)"
    )
