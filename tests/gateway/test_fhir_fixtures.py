"""Real SQLite stores with sessions for the FHIR export tests (helpers, no tests here).

Written with ``Store.write`` inside ``SessionManager`` sessions, as the pipeline does:
spot values with and without a device clock, NaN, BP, weight, temperature, SpO2 with
verdicts; pleth and two-lead ECG blocks with a gap; a spirometry session of three blows from
hwsim's analytic spirometry model streamed as 0.25-s flow blocks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from hwsim.spiro_model import manoeuvre
from numpy.typing import NDArray

from drivers.model import DeviceInfo, Measurement, QualityFlag, Quantity, ReceiveTime, SampleBlock
from gateway.sessions import SessionManager
from gateway.signals.ppg import PpgReason
from gateway.signals.verdict import Assessed, Verdict
from gateway.store import Store

T0 = 1_795_426_800.0  # 2026-11-23T09:40:00Z
CUFF_TIME = datetime(2026, 11, 23, 6, 0, 5, tzinfo=UTC)
UNSET = datetime(2000, 1, 1, tzinfo=UTC)  # what a cuff that lost its clock says
CAREPLAN = Path(__file__).parents[2] / "config" / "careplans" / "example.toml"
PLETH_FS = 75.0
ECG_FS = 250.0
SPIRO_FS = 100.0
CUFF_INFO = DeviceInfo(
    manufacturer="A&D Medical",
    model_number="UA-651BLE",
    serial_number="5160100123",
    hardware_revision="1.0",
    firmware_revision="2.4",
)


@dataclass(frozen=True)
class Spot:
    """One spot value to write and what its verdict is."""

    quantity: Quantity
    value: float
    device_id: str
    at_s: float
    verdict: Verdict | None
    device_time: datetime | None = None
    clock_set: bool = True
    quality: QualityFlag = QualityFlag.NONE


NAN = math.nan
MISSING = QualityFlag.MISSING
MINUTE = timedelta(minutes=1)
SPOTS = (
    Spot(Quantity.SPO2, 95.0, "oximeter-1", 10.0, Verdict.VALID),  # green -> N
    Spot(Quantity.SPO2, 89.0, "oximeter-1", 11.0, Verdict.QUESTIONABLE),  # yellow, low -> L
    Spot(Quantity.SPO2, 85.0, "oximeter-1", 12.0, Verdict.INVALID),  # would be red: none
    Spot(Quantity.SPO2, math.nan, "oximeter-1", 13.0, Verdict.INVALID, quality=QualityFlag.MISSING),
    Spot(Quantity.PULSE_RATE, 130.0, "oximeter-1", 10.0, Verdict.VALID),  # red, high -> HH
    Spot(Quantity.BP_SYSTOLIC, 150.0, "cuff-1", 20.0, Verdict.VALID, CUFF_TIME),
    Spot(Quantity.BP_DIASTOLIC, 90.0, "cuff-1", 20.0, Verdict.VALID, CUFF_TIME),
    Spot(Quantity.BP_MEAN, 110.0, "cuff-1", 20.0, Verdict.VALID, CUFF_TIME),
    # a second reading after the cuff lost its clock (year 2000 = factory default)
    Spot(Quantity.BP_SYSTOLIC, 85.0, "cuff-1", 40.0, Verdict.VALID, UNSET, False),
    Spot(Quantity.BP_DIASTOLIC, 55.0, "cuff-1", 40.0, Verdict.VALID, UNSET, False),
    Spot(Quantity.BP_MEAN, NAN, "cuff-1", 40.0, Verdict.INVALID, UNSET, False, MISSING),
    Spot(Quantity.BODY_WEIGHT, 82.5, "scale-1", 30.0, Verdict.VALID, CUFF_TIME + MINUTE),
    Spot(Quantity.BODY_TEMPERATURE, 38.4, "thermo-1", 35.0, Verdict.VALID, UNSET + MINUTE, False),
)  # fmt: skip


def _measurement(s: Spot) -> Measurement:
    q = s.quantity
    return Measurement(
        q,
        s.value,
        q.spec.ucum,
        s.device_id,
        ReceiveTime(T0 + s.at_s, s.at_s),
        device_time=s.device_time,
        device_clock_set=s.clock_set,
        quality=s.quality,
    )


def _assessed(s: Spot) -> Assessed | None:
    if s.verdict is None:
        return None
    reasons = (PpgReason.FLAT,) if s.verdict is not Verdict.VALID else ()
    return Assessed(s.value, s.verdict, reasons)


def pleth_blocks() -> list[SampleBlock]:
    """Ten 1-s pleth blocks; the 6th is lost (a gap: two segments)."""
    out = []
    for k in range(10):
        if k == 5:
            continue
        t = (k * PLETH_FS + np.arange(PLETH_FS)) / PLETH_FS
        x = 50.0 + 40.0 * np.sin(2 * np.pi * 1.2 * t) + 0.37
        out.append(
            SampleBlock(
                Quantity.PLETH,
                "oximeter-1",
                ("pleth",),
                PLETH_FS,
                int(k * PLETH_FS),
                x.reshape(-1, 1),
                "1",
                ReceiveTime(T0 + 50.0 + k + 1.0, 50.0 + k),
            )
        )
    return out


def ecg_blocks() -> list[SampleBlock]:
    """Six 1-s two-lead ECG blocks in µV; blocks 3 and 4 are lost."""
    rng = np.random.default_rng(7)
    out = []
    for k in (0, 1, 2, 5):
        x = rng.normal(0.0, 300.0, size=(int(ECG_FS), 2))
        x[0, 1] = math.nan  # a non-finite sample is kept as "E"
        out.append(
            SampleBlock(
                Quantity.ECG,
                "ecg-1",
                ("II", "ch2"),
                ECG_FS,
                int(k * ECG_FS),
                x,
                "uV",
                ReceiveTime(T0 + 60.0 + k + 1.0, 60.0 + k),
            )
        )
    return out


async def make_vitals_session(path: Path, patient: dict[str, Any] | None = None) -> str:
    """A live session with SPOTS, pleth and ECG; ended. Its id."""
    async with Store(path) as store:
        for dev, kind, uri in (
            ("oximeter-1", "nonin2-oximeter", "serial:///dev/serial/by-id/usb-Nonin?codec=nonin2"),
            ("cuff-1", "ble-bp", "ble://AA:BB:CC:DD:EE:01?profile=bp"),
            ("scale-1", "ble-weight", "ble://AA:BB:CC:DD:EE:02?profile=weight"),
            ("thermo-1", "ble-thermometer", "ble://AA:BB:CC:DD:EE:03?profile=thermometer"),
            ("ecg-1", "openbci", "serial:///dev/serial/by-id/usb-OpenBCI?codec=openbci"),
        ):
            await store.register_device(dev, kind, uri, T0)
        sm = SessionManager(store, clock=lambda: T0)
        session = await sm.start(
            patient or {"pseudonym": "PSN-0042", "name": "Kari Nordmann"}, live=True
        )
        await store.write([("cuff-1", DeviceInfo(manufacturer="old"))])
        await store.write([("cuff-1", CUFF_INFO)])
        await store.write([_measurement(s) for s in SPOTS], [_assessed(s) for s in SPOTS])
        blocks: list[Any] = [*pleth_blocks(), *ecg_blocks()]
        await store.write(blocks, [None] * len(blocks))
        await sm.end()
    return session.id


def blows() -> list[NDArray[np.float64]]:
    """Three repeatable hwsim manoeuvres (grade A), as the CLI test uses."""
    return [manoeuvre(SPIRO_FS, 4.5 + 0.04 * k, 3.6 + 0.03 * k).flow_lps for k in range(3)]


async def make_spiro_session(
    path: Path, patient: dict[str, Any], *, drop_s: float | None = None, end_rest: bool = True
) -> str:
    """A session where three blows are streamed as 0.25-s flow blocks, 3 s of rest around each.

    ``drop_s``: the block at that stream time is lost; ``end_rest=False``: the recording stops
    right after the last blow (before the blow detector's quiet time ends it).
    """
    rest = np.zeros(int(3 * SPIRO_FS))
    flow = np.concatenate([rest, *(np.concatenate([b, rest]) for b in blows())])
    if not end_rest:
        flow = flow[: flow.size - rest.size]
    step = int(0.25 * SPIRO_FS)
    lost = None if drop_s is None else int(drop_s * SPIRO_FS) // step * step
    async with Store(path) as store:
        await store.register_device("spiro-1", "spiro", "serial:///dev/pts/9?codec=spiro", T0)
        sm = SessionManager(store, clock=lambda: T0)
        session = await sm.start(patient, live=True)
        out = [
            SampleBlock(
                Quantity.AIRWAY_FLOW,
                "spiro-1",
                ("flow",),
                SPIRO_FS,
                i,
                flow[i : i + step].reshape(-1, 1),
                "L/s",
                ReceiveTime(T0 + 100.0 + (i + step) / SPIRO_FS, 100.0),
            )
            for i in range(0, flow.size, step)
            if i != lost
        ]
        await store.write(out, [None] * len(out))
        await sm.end()
    return session.id
