"""The participant's waiting room: where a specialist or GP waits until the nurse lets them in.

After redeeming a join link (``POST /join``) a participant the nurse has not admitted yet is
sent to ``/waiting/``. The page polls ``GET /api/v1/session/me`` and moves on to
``/specialist/`` once admitted; removed and ended get their own pages. These routes take the
participant's bearer (cookie or ``Authorization: Bearer``) of anyone who redeemed a link, also
before admission, and give nothing of the patient: only the participant's own standing.
"""

from __future__ import annotations

import html
from importlib import resources
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gateway.auth import PARTICIPANT_COOKIE
from gateway.sessions import Participant, SessionManager, SessionState

WAITING_PAGE = "/waiting/"
WAITING_SCRIPT = "waiting.js"
POLL_S = 2.0

Standing = Literal["waiting", "admitted", "removed", "ended"]

router = APIRouter()


async def joined_of(request: Request) -> tuple[Participant, Standing] | None:
    """The participant a request's bearer belongs to (any standing), or None."""
    header = request.headers.get("authorization", "")
    bearer = header[7:].strip() if header.lower().startswith("bearer ") else None
    bearer = bearer or request.cookies.get(PARTICIPANT_COOKIE)
    sessions: SessionManager | None = getattr(request.app.state, "sessions", None)
    found = await sessions.status(bearer) if sessions is not None and bearer else None
    if found is None:
        return None
    participant, state = found
    return participant, standing(participant, state)


async def require_joined(request: Request) -> tuple[Participant, Standing]:
    """FastAPI dependency: a participant who redeemed a link (any standing), else 401."""
    found = await joined_of(request)
    if found is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "authentication required: the participant's bearer from a redeemed join link",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return found


def standing(participant: Participant, state: SessionState) -> Standing:
    """Where the participant stands: removed and ended win over admitted."""
    if state is SessionState.ENDED:
        return "ended"
    if participant.removed_wall_s is not None:
        return "removed"
    if participant.admitted_wall_s is not None:
        return "admitted"
    return "waiting"


JoinedDep = Annotated[tuple[Participant, Standing], Depends(require_joined)]


@router.get("/api/v1/session/me", tags=["session"])
async def me(joined: JoinedDep) -> dict[str, Any]:
    """The calling participant's own standing: waiting, admitted, removed or ended."""
    participant, where = joined
    return {
        "participant_id": participant.id,
        "role": participant.role.value,
        "name": participant.name,
        "standing": where,
        "admitted": where == "admitted",
        "removed": where == "removed",
        "ended": where == "ended",
        "poll_s": POLL_S,
    }


@router.get(WAITING_PAGE, include_in_schema=False)
async def waiting_page(request: Request) -> Response:
    """The waiting room (or the removed/ended page); admitted goes on to the participant page."""
    joined = await joined_of(request)
    where: str = "unknown" if joined is None else joined[1]
    if where == "admitted":
        return RedirectResponse("/specialist/", status_code=303)
    title, body_nb, body_en = _PAGES[where]
    page = _TEMPLATE.format(
        standing=where,
        title=html.escape(title),
        body=html.escape(body_nb),
        english=html.escape(body_en),
        spinner=_SPINNER if where == "waiting" else "",
        # only the waiting page moves on; the others are final (and "unknown" may not load it)
        script=_SCRIPT if where == "waiting" else "",
        who=_who(joined[0]) if joined is not None else "",
    )
    code = status.HTTP_401_UNAUTHORIZED if joined is None else status.HTTP_200_OK
    return HTMLResponse(page, code, headers={"Cache-Control": "no-store"})


@router.get(WAITING_PAGE + WAITING_SCRIPT, include_in_schema=False)
async def waiting_script(_: JoinedDep) -> Response:
    """The waiting room's poller (no inline script under the CSP)."""
    data = resources.files("gateway.ui").joinpath(WAITING_SCRIPT).read_bytes()
    return Response(
        data, media_type="text/javascript; charset=utf-8", headers={"Cache-Control": "no-cache"}
    )


ROLE_NAMES = {"specialist": "Spesialist / Specialist", "gp": "Fastlege / GP"}


def _who(participant: Participant) -> str:
    role = ROLE_NAMES[participant.role.value]
    name = f" · {participant.name}" if participant.name else ""
    return html.escape(f"Invitert som / Invited as: {role}{name}")


# standing -> (title nb, body nb, body en)
_PAGES: dict[str, tuple[str, str, str]] = {
    "waiting": (
        "Du er i venterommet",
        "Sykepleieren slipper deg inn i konsultasjonen straks pasienten er klar. "
        "Du trenger ikke gjøre noe: siden går videre av seg selv.",
        "You are in the waiting room. The nurse will let you into the consultation as soon "
        "as the patient is ready. There is nothing you need to do: this page moves on by itself.",
    ),
    "removed": (
        "Du er ikke lenger med i konsultasjonen",
        "Sykepleieren har tatt deg ut av konsultasjonen. Trenger du å være med igjen, "
        "be sykepleieren om en ny lenke.",
        "The nurse has removed you from the consultation. If you need to take part again, "
        "ask the nurse for a new link.",
    ),
    "ended": (
        "Konsultasjonen er avsluttet",
        "Sykepleieren har avsluttet konsultasjonen. Du kan lukke dette vinduet.",
        "The nurse has ended the consultation. You can close this window.",
    ),
    "unknown": (
        "Du er ikke med i en konsultasjon",
        "Vi kjenner ikke igjen denne nettleseren. Åpne invitasjonslenken fra sykepleieren "
        "på nytt, eller be om en ny lenke.",
        "This browser has not joined a consultation. Open the invitation link from the nurse "
        "again, or ask for a new link.",
    ),
}

_SPINNER = (
    '<p class="waiting-status" role="status" data-testid="waiting-status">'
    '<span class="waiting-dot" aria-hidden="true"></span>'
    '<span id="waiting-text">Venter på sykepleieren … / Waiting for the nurse …</span></p>'
)

_SCRIPT = f'<script type="module" src="{WAITING_PAGE}{WAITING_SCRIPT}"></script>'

_TEMPLATE = """<!doctype html>
<html lang="nb">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="robots" content="noindex">
  <title>Helserom – {title}</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="/join.css">
  {script}
</head>
<body data-page="waiting" data-standing="{standing}">
  <main class="join">
    <p class="app-name">Helserom</p>
    <h1 data-testid="waiting-title">{title}</h1>
    <p class="waiting-who" data-testid="waiting-who">{who}</p>
    <p>{body}</p>
    {spinner}
    <p class="english" lang="en">{english}</p>
  </main>
</body>
</html>
"""
