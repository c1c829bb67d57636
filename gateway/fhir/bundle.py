"""The session Bundle: Patient, Encounter, Devices, Observations, DiagnosticReport, Provenance.

A FHIR R4 ``transaction`` Bundle: every entry has a stable ``urn:uuid`` fullUrl (derived from
the session id, so exporting a session twice gives the same ids) and a ``POST`` request; the
Patient is created only if no Patient with its pseudonym exists (``ifNoneExist``).
"""

from __future__ import annotations

from typing import Any

from gateway.fhir.codes import (
    ACT_CODE,
    DATA_OPERATION,
    PROVENANCE_AGENT,
    RFC3986,
    SYS_DEVICE_ID,
    SYS_GATEWAY,
    instant,
    ref,
)
from gateway.fhir.context import ExportOptions, Refs
from gateway.fhir.observations import measurement_observations
from gateway.fhir.source import DeviceRow, SessionData
from gateway.fhir.spirometry import find_blows, spirometry_resources
from gateway.fhir.waveforms import waveform_observations

FLOW_KEY = "airway_flow"
GENDERS = {"male": "male", "female": "female", "other": "other", "unknown": "unknown"}


def build_bundle(data: SessionData, options: ExportOptions) -> dict[str, Any]:
    """The FHIR R4 transaction Bundle of one session (plain JSON-ready dict, no I/O)."""
    s = data.session
    refs = Refs.for_session(s.id)
    patient = patient_resource(s.patient, options)
    refs.add(refs.patient, patient)
    refs.add(refs.encounter, _encounter(data, refs, options))
    refs.add(refs.gateway, _gateway_device(options))
    for d in data.devices:
        url = refs.url(f"Device/{d.id}")
        refs.devices[d.id] = url
        refs.add(url, device_resource(d, refs))
    measurement_observations(data.measurements, refs, options.careplan)
    if options.waveforms and options.waveform_max_s > 0:
        waveform_observations(data.blocks, refs, options.waveform_max_s)
    for blows in find_blows(data.blocks):
        spirometry_resources(blows, refs, s.patient, options.reference)
    targets = [url for url, _ in refs.entries]
    provenance_url = refs.url("Provenance")
    refs.add(provenance_url, _provenance(targets, refs, options))
    entries = []
    for url, resource in refs.entries:
        request: dict[str, Any] = {"method": "POST", "url": resource["resourceType"]}
        if url == refs.patient and patient.get("identifier"):
            ident = patient["identifier"][0]
            request["ifNoneExist"] = f"identifier={ident['system']}|{ident['value']}"
        entries.append({"fullUrl": url, "resource": resource, "request": request})
    return {
        "resourceType": "Bundle",
        "identifier": {"system": RFC3986, "value": refs.url("Bundle")},
        "type": "transaction",
        "timestamp": instant(options.recorded_wall_s),
        "entry": entries,
    }


def patient_resource(patient: dict[str, Any] | None, options: ExportOptions) -> dict[str, Any]:
    """Pseudonymous: only the pseudonym; minimal: only name, birth date and gender."""
    p = patient or {}
    out: dict[str, Any] = {"resourceType": "Patient"}
    if options.patient == "pseudonymous":
        pseudonym = p.get("pseudonym")
        if isinstance(pseudonym, str) and pseudonym:
            out["identifier"] = [{"system": options.pseudonym_system, "value": pseudonym}]
        return out
    name = _name(p)
    if name:
        out["name"] = [name]
    gender = p.get("gender", p.get("sex"))
    if isinstance(gender, str) and gender in GENDERS:
        out["gender"] = GENDERS[gender]
    birth = p.get("birth_date")
    if isinstance(birth, str) and birth:
        out["birthDate"] = birth
    return out


def _name(p: dict[str, Any]) -> dict[str, Any]:
    name: dict[str, Any] = {}
    if isinstance(p.get("family"), str) and p["family"]:
        name["family"] = p["family"]
    if isinstance(p.get("given"), str) and p["given"]:
        name["given"] = [p["given"]]
    if isinstance(p.get("name"), str) and p["name"]:
        name["text"] = p["name"]
    return name


def _encounter(data: SessionData, refs: Refs, options: ExportOptions) -> dict[str, Any]:
    s = data.session
    status = "finished" if s.state == "ended" else "in-progress" if s.state == "live" else "planned"
    period: dict[str, str] = {"start": instant(s.started_wall_s or s.created_wall_s)}
    if s.ended_wall_s is not None:
        period["end"] = instant(s.ended_wall_s)
    return {
        "resourceType": "Encounter",
        "identifier": [{"system": RFC3986, "value": f"urn:uuid:{s.id}"}],
        "status": status,
        # the patient is in the health room; specialists join remotely
        "class": {"system": ACT_CODE, "code": "AMB", "display": "ambulatory"},
        "subject": ref(refs.patient),
        "period": period,
        "serviceProvider": {"display": f"{options.site}/{options.room}"},
    }


def _gateway_device(options: ExportOptions) -> dict[str, Any]:
    return {
        "resourceType": "Device",
        "identifier": [{"system": SYS_GATEWAY, "value": f"{options.site}/{options.room}"}],
        "deviceName": [
            {
                "name": f"Helserom Gateway {options.site}/{options.room}",
                "type": "user-friendly-name",
            }
        ],
        "manufacturer": "Helserom",
        "type": {"text": "Personal health gateway (PHG)"},
    }


def device_resource(d: DeviceRow, refs: Refs) -> dict[str, Any]:
    """A measuring device from its latest Device Information, with its URI as identifier."""
    out: dict[str, Any] = {"resourceType": "Device"}
    ident = [{"system": SYS_DEVICE_ID, "value": d.id}]
    if d.uri:
        ident.append({"system": RFC3986, "value": d.uri})
    out["identifier"] = ident
    info = d.info or {}
    if info.get("manufacturer"):
        out["manufacturer"] = info["manufacturer"]
    if info.get("serial_number"):
        out["serialNumber"] = info["serial_number"]
    if info.get("model_number"):
        out["modelNumber"] = info["model_number"]
        out["deviceName"] = [{"name": info["model_number"], "type": "model-name"}]
    versions = [
        {"type": {"text": label}, "value": info[key]}
        for key, label in (
            ("firmware_revision", "firmware"),
            ("hardware_revision", "hardware"),
            ("software_revision", "software"),
        )
        if info.get(key)
    ]
    if versions:
        out["version"] = versions
    if d.kind:
        out["type"] = {"text": d.kind}
    out["parent"] = ref(refs.gateway)
    return out


def _provenance(targets: list[str], refs: Refs, options: ExportOptions) -> dict[str, Any]:
    return {
        "resourceType": "Provenance",
        "target": [ref(u) for u in targets],
        "recorded": instant(options.recorded_wall_s),
        "activity": {"coding": [{"system": DATA_OPERATION, "code": "CREATE"}]},
        "agent": [
            {
                "type": {"coding": [{"system": PROVENANCE_AGENT, "code": "assembler"}]},
                "who": ref(refs.gateway),
            }
        ],
    }
