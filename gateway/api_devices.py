"""Pairing manager endpoints for the kiosk: scan for Bluetooth devices, bind, forget."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel, Field

from drivers.errors import TransportError
from drivers.transports.ble import scan as ble_scan
from gateway.auth import require_kiosk
from gateway.bindings import BindingError, advert_kind, bind, forget, suggested_id
from gateway.health import GatewayContext
from gateway.live import status_dict

router = APIRouter(dependencies=[Depends(require_kiosk)], tags=["pairing"])


class ScannedDevice(BaseModel):
    """A Bluetooth LE peripheral in range."""

    address: str
    name: str | None
    rssi_dbm: int | None
    kind: str | None = Field(description="the gateway's profile for it, or null if none")
    uri: str | None
    suggested_id: str | None
    bound_as: str | None = Field(description="the device id it is already bound as")


class BindRequest(BaseModel):
    """A device to bind: its URI (from a scan) and how the room names it."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")
    uri: str = Field(max_length=500)
    label: str = Field(default="", max_length=100)


def _context(request: Request) -> GatewayContext:
    ctx: GatewayContext = request.app.state.context
    return ctx


@router.get("/api/v1/pairing/scan", response_model=list[ScannedDevice])
async def scan(
    request: Request, seconds: Annotated[float, Query(ge=0.5, le=20.0)] = 4.0
) -> list[dict[str, Any]]:
    """Listen for Bluetooth LE devices; each with the URI to bind it by (if supported)."""
    ctx = _context(request)
    try:
        adverts = await ble_scan(seconds)
    except TransportError as exc:
        raise HTTPException(503, f"Bluetooth is not available: {exc}") from None
    bound = {
        s.device.uri.target: s.device.device_id
        for s in ctx.pipeline.slots.values()
        if s.device.uri.scheme == "ble"
    }
    out = []
    for adv in adverts:
        kind = advert_kind(adv)
        out.append(
            {
                "address": adv.address,
                "name": adv.name,
                "rssi_dbm": adv.rssi_dbm,
                "kind": kind,
                "uri": f"ble://{adv.address}?profile={kind}" if kind else None,
                "suggested_id": suggested_id(kind, adv.address) if kind else None,
                "bound_as": bound.get(adv.address),
            }
        )
    return out


@router.post("/api/v1/devices", status_code=201)
async def bind_device(request: Request, body: BindRequest) -> dict[str, Any]:
    """Bind a device: it is stored, started, and kept across restarts."""
    ctx = _context(request)
    configured = {d.id for d in ctx.settings.devices}
    try:
        slot = await bind(ctx.pipeline, configured, body.id, body.uri, body.label)
    except BindingError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    status = slot.status(ctx.settings.pipeline.silence_timeout_s)
    return {**status_dict(status), "label": slot.label}


@router.delete("/api/v1/devices/{device_id}", status_code=204)
async def forget_device(request: Request, device_id: str) -> Response:
    """Forget a device bound at the kiosk (its measurements stay in the store)."""
    ctx = _context(request)
    configured = {d.id for d in ctx.settings.devices}
    try:
        await forget(ctx.pipeline, configured, device_id)
    except BindingError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    return Response(status_code=204)
