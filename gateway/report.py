"""The session summary: one printable A4 page set in HTML (and PDF through Chromium).

Bokmål first with English beside it. What it shows: the room and the times, the patient as
stored (pseudonym or minimal), who took part, every measurement with the gateway's verdict and
the care plan's traffic light (none for a value the gateway cannot stand behind), streams of
values summarised (median, range, last), and spirometry with each blow, the ATS/ERS grades, GLI
reference values when the patient's sex, age and height are known, and the flow–volume curves.
The HTML has no scripts; its only style is inline, so the page is one self-contained file.
"""

from __future__ import annotations

import base64
import html
import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from drivers.model import Quantity
from gateway.clinical.careplan import CarePlan
from gateway.fhir.source import MeasurementRow, SessionData
from gateway.fhir.spirometry import Blows, find_blows, patient_reference_inputs
from gateway.records import NoteRow, SnapshotRow
from gateway.signals.spiro import analyze_spiro
from gateway.signals.verdict import Assessed, Verdict

OSLO = ZoneInfo("Europe/Oslo")
LIST_AT_MOST = 10  # more values than this of one quantity from one device are summarised
VERDICT_TEXT = {
    "valid": ("Pålitelig", "Reliable"),
    "questionable": ("Usikker verdi", "Questionable"),
    "invalid": ("Kan ikke brukes", "Cannot be used"),
    None: ("Ikke vurdert", "Not judged"),
}
LIGHT_TEXT = {"green": ("Grønt", "Green"), "yellow": ("Gult", "Yellow"), "red": ("Rødt", "Red")}
ROLE_TEXT = {"specialist": ("Spesialist", "Specialist"), "gp": ("Fastlege", "GP")}
UNIT_SHOWN = {"mm[Hg]": "mmHg", "Cel": "°C", "L/s": "L/s", "[lb_av]": "lb"}  # UCUM → people
CURVE_COLOURS = (
    "#1f5fa8",
    "#b5481c",
    "#2e7d32",
    "#6a1b9a",
    "#00838f",
    "#ad1457",
    "#555",
    "#8d6e00",
)


@dataclass(frozen=True, slots=True)
class ParticipantRow:
    """A remote participant as the report shows them."""

    role: str
    name: str | None
    joined_wall_s: float | None
    removed_wall_s: float | None


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _both(pair: tuple[str, str]) -> str:
    return f'{_e(pair[0])} <span class="en">/ {_e(pair[1])}</span>'


def _time(wall_s: float | None, fmt: str = "%H:%M:%S") -> str:
    if wall_s is None or not math.isfinite(wall_s):
        return "–"
    return datetime.fromtimestamp(wall_s, OSLO).strftime(fmt)


def _num(value: float | None, digits: int = 0) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.{digits}f}".replace(".", ",")  # Norwegian decimal comma


def _digits(key: str) -> int:
    return 1 if key in ("body_temperature", "body_weight", "perfusion_index") else 0


def _label(key: str) -> tuple[str, str]:
    try:
        spec = Quantity.from_key(key).spec
    except KeyError:
        return key, key
    return spec.label_nb, spec.label_en


def _light(plan: CarePlan | None, row: MeasurementRow) -> str:
    """The traffic light of a judged, usable value; empty otherwise."""
    if plan is None or row.value is None or row.verdict in (None, "invalid"):
        return ""
    try:
        quantity = Quantity.from_key(row.quantity)
    except KeyError:
        return ""
    light = plan.light(quantity, Assessed(row.value, Verdict(row.verdict)))
    if light is None:
        return ""
    words = LIGHT_TEXT[light.colour.value]
    return (
        f'<span class="light {light.colour.value}">{_e(words[0])}</span> {_e(light.band.label_nb)}'
    )


def _measurement_rows(data: SessionData, plan: CarePlan | None) -> list[str]:
    labels = {d.id: d.id for d in data.devices}
    groups: dict[tuple[str, str], list[MeasurementRow]] = {}
    for m in data.measurements:
        if m.quantity == Quantity.CUFF_PRESSURE.spec.key:
            continue  # the cuff's pressure while it inflates is not a result
        groups.setdefault((m.device_id, m.quantity), []).append(m)
    rows: list[str] = []
    for (device_id, key), values in sorted(groups.items(), key=lambda g: g[1][0].received_wall_s):
        name = _both(_label(key))
        device = _e(labels.get(device_id, device_id))
        unit = _e(UNIT_SHOWN.get(values[0].unit, values[0].unit))
        digits = _digits(key)
        if len(values) <= LIST_AT_MOST:
            for m in values:
                verdict = VERDICT_TEXT.get(m.verdict, VERDICT_TEXT[None])
                rows.append(
                    f"<tr><td>{_time(m.received_wall_s)}</td><td>{name}</td>"
                    f'<td class="num">{_num(m.value, digits)} {unit}</td>'
                    f'<td class="verdict {_e(m.verdict or "none")}">{_e(verdict[0])}</td>'
                    f"<td>{_light(plan, m)}</td><td>{device}</td></tr>"
                )
            continue
        usable = [
            m.value
            for m in values
            if m.value is not None and m.verdict in ("valid", "questionable")
        ]
        last = values[-1]
        summary = (
            f"median {_num(statistics.median(usable), digits)}, "
            f"{_num(min(usable), digits)}–{_num(max(usable), digits)} {unit} "
            f"({len(usable)} av/of {len(values)} brukbare/usable)"
            if usable
            else f"ingen brukbare verdier / no usable values ({len(values)})"
        )
        rows.append(
            f"<tr><td>{_time(values[0].received_wall_s, '%H:%M')}–"
            f"{_time(last.received_wall_s, '%H:%M')}</td><td>{name}</td>"
            f'<td class="num" colspan="2">{summary}</td>'
            f"<td>{_light(plan, last)}</td><td>{device}</td></tr>"
        )
    return rows


def _curve_svg(blows: Sequence[NDArray[np.float64]], fs_hz: float) -> str:
    """Flow–volume loops of every blow (expiration only), overlaid."""
    curves: list[tuple[NDArray[np.float64], NDArray[np.float64]]] = []
    for flow in blows:
        f = np.clip(np.asarray(flow, dtype=np.float64), 0.0, None)
        start = int(np.argmax(f > 0.2)) if (f > 0.2).any() else 0
        f = f[start:]
        curves.append((np.cumsum(f) / fs_hz, f))
    if not curves:
        return ""
    v_max = max(float(v[-1]) for v, _ in curves if v.size) or 1.0
    f_max = max(float(f.max()) for _, f in curves if f.size) or 1.0
    w, h, pad = 360.0, 240.0, 30.0
    v_top, f_top = math.ceil(v_max), math.ceil(f_max)
    parts = [
        f'<svg class="curve" viewBox="0 0 {w:g} {h:g}" role="img" '
        f'aria-label="Flow–volume">'
        f'<rect x="{pad:g}" y="4" width="{w - pad - 6:g}" height="{h - pad - 4:g}" '
        'fill="none" stroke="#999"/>'
        f'<text x="{w / 2:g}" y="{h - 6:g}" text-anchor="middle">'
        f"Volum / Volume (L), 0–{v_top}</text>"
        f'<text x="10" y="{h / 2:g}" transform="rotate(-90 10 {h / 2:g})" '
        f'text-anchor="middle">Flow (L/s), 0–{f_top}</text>'
    ]
    for k, (v, f) in enumerate(curves):
        step = max(1, v.size // 300)
        x = pad + v[::step] / v_top * (w - pad - 6)
        y = (h - pad) - f[::step] / f_top * (h - pad - 4)
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(x, y, strict=True))
        colour = CURVE_COLOURS[k % len(CURVE_COLOURS)]
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.5"/>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _yes(flag: bool) -> str:
    return "ja / yes" if flag else "nei / no"


def _spirometry(blows: Blows, patient: dict[str, Any] | None, reference: str) -> str:
    sex, age, height = patient_reference_inputs(patient, blows.end_wall_s)
    kw: dict[str, Any] = (
        {"sex": sex, "age_y": age, "height_cm": height}
        if sex is not None and age is not None and height is not None
        else {}
    )
    result = analyze_spiro(list(blows.flows_lps), blows.fs_hz, reference=reference, **kw)
    rows = []
    for k, m in enumerate(result["manoeuvres"], start=1):
        reasons = ", ".join(m["reasons"]) or "–"
        rows.append(
            f"<tr><td>{k}{' ★' if result['best'] == k - 1 else ''}</td>"
            + "".join(
                f'<td class="num">{_num(m[key], d)}</td>'
                for key, d in (("fev1_l", 2), ("fvc_l", 2), ("fev1_fvc", 2), ("pef_lps", 1))
            )
            + f"<td>{_yes(m['acceptable_fev1'])}</td><td>{_yes(m['acceptable_fvc'])}</td>"
            f"<td>{_e(reasons)}</td></tr>"
        )
    ref_html = ""
    refs = result.get("reference")
    if refs:
        ref_rows = []
        for key, label in (("fev1_l", "FEV1 (L)"), ("fvc_l", "FVC (L)"), ("fev1_fvc", "FEV1/FVC")):
            r = refs.get(key) or {}
            digits = 2
            ref_rows.append(
                f"<tr><td>{label}</td><td class='num'>{_num(r.get('predicted'), digits)}</td>"
                f"<td class='num'>{_num(r.get('lln'), digits)}</td>"
                f"<td class='num'>{_num(r.get('z'), 2)}</td>"
                f"<td class='num'>{_num(r.get('percent_predicted'), 0)}</td></tr>"
            )
        ref_html = (
            f"<h3>Referanseverdier / Reference values ({_e(reference)})</h3>"
            "<table><tr><th>Mål / Measure</th><th>Forventet / Predicted</th><th>LLN</th>"
            "<th>z</th><th>% forventet / predicted</th></tr>" + "".join(ref_rows) + "</table>"
        )
    return (
        f"<section class='spiro'><h3>Spirometer {_e(blows.device_id)}, "
        f"{_time(blows.start_wall_s, '%H:%M')}–{_time(blows.end_wall_s, '%H:%M')}</h3>"
        f"<p>Kvalitet / Grade (ATS/ERS 2019): FEV1 <b>{_e(result['grade_fev1'])}</b>, "
        f"FVC <b>{_e(result['grade_fvc'])}</b></p>"
        "<table><tr><th>Blås / Blow</th><th>FEV1 (L)</th><th>FVC (L)</th><th>FEV1/FVC</th>"
        "<th>PEF (L/s)</th><th>Godkjent FEV1 / Acceptable</th><th>Godkjent FVC</th>"
        "<th>Merknader / Reasons</th></tr>" + "".join(rows) + "</table>"
        f"{ref_html}{_curve_svg(blows.flows_lps, blows.fs_hz)}</section>"
    )


def _patient(patient: dict[str, Any] | None) -> str:
    if not patient:
        return "<p>Ingen pasientopplysninger / No patient details</p>"
    shown = {
        k: v
        for k, v in patient.items()
        if k in ("pseudonym", "name", "birth_date", "birth_year", "sex", "age_y", "height_cm")
    }
    items = "".join(f"<li>{_e(k)}: {_e(v)}</li>" for k, v in shown.items())
    consent_s = patient.get("consent_s")
    if patient.get("consent") is True and isinstance(consent_s, int | float):
        # the kiosk's consent step (PUT /api/v1/session/patient), with the gateway's time
        items += (
            "<li>Samtykke til videokonsultasjon og deling av målingene / Consent to the video "
            f"consultation and to sharing the measurements: {_time(consent_s, '%d.%m.%Y %H:%M')}"
            "</li>"
        )
    return f"<ul class='patient'>{items}</ul>"


def _who(role: str, name: str | None) -> str:
    words = ROLE_TEXT.get(role, ("Sykepleier", "Nurse") if role == "nurse" else (role, role))
    return _both(words) + (f": {_e(name)}" if name else "")


def _notes(notes: Sequence[NoteRow]) -> str:
    items = [
        f'<div class="note"><p class="small">{_time(n.created_wall_s)} · '
        f"{_who(n.author_role, n.author_name)}</p><p>"
        + "<br>".join(_e(line) for line in n.text.splitlines())
        + "</p></div>"
        for n in notes
    ]
    return "".join(items) or "<p>Ingen notater / No notes</p>"


def _snapshots(snaps: Sequence[tuple[SnapshotRow, bytes]]) -> str:
    """Stills as embedded JPEGs (the page stays one file), two to a row on A4."""
    figures = []
    for row, jpeg in snaps:
        data = base64.b64encode(jpeg).decode("ascii")
        figures.append(
            f'<figure class="snap"><img src="data:image/jpeg;base64,{data}" '
            f'width="{row.width}" height="{row.height}" alt="{_e(row.camera_id)}">'
            f"<figcaption>{_time(row.captured_wall_s)} · {_e(row.camera_id)} · "
            f"{row.width}×{row.height} · bedt om av / asked by "
            f"{_who(row.requested_role, row.requested_name)}</figcaption></figure>"
        )
    return '<div class="snaps">' + "".join(figures) + "</div>" if figures else ""


def _participants(rows: Iterable[ParticipantRow]) -> str:
    items = []
    for p in rows:
        role = ROLE_TEXT.get(p.role, (p.role, p.role))
        removed = f", fjernet / removed {_time(p.removed_wall_s)}" if p.removed_wall_s else ""
        joined = (
            f"koblet til / joined {_time(p.joined_wall_s)}"
            if p.joined_wall_s
            else "kom ikke / did not join"
        )
        name = f": {_e(p.name)}" if p.name else ""
        items.append(f"<li>{_both(role)}{name} — {joined}{removed}</li>")
    if not items:
        return "<p>Ingen eksterne deltakere / No remote participants</p>"
    return "<ul>" + "".join(items) + "</ul>"


def render_report(
    data: SessionData,
    *,
    site: str,
    room: str,
    participants: Sequence[ParticipantRow] = (),
    careplan: CarePlan | None = None,
    reference: str = "gli2012",
    generated_wall_s: float,
    snapshots: Sequence[tuple[SnapshotRow, bytes]] = (),
    notes: Sequence[NoteRow] = (),
) -> str:
    """The session summary as one self-contained HTML document (no scripts)."""
    s = data.session
    rows = _measurement_rows(data, careplan)
    table = (
        "<table><tr><th>Tid / Time</th><th>Måling / Measurement</th><th>Verdi / Value</th>"
        "<th>Vurdering / Verdict</th><th>Trafikklys / Traffic light</th><th>Enhet / Device</th>"
        "</tr>" + "".join(rows) + "</table>"
        if rows
        else "<p>Ingen målinger / No measurements</p>"
    )
    stills = _snapshots(snapshots)
    spiro = "".join(_spirometry(b, s.patient, reference) for b in find_blows(data.blocks))
    plan = (
        f"{_e(careplan.label_nb)} <span class='en'>/ {_e(careplan.label_en)}</span>"
        if careplan
        else "ingen / none"
    )
    return f"""<!doctype html>
<html lang="nb"><head><meta charset="utf-8">
<title>Helserom – oppsummering {_e(s.id)}</title>
<style>{_CSS}</style></head>
<body>
<header><h1>Helserom – oppsummering av konsultasjon
<span class="en">/ Consultation summary</span></h1>
<p>{_e(site)} · {_e(room)} · {_time(s.started_wall_s or s.created_wall_s, "%d.%m.%Y %H:%M")}–{
        _time(s.ended_wall_s, "%H:%M")
    } · økt / session <code>{_e(s.id)}</code></p></header>
<h2>Pasient <span class="en">/ Patient</span></h2>{_patient(s.patient)}
<h2>Deltakere <span class="en">/ Participants</span></h2>{_participants(participants)}
<h2>Målinger <span class="en">/ Measurements</span></h2>
<p class="small">Egenbehandlingsplan / Care plan: {plan}. En verdi gatewayen ikke kan stå inne
for får aldri trafikklys. <span class="en">A value the gateway cannot stand behind never gets a
traffic light.</span></p>{table}
{"<h2>Spirometri <span class='en'>/ Spirometry</span></h2>" + spiro if spiro else ""}
<h2>Notater <span class="en">/ Notes</span></h2>{_notes(notes)}
{"<h2>Stillbilder <span class='en'>/ Still images</span></h2>" + stills if stills else ""}
<footer>Laget / Generated {_time(generated_wall_s, "%d.%m.%Y %H:%M:%S")} av Helserom Gateway.
Vurderingene er gatewayens egne signalkontroller; de erstatter ikke klinisk skjønn.
<span class="en">Verdicts are the gateway's own signal checks, not a clinical judgement.</span>
</footer></body></html>
"""


_CSS = """
@page { size: A4; margin: 14mm 12mm; }
body { font-family: "DejaVu Sans", sans-serif; font-size: 10pt; color: #111; margin: 0; }
h1 { font-size: 15pt; margin: 0 0 2mm; } h2 { font-size: 12pt; margin: 5mm 0 2mm; }
h3 { font-size: 11pt; margin: 3mm 0 1mm; }
.en { color: #555; font-weight: normal; }
table { border-collapse: collapse; width: 100%; margin: 1mm 0 2mm; }
th, td { border-bottom: 0.3mm solid #ccc; padding: 1mm 1.5mm; text-align: left; }
td { vertical-align: top; }
th { font-size: 8.5pt; background: #f0f0f0; }
tr { break-inside: avoid; }
.num { text-align: right; white-space: nowrap; }
.verdict.invalid { color: #a00; font-weight: bold; } .verdict.questionable { color: #8a5a00; }
.light { font-weight: bold; padding: 0 1.5mm; border-left: 3mm solid #999; }
.light.green { border-color: #2e7d32; } .light.yellow { border-color: #e0a800; }
.light.red { border-color: #c62828; }
.curve { width: 120mm; height: 80mm; font-size: 9px; break-inside: avoid; }
.spiro { break-inside: avoid; }
.snaps { display: flex; flex-wrap: wrap; gap: 4mm; }
.snap { width: 88mm; margin: 0; break-inside: avoid; }
.snap img { width: 88mm; height: auto; display: block; border: 0.3mm solid #ccc; }
.snap figcaption { font-size: 8pt; color: #444; margin-top: 1mm; }
.note { break-inside: avoid; border-left: 1mm solid #ccc; padding-left: 2mm; margin: 1mm 0 2mm; }
.note p { margin: 0; }
.small, footer { font-size: 8.5pt; color: #444; }
footer { margin-top: 6mm; border-top: 0.3mm solid #ccc; padding-top: 2mm; }
"""
