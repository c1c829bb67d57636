"""NEWS2 at the kiosk: the nurse's observations (respiration rate, ACVPU, air or oxygen,
temperature) and the live score from the latest usable value of each parameter in the open
session (docs/api.md "NEWS2", docs/clinical.md "NEWS2 live").

The nurse's entries are measurements like any device's (device id ``nurse``), on disk before
the 201 and published on the live stream. The score is refused, never guessed, when a
parameter is missing, INVALID or too old; the answer says which and why.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from dataclasses import dataclass
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator

from drivers.model import Measurement, Quantity, ReceiveTime
from gateway.auth import KioskDep, PrincipalDep
from gateway.clinical.careplan import PLAUSIBLE_LIMITS
from gateway.clinical.news2 import Acvpu, News2Parameter, Spo2Scale, news2
from gateway.health import GatewayContext
from gateway.live import measurement_message
from gateway.sessions import Session, SessionManager
from gateway.signals.verdict import Assessed, Verdict

router = APIRouter(tags=["news2"])

NURSE_DEVICE_ID = "nurse"  # device_id of what the nurse enters (not a configured device)
ACVPU_CODES: dict[str, tuple[int, Acvpu]] = {  # letter -> stored ordinal, NEWS2 level
    "A": (0, Acvpu.ALERT),
    "C": (1, Acvpu.NEW_CONFUSION),
    "V": (2, Acvpu.VOICE),
    "P": (3, Acvpu.PAIN),
    "U": (4, Acvpu.UNRESPONSIVE),
}
ACVPU_BY_ORDINAL = {code: (letter, level) for letter, (code, level) in ACVPU_CODES.items()}
RR_MIN, RR_MAX = PLAUSIBLE_LIMITS[Quantity.RESPIRATION_RATE]  # 2–80 /min: a counted rate
TEMP_MIN_C, TEMP_MAX_C = PLAUSIBLE_LIMITS[Quantity.BODY_TEMPERATURE]  # 30–45 °C

# How old a value may be and still describe the patient now. Oximeters stream: a value older
# than a few minutes means the probe is off. Spot values (a cuff, a thermometer, the nurse's
# count) are taken once per consultation, which rarely lasts an hour.
STREAMED_MAX_AGE_S = 5 * 60.0
SPOT_MAX_AGE_S = 60 * 60.0
_USABLE = ("ok", "questionable")  # statuses news2() gets a value for


@dataclass(frozen=True, slots=True)
class Source:
    """Where one NEWS2 parameter comes from: a stored quantity and how old it may be."""

    parameter: News2Parameter
    quantity: Quantity
    max_age_s: float


SOURCES = (
    Source(News2Parameter.RESPIRATION_RATE, Quantity.RESPIRATION_RATE, SPOT_MAX_AGE_S),
    Source(News2Parameter.SPO2, Quantity.SPO2, STREAMED_MAX_AGE_S),
    Source(News2Parameter.AIR_OR_OXYGEN, Quantity.SUPPLEMENTAL_OXYGEN, SPOT_MAX_AGE_S),
    Source(News2Parameter.SYSTOLIC_BP, Quantity.BP_SYSTOLIC, SPOT_MAX_AGE_S),
    Source(News2Parameter.PULSE, Quantity.PULSE_RATE, STREAMED_MAX_AGE_S),
    Source(News2Parameter.CONSCIOUSNESS, Quantity.CONSCIOUSNESS, SPOT_MAX_AGE_S),
    Source(News2Parameter.TEMPERATURE, Quantity.BODY_TEMPERATURE, SPOT_MAX_AGE_S),
)


class ObservationsIn(BaseModel):
    """What the nurse observed; at least one field."""

    model_config = ConfigDict(extra="forbid")

    respiration_rate_per_min: int | None = Field(
        default=None, ge=RR_MIN, le=RR_MAX, description="breaths counted over a minute"
    )
    consciousness: Literal["A", "C", "V", "P", "U"] | None = Field(
        default=None, description="ACVPU: alert, new confusion, voice, pain, unresponsive"
    )
    supplemental_oxygen: bool | None = Field(
        default=None, description="true: on supplemental oxygen; false: breathing air"
    )
    temperature_c: float | None = Field(
        default=None,
        ge=TEMP_MIN_C,
        le=TEMP_MAX_C,
        description="body temperature when no thermometer gave one",
    )

    @model_validator(mode="after")
    def _not_empty(self) -> ObservationsIn:
        if all(v is None for v in self.model_dump().values()):
            raise ValueError(
                "give at least one of respiration_rate_per_min, consciousness, "
                "supplemental_oxygen, temperature_c"
            )
        return self


def _context(request: Request) -> GatewayContext:
    ctx: GatewayContext = request.app.state.context
    return ctx


def _open_session(request: Request) -> Session:
    sessions: SessionManager | None = request.app.state.sessions
    if sessions is None:
        raise HTTPException(503, "sessions are not available")
    if sessions.current is None:
        raise HTTPException(409, "no open session: start a consultation first")
    return sessions.current


def _measurements(body: ObservationsIn, received: ReceiveTime) -> list[Measurement]:
    values: list[tuple[Quantity, float]] = []
    if body.respiration_rate_per_min is not None:
        values.append((Quantity.RESPIRATION_RATE, float(body.respiration_rate_per_min)))
    if body.consciousness is not None:
        values.append((Quantity.CONSCIOUSNESS, float(ACVPU_CODES[body.consciousness][0])))
    if body.supplemental_oxygen is not None:
        values.append((Quantity.SUPPLEMENTAL_OXYGEN, 1.0 if body.supplemental_oxygen else 0.0))
    if body.temperature_c is not None:
        values.append((Quantity.BODY_TEMPERATURE, round(body.temperature_c, 1)))
    return [Measurement(q, v, q.spec.ucum, NURSE_DEVICE_ID, received) for q, v in values]


@router.post("/api/v1/observations", status_code=201)
async def post_observations(_: KioskDep, request: Request, body: ObservationsIn) -> dict[str, Any]:
    """Store what the nurse observed in the open session (on disk before the 201)."""
    ctx = _context(request)
    session = _open_session(request)
    measurements = _measurements(body, ReceiveTime.now())
    # the nurse's own count or reading: valid as entered (the ranges are checked above)
    judged = [Assessed(m.value, Verdict.VALID) for m in measurements]
    await ctx.pipeline.store.write(measurements, judged, session_id=session.id)
    plan = ctx.pipeline.careplan
    for m, j in zip(measurements, judged, strict=True):
        light = plan.light(m.quantity, j) if plan is not None and m.quantity in plan.bands else None
        ctx.hub.publish(measurement_message(m, j, light))
    return {
        "session_id": session.id,
        "stored": [
            {
                "quantity": m.quantity.spec.key,
                "value": m.value,
                "unit": m.unit,
                "received_s": m.received.wall_s,
            }
            for m in measurements
        ],
    }


@dataclass(frozen=True, slots=True)
class _Row:
    value: float | None
    unit: str
    device_id: str
    received_wall_s: float
    verdict: str | None
    reasons: str | None


def _latest(db: sqlite3.Connection, session_id: str) -> dict[str, _Row]:
    """The newest row of each NEWS2 quantity in the session (run on the store thread)."""
    out: dict[str, _Row] = {}
    for source in SOURCES:
        key = source.quantity.spec.key
        row = db.execute(
            "SELECT value, unit, device_id, received_wall_s, verdict, reasons FROM measurement "
            "WHERE session_id = ? AND quantity = ? ORDER BY received_wall_s DESC, id DESC "
            "LIMIT 1",
            (session_id, key),
        ).fetchone()
        if row is not None:
            out[key] = _Row(*row)
    return out


def _shown(source: Source, value: float) -> float | str | bool:
    """The value as the nurse knows it: ACVPU as its letter, air/oxygen as true/false."""
    if source.quantity is Quantity.CONSCIOUSNESS:
        return ACVPU_BY_ORDINAL[int(value)][0]
    if source.quantity is Quantity.SUPPLEMENTAL_OXYGEN:
        return value >= 0.5
    return value


def _judge(source: Source, row: _Row | None, now: float) -> tuple[dict[str, Any], Assessed | None]:
    """One parameter's entry in the answer, and its input to news2() (None: not usable)."""
    key = source.quantity.spec.key
    entry: dict[str, Any] = {
        "parameter": source.parameter.value,
        "quantity": key,
        "max_age_s": source.max_age_s,
        "value": None,
        "unit": source.quantity.spec.ucum,
        "device_id": None,
        "received_s": None,
        "age_s": None,
        "verdict": None,
        "reasons": [],
        "score": None,
    }
    if row is None:
        return {**entry, "status": "missing", "why": f"no {key} in this session"}, None
    reasons = json.loads(row.reasons) if row.reasons else []
    age = max(0.0, now - row.received_wall_s)
    entry |= {
        "device_id": row.device_id,
        "received_s": row.received_wall_s,
        "age_s": age,
        "verdict": row.verdict,
        "reasons": reasons,
    }
    if row.value is None or not math.isfinite(row.value) or row.verdict == "invalid":
        why = f"the latest {key} cannot be used" + (f" ({', '.join(reasons)})" if reasons else "")
        return {**entry, "status": "invalid", "why": why}, None
    entry["value"] = _shown(source, row.value)
    if age > source.max_age_s:
        why = f"the latest {key} is {age / 60:.0f} min old (at most {source.max_age_s / 60:.0f})"
        return {**entry, "status": "too_old", "why": why}, None
    verdict = Verdict(row.verdict) if row.verdict is not None else Verdict.VALID
    status = "questionable" if verdict is Verdict.QUESTIONABLE else "ok"
    return {**entry, "status": status, "why": None}, Assessed(row.value, verdict)


def news2_now(
    latest: dict[str, _Row], now: float, scale: Spo2Scale, session_id: str | None
) -> dict[str, Any]:
    """The NEWS2 answer from the newest row of each parameter (session None: none open)."""
    entries: dict[News2Parameter, dict[str, Any]] = {}
    inputs: dict[News2Parameter, Assessed | None] = {}
    for source in SOURCES:
        entry, usable = _judge(source, latest.get(source.quantity.spec.key), now)
        if session_id is None:
            entry["why"] = "no open session"
        entries[source.parameter] = entry
        inputs[source.parameter] = usable
    P = News2Parameter
    oxygen = inputs[P.AIR_OR_OXYGEN]
    level = inputs[P.CONSCIOUSNESS]
    result = news2(
        respiration_rate_per_min=inputs[P.RESPIRATION_RATE],
        spo2_pct=inputs[P.SPO2],
        on_supplemental_oxygen=None if oxygen is None else oxygen.value >= 0.5,
        systolic_mmhg=inputs[P.SYSTOLIC_BP],
        pulse_bpm=inputs[P.PULSE],
        consciousness=None if level is None else ACVPU_BY_ORDINAL[int(level.value)][1],
        temperature_c=inputs[P.TEMPERATURE],
        spo2_scale=scale,
    )
    if result.scores is not None:
        for parameter, score in result.scores.items():
            entries[parameter]["score"] = score
    return {
        "session_id": session_id,
        "computed_s": now,
        "spo2_scale": scale.value,
        "total": result.total,
        "risk": None if result.risk is None else result.risk.value,
        "verdict": result.verdict.value,
        "missing": [e["parameter"] for e in entries.values() if e["status"] not in _USABLE],
        "parameters": list(entries.values()),
    }


@router.get("/api/v1/news2")
async def get_news2(_: PrincipalDep, request: Request) -> dict[str, Any]:
    """NEWS2 now, from the latest usable value of each parameter in the open session."""
    ctx = _context(request)
    plan = ctx.pipeline.careplan
    scale = plan.spo2_scale if plan is not None else Spo2Scale.SCALE_1
    sessions: SessionManager | None = request.app.state.sessions
    if sessions is None or sessions.current is None:
        # polled by the kiosk before a consultation starts: an answer, not an error
        return news2_now({}, time.time(), scale, None)
    session_id = sessions.current.id
    latest = await ctx.pipeline.store.call(_latest, session_id)
    return news2_now(latest, time.time(), scale, session_id)
