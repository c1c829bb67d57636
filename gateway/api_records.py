"""The open session's record over HTTP: trends of its measurements, its snapshots, notes, and
the nurse's answer to a measurement request (docs/api.md "Session record").

Only the nurse and the admitted participants of the open session may read or write it; a
removed participant's bearer no longer makes a principal (401), an OIDC clinician who is not a
participant of this session gets 403. The audit middleware records every call.
"""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, Field, field_validator

from drivers.model import Quantity
from gateway import records
from gateway.api_media import MediaDep
from gateway.api_session import SessionsDep
from gateway.auth import KioskDep, Principal, PrincipalDep
from gateway.clinical.careplan import CarePlan
from gateway.live import light_fields
from gateway.measure_requests import RequestError
from gateway.sessions import Session, SessionManager
from gateway.signals.verdict import Assessed, Verdict

router = APIRouter()
QUANTITY_KEYS = tuple(q.spec.key for q in Quantity)


def open_session_of(who: Principal, sessions: SessionManager) -> Session | None:
    """The open session (None: there is none) if ``who`` may see it: the nurse, or one of its
    participants; 403 for anyone else."""
    session = sessions.current
    if who.role == "nurse":
        return session
    if session is None or who.participant_id is None or who.session_id != session.id:
        raise HTTPException(403, "only the nurse and this session's participants")
    return session


async def member_session(who: PrincipalDep, sessions: SessionsDep) -> Session | None:
    """FastAPI dependency: the open session, for the nurse and its admitted participants."""
    return open_session_of(who, sessions)


MemberSessionDep = Annotated[Session | None, Depends(member_session)]


class NoteIn(BaseModel):
    """POST /api/v1/session/notes."""

    text: str = Field(min_length=1, max_length=records.NOTE_MAX_CHARS)

    @field_validator("text")
    @classmethod
    def _not_blank(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("text: expected some words, not only spaces")
        return text


class RequestAnswer(BaseModel):
    """POST /api/v1/session/requests/{id}: the nurse's answer."""

    answer: Literal["accepted", "declined"]


def _light(plan: CarePlan | None, row: records.SpotRow) -> dict[str, Any]:
    if plan is None or row.value is None or row.verdict not in ("valid", "questionable"):
        return light_fields(None)  # never a light for an invalid or unjudged value
    assessed = Assessed(row.value, Verdict(row.verdict))
    return light_fields(plan.light(Quantity.from_key(row.quantity), assessed))


@router.get("/api/v1/session/measurements", tags=["session"])
async def session_measurements(
    *,
    request: Request,
    sessions: SessionsDep,
    session: MemberSessionDep,
    quantity: Annotated[list[str] | None, Query(max_length=16)] = None,
    since_s: Annotated[float | None, Query(ge=0)] = None,
    limit: Annotated[int, Query(ge=1, le=records.MEASUREMENTS_MAX)] = 1000,
) -> dict[str, Any]:
    """The open session's spot measurements (newest ``limit``, oldest first) with verdict and
    traffic light; ``quantity`` (repeatable) narrows them, ``since_s`` gives only newer ones."""
    for key in quantity or []:
        if key not in QUANTITY_KEYS:
            raise HTTPException(
                422, f"quantity: unknown {key!r} (expected one of {', '.join(QUANTITY_KEYS)})"
            )
    if session is None:  # the nurse's page before a session: nothing yet, not an error
        return {"session_id": None, "measurements": []}
    rows = await sessions.store.call(
        records.session_measurements, session.id, quantity, since_s, limit
    )
    plan: CarePlan | None = request.app.state.context.pipeline.careplan
    return {
        "session_id": session.id,
        "measurements": [
            {
                "device_id": r.device_id,
                "quantity": r.quantity,
                "value": r.value,
                "unit": r.unit,
                "received_s": r.received_wall_s,
                "verdict": r.verdict,
                "reasons": list(r.reasons),
                **_light(plan, r),
            }
            for r in rows
        ],
    }


@router.get("/api/v1/session/snapshots", tags=["session"])
async def session_snapshots(sessions: SessionsDep, session: MemberSessionDep) -> dict[str, Any]:
    """The open session's stills (oldest first): id, url, camera, size, time, who asked."""
    if session is None:
        return {"session_id": None, "snapshots": []}
    rows = await sessions.store.call(records.list_snapshots, session.id)
    return {"session_id": session.id, "snapshots": [r.as_dict() for r in rows]}


@router.get("/api/v1/session/notes", tags=["session"])
async def get_notes(sessions: SessionsDep, session: MemberSessionDep) -> dict[str, Any]:
    """The open session's notes, oldest first."""
    if session is None:
        return {"session_id": None, "notes": []}
    rows = await sessions.store.call(records.list_notes, session.id)
    return {"session_id": session.id, "notes": [n.as_dict() for n in rows]}


@router.post("/api/v1/session/notes", tags=["session"], status_code=201)
async def post_note(
    who: PrincipalDep, sessions: SessionsDep, session: MemberSessionDep, body: NoteIn
) -> dict[str, Any]:
    """Write a note (≤ 4000 characters) in the open session, signed with the author's role."""
    if session is None:
        raise HTTPException(409, "no open session: a note belongs to a session")
    note = await sessions.store.call(records.insert_note, session.id, who, body.text, time.time())
    return note.as_dict()


@router.get("/api/v1/session/requests", tags=["session"])
async def pending_requests(_: KioskDep, media: MediaDep) -> dict[str, Any]:
    """Measurement requests still waiting for the nurse (the kiosk shows them after a reload)."""
    return {"requests": [r.message() for r in media.requests.pending()]}


@router.post("/api/v1/session/requests/{request_id}", tags=["session"])
async def answer_request(
    request_id: str, _: KioskDep, media: MediaDep, body: RequestAnswer
) -> dict[str, Any]:
    """The nurse's answer to a measurement request; the requester sees ``request_update``."""
    try:
        return media.requests.answer(request_id, body.answer).update()
    except RequestError as exc:
        raise HTTPException(exc.status, str(exc)) from None
