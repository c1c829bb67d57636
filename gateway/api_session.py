"""The consultation session over HTTP: start/state, invitations, join links, admission, removal,
ICE servers and the signalling socket (docs/api.md, docs/conversation.md).

The nurse (kiosk token) manages; an admitted participant may read the session, get ICE servers
and signal. ``GET /join/{token}`` only shows a button: link scanners that prefetch GET must not
use up a single-use link; the POST redeems it.
"""

from __future__ import annotations

import html
import json
import logging
from importlib import resources
from string import Template
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

import qrcode  # type: ignore[import-untyped]
import qrcode.image.svg  # type: ignore[import-untyped]
from fastapi import APIRouter, Depends, HTTPException, Request, WebSocket
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.auth import PARTICIPANT_COOKIE, KioskDep, PrincipalDep
from gateway.ice import IceError, rtc_configuration
from gateway.sessions import (
    InviteError,
    Participant,
    Role,
    Session,
    SessionError,
    SessionManager,
    SessionState,
)
from gateway.signalling import SignalHub, serve_socket

logger = logging.getLogger(__name__)

JOIN_LANDING = "/specialist/"  # the participant page (served by the specialist UI)
WAITING_ROOM = "/waiting/"  # until the nurse admits (gateway/api_waiting.py)
MAX_JOIN_BODY_BYTES = 4096
INVITE_STATUS = {"unknown": 404, "used": 409, "expired": 410, "ended": 410}

router = APIRouter()


def get_sessions(request: Request) -> SessionManager:
    """The gateway's session manager (503 if this app has none)."""
    sessions: SessionManager | None = request.app.state.sessions
    if sessions is None:
        raise HTTPException(503, "sessions are not available")
    return sessions


def get_hub(request: Request) -> SignalHub:
    """The signalling relay."""
    hub: SignalHub = request.app.state.signal_hub
    return hub


SessionsDep = Annotated[SessionManager, Depends(get_sessions)]
HubDep = Annotated[SignalHub, Depends(get_hub)]


class SessionStart(BaseModel):
    """POST /api/v1/session: an optional minimal patient record; live at once or preparing."""

    patient: dict[str, str | int | float | bool | None] | None = Field(default=None)
    live: bool = False


class PatientContext(BaseModel):
    """PUT /api/v1/session/patient: the nurse's minimal context and the patient's consent."""

    model_config = ConfigDict(extra="forbid")

    pseudonym: str | None = Field(default=None, max_length=40, description="initials or alias")
    birth_year: int | None = Field(default=None, ge=1900, le=2100)
    consent: bool = Field(description="video consultation and sharing of the measurements")


class StateChange(BaseModel):
    """POST /api/v1/session/state."""

    state: Literal["preparing", "inviting", "live", "ended"]


class InviteRequest(BaseModel):
    """POST /api/v1/session/invites."""

    role: Literal["specialist", "gp"]
    ttl_s: float = Field(default=900.0, gt=0, le=24 * 3600)
    name: str | None = Field(default=None, max_length=120)
    admit: bool = Field(default=False, description="admitted on join (no waiting room)")


class JoinRequest(BaseModel):
    """POST /api/v1/join: the link's token or the short code."""

    token: str | None = Field(default=None, max_length=200)
    code: str | None = Field(default=None, max_length=40)


def _session_dict(session: Session | None, people: list[Participant]) -> dict[str, Any]:
    if session is None:
        return {"session": None, "participants": []}
    return {
        "session": {
            "id": session.id,
            "state": session.state.value,
            "created_s": session.created_wall_s,
            "started_s": session.started_wall_s,
            "ended_s": session.ended_wall_s,
            "patient": session.patient,
        },
        "participants": [_participant_dict(p) for p in people],
    }


def _participant_dict(p: Participant) -> dict[str, Any]:
    return {
        "id": p.id,
        "role": p.role.value,
        "name": p.name,
        "expires_s": p.expires_wall_s,
        "joined": p.redeemed_wall_s is not None,
        "admitted": p.admitted_wall_s is not None,
        "removed": p.removed_wall_s is not None,
    }


@router.post("/api/v1/session", status_code=201, tags=["session"])
async def start_session(_: KioskDep, sessions: SessionsDep, body: SessionStart) -> dict[str, Any]:
    """Start the room's session (409 while one is open)."""
    try:
        session = await sessions.start(body.patient, live=body.live)
    except SessionError as exc:
        raise HTTPException(409, str(exc)) from None
    return _session_dict(session, [])


@router.get("/api/v1/session", tags=["session"])
async def get_session(who: PrincipalDep, sessions: SessionsDep) -> dict[str, Any]:
    """The open session and its participants (role, joined, admitted, removed)."""
    return _session_dict(sessions.current, await sessions.participants())


@router.put("/api/v1/session/patient", tags=["session"])
async def set_patient(_: KioskDep, sessions: SessionsDep, body: PatientContext) -> dict[str, Any]:
    """Record the patient context and the consent (with the gateway's time) in the session.

    Other keys already in the patient record (e.g. sex and height for spirometry) are kept;
    a field sent as null is removed.
    """
    current = sessions.current
    if current is None:
        raise HTTPException(409, "no open session: start one first")
    patient: dict[str, Any] = dict(current.patient or {})
    for key in ("pseudonym", "birth_year"):
        value = getattr(body, key)
        if value is None or value == "":
            patient.pop(key, None)
        else:
            patient[key] = value.strip() if isinstance(value, str) else value
    patient["consent"] = body.consent
    patient["consent_s"] = sessions.now() if body.consent else None
    session = await sessions.set_patient(patient)
    return _session_dict(session, await sessions.participants())


@router.post("/api/v1/session/state", tags=["session"])
async def set_state(
    _: KioskDep, request: Request, sessions: SessionsDep, hub: HubDep, body: StateChange
) -> dict[str, Any]:
    """Move the session on; ``ended`` closes every participant's signalling and media."""
    people = await sessions.participants()
    try:
        session = await sessions.set_state(SessionState(body.state))
    except SessionError as exc:
        raise HTTPException(409, str(exc)) from None
    if session.state is SessionState.ENDED:
        hub.kick_participants("the session ended")
        media = getattr(request.app.state, "media", None)
        if media is not None:
            for p in people:
                await media.remove_participant(p.id)
    return _session_dict(session, people)


@router.post("/api/v1/session/invites", status_code=201, tags=["session"])
async def invite(
    _: KioskDep, request: Request, sessions: SessionsDep, body: InviteRequest
) -> dict[str, Any]:
    """A single-use join link and short code for a specialist or GP."""
    try:
        inv = await sessions.invite(
            Role(body.role), ttl_s=body.ttl_s, name=body.name, admit=body.admit
        )
    except SessionError as exc:
        raise HTTPException(409, str(exc)) from None
    link = join_link(str(request.base_url), inv.token)
    return {
        "participant_id": inv.participant_id,
        "role": inv.role.value,
        "link": link,
        "short_code": f"{inv.short_code[:4]}-{inv.short_code[4:]}",
        "expires_at": inv.expires_wall_s,
        "qr_svg": qr_svg(link),
    }


def join_link(base_url: str, token: str) -> str:
    """The participant's link: ``<base>/join/<token>``."""
    return base_url.rstrip("/") + "/join/" + token


def qr_svg(text: str) -> str:
    """``text`` as a QR code, an SVG document."""
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage)
    svg: str = image.to_string(encoding="unicode")
    return svg


@router.post("/api/v1/session/participants/{participant_id}/admit", tags=["session"])
async def admit(_: KioskDep, participant_id: str, sessions: SessionsDep) -> dict[str, Any]:
    """Let a participant in."""
    await _known(sessions, participant_id)
    await sessions.admit(participant_id)
    return {"id": participant_id, "admitted": True}


@router.delete("/api/v1/session/participants/{participant_id}", tags=["session"])
async def remove(
    _: KioskDep, request: Request, participant_id: str, sessions: SessionsDep, hub: HubDep
) -> dict[str, Any]:
    """Remove a participant: their bearer stops, their signalling socket and media close."""
    await _known(sessions, participant_id)
    await sessions.remove(participant_id)
    was_connected = hub.kick(participant_id)
    media = getattr(request.app.state, "media", None)
    viewers = await media.remove_participant(participant_id) if media is not None else 0
    logger.info(
        "participant %s removed (signalling closed: %s, media viewers closed: %d)",
        participant_id,
        was_connected,
        viewers,
    )
    return {"id": participant_id, "removed": True}


async def _known(sessions: SessionManager, participant_id: str) -> None:
    if not any(p.id == participant_id for p in await sessions.participants()):
        raise HTTPException(404, f"no participant {participant_id} in the open session")


@router.get("/api/v1/session/ice-servers", tags=["session"])
async def ice_servers(who: PrincipalDep, request: Request) -> dict[str, Any]:
    """An RTCConfiguration's iceServers and iceTransportPolicy for this principal."""
    try:
        return rtc_configuration(request.app.state.context.settings, who)
    except IceError as exc:
        logger.error("%s", exc)
        raise HTTPException(503, "TURN is misconfigured on the gateway (see its log)") from None


@router.websocket("/api/v1/session/signal")
async def signal(ws: WebSocket) -> None:
    """The conversation's signalling relay (docs/conversation.md)."""
    await serve_socket(ws, ws.app.state.signal_hub)


# --- joining -------------------------------------------------------------------------------


async def _redeem(sessions: SessionManager, secret: str) -> tuple[Participant, str]:
    participant, bearer = await sessions.redeem(secret)
    logger.info("participant %s (%s) joined", participant.id, participant.role.value)
    return participant, bearer


@router.post("/api/v1/join", tags=["join"])
async def api_join(request: Request, sessions: SessionsDep) -> JSONResponse:
    """Redeem a link token or short code for a bearer token (non-browser clients)."""
    try:
        body = JoinRequest.model_validate_json(await _limited_body(request))
    except ValidationError:
        return JSONResponse({"error": "invalid", "detail": 'expected {"token"|"code"}'}, 422)
    secret = body.token or body.code
    if not secret:
        return JSONResponse({"error": "invalid", "detail": 'expected {"token"|"code"}'}, 422)
    try:
        participant, bearer = await _redeem(sessions, secret)
    except InviteError as exc:
        return JSONResponse({"error": exc.reason}, INVITE_STATUS[exc.reason])
    return JSONResponse(
        {
            "bearer": bearer,
            "participant_id": participant.id,
            "role": participant.role.value,
            "session_id": participant.session_id,
            "admitted": participant.admitted,
        }
    )


@router.get("/join", include_in_schema=False)
async def join_code_form() -> HTMLResponse:
    """The short-code entry form."""
    return _page("join.code", 200)


@router.get("/join.css", include_in_schema=False)
async def join_css() -> Response:
    data = resources.files("gateway.ui").joinpath("join.css").read_bytes()
    return Response(data, media_type="text/css; charset=utf-8")


@router.get("/join/{token}", include_in_schema=False)
async def join_page(token: str, sessions: SessionsDep) -> HTMLResponse:
    """The join button: a GET never uses the link, but says at once if it cannot be used."""
    if len(token) > 200:
        return _page("unknown", 404)
    reason = await sessions.check(token)
    if reason is not None:
        return _page(reason, INVITE_STATUS[reason])
    return _page("join.button", 200, token=token)


@router.post("/join", include_in_schema=False)
async def join_post(request: Request, sessions: SessionsDep) -> Response:
    """Redeem (form or JSON), set the participant cookie, go to the participant page."""
    raw = await _limited_body(request)
    fields: dict[str, Any]
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            loaded = json.loads(raw)
        except ValueError:
            loaded = None
        fields = loaded if isinstance(loaded, dict) else {}
    else:
        fields = {k: v[0] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
    secret = fields.get("token") or fields.get("code")
    if not isinstance(secret, str) or not secret.strip() or len(secret) > 200:
        return _page("unknown", 404)
    try:
        participant, bearer = await _redeem(sessions, secret)
    except InviteError as exc:
        return _page(exc.reason, INVITE_STATUS[exc.reason])
    landing = JOIN_LANDING if participant.admitted else WAITING_ROOM
    response = RedirectResponse(landing, status_code=303)
    response.set_cookie(PARTICIPANT_COOKIE, bearer, httponly=True, samesite="strict", path="/")
    return response


async def _limited_body(request: Request) -> bytes:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JOIN_BODY_BYTES:
            raise HTTPException(413, "request body too large")
    return body


# Each page: (title nb, body nb, body en); the bodies are trusted HTML.
_PAGES: dict[str, tuple[str, str, str]] = {
    "join.button": (
        "Bli med i konsultasjonen",
        "<p>Du er invitert til en videokonsultasjon fra helserommet.</p>"
        '<form method="post" action="/join"><input type="hidden" name="token" value="$token">'
        '<button type="submit" data-testid="join-button">Bli med / Join</button></form>',
        "You are invited to a video consultation from the health room.",
    ),
    "join.code": (
        "Bli med med kode",
        '<form method="post" action="/join"><label for="code">Kode fra sykepleieren</label>'
        '<input id="code" name="code" autocomplete="off" autocapitalize="characters" '
        'maxlength="20" required data-testid="join-code">'
        '<button type="submit" data-testid="join-button">Bli med / Join</button></form>',
        "Enter the code the nurse gave you.",
    ),
    "expired": (
        "Lenken er utløpt",
        "<p>Denne lenken er ikke gyldig lenger. Be sykepleieren om en ny.</p>",
        "This link has expired. Ask the nurse for a new one.",
    ),
    "used": (
        "Lenken er allerede brukt",
        "<p>Hver lenke kan bare brukes én gang. Be sykepleieren om en ny lenke.</p>",
        "Each link works only once, and this one has been used. Ask the nurse for a new one.",
    ),
    "unknown": (
        "Ukjent lenke",
        "<p>Vi finner ikke denne lenken eller koden. Sjekk at den er skrevet riktig.</p>",
        "We cannot find this link or code. Check that it is typed correctly.",
    ),
    "ended": (
        "Konsultasjonen er avsluttet",
        "<p>Konsultasjonen denne lenken gjaldt, er avsluttet.</p>",
        "The consultation this link was for has ended.",
    ),
}


def _page(name: str, status: int, *, token: str = "") -> HTMLResponse:
    title, body_nb, body_en = _PAGES[name]
    template = Template(resources.files("gateway.ui").joinpath("join.html").read_text("utf-8"))
    body = Template(body_nb).safe_substitute(token=html.escape(token, quote=True))
    page = template.safe_substitute(
        title=html.escape(title), page=name, body=body, english=html.escape(body_en)
    )
    return HTMLResponse(page, status, headers={"Cache-Control": "no-store"})


async def demo_session_link(sessions: SessionManager, base_url: str) -> str:
    """``helserom run --demo-session``: a live session and one specialist link (admitted)."""
    if sessions.current is None:
        await sessions.start(live=True)
    elif sessions.current.state is not SessionState.LIVE:
        await sessions.set_state(SessionState.LIVE)
    invite = await sessions.invite(Role.SPECIALIST, admit=True, name="Demo")
    return join_link(base_url, invite.token)
