"""Spot measurements as Observations: codes, UCUM, effective time, interpretation, verdict.

Effective time follows the HL7 Personal Health Device IG (v1.1.0, "Time stamps and the
coincident time stamp"): a device's own time stamp is used when its clock is trusted; when
the device has no clock the gateway's (PHG's) receive time is used; when the device clock is
*not set* its time stamp cannot be trusted, so the gateway's receive time is used, the
untrusted device time is kept in an extension and a note says so. Blood pressure is one
panel Observation (LOINC 85354-9) with systolic, diastolic and mean components.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from drivers.model import QualityFlag, Quantity
from gateway.clinical.careplan import Band, CarePlan, Colour
from gateway.fhir.codes import (
    BP_PANEL_LOINC,
    BP_PANEL_MDC,
    CS_TIME_SOURCE,
    EXT_DEVICE_TIME,
    EXT_QUALITY,
    EXT_REASON,
    EXT_TIME_SOURCE,
    EXT_VERDICT,
    GATEWAY_DEVICE_EXT,
    INTERPRETATION,
    LOINC,
    MDC,
    OBS_CATEGORY,
    VITAL_SIGNS,
    data_absent,
    instant,
    known_quantity,
    quantity_code,
    ref,
    value_quantity,
)
from gateway.fhir.context import Refs
from gateway.fhir.source import MeasurementRow
from gateway.signals.verdict import Assessed, Verdict

BP_KEYS = ("bp_systolic", "bp_diastolic", "bp_mean")
CLOCK_NOT_SET_NOTE = (
    "Enhetens klokke var ikke stilt; tidspunktet er når gatewayen mottok målingen. / "
    "The device clock was not set; the time is when the gateway received the measurement."
)
# Traffic light → v3 ObservationInterpretation: (colour, side of the green bands) → code.
_INTERPRETATION = {
    (Colour.GREEN, None): ("N", "Normal"),
    (Colour.YELLOW, "low"): ("L", "Low"),
    (Colour.YELLOW, "high"): ("H", "High"),
    (Colour.YELLOW, None): ("A", "Abnormal"),
    (Colour.RED, "low"): ("LL", "Critical low"),
    (Colour.RED, "high"): ("HH", "Critical high"),
    (Colour.RED, None): ("AA", "Critical abnormal"),
}


def measurement_observations(
    rows: Sequence[MeasurementRow], refs: Refs, plan: CarePlan | None
) -> list[str]:
    """Add one Observation per measurement (one per BP reading) to ``refs``; their URLs."""
    urls: list[str] = []
    bp: dict[tuple[str, str | None, float], list[MeasurementRow]] = {}
    for row in rows:
        if row.quantity in BP_KEYS:
            # the three values of one cuff reading share device, device time and receive time
            key = (row.device_id, row.device_time, round(row.received_wall_s, 1))
            bp.setdefault(key, []).append(row)
            continue
        url = refs.url(f"Observation/m{row.id}")
        refs.add(url, _single(row, refs, plan))
        urls.append(url)
    for group in bp.values():
        url = refs.url(f"Observation/m{group[0].id}")
        refs.add(url, _bp_panel(group, refs, plan))
        urls.append(url)
    return urls


def _single(row: MeasurementRow, refs: Refs, plan: CarePlan | None) -> dict[str, Any]:
    q = known_quantity(row.quantity)
    obs: dict[str, Any] = {"resourceType": "Observation", "status": "final"}
    obs["extension"] = _extensions(row, refs)
    if row.quantity in VITAL_SIGNS:
        obs["category"] = [_category("vital-signs", "Vital Signs")]
    obs["code"] = quantity_code(q.spec) if q else {"text": row.quantity}
    obs |= refs.common(row.device_id)
    obs |= _effective(row)
    obs["issued"] = instant(row.received_wall_s)
    obs |= _value(row, q, plan)
    if not row.device_clock_set:
        obs["note"] = [{"text": CLOCK_NOT_SET_NOTE}]
    return obs


def _bp_panel(group: list[MeasurementRow], refs: Refs, plan: CarePlan | None) -> dict[str, Any]:
    first = group[0]
    obs: dict[str, Any] = {"resourceType": "Observation", "status": "final"}
    obs["extension"] = _extensions(first, refs, verdict=False) + _verdict_ext(_worst(group), ())
    obs["category"] = [_category("vital-signs", "Vital Signs")]
    obs["code"] = {
        "coding": [
            {"system": LOINC, "code": BP_PANEL_LOINC[0], "display": BP_PANEL_LOINC[1]},
            {"system": MDC, "code": BP_PANEL_MDC[0], "display": BP_PANEL_MDC[1]},
        ],
        "text": "Blood pressure",
    }
    obs |= refs.common(first.device_id)
    obs |= _effective(first)
    obs["issued"] = instant(first.received_wall_s)
    if not first.device_clock_set:
        obs["note"] = [{"text": CLOCK_NOT_SET_NOTE}]
    components = []
    for row in sorted(group, key=lambda r: BP_KEYS.index(r.quantity)):
        q = Quantity.from_key(row.quantity)
        comp: dict[str, Any] = {"code": quantity_code(q.spec)}
        comp |= _value(row, q, plan)
        comp["extension"] = _verdict_ext(row.verdict, row.reasons) + _quality_ext(row.quality)
        if not comp["extension"]:
            del comp["extension"]
        components.append(comp)
    obs["component"] = components
    return obs


def _worst(group: Iterable[MeasurementRow]) -> str | None:
    verdicts = [Verdict(r.verdict) for r in group if r.verdict is not None]
    if not verdicts:
        return None
    out = verdicts[0]
    for v in verdicts[1:]:
        out = out.worst(v)
    return out.value


def _category(code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": OBS_CATEGORY, "code": code, "display": display}]}


def _extensions(row: MeasurementRow, refs: Refs, *, verdict: bool = True) -> list[dict[str, Any]]:
    ext: list[dict[str, Any]] = [{"url": GATEWAY_DEVICE_EXT, "valueReference": ref(refs.gateway)}]
    if verdict:
        ext += _verdict_ext(row.verdict, row.reasons)
        ext += _quality_ext(row.quality)
    trusted = row.device_time is not None and row.device_clock_set
    source = "device-clock" if trusted else "gateway-receive-time"
    ext.append({"url": EXT_TIME_SOURCE, "valueCoding": {"system": CS_TIME_SOURCE, "code": source}})
    if row.device_time is not None and not row.device_clock_set:
        ext.append({"url": EXT_DEVICE_TIME, "valueString": row.device_time})
    return ext


def _verdict_ext(verdict: str | None, reasons: Iterable[str]) -> list[dict[str, Any]]:
    ext = [] if verdict is None else [{"url": EXT_VERDICT, "valueCode": verdict}]
    return ext + [{"url": EXT_REASON, "valueCode": r} for r in reasons]


def _quality_ext(bits: int) -> list[dict[str, Any]]:
    return [{"url": EXT_QUALITY, "valueCode": name} for name in QualityFlag(bits).names()]


def _effective(row: MeasurementRow) -> dict[str, Any]:
    if row.device_time is not None and row.device_clock_set:
        return {"effectiveDateTime": row.device_time}
    return {"effectiveDateTime": instant(row.received_wall_s)}


def _value(row: MeasurementRow, q: Quantity | None, plan: CarePlan | None) -> dict[str, Any]:
    if row.value is None or not math.isfinite(row.value):
        return {"dataAbsentReason": data_absent()}  # NaN: no value, no interpretation
    out: dict[str, Any] = {}
    if q is not None:
        out["valueQuantity"] = value_quantity(row.value, q.spec)
    else:
        out["valueQuantity"] = {"value": row.value, "unit": row.unit}
    interp = interpretation(row, q, plan)
    if interp is not None:
        out["interpretation"] = [interp]
    return out


def interpretation(
    row: MeasurementRow, q: Quantity | None, plan: CarePlan | None
) -> dict[str, Any] | None:
    """The care plan's traffic light as an ObservationInterpretation (never for INVALID)."""
    if plan is None or q is None or row.value is None or row.verdict in (None, "invalid"):
        return None
    light = plan.light(q, Assessed(row.value, Verdict(row.verdict)))
    if light is None:
        return None
    code, display = _INTERPRETATION[(light.colour, _side(light.band, plan.bands[q]))]
    text = light.band.label_nb + (" (usikker / questionable)" if light.questionable else "")
    return {"coding": [{"system": INTERPRETATION, "code": code, "display": display}], "text": text}


def _side(band: Band, bands: Sequence[Band]) -> str | None:
    """Whether a yellow/red band lies below or above every green band (None: unknown)."""
    greens = [b for b in bands if b.colour is Colour.GREEN]
    if band.colour is Colour.GREEN or not greens:
        return None
    if band.upper <= min(b.lower for b in greens):
        return "low"
    if band.lower >= max(b.upper for b in greens):
        return "high"
    return None
