"""Code systems, extension URLs and small FHIR helpers shared by the builder's modules."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from drivers.model import Quantity, QuantitySpec

LOINC = "http://loinc.org"
MDC = "urn:iso:std:iso:11073:10101"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
DIAG_SERVICE = "http://terminology.hl7.org/CodeSystem/v2-0074"
PROVENANCE_AGENT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
DATA_OPERATION = "http://terminology.hl7.org/CodeSystem/v3-DataOperation"
RFC3986 = "urn:ietf:rfc:3986"
# Core R4 extension the PHD IG puts on every Observation: the gateway (PHG) it came through.
GATEWAY_DEVICE_EXT = "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice"

# Project-defined identifiers, extensions and codes (documented in docs/fhir.md). A
# placeholder namespace until the municipality registers one.
HELSEROM = "https://helserom.no/fhir"
EXT_VERDICT = f"{HELSEROM}/StructureDefinition/signal-verdict"
EXT_REASON = f"{HELSEROM}/StructureDefinition/signal-reason"
EXT_QUALITY = f"{HELSEROM}/StructureDefinition/device-quality-flag"
EXT_TIME_SOURCE = f"{HELSEROM}/StructureDefinition/effective-time-source"
EXT_DEVICE_TIME = f"{HELSEROM}/StructureDefinition/device-reported-time"
EXT_FIRST_INDEX = f"{HELSEROM}/StructureDefinition/first-sample-index"
EXT_GRADE = f"{HELSEROM}/StructureDefinition/spirometry-grade"
SYS_DEVICE_ID = f"{HELSEROM}/sid/device-id"
SYS_GATEWAY = f"{HELSEROM}/sid/gateway"
CS_SPIRO_REF = f"{HELSEROM}/CodeSystem/spirometry-reference"
CS_TIME_SOURCE = f"{HELSEROM}/CodeSystem/effective-time-source"

# MDC lead codes: MDC_ECG_ELEC_POTL (131328) + the lead number of IEEE 11073-10101 Table A.7.2.
ECG_LEAD_TERMS = {
    "I": 1,
    "II": 2,
    "V1": 3,
    "V2": 4,
    "V3": 5,
    "V4": 6,
    "V5": 7,
    "V6": 8,
    "III": 61,
    "aVR": 62,
    "aVL": 63,
    "aVF": 64,
}
MDC_ECG_ELEC_POTL = 131328

BP_PANEL_LOINC = ("85354-9", "Blood pressure panel with all children optional")
BP_PANEL_MDC = ("150020", "MDC_PRESS_BLD_NONINV")
VITAL_SIGNS = {
    "spo2",
    "pulse_rate",
    "heart_rate",
    "bp_systolic",
    "bp_diastolic",
    "bp_mean",
    "body_temperature",
    "body_weight",
    "respiration_rate",
}

_NAMESPACE = uuid.UUID("6f1d4c1e-2b7a-5c55-9a0e-0d5e8a3b7c21")


def full_url(session_id: str, key: str) -> str:
    """A stable ``urn:uuid`` for one resource of one session (same session, same ids)."""
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{session_id}/{key}')}"


def ref(url: str) -> dict[str, str]:
    """A Reference to a bundle entry."""
    return {"reference": url}


def instant(wall_s: float) -> str:
    """A FHIR instant (UTC, millisecond precision) from Unix seconds."""
    return datetime.fromtimestamp(wall_s, UTC).isoformat(timespec="milliseconds")


def quantity_code(spec: QuantitySpec) -> dict[str, Any]:
    """LOINC (when it has one) and MDC codings of a quantity."""
    coding = []
    if spec.loinc is not None:
        coding.append({"system": LOINC, "code": spec.loinc, "display": spec.label_en})
    if spec.mdc_code is not None and spec.mdc_ref is not None:
        coding.append({"system": MDC, "code": str(spec.mdc_code), "display": spec.mdc_ref})
    return {"coding": coding, "text": spec.label_en}


def value_quantity(value: float, spec: QuantitySpec) -> dict[str, Any]:
    """A UCUM valueQuantity."""
    return {"value": value, "unit": spec.ucum, "system": UCUM, "code": spec.ucum}


def data_absent(code: str = "not-a-number") -> dict[str, Any]:
    """dataAbsentReason for a missing (NaN) value."""
    return {"coding": [{"system": DATA_ABSENT, "code": code}]}


def known_quantity(key: str) -> Quantity | None:
    """The Quantity of a stored key (None for a key this version does not know)."""
    try:
        return Quantity.from_key(key)
    except KeyError:
        return None
