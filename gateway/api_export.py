"""``GET /api/v1/sessions/{id}/export?format=fhir``: a session as a FHIR R4 Bundle (nurse only)."""

from __future__ import annotations

import asyncio
import functools
import json
import sqlite3
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from gateway.auth import require_kiosk
from gateway.export import ExportError, export_fhir, read_session
from gateway.fhir.source import SessionData
from gateway.health import GatewayContext
from gateway.report_io import ReportError, html_to_pdf, report_html

REPORT_CSP = (  # the summary is self-contained: inline style, no scripts, nothing fetched
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; "
    "base-uri 'none'; form-action 'none'"
)  # framed only by our own kiosk page (the Konsultasjon screen's summary)

FHIR_JSON = "application/fhir+json"

router = APIRouter(dependencies=[Depends(require_kiosk)], tags=["export"])


@router.get("/api/v1/sessions/{session_id}/export")
async def export_session(
    session_id: str,
    request: Request,
    fmt: Annotated[Literal["fhir"], Query(alias="format")] = "fhir",
) -> Response:
    """The session's FHIR R4 transaction Bundle (404 for an unknown session)."""
    ctx: GatewayContext = request.app.state.context
    waveforms = ctx.settings.export.waveforms
    data = await ctx.pipeline.store.call(
        functools.partial(read_session, waveforms=waveforms), session_id
    )
    if data is None:
        raise HTTPException(404, f"no session {session_id!r}")
    try:
        # the spirometry analysis and JSON encoding run off the event loop
        body = await asyncio.to_thread(_encode, data, ctx, time.time())
    except ExportError as exc:
        raise HTTPException(500, str(exc)) from None
    return Response(body, media_type=FHIR_JSON)


def _encode(data: SessionData, ctx: GatewayContext, now: float) -> bytes:
    bundle = export_fhir(data, ctx.settings, now)
    return json.dumps(bundle, ensure_ascii=False, allow_nan=False).encode()


@router.get("/api/v1/sessions/{session_id}/summary")
async def session_summary(session_id: str, request: Request) -> dict[str, Any]:
    """The session's main numbers for the kiosk: times, participants, measurement count."""
    ctx: GatewayContext = request.app.state.context
    found = await ctx.pipeline.store.call(_summary, session_id)
    if found is None:
        raise HTTPException(404, f"no session {session_id!r}")
    return found


def _summary(db: sqlite3.Connection, session_id: str) -> dict[str, Any] | None:
    row = db.execute(
        "SELECT id, state, created_wall_s, started_wall_s, ended_wall_s FROM session WHERE id = ?",
        (session_id,),
    ).fetchone()
    if row is None:
        return None
    people = db.execute(
        "SELECT role, name, redeemed_wall_s, admitted_wall_s, removed_wall_s FROM participant"
        " WHERE session_id = ? ORDER BY id",
        (session_id,),
    ).fetchall()
    (count,) = db.execute(
        "SELECT count(*) FROM measurement WHERE session_id = ?", (session_id,)
    ).fetchone()
    start, end = row[3], row[4]
    return {
        "id": row[0],
        "state": row[1],
        "created_s": row[2],
        "started_s": start,
        "ended_s": end,
        "duration_s": end - start if start is not None and end is not None else None,
        "measurements": count,
        "participants": [
            {
                "role": p[0],
                "name": p[1],
                "joined": p[2] is not None,
                "admitted": p[3] is not None,
                "removed": p[4] is not None,
            }
            for p in people
        ],
    }


@router.get("/api/v1/sessions/{session_id}/report")
async def session_report(
    session_id: str,
    request: Request,
    fmt: Annotated[Literal["html", "pdf"], Query(alias="format")] = "html",
) -> Response:
    """The session summary, printable on A4: HTML, or PDF printed by Chromium."""
    ctx: GatewayContext = request.app.state.context
    now = time.time()
    try:
        page = await ctx.pipeline.store.call(report_html, session_id, ctx.settings, now)
    except ReportError as exc:
        raise HTTPException(500, str(exc)) from None
    if page is None:
        raise HTTPException(404, f"no session {session_id!r}")
    if fmt == "html":
        return Response(
            page,
            media_type="text/html; charset=utf-8",
            headers={
                "Content-Security-Policy": REPORT_CSP,
                "X-Frame-Options": "SAMEORIGIN",
                "Cache-Control": "no-store",
            },
        )
    try:
        pdf = await html_to_pdf(page)
    except ReportError as exc:
        raise HTTPException(503, str(exc)) from None
    name = f"helserom-{session_id[:8]}.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )
