"""Spirometry: the blows in a session's airway-flow blocks, analysed by the gateway's own code.

Blows are cut out of the stream by the room's own :class:`FlowChannel` (the same start/end
rules the live engine uses; a gap drops a blow in progress) and the session is judged with
:func:`gateway.signals.spiro.analyze_spiro` / ``analyze_session``, exactly as
``helserom analyze spiro`` does for the same blows. Results: FEV1, FVC, FEV1/FVC, PEF and
FEF25–75 Observations (GLI reference values when the patient's sex, age and height are known)
and a DiagnosticReport with the ATS/ERS 2019 grades and a conclusion.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from drivers.model import Quantity
from gateway.fhir.codes import (
    CS_SPIRO_REF,
    DIAG_SERVICE,
    EXT_GRADE,
    EXT_VERDICT,
    GATEWAY_DEVICE_EXT,
    INTERPRETATION,
    OBS_CATEGORY,
    SNOMED,
    UCUM,
    data_absent,
    instant,
    quantity_code,
    ref,
    value_quantity,
)
from gateway.fhir.context import Refs
from gateway.fhir.source import BlockRow
from gateway.fhir.waveforms import segments
from gateway.signals.channels import PRE_BLOW_S, FlowChannel
from gateway.signals.spiro import analyze_session, analyze_spiro

FLOW_KEY = Quantity.AIRWAY_FLOW.spec.key
SPIROMETRY_SNOMED = ("127783003", "Spirometry")
PULMONARY_FUNCTION = {"system": DIAG_SERVICE, "code": "PF", "display": "Pulmonary Function"}
GRADE_ORDER = "ABCDEUF"  # best to worst (ATS/ERS 2019 Table 10)


@dataclass(frozen=True, slots=True)
class Blows:
    """The forced expirations found in one device's flow, in the order blown."""

    device_id: str
    fs_hz: float
    flows_lps: tuple[NDArray[np.float64], ...]
    start_wall_s: float
    end_wall_s: float


class _Cutter(FlowChannel):
    """The engine's blow detector, keeping each blow's samples instead of only its results.

    One rule of its own: a blow already under way at the first sample after a gap (or at
    the start of the recording) lost its start, so it is left out (``dropped``): cut from
    mid-expiration it could otherwise pass as a small acceptable manoeuvre.
    """

    def __init__(self, fs_hz: float) -> None:
        super().__init__(fs_hz, "flow")
        self.blows: list[NDArray[np.float64]] = []
        self.times: list[float] = []
        self.dropped = 0
        self.wall_s = math.nan  # receive time of the block being fed
        self._gap_total = 0  # ring.total at the last gap

    def feed(self, block: NDArray[np.float64], *, gap_before: bool) -> None:
        if gap_before:
            self._gap_total = self.ring.total
        super().feed(block, gap_before=gap_before)

    def _judge(self, length: int, after: int) -> None:
        if self.start_total == self._gap_total:
            self.dropped += 1
            return
        # the same samples FlowChannel._judge analyses
        held = self.ring.latest(length + round(PRE_BLOW_S * self.fs_hz) + after)[:, 0]
        self.blows.append(held[: held.size - after] if after else held)
        self.times.append(self.wall_s)
        super()._judge(length, after)

    def finish(self) -> None:
        """A blow still running when the recording ended is judged as it is."""
        if self.start_total is not None:
            self._judge(self.ring.total - self.start_total, 0)
            self.start_total = None


def find_blows(blocks: Sequence[BlockRow]) -> list[Blows]:
    """Per spirometer: the blows in its airway-flow blocks (gaps split segments)."""
    flow = [b for b in blocks if b.quantity == FLOW_KEY]
    out: list[Blows] = []
    by_device: dict[str, list[BlockRow]] = {}
    for b in flow:
        by_device.setdefault(b.device_id, []).append(b)
    for device_id, rows in by_device.items():
        segs = segments(rows)
        if not segs:
            continue
        fs = segs[0].fs_hz
        cutter = _Cutter(fs)
        for seg in segs:
            if seg.fs_hz != fs:
                continue  # one rate per spirometer; a changed rate is not this session's device
            step = max(1, round(fs * 0.25))
            for k in range(0, seg.samples.shape[0], step):
                cutter.wall_s = seg.start_wall_s + (k + step) / fs
                # a gap drops the blow in progress, as in the live engine
                cutter.feed(seg.samples[k : k + step, 0], gap_before=(k == 0))
        cutter.finish()
        if cutter.blows:
            start = cutter.times[0] - cutter.blows[0].size / fs
            out.append(Blows(device_id, fs, tuple(cutter.blows), start, cutter.times[-1]))
    return out


def patient_reference_inputs(
    patient: dict[str, Any] | None, on: float
) -> tuple[str | None, float | None, float | None]:
    """(sex, age in years, height in cm) from the session's patient JSON, where given."""
    if not patient:
        return None, None, None
    sex = patient.get("sex")
    sex = sex if sex in ("male", "female") else None
    age = _number(patient.get("age_y"))
    if age is None and isinstance(patient.get("birth_date"), str):
        try:
            born = date.fromisoformat(patient["birth_date"])
        except ValueError:
            born = None
        if born is not None:
            today = datetime.fromtimestamp(on).date()
            age = (today - born).days / 365.25
    return sex, age, _number(patient.get("height_cm"))


def _number(x: object) -> float | None:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        return None
    return float(x)


def spirometry_resources(
    blows: Blows, refs: Refs, patient: dict[str, Any] | None, reference: str
) -> list[str]:
    """Add the five result Observations and the DiagnosticReport for one spirometer; URLs."""
    sex, age, height = patient_reference_inputs(patient, blows.end_wall_s)
    have_ref = sex is not None and age is not None and height is not None
    kw: dict[str, Any] = {"sex": sex, "age_y": age, "height_cm": height} if have_ref else {}
    result = analyze_spiro(list(blows.flows_lps), blows.fs_hz, reference=reference, **kw)
    session = analyze_session(list(blows.flows_lps), blows.fs_hz, age_y=age)
    best = session.manoeuvres[session.best] if session.best is not None else None
    values = {
        "fev1": (session.fev1_l, result["grade_fev1"]),
        "fvc": (session.fvc_l, result["grade_fvc"]),
        "fev1_fvc": (session.fev1_fvc, None),
        "pef": (best.pef_lps if best else math.nan, None),
        "fef25_75": (best.fef25_75_lps if best else math.nan, None),
    }
    references = result.get("reference", {})
    ref_keys = {"fev1": "fev1_l", "fvc": "fvc_l", "fev1_fvc": "fev1_fvc"}
    urls: list[str] = []
    period = {"start": instant(blows.start_wall_s), "end": instant(blows.end_wall_s)}
    worst_grade = max(result["grade_fev1"], result["grade_fvc"], key=GRADE_ORDER.index)
    for key, (value, grade) in values.items():
        q = Quantity.from_key(key)
        obs: dict[str, Any] = {
            "resourceType": "Observation",
            "extension": [{"url": GATEWAY_DEVICE_EXT, "valueReference": ref(refs.gateway)}],
            "status": "final",
            "category": [{"coding": [{"system": OBS_CATEGORY, "code": "exam"}]}],
            "code": quantity_code(q.spec),
            **refs.common(blows.device_id),
            "effectivePeriod": period,
        }
        g = grade or worst_grade
        obs["extension"] += [
            {"url": EXT_GRADE, "valueCode": g},
            {"url": EXT_VERDICT, "valueCode": _verdict(g, value)},
        ]
        if math.isfinite(value):
            obs["valueQuantity"] = value_quantity(value, q.spec)
        else:
            obs["dataAbsentReason"] = data_absent()
        r = references.get(ref_keys.get(key, ""))
        if r is not None and r["predicted"] is not None:
            obs |= _reference(r, q, reference)
            if r["lln"] is not None and math.isfinite(value):
                code = "L" if value < r["lln"] else "N"
                obs["interpretation"] = [
                    {"coding": [{"system": INTERPRETATION, "code": code}], "text": "vs. LLN"}
                ]
        url = refs.url(f"Observation/spiro/{blows.device_id}/{key}")
        refs.add(url, obs)
        urls.append(url)
    report_url = refs.url(f"DiagnosticReport/spiro/{blows.device_id}")
    refs.add(
        report_url,
        {
            "resourceType": "DiagnosticReport",
            "extension": [
                {"url": f"{EXT_GRADE}-fev1", "valueCode": result["grade_fev1"]},
                {"url": f"{EXT_GRADE}-fvc", "valueCode": result["grade_fvc"]},
            ],
            "status": "final",
            "category": [
                {
                    "coding": [
                        {"system": DIAG_SERVICE, "code": "PF", "display": "Pulmonary Function"}
                    ]
                }
            ],
            "code": {
                "coding": [
                    {
                        "system": SNOMED,
                        "code": SPIROMETRY_SNOMED[0],
                        "display": SPIROMETRY_SNOMED[1],
                    }
                ],
                "text": "Spirometri / Spirometry",
            },
            "subject": ref(refs.patient),
            "encounter": ref(refs.encounter),
            "effectivePeriod": period,
            "issued": instant(blows.end_wall_s),
            "result": [ref(u) for u in urls],
            "conclusion": conclusion(values, result, reference),
        },
    )
    return [*urls, report_url]


def _verdict(grade: str, value: float) -> str:
    if not math.isfinite(value) or grade == "F":
        return "invalid"
    return "questionable" if grade in ("U", "E") else "valid"


def _reference(r: dict[str, float | None], q: Quantity, reference: str) -> dict[str, Any]:
    unit = q.spec.ucum
    label = {"gli2012": "GLI-2012", "gli-global-2022": "GLI Global 2022"}.get(reference, reference)
    rr: dict[str, Any] = {"text": f"{label}: LLN (z = -1.645)"}
    if r["lln"] is not None:
        rr["low"] = {"value": r["lln"], "unit": unit, "system": UCUM, "code": unit}
    components = []
    for name, display, ucum in (
        ("predicted", "Predicted", unit),
        ("lln", "Lower limit of normal", unit),
        ("z", "z-score", "1"),
        ("percent_predicted", "Percent predicted", "%"),
    ):
        v = r[name]
        comp: dict[str, Any] = {
            "code": {"coding": [{"system": CS_SPIRO_REF, "code": name, "display": display}]}
        }
        if v is None:
            comp["dataAbsentReason"] = data_absent()
        else:
            comp["valueQuantity"] = {"value": v, "unit": ucum, "system": UCUM, "code": ucum}
        components.append(comp)
    return {"referenceRange": [rr], "component": components}


def conclusion(
    values: dict[str, tuple[float, str | None]], result: dict[str, Any], reference: str
) -> str:
    """One line a clinician reads: values, grades, references, acceptable count."""
    labels = {"fev1": "FEV1", "fvc": "FVC", "fev1_fvc": "FEV1/FVC", "pef": "PEF"}
    units = {"fev1": "L", "fvc": "L", "fev1_fvc": "", "pef": "L/s"}
    parts = []
    for key, label in labels.items():
        v = values[key][0]
        parts.append(f"{label} {v:.2f} {units[key]}".rstrip() if math.isfinite(v) else f"{label} -")
    man = result["manoeuvres"]
    n_acc = sum(1 for m in man if m["acceptable_fev1"] and m["acceptable_fvc"])
    text = (
        "; ".join(parts)
        + f". ATS/ERS 2019 grade FEV1 {result['grade_fev1']}, FVC {result['grade_fvc']}"
        + f" ({len(man)} manoeuvres, {n_acc} acceptable)."
    )
    refs = result.get("reference")
    if refs:
        zs = []
        for key, label in (("fev1_l", "FEV1"), ("fvc_l", "FVC"), ("fev1_fvc", "FEV1/FVC")):
            z = refs[key]["z"]
            zs.append(f"{label} z {z:+.2f}" if z is not None else f"{label} z -")
        text += f" {reference.upper()}: " + ", ".join(zs) + "."
    return text
