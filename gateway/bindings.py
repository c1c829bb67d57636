"""Devices the nurse binds at the kiosk (pairing manager), beside those IT configured.

A binding is a device id, URI and label kept in the store, so it survives restarts. Config
devices belong to IT and cannot be forgotten from the kiosk; bound ones can. Forgetting keeps
the row (with the time) and every measurement the device made.
"""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import dataclass

from drivers.devices import open_device
from drivers.devices.ble_profiles import SERVICE_KINDS
from drivers.errors import DriverError
from drivers.transports.ble import Advert
from gateway.pipeline import DeviceSlot, Pipeline
from gateway.settings import DeviceSettings

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class BindingError(Exception):
    """A device that cannot be bound or forgotten; ``status`` is the HTTP status to answer."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Binding:
    """A device bound at the kiosk."""

    id: str
    uri: str
    label: str
    bound_wall_s: float


def advert_kind(advert: Advert) -> str | None:
    """The profile a scanned peripheral offers (plx, bp, …), if the gateway has one for it."""
    return next((SERVICE_KINDS[u] for u in advert.service_uuids if u in SERVICE_KINDS), None)


def suggested_id(kind: str, address: str) -> str:
    """A readable id for a scanned device: profile plus the address's last three bytes."""
    return f"{kind}-{address.replace(':', '')[-6:].lower()}"


def load_bindings(db: sqlite3.Connection) -> list[Binding]:
    """Bindings not forgotten, oldest first (run on the store thread)."""
    rows = db.execute(
        "SELECT id, uri, label, bound_wall_s FROM device_binding "
        "WHERE forgotten_wall_s IS NULL ORDER BY bound_wall_s"
    ).fetchall()
    return [Binding(*row) for row in rows]


def _insert(db: sqlite3.Connection, b: Binding) -> None:
    with db:
        db.execute(
            "INSERT INTO device_binding (id, uri, label, bound_wall_s) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET uri = excluded.uri, label = excluded.label, "
            "bound_wall_s = excluded.bound_wall_s, forgotten_wall_s = NULL",
            (b.id, b.uri, b.label, b.bound_wall_s),
        )


def _forget(db: sqlite3.Connection, device_id: str, now: float) -> None:
    with db:
        db.execute(
            "UPDATE device_binding SET forgotten_wall_s = ? WHERE id = ? "
            "AND forgotten_wall_s IS NULL",
            (now, device_id),
        )


def slot_for(device_id: str, uri: str, label: str) -> DeviceSlot:
    """Validate like a config entry (same messages), then make the device's slot."""
    try:
        checked = DeviceSettings(id=device_id, uri=uri, label=label)
    except ValueError as exc:
        raise BindingError(f"device {device_id!r}: {exc}", 422) from None
    try:
        return DeviceSlot(open_device(checked.id, checked.uri), checked.label)
    except DriverError as exc:
        raise BindingError(f"device {device_id!r}: {exc}", 422) from None


async def bind(
    pipeline: Pipeline, configured: set[str], device_id: str, uri: str, label: str
) -> DeviceSlot:
    """Bind a device: stored first, then read like any other (409 if the id is taken)."""
    if device_id in configured or device_id in pipeline.slots:
        raise BindingError(f"device id {device_id!r} is already in use", 409)
    if any(str(s.device.uri) == uri for s in pipeline.slots.values()):
        raise BindingError(f"{uri} is already bound", 409)
    slot = slot_for(device_id, uri, label)
    now = time.time()
    store = pipeline.store
    await store.call(_insert, Binding(device_id, uri, label, now))
    await store.register_device(device_id, slot.device.kind, uri, now)
    pipeline.add_device(slot)
    return slot


async def forget(pipeline: Pipeline, configured: set[str], device_id: str) -> None:
    """Stop and forget a bound device (409 for one IT configured, 404 if unknown)."""
    if device_id in configured:
        raise BindingError(f"device {device_id!r} is configured by IT; change the config", 409)
    if device_id not in pipeline.slots:
        raise BindingError(f"no device {device_id!r}", 404)
    await pipeline.store.call(_forget, device_id, time.time())
    await pipeline.remove_device(device_id)
