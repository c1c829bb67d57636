"""FHIR export of real stored sessions: every resource validated with fhir.resources (R4B
models; see docs/fhir.md for why R4B stands in for R4), codes, units, times, interpretation,
waveforms and the spirometry report against ``helserom analyze spiro``."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle
from typer.testing import CliRunner

from gateway.cli_analyze import analyze_app
from gateway.clinical.careplan import load_careplan
from gateway.export import read_session_file
from gateway.fhir import ExportOptions, build_bundle
from gateway.fhir.codes import (
    EXT_DEVICE_TIME,
    EXT_TIME_SOURCE,
    EXT_VERDICT,
    GATEWAY_DEVICE_EXT,
    LOINC,
    MDC,
    UCUM,
    instant,
)
from gateway.fhir.spirometry import find_blows
from gateway.fhir.waveforms import decode
from tests.gateway.test_fhir_fixtures import (
    CAREPLAN,
    CUFF_TIME,
    ECG_FS,
    PLETH_FS,
    SPIRO_FS,
    T0,
    blows,
    ecg_blocks,
    make_spiro_session,
    make_vitals_session,
    pleth_blocks,
)

PATIENT = {
    "pseudonym": "PSN-0042",
    "name": "Kari Nordmann",
    "given": "Kari",
    "family": "Nordmann",
    "birth_date": "1976-05-17",
    "sex": "female",
    "phone": "+47 99999999",
}
# Required bindings that fhir.resources does not check (it validates structure, types,
# cardinality and primitive formats, not code values).
REQUIRED_CODES = {
    ("Observation", "status"): {"registered", "preliminary", "final", "amended"},
    ("DiagnosticReport", "status"): {"registered", "partial", "preliminary", "final"},
    ("Encounter", "status"): {"planned", "arrived", "in-progress", "finished", "cancelled"},
}


def options(**kw: Any) -> ExportOptions:
    base: dict[str, Any] = {
        "site": "bygdeby",
        "room": "rom-1",
        "recorded_wall_s": T0 + 3600.0,
        "careplan": load_careplan(CAREPLAN),
        "pseudonym_system": "urn:oid:2.16.578.1.12.4.1.7.1",
    }
    return ExportOptions(**(base | kw))


@pytest.fixture
async def vitals(tmp_path: Path) -> tuple[Path, str]:
    path = tmp_path / "gw.sqlite3"
    return path, await make_vitals_session(path, PATIENT)


def bundle_of(path: Path, sid: str, **kw: Any) -> dict[str, Any]:
    data = read_session_file(path, sid)
    assert data is not None
    return build_bundle(data, options(**kw))


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def validate_all(bundle: dict[str, Any]) -> None:
    """Every resource alone, the Bundle whole, required codes, and every reference resolves."""
    Bundle.model_validate(bundle)
    urls = {e["fullUrl"] for e in bundle["entry"]}
    for entry in bundle["entry"]:
        r = entry["resource"]
        get_fhir_model_class(r["resourceType"]).model_validate(r)
        for (kind, key), allowed in REQUIRED_CODES.items():
            if r["resourceType"] == kind:
                assert r[key] in allowed
        for target in _references(r):
            assert target in urls, target
    assert bundle["type"] == "transaction"
    assert all(e["request"]["method"] == "POST" for e in bundle["entry"])


def _references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["reference"]] if isinstance(node.get("reference"), str) else []
        return found + [x for v in node.values() for x in _references(v)]
    if isinstance(node, list):
        return [x for v in node for x in _references(v)]
    return []


def by_code(bundle: dict[str, Any], code: str) -> list[dict[str, Any]]:
    return [
        o
        for o in resources(bundle, "Observation")
        if any(c["code"] == code for c in o["code"].get("coding", []))
    ]


def ext(resource: dict[str, Any], url: str) -> list[Any]:
    return [
        next(v for k, v in e.items() if k.startswith("value"))
        for e in resource.get("extension", [])
        if e["url"] == url
    ]


def interp(obs: dict[str, Any]) -> str | None:
    if "interpretation" not in obs:
        return None
    code: str = obs["interpretation"][0]["coding"][0]["code"]
    return code


async def test_every_resource_validates(vitals: tuple[Path, str], tmp_path: Path) -> None:
    b = bundle_of(*vitals)
    validate_all(b)
    kinds = [e["resource"]["resourceType"] for e in b["entry"]]
    assert kinds.count("Patient") == 1 and kinds.count("Encounter") == 1
    assert kinds.count("Device") == 6  # five devices and the gateway
    assert kinds[-1] == "Provenance"
    assert "DiagnosticReport" not in kinds  # no airway flow, no spirometry report
    spiro_path = tmp_path / "spiro.sqlite3"
    sid = await make_spiro_session(spiro_path, {"sex": "male", "age_y": 50, "height_cm": 180})
    validate_all(bundle_of(spiro_path, sid))
    validate_all(bundle_of(*vitals, careplan=None, patient="minimal", waveforms=False))


async def test_codes_units_and_spo2_interpretations(vitals: tuple[Path, str]) -> None:
    b = bundle_of(*vitals)
    spo2 = by_code(b, "59408-5")
    assert len(spo2) == 4 and by_code(b, "150456") == spo2
    valid, questionable, invalid, nan = spo2
    coding = valid["code"]["coding"]
    assert {"system": LOINC, "code": "59408-5", "display": "Oxygen saturation"} in coding
    assert {"system": MDC, "code": "150456", "display": "MDC_PULS_OXIM_SAT_O2"} in coding
    assert valid["valueQuantity"] == {"value": 95.0, "unit": "%", "system": UCUM, "code": "%"}
    assert valid["category"][0]["coding"][0]["code"] == "vital-signs"
    assert interp(valid) == "N"
    assert interp(questionable) == "L"  # yellow band below green
    assert "usikker" in questionable["interpretation"][0]["text"]
    assert ext(questionable, EXT_VERDICT) == ["questionable"]
    # invalid: value kept, verdict carried, never a colour
    assert invalid["valueQuantity"]["value"] == 85.0 and "interpretation" not in invalid
    assert ext(invalid, EXT_VERDICT) == ["invalid"]
    # NaN: dataAbsentReason, no value, no colour
    assert "valueQuantity" not in nan and "interpretation" not in nan
    assert nan["dataAbsentReason"]["coding"][0]["code"] == "not-a-number"
    assert "missing" in ext(nan, "https://helserom.no/fhir/StructureDefinition/device-quality-flag")
    (pulse,) = by_code(b, "8889-8")
    assert interp(pulse) == "HH" and pulse["valueQuantity"]["code"] == "/min"
    (temp,) = by_code(b, "8310-5")
    assert interp(temp) == "H" and temp["valueQuantity"]["code"] == "Cel"
    (weight,) = by_code(b, "29463-7")
    assert weight["valueQuantity"] == {"value": 82.5, "unit": "kg", "system": UCUM, "code": "kg"}
    assert "interpretation" not in weight  # the plan has no bands for weight


async def test_effective_times_and_the_unset_device_clock(vitals: tuple[Path, str]) -> None:
    b = bundle_of(*vitals)
    gateway = next(e["fullUrl"] for e in b["entry"] if "Gateway" in json.dumps(e["resource"]))
    spo2 = by_code(b, "59408-5")[0]  # the oximeter has no clock: gateway time, no note
    assert spo2["effectiveDateTime"] == instant(T0 + 10.0) == "2026-11-23T09:40:10.000+00:00"
    assert ext(spo2, EXT_TIME_SOURCE)[0]["code"] == "gateway-receive-time"
    assert "note" not in spo2
    assert ext(spo2, GATEWAY_DEVICE_EXT) == [{"reference": gateway}]
    bp_ok, bp_unset = by_code(b, "85354-9")
    assert bp_ok["effectiveDateTime"] == CUFF_TIME.isoformat() == "2026-11-23T06:00:05+00:00"
    assert ext(bp_ok, EXT_TIME_SOURCE)[0]["code"] == "device-clock"
    assert "note" not in bp_ok and not ext(bp_ok, EXT_DEVICE_TIME)
    assert bp_unset["effectiveDateTime"] == instant(T0 + 40.0)
    assert ext(bp_unset, EXT_DEVICE_TIME) == ["2000-01-01T00:00:00+00:00"]
    assert "clock was not set" in bp_unset["note"][0]["text"]
    (temp,) = by_code(b, "8310-5")
    assert temp["effectiveDateTime"] == instant(T0 + 35.0) and "note" in temp
    (weight,) = by_code(b, "29463-7")
    assert weight["effectiveDateTime"] == "2026-11-23T06:01:05+00:00"


async def test_blood_pressure_is_one_panel_with_components(vitals: tuple[Path, str]) -> None:
    b = bundle_of(*vitals)
    assert not by_code(b, "8480-6")  # no stand-alone systolic Observation
    bp_ok, bp_unset = by_code(b, "85354-9")
    comps = {c["code"]["coding"][0]["code"]: c for c in bp_ok["component"]}
    assert set(comps) == {"8480-6", "8462-4", "8478-0"}
    assert comps["8480-6"]["valueQuantity"]["value"] == 150.0
    assert comps["8480-6"]["valueQuantity"]["code"] == "mm[Hg]"
    assert interp(comps["8480-6"]) == "N"
    assert interp(comps["8462-4"]) is None  # the plan has no diastolic bands
    assert ext(bp_ok, EXT_VERDICT) == ["valid"]
    low = {c["code"]["coding"][0]["code"]: c for c in bp_unset["component"]}
    assert interp(low["8480-6"]) == "LL"
    assert low["8478-0"]["dataAbsentReason"]["coding"][0]["code"] == "not-a-number"
    assert ext(bp_unset, EXT_VERDICT) == ["invalid"]  # the worst component's verdict
    assert bp_ok["device"] == bp_unset["device"]


async def test_without_a_careplan_nothing_is_interpreted(vitals: tuple[Path, str]) -> None:
    b = bundle_of(*vitals, careplan=None)
    assert '"interpretation"' not in json.dumps(b)


async def test_sampled_data_round_trips_the_stored_samples(vitals: tuple[Path, str]) -> None:
    b = bundle_of(*vitals)
    pleth = by_code(b, "150452")
    assert len(pleth) == 2  # the lost block splits the stream
    stored = np.concatenate([blk.values[:, 0] for blk in pleth_blocks()]).astype(np.float32)
    got = []
    for obs in pleth:
        sd = obs["valueSampledData"]
        assert sd["period"] == pytest.approx(1000.0 / PLETH_FS)
        assert sd["dimensions"] == 1 and sd["origin"]["code"] == "1"
        x = decode(sd["data"], sd["factor"], sd["origin"]["value"])
        assert np.max(np.abs(x)) / sd["factor"] < 10**5
        got.append((x, sd["factor"]))
    assert [x.size for x, _ in got] == [5 * 75, 4 * 75]
    joined = np.concatenate([x for x, _ in got])
    assert np.all(np.abs(joined - stored) <= max(f for _, f in got) / 2 + 1e-12)
    start = [o["effectivePeriod"]["start"] for o in pleth]
    assert start == [instant(T0 + 50.0), instant(T0 + 56.0)]  # first block, block after gap
    ecg = [o for o in resources(b, "Observation") if "ECG lead" in o["code"].get("text", "")]
    assert len(ecg) == 4  # 2 segments x 2 leads
    lead2 = [o for o in ecg if o["code"]["text"] == "ECG lead II"]
    assert lead2[0]["code"]["coding"][0] == {
        "system": MDC,
        "code": "131330",
        "display": "MDC_ECG_ELEC_POTL_II",
    }
    other = [o for o in ecg if o["code"]["text"] == "ECG lead ch2"]
    assert other[0]["code"]["coding"][0]["code"] == "131328"  # unknown lead: generic code
    sd = other[0]["valueSampledData"]
    raw = np.concatenate([blk.values[:, 1] for blk in ecg_blocks()[:3]]).astype(np.float32)
    x = decode(sd["data"], sd["factor"])
    assert sd["data"].split()[0] == "E" and math.isnan(x[0])
    assert np.array_equal(np.isnan(x), np.isnan(raw))  # each block's first sample is NaN
    ok = ~np.isnan(raw)
    assert np.all(np.abs(x[ok] - raw[ok]) <= sd["factor"] / 2 + 1e-9)
    assert sd["period"] == pytest.approx(1000.0 / ECG_FS)


async def test_waveforms_capped_or_left_out(vitals: tuple[Path, str]) -> None:
    capped = by_code(bundle_of(*vitals, waveform_max_s=2.0), "150452")
    assert len(capped) == 1 and len(capped[0]["valueSampledData"]["data"].split()) == 150
    none = bundle_of(*vitals, waveforms=False)
    assert '"valueSampledData"' not in json.dumps(none)
    data = read_session_file(*vitals, waveforms=False)
    assert data is not None and data.blocks == () and len(data.measurements) == 13


async def test_patient_never_carries_more_than_configured(vitals: tuple[Path, str]) -> None:
    pseudo = bundle_of(*vitals, waveforms=False)  # (sample digits could hold "1976")
    (patient,) = resources(pseudo, "Patient")
    assert patient == {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:oid:2.16.578.1.12.4.1.7.1", "value": "PSN-0042"}],
    }
    text = json.dumps(pseudo)
    for secret in ("Nordmann", "1976", "99999999"):
        assert secret not in text
    entry = next(e for e in pseudo["entry"] if e["resource"]["resourceType"] == "Patient")
    assert entry["request"]["ifNoneExist"] == "identifier=urn:oid:2.16.578.1.12.4.1.7.1|PSN-0042"
    minimal = bundle_of(*vitals, patient="minimal", waveforms=False)
    (patient,) = resources(minimal, "Patient")
    assert patient == {
        "resourceType": "Patient",
        "name": [{"family": "Nordmann", "given": ["Kari"], "text": "Kari Nordmann"}],
        "gender": "female",
        "birthDate": "1976-05-17",
    }
    assert "PSN-0042" not in json.dumps(minimal) and "99999999" not in json.dumps(minimal)


async def test_devices_encounter_and_provenance(vitals: tuple[Path, str]) -> None:
    path, sid = vitals
    b = bundle_of(path, sid)
    devices = {d["identifier"][0]["value"]: d for d in resources(b, "Device")}
    cuff = devices["cuff-1"]  # the latest Device Information, not the older one
    assert cuff["manufacturer"] == "A&D Medical" and cuff["serialNumber"] == "5160100123"
    assert cuff["modelNumber"] == "UA-651BLE"
    assert {"type": {"text": "firmware"}, "value": "2.4"} in cuff["version"]
    assert {"system": "urn:ietf:rfc:3986", "value": "ble://AA:BB:CC:DD:EE:01?profile=bp"} in cuff[
        "identifier"
    ]
    gw = devices["bygdeby/rom-1"]
    gw_url = next(e["fullUrl"] for e in b["entry"] if e["resource"] is gw)
    (enc,) = resources(b, "Encounter")
    assert enc["status"] == "finished" and enc["identifier"][0]["value"] == f"urn:uuid:{sid}"
    assert enc["period"] == {"start": instant(T0), "end": instant(T0)}
    (prov,) = resources(b, "Provenance")
    targets = {t["reference"] for t in prov["target"]}
    assert targets == {e["fullUrl"] for e in b["entry"][:-1]}  # everything but itself
    assert prov["agent"][0]["who"] == {"reference": gw_url}
    assert prov["recorded"] == instant(T0 + 3600.0) == b["timestamp"]
    assert bundle_of(path, sid)["entry"][5]["fullUrl"] == b["entry"][5]["fullUrl"]  # stable ids


def _spiro_cli_of(tmp_path: Path, flows: list[Any]) -> list[dict[str, Any]]:
    manoeuvres: list[dict[str, Any]] = _spiro_cli(tmp_path, [], flows)["manoeuvres"]
    return manoeuvres


def _spiro_cli(tmp_path: Path, extra: list[str], flows: list[Any] | None = None) -> dict[str, Any]:
    args = ["spiro", "--fs", str(SPIRO_FS)]  # the body of `helserom analyze spiro`
    for k, flow in enumerate(blows() if flows is None else flows):
        path = tmp_path / f"blow{k}.csv"
        # the samples exactly as the store holds them (float32)
        np.savetxt(path, flow.astype(np.float32), header="flow_lps", comments="", fmt="%.9g")
        args += ["--input", str(path)]
    result = CliRunner().invoke(analyze_app, args + extra)
    assert result.exit_code == 0, result.output
    out: dict[str, Any] = json.loads(result.stdout)
    return out


async def test_spirometry_report_equals_analyze_spiro(tmp_path: Path) -> None:
    patient = {"pseudonym": "P-7", "sex": "male", "age_y": 50, "height_cm": 180}
    path = tmp_path / "gw.sqlite3"
    sid = await make_spiro_session(path, patient)
    started = time.perf_counter()
    b = bundle_of(path, sid)
    build_ms = (time.perf_counter() - started) * 1000.0
    assert build_ms < 2000
    cli = _spiro_cli(tmp_path, ["--sex", "male", "--age", "50", "--height-cm", "180"])
    (report,) = resources(b, "DiagnosticReport")
    assert ext(report, "https://helserom.no/fhir/StructureDefinition/spirometry-grade-fev1") == [
        cli["grade_fev1"]
    ]
    assert cli["grade_fev1"] == "A"
    results = {r["reference"] for r in report["result"]}
    obs = {
        o["code"]["coding"][0]["code"]: o
        for e in b["entry"]
        if e["fullUrl"] in results
        for o in [e["resource"]]
    }
    man = cli["manoeuvres"]
    best = man[cli["best"]]
    expect = {
        "20150-9": max(m["fev1_l"] for m in man if m["acceptable_fev1"]),
        "19868-9": max(m["fvc_l"] for m in man if m["acceptable_fvc"]),
        "19935-6": best["pef_lps"],
        "19927-3": best["fef25_75_lps"],
    }
    expect["19926-5"] = expect["20150-9"] / expect["19868-9"]
    assert set(obs) == set(expect)
    for code, value in expect.items():
        assert obs[code]["valueQuantity"]["value"] == pytest.approx(value, rel=1e-9), code
    fev1 = obs["20150-9"]
    ref = {c["code"]["coding"][0]["code"]: c["valueQuantity"]["value"] for c in fev1["component"]}
    assert ref == pytest.approx(cli["reference"]["fev1_l"], rel=1e-9)
    assert fev1["referenceRange"][0]["low"]["value"] == pytest.approx(
        cli["reference"]["fev1_l"]["lln"], rel=1e-9
    )
    assert interp(fev1) == "N"
    assert obs["19926-5"]["valueQuantity"]["code"] == "1"
    assert "grade FEV1 A, FVC A (3 manoeuvres, 3 acceptable)" in report["conclusion"]
    assert "FEV1 z" in report["conclusion"]
    (who,) = resources(b, "Patient")  # sex/age/height feed GLI but never leave the room
    assert who == {"resourceType": "Patient", "identifier": [who["identifier"][0]]}


async def test_spirometry_without_patient_data_has_no_reference(tmp_path: Path) -> None:
    path = tmp_path / "gw.sqlite3"
    sid = await make_spiro_session(path, {"pseudonym": "P-8"})
    b = bundle_of(path, sid)
    (report,) = resources(b, "DiagnosticReport")
    assert "z" not in report["conclusion"].split("acceptable).")[-1]
    cli = _spiro_cli(tmp_path, [])
    assert "reference" not in cli
    for o in by_code(b, "20150-9"):
        assert "referenceRange" not in o and "interpretation" not in o


async def test_spirometry_gap_drops_a_blow_and_the_last_blow_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "gw.sqlite3"
    one = blows()[0].size / SPIRO_FS + 3.0  # seconds per blow with its rest
    # a block lost in the middle of the second blow; the recording ends right after the third
    sid = await make_spiro_session(
        path, {"pseudonym": "P-9"}, drop_s=3.0 + one + 3.0, end_rest=False
    )
    data = read_session_file(path, sid)
    assert data is not None
    (found,) = find_blows(data.blocks)
    assert len(found.flows_lps) == 2  # the blow with a hole cannot be judged
    b = build_bundle(data, options())
    validate_all(b)
    (report,) = resources(b, "DiagnosticReport")
    assert "(2 manoeuvres, 2 acceptable)" in report["conclusion"]
    expected = max(m["fvc_l"] for m in _spiro_cli_of(tmp_path, [blows()[0], blows()[2]]))
    (fvc,) = by_code(b, "19868-9")
    assert fvc["valueQuantity"]["value"] == pytest.approx(expected, rel=1e-9)
