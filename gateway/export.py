"""Read one session out of the store for export (FHIR): read-only, no writes.

``read_session(db, id)`` works on any sqlite3 connection (``store.call`` in the running
gateway); ``read_session_file(path, id)`` opens the database read-only (``mode=ro``), so the
CLI can export while the gateway runs. The builder (:mod:`gateway.fhir`) does no I/O.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from drivers.model import Quantity
from gateway.clinical.careplan import CarePlanError, load_careplan
from gateway.fhir import ExportOptions, build_bundle
from gateway.fhir.source import BlockRow, DeviceRow, MeasurementRow, SessionData, SessionRow
from gateway.settings import Settings

T = TypeVar("T")

FLOW_KEY = Quantity.AIRWAY_FLOW.spec.key


class ExportError(Exception):
    """A session that cannot be exported (unknown id, unreadable database)."""


def read_session(
    db: sqlite3.Connection, session_id: str, *, waveforms: bool = True
) -> SessionData | None:
    """The session's rows, or None if there is no such session.

    ``waveforms=False`` reads only the airway-flow blocks (spirometry still needs them).
    """
    row = db.execute(
        "SELECT id, state, created_wall_s, started_wall_s, ended_wall_s, patient"
        " FROM session WHERE id = ?",
        (session_id,),
    ).fetchone()
    if row is None:
        return None
    session = SessionRow(
        row[0], row[1], row[2], row[3], row[4], None if row[5] is None else json.loads(row[5])
    )
    measurements = tuple(
        MeasurementRow(
            id=r[0],
            device_id=r[1],
            quantity=r[2],
            value=r[3],
            unit=r[4],
            device_time=r[5],
            device_clock_set=bool(r[6]),
            received_wall_s=r[7],
            quality=r[8],
            verdict=r[9],
            reasons=tuple(json.loads(r[10])) if r[10] else (),
        )
        for r in db.execute(
            "SELECT id, device_id, quantity, value, unit, device_time, device_clock_set,"
            " received_wall_s, quality, verdict, reasons FROM measurement"
            " WHERE session_id = ? ORDER BY received_wall_s, id",
            (session_id,),
        )
    )
    blocks = tuple(
        _block(r)
        for r in db.execute(
            "SELECT id, device_id, quantity, channels, fs_hz, first_index, n_samples, unit,"
            " samples, received_wall_s, quality FROM sample_block WHERE session_id = ?"
            " AND (? OR quantity = ?) ORDER BY device_id, quantity, first_index, id",
            (session_id, waveforms, FLOW_KEY),
        )
    )
    ids = sorted({m.device_id for m in measurements} | {b.device_id for b in blocks})
    until = session.ended_wall_s
    devices = tuple(_device(db, device_id, until) for device_id in ids)
    return SessionData(session, measurements, blocks, devices)


def _block(r: tuple[Any, ...]) -> BlockRow:
    channels = tuple(json.loads(r[3]))
    n = int(r[6])
    samples = np.frombuffer(r[8], dtype="<f4").astype(np.float64).reshape(n, len(channels))
    return BlockRow(r[0], r[1], r[2], channels, r[4], r[5], r[7], samples, r[9], r[10])


def _device(db: sqlite3.Connection, device_id: str, until: float | None) -> DeviceRow:
    row = db.execute("SELECT kind, uri FROM device WHERE id = ?", (device_id,)).fetchone()
    # The latest Device Information the device gave before the session ended (else any).
    info = None
    if until is not None:
        info = db.execute(
            "SELECT info FROM device_info WHERE device_id = ? AND received_wall_s <= ?"
            " ORDER BY received_wall_s DESC LIMIT 1",
            (device_id, until),
        ).fetchone()
    if info is None:
        info = db.execute(
            "SELECT info FROM device_info WHERE device_id = ?"
            " ORDER BY received_wall_s DESC LIMIT 1",
            (device_id,),
        ).fetchone()
    return DeviceRow(
        device_id,
        None if row is None else row[0],
        None if row is None else row[1],
        None if info is None else json.loads(info[0]),
    )


def read_session_file(path: Path, session_id: str, *, waveforms: bool = True) -> SessionData | None:
    """Open the store read-only and read one session (None if unknown)."""
    return with_store_file(path, lambda db: read_session(db, session_id, waveforms=waveforms))


def with_store_file(path: Path, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``fn`` on a read-only connection to the store file (works while the gateway runs)."""
    if not path.is_file():
        raise ExportError(f"{path}: no database here (check gateway.state_dir)")
    try:
        db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise ExportError(f"{path}: cannot open the database read-only: {exc}") from None
    try:
        db.execute("PRAGMA busy_timeout=5000")
        return fn(db)
    except sqlite3.Error as exc:
        raise ExportError(f"{path}: cannot read the database: {exc}") from None
    finally:
        db.close()


def export_options(settings: Settings, recorded_wall_s: float) -> ExportOptions:
    """Export options from the config (reads the care plan file, if one is configured)."""
    plan_path = settings.clinical.careplan
    try:
        plan = load_careplan(plan_path) if plan_path is not None else None
    except (OSError, CarePlanError) as exc:
        raise ExportError(f"clinical.careplan: {plan_path}: {exc}") from None
    e = settings.export
    return ExportOptions(
        site=settings.gateway.site,
        room=settings.gateway.room,
        recorded_wall_s=recorded_wall_s,
        patient=e.patient,
        pseudonym_system=e.pseudonym_system,
        careplan=plan,
        waveforms=e.waveforms,
        waveform_max_s=e.waveform_max_s,
        reference=e.reference,
    )


def export_fhir(data: SessionData, settings: Settings, recorded_wall_s: float) -> dict[str, Any]:
    """The session's FHIR Bundle as the config says."""
    return build_bundle(data, export_options(settings, recorded_wall_s))
