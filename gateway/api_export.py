"""``GET /api/v1/sessions/{id}/export?format=fhir``: a session as a FHIR R4 Bundle (nurse only)."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from gateway.auth import require_kiosk
from gateway.export import ExportError, export_fhir, read_session
from gateway.fhir.source import SessionData
from gateway.health import GatewayContext
from gateway.report_io import ReportError, html_to_pdf, report_html

REPORT_CSP = (  # the summary is self-contained: inline style, no scripts, nothing fetched
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)

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
            headers={"Content-Security-Policy": REPORT_CSP, "Cache-Control": "no-store"},
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
