"""Authentication for the local kiosk: a secret token, exchanged once for an HttpOnly cookie.

Nothing but /healthz answers without it. The token lives in ``<state_dir>/kiosk-token``
(mode 0600), made on first start; the kiosk unit reads it to build its login URL. Remote
roles (specialist, GP, admin) come with the security issue.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request, WebSocket, status

COOKIE_NAME = "helserom_kiosk"
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
