"""HTTP routes of the gateway's media: cameras, WHEP (RFC 9725 style), snapshots, the
specialist page. Every route needs a principal (the nurse or an admitted participant)."""

from __future__ import annotations

import logging
from importlib import resources
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from gateway import records
from gateway.api_waiting import WAITING_PAGE, joined_of
from gateway.auth import Principal, PrincipalDep, principal_of
from webrtc.errors import ViewerLimit, WebRtcError

if TYPE_CHECKING:  # gateway.media pulls in aiortc: only a gateway with cameras imports it
    from gateway.media import MediaHub

logger = logging.getLogger(__name__)

MAX_OFFER_BYTES = 64 * 1024
CONVERSATION_TAG = b'<script type="module" src="/ui/conversation.js"></script>'
router = APIRouter()


def get_media(request: Request) -> MediaHub:
    """The running MediaHub (503 when the gateway runs without media)."""
    media: MediaHub | None = getattr(request.app.state, "media", None)
    if media is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "media is not running")
    return media


MediaDep = Annotated["MediaHub", Depends(get_media)]


@router.get("/api/v1/cameras", tags=["media"])
async def cameras(_: PrincipalDep, media: MediaDep) -> list[dict[str, Any]]:
    """The gateway's cameras, in the order of the WHEP offer's video transceivers."""
    return media.camera_list()


@router.post("/api/v1/whep", tags=["media"], status_code=201)
async def whep_post(request: Request, who: PrincipalDep, media: MediaDep) -> Response:
    """WHEP: an SDP offer (complete, no trickle) → 201, Location, SDP answer."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/sdp":
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "expected application/sdp")
    body = await request.body()
    if len(body) > MAX_OFFER_BYTES:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "offer too large")
    try:
        offer = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "offer is not UTF-8") from None
    try:
        resource_id, answer = await media.join(offer, who)
    except ViewerLimit as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    except WebRtcError as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, str(exc)) from None
    return Response(
        answer,
        status_code=201,
        media_type="application/sdp",
        headers={"Location": f"/api/v1/whep/{resource_id}"},
    )


@router.delete("/api/v1/whep/{resource_id}", tags=["media"], status_code=204)
async def whep_delete(resource_id: str, who: PrincipalDep, media: MediaDep) -> Response:
    """Leave: close the viewer's peer connection (only its creator may). Idempotent: a viewer
    the gateway already closed (its connection failed, the participant was removed) is gone."""
    owner = media.owner(resource_id)
    if owner is None:
        return Response(status_code=204)
    if owner != who:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "not your WHEP resource")
    await media.leave(resource_id)
    return Response(status_code=204)


@router.get("/api/v1/snapshots/{snapshot_id}", tags=["media"])
async def snapshot(snapshot_id: str, who: PrincipalDep, media: MediaDep) -> Response:
    """A full-resolution still taken on a ``control`` snapshot request (JPEG): the nurse may
    see any, a participant those of their own session."""
    if media.store is None:
        snap = media.snapshots.get(snapshot_id)
        if snap is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such snapshot (or no longer kept)")
        jpeg = snap.jpeg
    else:
        found = await media.store.call(records.snapshot_jpeg, snapshot_id)
        if found is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, f"no snapshot {snapshot_id!r}")
        row, jpeg = found
        if who.role != "nurse" and (row.session_id is None or row.session_id != who.session_id):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "snapshot of another session")
    return Response(jpeg, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@router.get("/specialist/", include_in_schema=False)
async def specialist(request: Request) -> Response:
    """The specialist's page; a friendly page (401) for anyone not joined."""
    who: Principal | None = await principal_of(request)
    if who is None:
        if await joined_of(request) is not None:  # waiting, removed or ended: say which
            return RedirectResponse(WAITING_PAGE, status_code=303)
        return HTMLResponse(_NOT_JOINED, status_code=401)
    ui = resources.files("gateway.ui")
    data = ui.joinpath("specialist.html").read_bytes()
    if not ui.joinpath("conversation.js").is_file():  # H-talk's part not merged: no 404 noise
        data = data.replace(CONVERSATION_TAG, b"")
    return Response(
        data, media_type="text/html; charset=utf-8", headers={"Cache-Control": "no-cache"}
    )


_NOT_JOINED = """<!doctype html><html lang="nb"><meta charset="utf-8">
<title>Ikke med i konsultasjonen</title><link rel="stylesheet" href="/join.css">
<link rel="icon" href="data:,">
<body><main class="join"><p class="app-name">Helserom</p>
<h1>Du er ikke med i denne konsultasjonen</h1>
<p>Åpne invitasjonslenken du fikk fra sykepleieren på nytt, eller be om en ny lenke. Er du
invitert, venter du kanskje på at sykepleieren slipper deg inn: last siden på nytt om litt.</p>
<p class="english" lang="en">You have not joined this consultation. Open the invitation link
you were sent again, or ask the nurse for a new one. If you were invited, the nurse may not have
let you in yet: reload in a moment.</p></main></body></html>"""
