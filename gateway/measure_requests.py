"""A remote clinician asks the nurse for a measurement (docs/api.md "Measurement requests").

No driver can start a device over its link, so a ``measure`` control request is forwarded:
the live hub carries ``{"type": "request", …}`` to the kiosk (and every viewer's ``vitals``
channel), the nurse answers Start or Not now (POST /api/v1/session/requests/{id}), and the
answer goes out as ``{"type": "request_update", …}``. Requests are kept in memory only (the
newest ``KEEP``): a request is a prompt, not a record; the measurement it leads to is stored.
"""

from __future__ import annotations

import collections
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

from drivers.errors import UriError
from drivers.transports.uri import DeviceUri
from gateway.live import LiveHub
from gateway.settings import DeviceSettings

KINDS = ("bp", "spo2", "spiro", "ecg")
KEEP = 64
Answer = Literal["accepted", "declined"]
# which guided measurement a device serves: serial codec or BLE profile -> kind
_KIND_OF = {
    "nonin2": "spo2",
    "nonin7": "spo2",
    "nonin8": "spo2",
    "cms50": "spo2",
    "openbci": "ecg",
    "spiro": "spiro",
    "plx": "spo2",
    "bp": "bp",
}


class RequestError(Exception):
    """A request that cannot be made or answered; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def device_kind(device: DeviceSettings) -> str | None:
    """The guided measurement kind of a configured device (None: it has no guide)."""
    try:
        uri = DeviceUri.parse(device.uri)
    except UriError:
        return None
    name = uri.params.get("codec") if uri.scheme == "serial" else uri.params.get("profile")
    return _KIND_OF.get(name or "")


@dataclass
class MeasureRequest:
    """One forwarded request and its answer."""

    request_id: str
    kind: str
    device_id: str | None
    from_role: str
    from_name: str | None
    requested_wall_s: float
    state: str = "pending"  # pending | accepted | declined

    def message(self) -> dict[str, Any]:
        """The live ``request`` message."""
        return {
            "type": "request",
            "request_id": self.request_id,
            "kind": self.kind,
            "device_id": self.device_id,
            "from": {"role": self.from_role, "name": self.from_name},
            "requested_s": self.requested_wall_s,
        }

    def update(self) -> dict[str, Any]:
        """The live ``request_update`` message."""
        return {
            "type": "request_update",
            "request_id": self.request_id,
            "kind": self.kind,
            "device_id": self.device_id,
            "state": self.state,
        }


class MeasureRequests:
    """Requests forwarded to the nurse, by id."""

    def __init__(self, devices: list[DeviceSettings], hub: LiveHub) -> None:
        self.kinds = {d.id: device_kind(d) for d in devices}
        self.hub = hub
        self.requests: collections.OrderedDict[str, MeasureRequest] = collections.OrderedDict()

    def resolve(self, kind: str | None, device_id: str | None) -> tuple[str, str | None]:
        """Check a request's kind and/or device: (kind, device id). Raises RequestError."""
        if kind is None and device_id is None:
            raise RequestError(f"kind or device_id: give one (kind is one of {', '.join(KINDS)})")
        if kind is not None and kind not in KINDS:
            raise RequestError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
        if device_id is None:
            return str(kind), None
        if device_id not in self.kinds:
            known = ", ".join(self.kinds)
            raise RequestError(f"device_id: unknown device {device_id!r} (known: {known})")
        own = self.kinds[device_id]
        if own is None:
            raise RequestError(
                f"device_id: {device_id!r} has no guided measurement (kinds: {', '.join(KINDS)})"
            )
        if kind is not None and kind != own:
            raise RequestError(f"kind: {kind!r} does not match device {device_id!r} ({own})")
        return own, device_id

    def forward(
        self, kind: str | None, device_id: str | None, role: str, name: str | None
    ) -> MeasureRequest:
        """Publish a new request to the kiosk. Raises RequestError for a bad kind/device."""
        resolved_kind, resolved_device = self.resolve(kind, device_id)
        req = MeasureRequest(
            secrets.token_urlsafe(9), resolved_kind, resolved_device, role, name, time.time()
        )
        self.requests[req.request_id] = req
        while len(self.requests) > KEEP:
            self.requests.popitem(last=False)
        self.hub.publish(req.message())
        return req

    def answer(self, request_id: str, answer: Answer) -> MeasureRequest:
        """The nurse's answer, published as ``request_update``. Raises RequestError 404/409."""
        req = self.requests.get(request_id)
        if req is None:
            raise RequestError(f"no measurement request {request_id!r}", 404)
        if req.state != "pending":
            raise RequestError(f"request {request_id!r} was already {req.state}", 409)
        req.state = answer
        self.hub.publish(req.update())
        return req

    def pending(self) -> list[MeasureRequest]:
        """Requests still waiting for the nurse (a kiosk that reloads shows them again)."""
        return [r for r in self.requests.values() if r.state == "pending"]
