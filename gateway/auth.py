"""Authentication: the local kiosk's secret token, and remote participants' bearer tokens.

Nothing but /healthz answers without it. The kiosk token lives in ``<state_dir>/kiosk-token``
(mode 0600), made on first start; the kiosk unit reads it to build its login URL. A remote
participant (specialist, GP) redeems a single-use join link for a bearer token
(``gateway.sessions``), presented as ``Authorization: Bearer`` or the participant cookie.
With ``[security] oidc_*`` set, a specialist or GP may instead present an OIDC/HelseID-style
JWT (``gateway.oidc``, DPoP when configured). IT (role admin) presents the token from the
systemd credential ``admin-token``; admin reaches IT routes only, never patient data:
``principal_of`` never returns it (``admin_of`` does), so routes that accept any principal
cannot be reached with the IT token.
The kiosk locks after idle time (``gateway.pin``): then patient-data routes answer 423.
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

from gateway.credentials import credential_path
from gateway.oidc import TokenError

if TYPE_CHECKING:
    from gateway.oidc import OidcValidator
    from gateway.pin import KioskLock
    from gateway.sessions import SessionManager

COOKIE_NAME = "helserom_kiosk"
PARTICIPANT_COOKIE = "helserom_participant"
TOKEN_FILE = "kiosk-token"
ADMIN_CREDENTIAL = "admin-token"
UNLOCKED_PREFIXES = ("/api/v1/kiosk/",)  # reachable while the kiosk is locked
# A page's own polling (e.g. the Konsultasjon screen every 2 s) sends this: it is not the
# nurse's activity and must not keep the kiosk from locking. It can only make the lock sooner.
BACKGROUND_HEADER = "x-helserom-background"


def load_admin_token(env: Mapping[str, str] | None = None) -> str | None:
    """The IT token from ``$CREDENTIALS_DIRECTORY/admin-token`` (LoadCredential=), if any."""
    path = credential_path(ADMIN_CREDENTIAL, env)
    if path is None:
        return None
    try:
        token = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return token if len(token) >= 32 else None


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
    """FastAPI dependency: 401 unless the request carries the kiosk token (423 if locked)."""
    auth = _auth(request)
    if not auth.valid(auth.presented(request.headers, request.cookies)):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "authentication required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    check_kiosk_lock(request)


def check_kiosk_lock(conn: HTTPConnection) -> None:
    """423 on patient-data routes while the kiosk is locked; else count it as activity."""
    lock: KioskLock | None = getattr(conn.app.state, "kiosk_lock", None)
    path = conn.url.path
    if lock is None or not path.startswith("/api/") or path.startswith(UNLOCKED_PREFIXES):
        return
    if lock.locked:
        raise HTTPException(status.HTTP_423_LOCKED, "kiosk locked: unlock with the PIN")
    if conn.headers.get(BACKGROUND_HEADER) != "1":
        lock.touch()


def websocket_allowed(ws: WebSocket) -> bool:
    """Token check plus Origin check (a page from another origin may not read the room)."""
    auth: KioskAuth = ws.app.state.auth
    if not auth.valid(auth.presented(ws.headers, ws.cookies)):
        return False
    origin = ws.headers.get("origin")
    if origin is None:
        return True  # not a browser (a browser always sends Origin on WebSocket)
    host = ws.headers.get("host", "")
    context = getattr(ws.app.state, "context", None)
    extra = context.settings.security.allowed_origins if context is not None else []
    return origin in (f"http://{host}", f"https://{host}", *extra)


KioskDep = Annotated[None, Depends(require_kiosk)]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: the nurse at the kiosk, or a remote participant of the live session."""

    role: str  # "nurse" | "specialist" | "gp" | "admin"
    participant_id: str | None = None
    session_id: str | None = None
    subject: str | None = None  # OIDC sub, "kiosk", "admin"

    @property
    def who(self) -> str:
        """The name the audit log records."""
        return self.subject or self.participant_id or self.role


NURSE = Principal("nurse", subject="kiosk")
ADMIN = Principal("admin", subject="admin")


def _bearer(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization")
    if header is not None and header.lower().startswith(("bearer ", "dpop ")):
        return header.split(" ", 1)[1].strip()
    return None


async def principal_of(conn: HTTPConnection) -> Principal | None:
    """The principal a request or WebSocket presents, or None (the kiosk token wins)."""
    auth: KioskAuth = conn.app.state.auth
    if auth.valid(auth.presented(conn.headers, conn.cookies)):
        return NURSE
    bearer = _bearer(conn)
    sessions: SessionManager | None = getattr(conn.app.state, "sessions", None)
    participant_bearer = bearer or conn.cookies.get(PARTICIPANT_COOKIE)
    if sessions is not None and participant_bearer:
        p = await sessions.participant(participant_bearer)
        if p is not None and p.admitted:
            return Principal(p.role.value, p.id, p.session_id)
    oidc: OidcValidator | None = getattr(conn.app.state, "oidc", None)
    if oidc is not None and bearer and bearer.count(".") == 2:
        method = conn.scope.get("method", "GET")
        try:
            ident = oidc.validate(
                bearer, dpop=conn.headers.get("dpop"), method=method, url=str(conn.url)
            )
        except TokenError:
            return None
        return Principal(ident.role, subject=ident.subject)
    return None


def admin_of(conn: HTTPConnection) -> Principal | None:
    """ADMIN if the request carries the IT token (never returned by ``principal_of``)."""
    bearer = _bearer(conn)
    admin_token: str | None = getattr(conn.app.state, "admin_token", None)
    if admin_token and bearer and secrets.compare_digest(bearer.encode(), admin_token.encode()):
        return ADMIN
    return None


async def require_principal(request: Request) -> Principal:
    """FastAPI dependency: the nurse or a remote clinician, else 401 (admin: 403; locked: 423)."""
    who = await principal_of(request)
    if who is None and admin_of(request) is not None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "the IT role has no access to patient data")
    if who is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "authentication required",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if who.role == "nurse":
        check_kiosk_lock(request)
    return who


async def require_admin(request: Request) -> Principal:
    """FastAPI dependency: the IT token, else 401/403."""
    admin = admin_of(request)
    if admin is not None:
        return admin
    if await principal_of(request) is not None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "IT (admin) role required")
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        "authentication required",
        headers={"WWW-Authenticate": "Bearer"},
    )


PrincipalDep = Annotated[Principal, Depends(require_principal)]
AdminDep = Annotated[Principal, Depends(require_admin)]
