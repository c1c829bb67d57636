"""Authentication: the local kiosk's secret token, and remote participants' bearer tokens.

Nothing but /healthz answers without it. The kiosk token lives in ``<state_dir>/kiosk-token``
(mode 0600), made on first start; the kiosk unit reads it to build its login URL. A remote
participant (specialist, GP) redeems a single-use join link for a bearer token
(``gateway.sessions``), presented as ``Authorization: Bearer`` or the participant cookie.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, HTTPException, Request, WebSocket, status
from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    from gateway.sessions import SessionManager

COOKIE_NAME = "helserom_kiosk"
PARTICIPANT_COOKIE = "helserom_participant"
TOKEN_FILE = "kiosk-token"


class KioskAuth:
    """Checks the kiosk token from an ``Authorization: Bearer`` header or the cookie."""

    def __init__(self, token: str) -> None:
        if len(token) < 32:
            raise ValueError("kiosk token must be at least 32 characters")
        self.token = token

    @classmethod
    def load_or_create(cls, state_dir: Path) -> KioskAuth:
        """Read the token file, or make one (0600) on first start."""
        path = state_dir / TOKEN_FILE
        state_dir.mkdir(parents=True, exist_ok=True)
        try:
            return cls(path.read_text(encoding="ascii").strip())
        except FileNotFoundError:
            token = secrets.token_urlsafe(32)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write(token + "\n")
            return cls(token)

    def valid(self, candidate: str | None) -> bool:
        """True if ``candidate`` is the token (constant-time)."""
        return candidate is not None and secrets.compare_digest(
            candidate.encode(), self.token.encode()
        )

    def presented(self, headers: Mapping[str, str], cookies: Mapping[str, str]) -> str | None:
        """The token a request presents, if any."""
        auth = headers.get("authorization")
        if auth is not None and auth.lower().startswith("bearer "):
            return auth[7:].strip()
        return cookies.get(COOKIE_NAME)


def _auth(request: Request) -> KioskAuth:
    auth: KioskAuth = request.app.state.auth
    return auth


def require_kiosk(request: Request) -> None:
    """FastAPI dependency: 401 unless the request carries the kiosk token."""
    auth = _auth(request)
    if not auth.valid(auth.presented(request.headers, request.cookies)):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "authentication required",
            headers={"WWW-Authenticate": "Bearer"},
        )


def websocket_allowed(ws: WebSocket) -> bool:
    """Token check plus Origin check (a page from another origin may not read the room)."""
    auth: KioskAuth = ws.app.state.auth
    if not auth.valid(auth.presented(ws.headers, ws.cookies)):
        return False
    origin = ws.headers.get("origin")
    if origin is None:
        return True  # not a browser (a browser always sends Origin on WebSocket)
    host = ws.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


KioskDep = Annotated[None, Depends(require_kiosk)]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: the nurse at the kiosk, or a remote participant of the live session."""

    role: str  # "nurse" | "specialist" | "gp"
    participant_id: str | None = None
    session_id: str | None = None


NURSE = Principal("nurse")


async def principal_of(conn: HTTPConnection) -> Principal | None:
    """The principal a request or WebSocket presents, or None (the kiosk token wins)."""
    auth: KioskAuth = conn.app.state.auth
    if auth.valid(auth.presented(conn.headers, conn.cookies)):
        return NURSE
    sessions: SessionManager | None = getattr(conn.app.state, "sessions", None)
    if sessions is None:
        return None
    header = conn.headers.get("authorization")
    bearer = (
        header[7:].strip()
        if header is not None and header.lower().startswith("bearer ")
        else conn.cookies.get(PARTICIPANT_COOKIE)
    )
    if not bearer:
        return None
    p = await sessions.participant(bearer)
    if p is None or not p.admitted:
        return None
    return Principal(p.role.value, p.id, p.session_id)


async def require_principal(request: Request) -> Principal:
    """FastAPI dependency: the nurse or an admitted participant, else 401."""
    who = await principal_of(request)
    if who is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "authentication required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return who


PrincipalDep = Annotated[Principal, Depends(require_principal)]
