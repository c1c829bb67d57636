"""Security wiring of the HTTP app: audit of /api/v1, join rate limit, kiosk lock, IT routes.

``install_security(app, settings, audit)`` is called once by ``gateway.api.create_app``.
Audited: every HTTP request under ``/api/v1/`` (subject, role, ``METHOD /route``, session,
path, status code) including refused ones, and the live WebSocket's open and close.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import Response
from pydantic import BaseModel, Field

from gateway.audit import AuditEntry, AuditLog, verify
from gateway.auth import (
    AdminDep,
    KioskDep,
    Principal,
    admin_of,
    load_admin_token,
    principal_of,
)
from gateway.credentials import credential_path
from gateway.oidc import OidcValidator, TokenError, load_jwks
from gateway.pin import KioskLock
from gateway.ratelimit import RateLimitMiddleware, TokenBucketLimiter
from gateway.sessions import SessionState
from gateway.settings import Settings

logger = logging.getLogger(__name__)

AUDITED_PREFIX = "/api/v1/"
JOIN_PREFIXES = ("/join", "/api/v1/join")
# the kiosk page's own lock polling and activity pings, and the waiting room's poll of the
# participant's own standing: no patient data, every few seconds
NOT_AUDITED = {
    ("GET", "/api/v1/kiosk/lock"),
    ("POST", "/api/v1/kiosk/activity"),
    ("GET", "/api/v1/session/me"),
}
PIN_CREDENTIAL = "nurse-pin-hash"
HSTS = "max-age=31536000"


class UnlockIn(BaseModel):
    """The PIN typed at the kiosk."""

    pin: str = Field(min_length=4, max_length=12, pattern=r"^[0-9]+$")


class LockOut(BaseModel):
    """Whether the kiosk locks, and whether it is locked now."""

    enabled: bool
    locked: bool
    idle_lock_s: float


class AuditRow(BaseModel):
    """One audit log row."""

    seq: int
    time_s: float
    subject: str
    role: str
    action: str
    session: str | None
    resource: str | None
    outcome: str
    hash: str


class AuditVerifyOut(BaseModel):
    """The chain check."""

    ok: bool
    rows: int
    first_bad_seq: int | None
    reason: str


router = APIRouter(prefix="/api/v1", tags=["security"])


def _lock(request: Request) -> KioskLock:
    lock: KioskLock = request.app.state.kiosk_lock
    return lock


@router.get("/kiosk/lock", response_model=LockOut)
async def lock_state(request: Request, _: KioskDep) -> LockOut:
    """The kiosk's lock state (reachable while locked)."""
    lock = _lock(request)
    return LockOut(enabled=lock.enabled, locked=lock.locked, idle_lock_s=lock.idle_lock_s)


@router.post("/kiosk/lock", status_code=204)
async def lock_now(request: Request, _: KioskDep) -> Response:
    """Lock the kiosk now (the nurse leaves the room)."""
    _lock(request).lock()
    return Response(status_code=204)


@router.post("/kiosk/activity", status_code=204)
async def activity(request: Request, _: KioskDep) -> Response:
    """The kiosk page reports user input; resets the idle timer while unlocked."""
    lock = _lock(request)
    if lock.locked:
        raise HTTPException(status.HTTP_423_LOCKED, "kiosk locked: unlock with the PIN")
    lock.touch()
    return Response(status_code=204)


@router.post("/kiosk/unlock", status_code=204, responses={403: {}, 429: {}})
async def unlock(request: Request, body: UnlockIn, _: KioskDep) -> Response:
    """Unlock with the nurse's PIN (limited tries)."""
    lock = _lock(request)
    if not lock.enabled:
        return Response(status_code=204)
    wait_s = await asyncio.to_thread(lock.unlock, body.pin)  # scrypt takes ~50 ms
    if wait_s is None:
        return Response(status_code=204)
    if wait_s > 0:
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            "too many wrong PINs; wait",
            headers={"Retry-After": str(int(wait_s) + 1)},
        )
    raise HTTPException(status.HTTP_403_FORBIDDEN, "wrong PIN")


@router.get("/admin/audit", response_model=list[AuditRow])
async def audit_tail(
    request: Request, _: AdminDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[dict[str, Any]]:
    """The newest audit rows (IT only)."""
    log: AuditLog = request.app.state.audit
    return await asyncio.to_thread(log.tail, limit)


@router.get("/admin/audit/verify", response_model=AuditVerifyOut)
async def audit_verify(request: Request, _: AdminDep) -> AuditVerifyOut:
    """Walk the audit hash chain (IT only)."""
    log: AuditLog = request.app.state.audit
    result = await asyncio.to_thread(verify, log.path)
    return AuditVerifyOut(
        ok=result.ok, rows=result.rows, first_bad_seq=result.first_bad_seq, reason=result.reason
    )


def _pin_hash(settings: Settings) -> str | None:
    path = credential_path(PIN_CREDENTIAL)
    if path is not None:
        return path.read_text(encoding="ascii").strip()
    return settings.security.pin_hash


def make_oidc(settings: Settings) -> OidcValidator | None:
    """The JWT validator when ``[security] oidc_*`` is configured."""
    sec = settings.security
    if sec.oidc_issuer is None or sec.oidc_audience is None:
        return None
    try:
        jwks = load_jwks(sec.oidc_jwks_file, sec.oidc_jwks_url)
    except (OSError, TokenError) as exc:
        raise OSError(f"security.oidc_jwks_*: cannot load the JWKS ({exc})") from None
    return OidcValidator(
        sec.oidc_issuer,
        sec.oidc_audience,
        jwks,
        require_dpop=sec.oidc_require_dpop,
        role_claim=sec.oidc_role_claim,
    )


def audit_entry(who: Principal | None, action: str, outcome: str, resource: str) -> AuditEntry:
    """An audit entry for ``who`` (None: an unauthenticated caller)."""
    if who is None:
        return AuditEntry("anonymous", "none", action, outcome, None, resource)
    return AuditEntry(who.who, who.role, action, outcome, who.session_id, resource)


def _consultation_live(app: FastAPI) -> bool:
    sessions = getattr(app.state, "sessions", None)
    current = sessions.current if sessions is not None else None
    return current is not None and current.state is SessionState.LIVE


def install_security(app: FastAPI, settings: Settings, audit: AuditLog | None) -> None:
    """Audit middleware, join rate limit, kiosk lock, OIDC and the IT routes."""
    sec = settings.security
    app.state.audit = audit
    app.state.kiosk_lock = KioskLock(
        _pin_hash(settings),
        sec.idle_lock_s,
        sec.pin_max_tries,
        sec.pin_lockout_s,
        attended=lambda: _consultation_live(app),
    )
    app.state.admin_token = load_admin_token()
    app.state.oidc = make_oidc(settings)
    app.include_router(router)
    app.add_middleware(
        RateLimitMiddleware,
        limiter=TokenBucketLimiter(sec.join_rate_per_min, sec.join_burst),
        prefixes=JOIN_PREFIXES,
    )

    @app.middleware("http")
    async def audit_requests(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        if request.url.scheme == "https":
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        if (
            audit is not None
            and request.url.path.startswith(AUDITED_PREFIX)
            and (request.method, request.url.path) not in NOT_AUDITED
        ):
            route = request.scope.get("route")
            template = getattr(route, "path", request.url.path)
            who = await principal_of(request) or admin_of(request)
            entry = audit_entry(
                who, f"{request.method} {template}", str(response.status_code), request.url.path
            )
            await asyncio.to_thread(audit.record, entry)
        return response
