"""Device quirks table: lookup by Device Information strings, every entry sourced and tested."""

from __future__ import annotations

from drivers.codecs.ble_bp import BloodPressureMeasurement
from drivers.codecs.ble_quirks import QUIRKS, Quirk, quirk_entry, quirks_for


def test_lookup_is_case_and_space_insensitive() -> None:
    assert quirks_for("Beurer", "BM85") == Quirk.BPM_PULSE_STATUS_BIG_ENDIAN
    assert quirks_for("  beurer ", "bm85") == Quirk.BPM_PULSE_STATUS_BIG_ENDIAN
    assert quirks_for("Beurer", "BM54") == Quirk.NONE
    assert quirks_for(None, None) == Quirk.NONE
    entry = quirk_entry("BEURER", "BM85")
    assert entry is not None and "#735" in entry.source


def test_every_entry_has_a_source_and_a_known_quirk() -> None:
    assert QUIRKS
    keys = set()
    for e in QUIRKS:
        assert e.source.startswith("github.com/"), e
        assert e.quirks != Quirk.NONE
        keys.add((e.manufacturer.casefold(), e.model.casefold()))
    assert len(keys) == len(QUIRKS), "one entry per (manufacturer, model)"


def test_beurer_bm85_payload_decodes_right_only_with_its_quirk() -> None:
    # 135/85 MAP 101, pulse 68 (SFLOAT 0x0044) and status 0x0004 (irregular pulse), the last
    # two big-endian as the BM85 sends them (derdilla/blood-pressure-monitor-fl #735, #737)
    data = bytes.fromhex("14 8700 5500 6500 0044 0004")
    quirks = quirks_for("Beurer", "BM85")
    m = BloodPressureMeasurement.from_bytes(data, quirks)
    assert m.pulse_rate is not None and m.pulse_rate.value == 68.0
    assert m.status is not None and m.status.irregular_pulse
    wrong = BloodPressureMeasurement.from_bytes(data)
    # read by the spec the pulse word is 0x4400: 1024e4 /min, caught only by the range check
    assert wrong.pulse_rate is not None and wrong.pulse_rate.value == 10_240_000.0
    assert "out_of_range: pulse rate 10240000.0 outside 20..300 /min" in wrong.warnings
    assert wrong.status is not None and not wrong.status.irregular_pulse
